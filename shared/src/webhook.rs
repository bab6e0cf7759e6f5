//! Webhook signing and verification per the Standard Webhooks specification.
//!
//! Every delivery carries three headers:
//! * `webhook-id`: the message id (the same across retries, so receivers can deduplicate);
//! * `webhook-timestamp`: Unix seconds when the attempt was signed;
//! * `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`
//!   entries (several while a secret rotates).
//!
//! Secrets are written `whsec_<base64 key>`. Receivers refuse timestamps outside a tolerance
//! window (5 minutes by default) so a captured delivery cannot be replayed later.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<sha2::Sha256>;

/// The header carrying the message id, the same on every retry of one delivery.
pub const HEADER_ID: &str = "webhook-id";
/// The header carrying the Unix seconds at which the attempt was signed.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header carrying the space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// The prefix of a serialised secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Default replay window, seconds either side of `now`.
pub const DEFAULT_TOLERANCE_SECS: u64 = 5 * 60;

/// Why a secret could not be parsed or a delivery failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The secret is not base64 (with or without `whsec_`), or its key is empty.
    #[error("webhook secret is not `whsec_<base64>`")]
    InvalidSecret,
    /// The delivery lacks the named header ([`HEADER_ID`], [`HEADER_TIMESTAMP`] or
    /// [`HEADER_SIGNATURE`]).
    #[error("missing `{0}` header")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not 1-20 decimal digits of Unix seconds.
    #[error("`webhook-timestamp` is not a Unix time")]
    InvalidTimestamp,
    /// The timestamp is at least the tolerance older than `now`: a late or replayed delivery.
    #[error("message timestamp is too old")]
    TimestampTooOld,
    /// The timestamp is more than the tolerance ahead of `now` (a clock is wrong).
    #[error("message timestamp is too far in the future")]
    TimestampTooNew,
    /// No `v1` signature in the header matches the body under any of the secrets.
    #[error("no signature matches")]
    NoMatchingSignature,
}

/// A symmetric signing secret. Its bytes never appear in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64>` (the bare base64 form is accepted too, as other implementations do).
    pub fn parse(s: &str) -> Result<Self, WebhookError> {
        let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        let key = STANDARD.decode(b64).map_err(|_| WebhookError::InvalidSecret)?;
        if key.is_empty() {
            return Err(WebhookError::InvalidSecret);
        }
        Ok(WebhookSecret(key))
    }

    /// A secret from raw key bytes (24–64 random bytes are usual).
    pub fn from_bytes(key: &[u8]) -> Result<Self, WebhookError> {
        if key.is_empty() {
            return Err(WebhookError::InvalidSecret);
        }
        Ok(WebhookSecret(key.to_vec()))
    }

    /// The `whsec_…` form, shown to the partner once.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: u64, body: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// `v1,<base64 signature>` for one message.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }
}

/// The three headers of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The `webhook-id` value: the message id.
    pub id: String,
    /// The `webhook-timestamp` value, Unix seconds.
    pub timestamp: u64,
    /// The `webhook-signature` value: one `v1,<base64>` entry per secret, space-separated.
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs ready to set on an HTTP request.
    pub fn pairs(&self) -> [(&'static str, String); 3] {
        [
            (HEADER_ID, self.id.clone()),
            (HEADER_TIMESTAMP, self.timestamp.to_string()),
            (HEADER_SIGNATURE, self.signature.clone()),
        ]
    }
}

/// Signs `body` with every secret in `secrets` (current first), one `v1,` entry each.
pub fn sign(secrets: &[WebhookSecret], id: &str, timestamp: u64, body: &[u8]) -> SignedHeaders {
    let signature = secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ");
    SignedHeaders { id: id.to_owned(), timestamp, signature }
}

/// Verifies deliveries (what a partner runs; Origo uses it in tests and for its own receivers).
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<WebhookSecret>,
    tolerance_secs: u64,
}

impl Verifier {
    /// A verifier for one secret, with the default tolerance ([`DEFAULT_TOLERANCE_SECS`]).
    pub fn new(secret: WebhookSecret) -> Self {
        Verifier { secrets: vec![secret], tolerance_secs: DEFAULT_TOLERANCE_SECS }
    }

    /// Accept signatures from any of `secrets` (during rotation).
    pub fn with_secrets(secrets: Vec<WebhookSecret>) -> Self {
        Verifier { secrets, tolerance_secs: DEFAULT_TOLERANCE_SECS }
    }

    /// Accept timestamps up to `secs` seconds either side of `now` instead of the default.
    pub fn with_tolerance(mut self, secs: u64) -> Self {
        self.tolerance_secs = secs;
        self
    }

