//! Sending one web push message to one stored subscription: the encrypted, VAPID-signed
//! request ([`web_push::request`]) through the host's outbound HTTP. A subscription its push
//! service no longer knows (404, 410) is removed.
//!
//! Variables: `vapid_private_key` (the raw 32-byte P-256 secret, base64url; unset: web push
//! is off) and `vapid_subject` (the contact push services may write to, `mailto:` or
//! `https:`; default: `public_url`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use origo_shared::{ApiError, ErrorCode};

use crate::platform::{Platform, PlatformError, PlatformExt};
use crate::provider_answer::Answer;
use crate::store::push_subscription::{self as stored, StoredPushSubscription};
use crate::variables::var;
use crate::web_push::encryption::{EncryptionError, Ephemeral};
use crate::web_push::request::{self, Outcome, RequestError, Sender, Target};
use crate::web_push::vapid::VapidKey;

pub use crate::web_push::request::Urgency;

/// The deployment's VAPID key, or a 503 when web push is not configured.
pub fn vapid_key(p: &impl Platform) -> Result<VapidKey, ApiError> {
    let raw = var(p, "vapid_private_key")
        .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "web push is not configured (vapid_private_key)"))?;
    VapidKey::parse(&raw).map_err(|e| ApiError::internal(e.to_string()))
}

fn subject(p: &impl Platform) -> String {
    var(p, "vapid_subject").or_else(|| var(p, "public_url")).unwrap_or_else(|| "mailto:ops@origo.invalid".into())
}

/// Encrypts `payload` for `sub` and sends it, to be kept by the push service at most
/// `ttl_secs`. Returns what the push service's answer means; on [`Outcome::Gone`] the
/// subscription has been removed.
pub async fn send_push(
    p: &impl Platform,
    sub: &StoredPushSubscription,
    payload: &[u8],
    ttl_secs: u32,
    urgency: Urgency,
) -> Result<Outcome, ApiError> {
    let vapid = vapid_key(p)?;
    let p256dh = B64.decode(&sub.p256dh).map_err(|_| ApiError::internal("stored p256dh is not base64url"))?;
    let auth = B64.decode(&sub.auth).map_err(|_| ApiError::internal("stored auth is not base64url"))?;
    let target = Target { endpoint: &sub.endpoint, p256dh: &p256dh, auth: &auth };
    let subject = subject(p);
    let sender = Sender { vapid: &vapid, subject: &subject, now_secs: p.now_secs() };
    let req = build(p, &target, &sender, payload, ttl_secs, urgency)?;
    let res = match p.http_send(req).await {
        Ok(res) => res,
        Err(PlatformError::HostNotAllowed) => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this deployment does not allow outbound requests to the push service's host",
            ));
        }
        Err(e) => return Err(ApiError::new(ErrorCode::BadGateway, format!("the push service is unreachable: {e}"))),
    };
    let retry_after = res.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
    let outcome = request::outcome(res.status().as_u16(), retry_after);
    if outcome == Outcome::Gone {
        stored::delete(p, &sub.account, &sub.id).await?;
    }
    Ok(outcome)
}

/// One attempt at pushing `payload` to `sub`, and what the push service's answer means (a
/// subscription it no longer knows is removed, and refused for good).
pub async fn attempt(
    p: &impl Platform,
    sub: &StoredPushSubscription,
    payload: &[u8],
    ttl_secs: u32,
    urgency: Urgency,
) -> Answer {
    match send_push(p, sub, payload, ttl_secs, urgency).await {
        Ok(Outcome::Accepted) => Answer::Accepted,
        Ok(Outcome::Gone) => Answer::Refused { reason: "the browser's subscription is gone (removed)".into() },
        Ok(Outcome::Retry { retry_after_secs }) => Answer::Later {
            reason: "the push service asked to try again later".into(),
            retry_after_ms: retry_after_secs.map(|s| s.saturating_mul(1000)),
        },
        Ok(Outcome::Refused) => Answer::Refused { reason: "the push service refused the message".into() },
        Err(e) if e.code == ErrorCode::BadGateway => Answer::Later { reason: e.message, retry_after_ms: None },
        Err(e) if matches!(e.code, ErrorCode::Forbidden | ErrorCode::Unavailable) => {
            Answer::Unavailable { reason: e.message }
        }
        Err(e) => Answer::Refused { reason: e.message },
    }
}

/// The request, with a fresh ephemeral key and salt (a draw that is no valid scalar, about
/// one in 2^128, is drawn again).
fn build(
    p: &impl Platform,
    target: &Target<'_>,
    sender: &Sender<'_>,
    payload: &[u8],
    ttl_secs: u32,
    urgency: Urgency,
) -> Result<http::Request<bytes::Bytes>, ApiError> {
    for _ in 0..4 {
        let mut ephemeral = Ephemeral { secret: [0; 32], salt: [0; 16] };
        p.random(&mut ephemeral.secret);
        p.random(&mut ephemeral.salt);
        match request::build(target, sender, payload, ttl_secs, urgency, &ephemeral) {
            Err(RequestError::Encryption(EncryptionError::BadEphemeralSecret)) => continue,
            Err(RequestError::Encryption(e @ EncryptionError::TooLarge(_))) => {
                return Err(ApiError::payload_too_large(e.to_string()));
            }
            Err(e) => return Err(ApiError::bad_request(format!("cannot push to this subscription: {e}"))),
            Ok(req) => return Ok(req),
        }
    }
    Err(ApiError::internal("no usable ephemeral key was drawn"))
}
