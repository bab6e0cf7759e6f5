//! Voluntary application server identification for web push (RFC 8292).
//!
//! Each push request carries `Authorization: vapid t=<JWT>, k=<public key>`: an ES256 JWT
//! whose `aud` is the push service's origin, `exp` at most 24 hours ahead and `sub` a contact
//! (`mailto:` or `https:`), and the deployment's P-256 public key, uncompressed, base64url.
//! Browsers subscribe with that public key (`applicationServerKey`), so the push service only
//! accepts messages signed by its private half.
//!
//! The key is the variable `vapid_private_key`: the raw 32-byte secret scalar, base64url.
//! ECDSA signatures here are deterministic (RFC 6979), so signing needs no randomness.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};

/// How long a signed JWT is valid: 12 hours (RFC 8292 allows at most 24).
pub const VALIDITY_SECS: u64 = 12 * 3600;

/// Why the configured key is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VapidError {
    #[error("vapid_private_key must be a base64url P-256 secret key (32 bytes)")]
    BadKey,
    #[error("the push endpoint has no https origin")]
    BadAudience,
}

/// The deployment's VAPID key pair.
#[derive(Clone)]
pub struct VapidKey {
    key: SigningKey,
}

impl std::fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VapidKey({})", self.public_key())
    }
}

impl VapidKey {
    /// Reads the raw 32-byte scalar, base64url with or without padding.
    pub fn parse(encoded: &str) -> Result<VapidKey, VapidError> {
        let bytes = B64.decode(encoded.trim().trim_end_matches('=')).map_err(|_| VapidError::BadKey)?;
        let key = SigningKey::from_slice(&bytes).map_err(|_| VapidError::BadKey)?;
        if bytes.len() != 32 {
            return Err(VapidError::BadKey);
        }
        Ok(VapidKey { key })
    }

    /// A key from 32 random bytes (`None` for the rare draw that is no valid scalar: draw
    /// again).
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<VapidKey> {
        SigningKey::from_slice(bytes).ok().map(|key| VapidKey { key })
    }

    /// The secret scalar the way `vapid_private_key` holds it (base64url, no padding).
    pub fn encoded_secret(&self) -> String {
        B64.encode(self.key.to_bytes())
    }

    /// The public key, uncompressed (65 bytes), base64url without padding: the `k=` of the
    /// header and the browsers' `applicationServerKey`.
    pub fn public_key(&self) -> String {
        B64.encode(self.key.verifying_key().to_encoded_point(false).as_bytes())
    }

    /// The signed JWT for `audience` (a push service origin) and contact `subject`, valid
    /// [`VALIDITY_SECS`] from `now_secs`.
    pub fn token(&self, audience: &str, subject: &str, now_secs: u64) -> String {
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": audience, "exp": now_secs + VALIDITY_SECS, "sub": subject });
        let signing_input = format!("{header}.{}", B64.encode(claims.to_string()));
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(signature.to_bytes()))
    }

    /// The `Authorization` header value for a push to `endpoint`.
    pub fn authorization(&self, endpoint: &str, subject: &str, now_secs: u64) -> Result<String, VapidError> {
        let audience = audience_of(endpoint).ok_or(VapidError::BadAudience)?;
        Ok(format!("vapid t={}, k={}", self.token(&audience, subject, now_secs), self.public_key()))
    }
}

/// The origin (`https://host[:port]`) of an `https` push endpoint: the JWT's `aud`.
pub fn audience_of(endpoint: &str) -> Option<String> {
    let uri: http::Uri = endpoint.parse().ok()?;
    if uri.scheme_str() != Some("https") {
        return None;
    }
    let authority = uri.authority()?;
    let host_port = authority.as_str().rsplit('@').next()?;
    Some(format!("https://{host_port}"))
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    use super::*;

    const KEY: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";

    #[test]
    fn signs_a_jwt_for_the_push_service_origin() {
        let key = VapidKey::parse(KEY).unwrap();
        let header =
            key.authorization("https://push.example.net:8443/send/abc?x=1", "mailto:ops@origo.test", 1000).unwrap();
        let rest = header.strip_prefix("vapid t=").unwrap();
        let (jwt, k) = rest.split_once(", k=").unwrap();
        assert_eq!(k, key.public_key());
        let public = B64.decode(k).unwrap();
        assert_eq!(public.len(), 65);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1000 + VALIDITY_SECS);
        assert_eq!(claims["sub"], "mailto:ops@origo.test");
        let verifier = VerifyingKey::from_sec1_bytes(&public).unwrap();
        let sig = Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
        verifier.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
        let mut forged = parts[1].to_owned();
        forged.push('A');
        assert!(verifier.verify(format!("{}.{forged}", parts[0]).as_bytes(), &sig).is_err());
    }

    #[test]
    fn refuses_bad_keys_and_audiences() {
        assert_eq!(VapidKey::parse("not base64!").unwrap_err(), VapidError::BadKey);
        assert_eq!(VapidKey::parse(&B64.encode([0u8; 32])).unwrap_err(), VapidError::BadKey);
        assert_eq!(VapidKey::parse(&B64.encode([1u8; 31])).unwrap_err(), VapidError::BadKey);
        assert_eq!(VapidKey::parse(&B64.encode([0xffu8; 32])).unwrap_err(), VapidError::BadKey);
        assert!(VapidKey::parse(&format!("{KEY}=")).is_ok());
        let key = VapidKey::parse(KEY).unwrap();
        assert_eq!(key.authorization("http://push.test/x", "mailto:a@b", 0), Err(VapidError::BadAudience));
        assert_eq!(key.authorization("/relative", "mailto:a@b", 0), Err(VapidError::BadAudience));
        assert_eq!(audience_of("https://u:p@push.test/x").as_deref(), Some("https://push.test"));
        assert!(!format!("{key:?}").contains(KEY), "the secret never reaches a log line");
    }
}