    /// Checks the headers of a delivery against `body` at time `now` (Unix seconds).
    ///
    /// Pass the header values as received (`None` when absent).
    pub fn verify(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: u64,
    ) -> Result<(), WebhookError> {
        let ts = self.check_timestamp(timestamp, now)?;
        self.verify_ignoring_timestamp_at(id, ts, signature, body)
    }

    /// Checks only the signature (for replaying stored deliveries; never for live traffic).
    pub fn verify_ignoring_timestamp(
        &self,
        id: Option<&str>,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let ts = parse_timestamp(timestamp)?;
        self.verify_ignoring_timestamp_at(id, ts, signature, body)
    }

    fn check_timestamp(&self, timestamp: Option<&str>, now: u64) -> Result<u64, WebhookError> {
        let ts = parse_timestamp(timestamp)?;
        if ts.saturating_add(self.tolerance_secs) <= now {
            return Err(WebhookError::TimestampTooOld);
        }
        if ts > now.saturating_add(self.tolerance_secs) {
            return Err(WebhookError::TimestampTooNew);
        }
        Ok(ts)
    }

    fn verify_ignoring_timestamp_at(
        &self,
        id: Option<&str>,
        ts: u64,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), WebhookError> {
        let id = id.ok_or(WebhookError::MissingHeader(HEADER_ID))?;
        let signature = signature.ok_or(WebhookError::MissingHeader(HEADER_SIGNATURE))?;
        let expected: Vec<[u8; 32]> = self.secrets.iter().map(|s| s.mac(id, ts, body)).collect();
        let mut ok = subtle::Choice::from(0u8);
        for entry in signature.split(' ').filter(|e| !e.is_empty()) {
            let Some(("v1", b64)) = entry.split_once(',') else {
                continue;
            };
            let Ok(given) = STANDARD.decode(b64) else {
                continue;
            };
            for want in &expected {
                ok |= want.as_slice().ct_eq(&given);
            }
        }
        if bool::from(ok) { Ok(()) } else { Err(WebhookError::NoMatchingSignature) }
    }
}

