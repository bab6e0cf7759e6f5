//! The request a push service receives for one message (RFC 8030 §5), and what its answer
//! means for the subscription. Pure: keys, time and randomness come from the caller.

use bytes::Bytes;
use http::header;

use super::encryption::{self, EncryptionError, Ephemeral};
use super::vapid::{VapidError, VapidKey};

/// How soon the browser should be woken (RFC 8030 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::VeryLow => "very-low",
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
        }
    }
}

/// Where and for whom a message is encrypted: a browser's subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    /// The push service URL the browser was given (`https`).
    pub endpoint: &'a str,
    /// The subscription's P-256 public key, uncompressed (65 bytes).
    pub p256dh: &'a [u8],
    /// The subscription's authentication secret (16 bytes).
    pub auth: &'a [u8],
}

/// The sender's side of one message.
pub struct Sender<'a> {
    pub vapid: &'a VapidKey,
    /// The contact the push service may write to (`mailto:` or `https:`).
    pub subject: &'a str,
    pub now_secs: u64,
}

/// Why no request could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Encryption(#[from] EncryptionError),
    #[error(transparent)]
    Vapid(#[from] VapidError),
    #[error("the push endpoint is not a valid URL")]
    BadEndpoint,
}

/// The encrypted `POST` of `payload` to the subscription's endpoint, kept by the push service
/// at most `ttl_secs`.
pub fn build(
    target: &Target<'_>,
    sender: &Sender<'_>,
    payload: &[u8],
    ttl_secs: u32,
    urgency: Urgency,
    ephemeral: &Ephemeral,
) -> Result<http::Request<Bytes>, RequestError> {
    let body = encryption::encrypt(payload, target.p256dh, target.auth, ephemeral)?;
    let authorization = sender.vapid.authorization(target.endpoint, sender.subject, sender.now_secs)?;
    http::Request::post(target.endpoint)
        .header(header::AUTHORIZATION, authorization)
        .header(header::CONTENT_ENCODING, "aes128gcm")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("ttl", ttl_secs.to_string())
        .header("urgency", urgency.as_str())
        .body(Bytes::from(body))
        .map_err(|_| RequestError::BadEndpoint)
}

/// What a push service's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (201, or any 2xx).
    Accepted,
    /// The subscription is gone (404, 410): forget it.
    Gone,
    /// Try again later (429 and 5xx), after `retry_after_secs` when the service said.
    Retry { retry_after_secs: Option<u64> },
    /// Refused for good (another 4xx: a bad key, a too-large payload).
    Refused,
}

/// The [`Outcome`] of `status`, with the response's `Retry-After` (seconds) if any.
pub fn outcome(status: u16, retry_after: Option<&str>) -> Outcome {
    match status {
        200..=299 => Outcome::Accepted,
        404 | 410 => Outcome::Gone,
        429 | 500..=599 => Outcome::Retry { retry_after_secs: retry_after.and_then(|v| v.trim().parse().ok()) },
        _ => Outcome::Refused,
    }
}

#[cfg(test)]
mod tests {
    use p256::SecretKey;
    use p256::elliptic_curve::sec1::ToEncodedPoint;

    use super::*;

    #[test]
    fn a_push_request_and_the_answers() {
        let vapid = VapidKey::parse("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw").unwrap();
        let ua = SecretKey::from_slice(&[5; 32]).unwrap().public_key().to_encoded_point(false);
        let target = Target { endpoint: "https://push.test/s/1", p256dh: ua.as_bytes(), auth: &[3; 16] };
        let sender = Sender { vapid: &vapid, subject: "mailto:ops@origo.test", now_secs: 10 };
        let eph = Ephemeral { secret: [8; 32], salt: [2; 16] };
        let req = build(&target, &sender, b"{}", 60, Urgency::High, &eph).unwrap();
        assert_eq!(req.uri(), "https://push.test/s/1");
        assert_eq!(req.headers()["content-encoding"], "aes128gcm");
        assert_eq!(req.headers()["ttl"], "60");
        assert_eq!(req.headers()["urgency"], "high");
        assert!(req.headers()["authorization"].to_str().unwrap().starts_with("vapid t="));
        assert_eq!(&req.body()[..16], &[2; 16]);
        let http = Target { endpoint: "http://push.test/s/1", ..target.clone() };
        assert_eq!(build(&http, &sender, b"{}", 60, Urgency::High, &eph).unwrap_err(), VapidError::BadAudience.into());

        assert_eq!(outcome(201, None), Outcome::Accepted);
        assert_eq!(outcome(410, None), Outcome::Gone);
        assert_eq!(outcome(404, None), Outcome::Gone);
        assert_eq!(outcome(429, Some("30")), Outcome::Retry { retry_after_secs: Some(30) });
        assert_eq!(outcome(503, Some("soon")), Outcome::Retry { retry_after_secs: None });
        assert_eq!(outcome(413, None), Outcome::Refused);
    }
}
