//! Telling people who were mentioned (`@identity`) in a room's chat while they were not in
//! the room. The room's coordinator names them in its `chat.message` event
//! (`mentioned_absent`); the organisation's webhook dispatcher, taking the event in, sends
//! each one who is a member of the organisation a [`NotificationKind::Mention`] through the
//! channels their preferences choose ([`notify_user`]). Identities that are no account of the
//! organisation (a partner's own participants) are left to the partner, who receives the event.

use crate::notification_kind::NotificationKind;
use crate::notify_user::{Message, notify_user};
use crate::platform::Platform;
use crate::store::org as orgs;
use crate::variables::var;

/// How much of the message a notification quotes, in characters.
pub const QUOTE_CHARS: usize = 280;

/// Notifies the absent people a `chat.message` event of `room` names; how many were notified.
/// A failure on one person does not stop the others (each channel queues what it cannot send).
pub async fn notify(p: &impl Platform, org: &str, room: &str, data: &serde_json::Value) -> usize {
    let Some(absent) = data["mentioned_absent"].as_array() else { return 0 };
    let from = data["from_name"].as_str().or(data["from"].as_str()).unwrap_or("Someone");
    let text: String = data["text"].as_str().unwrap_or("").chars().take(QUOTE_CHARS).collect();
    let url = var(p, "public_url").map(|u| format!("{}/?room={room}", u.trim_end_matches('/')));
    let message = Message {
        title: format!("{from} mentioned you in {room}"),
        text: match &url {
            Some(u) => format!("{from} wrote in {room}:\n\n{text}\n\nJoin: {u}\n"),
            None => format!("{from} wrote in {room}:\n\n{text}\n"),
        },
        url,
        until_ms: None,
    };
    let mut notified = 0;
    for identity in absent.iter().filter_map(|v| v.as_str()).take(origo_shared::chat::MAX_MENTIONS) {
        if !orgs::is_member(p, org, identity).await.unwrap_or(false) {
            continue;
        }
        if notify_user(p, identity, NotificationKind::Mention, &message).await.is_ok() {
            notified += 1;
        }
    }
    notified
}
