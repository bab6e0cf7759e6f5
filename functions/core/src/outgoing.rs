//! One message to one person through one provider — an email, a text message, a web push
//! message to one browser — in a form that can be kept and tried again
//! ([`notification_retry`](crate::notification_retry)), and one attempt at sending it.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use crate::email::{self, Email};
use crate::notification_kind::Channel;
use crate::platform::Platform;
use crate::provider_answer::Answer;
use crate::push_delivery::{self, Urgency};
use crate::sms;
use crate::store::push_subscription as stored_push;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case")]
pub enum Outgoing {
    Email(Email),
    /// A text message to an E.164 number.
    Sms {
        to: String,
        body: String,
    },
    /// A push message to one subscribed browser of an account (the subscription is looked up
    /// at each attempt: one removed since is not pushed to).
    Push {
        account: String,
        subscription: String,
        payload: String,
        ttl_secs: u32,
        urgency: Urgency,
    },
}

impl Outgoing {
    pub fn channel(&self) -> Channel {
        match self {
            Outgoing::Email(_) => Channel::Email,
            Outgoing::Sms { .. } => Channel::Sms,
            Outgoing::Push { .. } => Channel::Push,
        }
    }
}

/// One attempt at sending `message`.
pub async fn attempt(p: &impl Platform, message: &Outgoing) -> Answer {
    match message {
        Outgoing::Email(e) => email::attempt(p, e).await,
        Outgoing::Sms { to, body } => sms::attempt(p, to, body).await,
        Outgoing::Push { account, subscription, payload, ttl_secs, urgency } => {
            match stored_push::get(p, account, subscription).await {
                Ok(Some(sub)) => push_delivery::attempt(p, &sub, payload.as_bytes(), *ttl_secs, *urgency).await,
                Ok(None) => Answer::Refused { reason: "the browser unsubscribed".into() },
                Err(ApiError { message, .. }) => Answer::Later { reason: message, retry_after_ms: None },
            }
        }
    }
}
