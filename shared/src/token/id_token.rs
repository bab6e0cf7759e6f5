//! OpenID Connect ID tokens from an external provider.

use serde::{Deserialize, Serialize};

use super::error::TokenError;
use super::key_set::KeySet;
use super::verify::{Expectations, decode_pinned, key_for};

/// The claims Origo reads from an OpenID Connect ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// The provider's issuer URL.
    pub iss: String,
    /// The user's id at the provider, stable for that provider only.
    pub sub: String,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// The nonce of the authorisation request, to compare with the one the caller sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The user's email address, if the provider shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// True when the provider has verified `email`; absent counts as not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's full name, if the provider shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Verifies an OpenID Connect ID token (OIDC Core §3.1.3.7): signature by a key of the
/// provider's JWKS (`keys`, verify-only), issuer, audience = our `client_id` (a string or an
/// array holding it), expiry at `now`. A token without `kid` is accepted only when the provider
/// publishes a single key. The nonce is the caller's to compare.
pub fn verify_id_token(
    token: &str,
    keys: &KeySet,
    expect: &Expectations,
    now: u64,
) -> Result<IdTokenClaims, TokenError> {
    let key = key_for(token, keys)?;
    let claims: IdTokenClaims = decode_pinned(token, key, expect)?;
    if claims.exp.saturating_add(expect.leeway_secs) <= now {
        return Err(TokenError::Expired);
    }
    if claims.iat > now.saturating_add(expect.leeway_secs) {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}
