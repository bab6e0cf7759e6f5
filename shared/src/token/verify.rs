//! Verification of Origo tokens: the key the header names, the algorithm pinned to it, issuer,
//! audience and time checked against the caller's `now`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use serde::Deserialize;

use super::claims::Claims;
use super::error::TokenError;
use super::key::{KeyAlgorithm, TokenKey};
use super::key_set::KeySet;

/// What a verifier expects of a token besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    /// The `iss` a token must carry.
    pub issuer: String,
    /// The `aud` a token must carry (for ID tokens: our OAuth `client_id`).
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Expectations {
    /// Expect `issuer` and `audience`, with 30 seconds of leeway.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Expectations { issuer: issuer.into(), audience: audience.into(), leeway_secs: 30 }
    }

    /// Tolerate `secs` seconds of clock skew instead of 30.
    pub fn with_leeway(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// Verifies `token` against `keys` at time `now` (Unix seconds).
///
/// The key is the one the header's `kid` names; a token without `kid` is checked against the
/// active key only. The header's algorithm must be the key's algorithm.
pub fn verify(token: &str, keys: &KeySet, expect: &Expectations, now: u64) -> Result<Claims, TokenError> {
    let key = key_for(token, keys)?;
    let claims: Claims = decode_pinned(token, key, expect)?;
    if claims.exp.saturating_add(expect.leeway_secs) <= now {
        return Err(TokenError::Expired);
    }
    if claims.nbf > now.saturating_add(expect.leeway_secs) {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

/// The key the token's header names, bound to the header's algorithm.
pub(super) fn key_for<'k>(token: &str, keys: &'k KeySet) -> Result<&'k TokenKey, TokenError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let header_json = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| TokenError::Malformed)?;
    let header: RawHeader = serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
    let alg = KeyAlgorithm::from_header(&header.alg)
        .ok_or_else(|| TokenError::UnsupportedAlgorithm(header.alg.chars().take(16).collect()))?;
    let key = match header.kid.as_deref() {
        Some(kid) => keys.get(kid).ok_or(TokenError::UnknownKey)?,
        None => match keys.active_key() {
            Some(k) => k,
            None if keys.keys.len() == 1 => &keys.keys[0],
            None => return Err(TokenError::UnknownKey),
        },
    };
    if key.alg != alg {
        return Err(TokenError::AlgorithmMismatch);
    }
    Ok(key)
}

/// Decodes the token with the algorithm pinned to `key`'s and the issuer and audience checked.
pub(super) fn decode_pinned<T: serde::de::DeserializeOwned>(
    token: &str,
    key: &TokenKey,
    expect: &Expectations,
) -> Result<T, TokenError> {
    // Time checks are ours (no clock read inside the library); issuer and audience are the
    // library's, with the algorithm pinned to the key's.
    let mut validation = Validation::new(key.alg.jwt());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    validation.set_issuer(&[expect.issuer.as_str()]);
    validation.set_audience(&[expect.audience.as_str()]);
    let data = jsonwebtoken::decode::<T>(token, &key.decoding, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAlgorithm => TokenError::AlgorithmMismatch,
            _ => TokenError::Malformed,
        }
    })?;
    Ok(data.claims)
}