fn parse_timestamp(timestamp: Option<&str>) -> Result<u64, WebhookError> {
    let raw = timestamp.ok_or(WebhookError::MissingHeader(HEADER_TIMESTAMP))?;
    if raw.is_empty() || raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::InvalidTimestamp);
    }
    raw.parse().map_err(|_| WebhookError::InvalidTimestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The published test vector of the Standard Webhooks specification.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: u64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_secret() -> WebhookSecret {
        WebhookSecret::parse(SPEC_SECRET).unwrap()
    }

    fn ts(t: u64) -> String {
        t.to_string()
    }

    #[test]
    fn spec_vector_signs_and_verifies() {
        assert_eq!(spec_secret().sign(SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIGNATURE);
        let v = Verifier::new(spec_secret());
        assert_eq!(v.verify(Some(SPEC_ID), Some(&ts(SPEC_TS)), Some(SPEC_SIGNATURE), SPEC_BODY, SPEC_TS + 10), Ok(()));
        // The bare base64 form of the secret is the same key.
        let bare = WebhookSecret::parse(SPEC_SECRET.trim_start_matches("whsec_")).unwrap();
        assert_eq!(bare, spec_secret());
        assert_eq!(bare.expose(), SPEC_SECRET);
    }

    #[test]
    fn spec_vector_refusals() {
        let v = Verifier::new(spec_secret());
        let at = |t: u64| v.verify(Some(SPEC_ID), Some(&ts(SPEC_TS)), Some(SPEC_SIGNATURE), SPEC_BODY, t);
        // Five minutes is the edge of the window.
        assert_eq!(at(SPEC_TS + 299), Ok(()));
        assert_eq!(at(SPEC_TS + 300), Err(WebhookError::TimestampTooOld));
        assert_eq!(at(SPEC_TS - 300), Ok(()));
        assert_eq!(at(SPEC_TS - 301), Err(WebhookError::TimestampTooNew));
        // Tampered body, id or timestamp.
        assert_eq!(
            v.verify(Some(SPEC_ID), Some(&ts(SPEC_TS)), Some(SPEC_SIGNATURE), br#"{"test": 2432232315}"#, SPEC_TS),
            Err(WebhookError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify(Some("msg_other"), Some(&ts(SPEC_TS)), Some(SPEC_SIGNATURE), SPEC_BODY, SPEC_TS),
            Err(WebhookError::NoMatchingSignature)
        );
        assert_eq!(
            v.verify(Some(SPEC_ID), Some(&ts(SPEC_TS + 1)), Some(SPEC_SIGNATURE), SPEC_BODY, SPEC_TS),
            Err(WebhookError::NoMatchingSignature)
        );
        // Missing headers.
        assert_eq!(
            v.verify(None, Some(&ts(SPEC_TS)), Some(SPEC_SIGNATURE), SPEC_BODY, SPEC_TS),
            Err(WebhookError::MissingHeader(HEADER_ID))
        );
        assert_eq!(
            v.verify(Some(SPEC_ID), None, Some(SPEC_SIGNATURE), SPEC_BODY, SPEC_TS),
            Err(WebhookError::MissingHeader(HEADER_TIMESTAMP))
        );
        assert_eq!(
            v.verify(Some(SPEC_ID), Some(&ts(SPEC_TS)), None, SPEC_BODY, SPEC_TS),
            Err(WebhookError::MissingHeader(HEADER_SIGNATURE))
        );
        // Garbage timestamps.
        for bad in ["", "abc", "-1", "1.5", "99999999999999999999999"] {
            assert_eq!(
                v.verify(Some(SPEC_ID), Some(bad), Some(SPEC_SIGNATURE), SPEC_BODY, SPEC_TS),
                Err(WebhookError::InvalidTimestamp),
                "{bad:?}"
            );
        }
        // Right bytes under another version tag do not count.
        let v2 = SPEC_SIGNATURE.replace("v1,", "v2,");
        assert_eq!(
            v.verify(Some(SPEC_ID), Some(&ts(SPEC_TS)), Some(&v2), SPEC_BODY, SPEC_TS),
            Err(WebhookError::NoMatchingSignature)
        );
    }

    #[test]
    fn several_signatures_in_one_header() {
        let v = Verifier::new(spec_secret());
        let header =
            format!("v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,junk v1a,xyz {SPEC_SIGNATURE} v1,!!notbase64");
        assert_eq!(v.verify(Some(SPEC_ID), Some(&ts(SPEC_TS)), Some(&header), SPEC_BODY, SPEC_TS), Ok(()));
        let no_match = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,AAAA";
        assert_eq!(
            v.verify(Some(SPEC_ID), Some(&ts(SPEC_TS)), Some(no_match), SPEC_BODY, SPEC_TS),
            Err(WebhookError::NoMatchingSignature)
        );
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let old = WebhookSecret::from_bytes(b"old-key-0123456789abcdef").unwrap();
        let new = WebhookSecret::from_bytes(b"new-key-0123456789abcdef").unwrap();
        let h = sign(&[new.clone(), old.clone()], "msg_1", 1000, b"{}");
        assert_eq!(h.signature.split(' ').count(), 2);
        for receiver in [old, new] {
            let v = Verifier::new(receiver);
            assert_eq!(v.verify(Some(&h.id), Some(&h.timestamp.to_string()), Some(&h.signature), b"{}", 1000), Ok(()));
        }
        let names: Vec<&str> = h.pairs().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE]);
    }

    #[test]
    fn ignoring_timestamp_still_checks_the_signature() {
        let v = Verifier::new(spec_secret());
        assert_eq!(
            v.verify_ignoring_timestamp(Some(SPEC_ID), Some(&ts(SPEC_TS)), Some(SPEC_SIGNATURE), SPEC_BODY),
            Ok(())
        );
        assert_eq!(
            v.verify_ignoring_timestamp(Some(SPEC_ID), Some("946684800"), Some(SPEC_SIGNATURE), SPEC_BODY),
            Err(WebhookError::NoMatchingSignature)
        );
    }

    #[test]
    fn bad_secrets_and_redaction() {
        for bad in ["whsec_", "whsec_***", "", "whsec_not base64"] {
            assert_eq!(WebhookSecret::parse(bad), Err(WebhookError::InvalidSecret), "{bad:?}");
        }
        assert_eq!(WebhookSecret::from_bytes(b""), Err(WebhookError::InvalidSecret));
        assert!(!format!("{:?}", spec_secret()).contains("MfKQ"));
    }

    proptest! {
        #[test]
        fn sign_verify_round_trip(key in proptest::collection::vec(any::<u8>(), 1..64), id in "msg_[A-Za-z0-9]{1,32}",
                                  t in 0u64..4_000_000_000, body in proptest::collection::vec(any::<u8>(), 0..512),
                                  flip in any::<proptest::sample::Index>()) {
            let secret = WebhookSecret::from_bytes(&key).unwrap();
            let back = WebhookSecret::parse(&secret.expose()).unwrap();
            prop_assert_eq!(&back, &secret);
            let h = sign(std::slice::from_ref(&secret), &id, t, &body);
            let v = Verifier::new(secret);
            prop_assert_eq!(v.verify(Some(&id), Some(&t.to_string()), Some(&h.signature), &body, t), Ok(()));
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = flip.index(tampered.len());
                tampered[i] ^= 0x01;
                prop_assert_eq!(v.verify(Some(&id), Some(&t.to_string()), Some(&h.signature), &tampered, t), Err(WebhookError::NoMatchingSignature));
            }
        }
    }
}
