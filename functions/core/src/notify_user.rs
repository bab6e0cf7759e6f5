//! Sending one notification to a person through the channels their preferences choose now
//! ([`notification_preferences::route`]): email to the account's address (non-transactional
//! email with RFC 8058 one-click unsubscribe headers), a text message to its verified phone
//! number, web push to each of its subscribed browsers. A channel that fails does not stop the
//! others; what a provider cannot take now is tried again ([`notification_retry`](crate::notification_retry)); what
//! happened on each is returned.

use origo_shared::ApiError;
use serde::Serialize;

use crate::email::Email;
use crate::notification_kind::{Channel, NotificationKind};
use crate::notification_preferences;
use crate::notification_retry::{Fate, send_or_queue};
use crate::outgoing::Outgoing;
use crate::platform::Platform;
use crate::store::account as accounts;
use crate::store::notification_preferences as stored_prefs;
use crate::store::phone as stored_phone;
use crate::store::push_subscription as stored_push;
use crate::unsubscribe;
use crate::variables::var;

/// How long a push service keeps a notification for a browser that is offline.
pub const PUSH_TTL_SECS: u32 = 24 * 3600;
/// Longest text message body of a notification, in characters.
pub const SMS_CHARS: usize = 320;
/// Longest push body, in characters (the whole payload must fit one 4 KB push message).
pub const PUSH_BODY_CHARS: usize = 1000;

/// What to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The email subject and the notification's title.
    pub title: String,
    /// The email text; its start is the push body and the text message.
    pub text: String,
    /// Where the notification leads (opened when a push notification is clicked).
    pub url: Option<String>,
    /// When it stops meaning anything (a meeting that ended): a channel that could not take it
    /// is not tried again after this.
    pub until_ms: Option<u64>,
}

/// What happened on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelReport {
    pub channel: Channel,
    /// Messages the provider accepted (one per browser for push).
    pub sent: u32,
    /// Messages the provider could not take now, kept and tried again
    /// ([`notification_retry`](crate::notification_retry)).
    #[serde(skip_serializing_if = "is_zero")]
    pub queued: u32,
    /// Why a message did not go out, or not yet (no phone number, a provider's refusal…).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl ChannelReport {
    fn count(&mut self, fate: Fate, what: Option<&str>) {
        let prefix = what.map(|w| format!("{w}: ")).unwrap_or_default();
        match fate {
            Fate::Sent => self.sent += 1,
            Fate::Queued { reason } => {
                self.queued += 1;
                self.failures.push(format!("{prefix}{reason} (will be tried again)"));
            }
            Fate::Failed { reason } => self.failures.push(format!("{prefix}{reason}")),
        }
    }
}

/// Sends `message` of `kind` to `account`; a report per channel chosen.
pub async fn notify_user(
    p: &impl Platform,
    account: &str,
    kind: NotificationKind,
    message: &Message,
) -> Result<Vec<ChannelReport>, ApiError> {
    notify_user_except(p, account, kind, message, &[]).await
}

/// As [`notify_user`], leaving out the channels in `except` (a meeting invitation's email,
/// sent with its calendar attachment by the caller).
pub async fn notify_user_except(
    p: &impl Platform,
    account: &str,
    kind: NotificationKind,
    message: &Message,
    except: &[Channel],
) -> Result<Vec<ChannelReport>, ApiError> {
    let Some(person) = accounts::load(p, account).await? else {
        return Err(ApiError::not_found(format!("no account {account}")));
    };
    let prefs = stored_prefs::get(p, account).await?;
    let purpose = kind.as_str();
    let mut reports = Vec::new();
    for channel in notification_preferences::route(kind, &prefs, p.now_ms()) {
        if except.contains(&channel) {
            continue;
        }
        let mut report = ChannelReport { channel, sent: 0, queued: 0, failures: Vec::new() };
        match channel {
            Channel::Email => match email_of(p, &person, kind, message) {
                Ok(email) => {
                    report.count(send_or_queue(p, purpose, Outgoing::Email(email), message.until_ms).await, None)
                }
                Err(e) => report.failures.push(e.message),
            },
            Channel::Sms => match stored_phone::verified(p, account).await? {
                None => report.failures.push("no verified phone number".into()),
                Some(phone) => {
                    let body: String = format!("{}: {}", message.title, message.text).chars().take(SMS_CHARS).collect();
                    let text = Outgoing::Sms { to: phone.number, body };
                    report.count(send_or_queue(p, purpose, text, message.until_ms).await, None);
                }
            },
            Channel::Push => {
                let payload = String::from_utf8_lossy(&push_payload(kind, message)).into_owned();
                for sub in stored_push::of_account(p, account).await? {
                    let push = Outgoing::Push {
                        account: account.to_owned(),
                        subscription: sub.id.clone(),
                        payload: payload.clone(),
                        ttl_secs: PUSH_TTL_SECS,
                        urgency: kind.urgency(),
                    };
                    report.count(send_or_queue(p, purpose, push, message.until_ms).await, Some(&sub.id));
                }
            }
        }
        reports.push(report);
    }
    Ok(reports)
}

/// The JSON the service worker shows: `{kind, title, body, url}`.
pub fn push_payload(kind: NotificationKind, message: &Message) -> Vec<u8> {
    let body: String = message.text.chars().take(PUSH_BODY_CHARS).collect();
    let title: String = message.title.chars().take(200).collect();
    serde_json::json!({ "kind": kind.as_str(), "title": title, "body": body, "url": message.url })
        .to_string()
        .into_bytes()
}

/// The email of `message` to `person`: with RFC 8058 one-click unsubscribe headers unless the
/// kind is transactional.
fn email_of(
    p: &impl Platform,
    person: &accounts::Account,
    kind: NotificationKind,
    message: &Message,
) -> Result<Email, ApiError> {
    let email = Email::new(&person.email, &message.title, &message.text);
    if kind.transactional() {
        return Ok(email);
    }
    let base = var(p, "public_url").ok_or_else(|| ApiError::internal("public_url is needed for unsubscribe links"))?;
    let link = unsubscribe::url(p, &base, &person.id)?;
    let headers = vec![
        ("List-Unsubscribe".to_owned(), format!("<{link}>")),
        ("List-Unsubscribe-Post".to_owned(), "List-Unsubscribe=One-Click".to_owned()),
    ];
    Ok(Email { headers, ..email })
}
