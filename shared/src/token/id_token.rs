//! OpenID Connect ID tokens from an external provider.

use serde::{Deserialize, Serialize};

use super::error::TokenError;
use super::key_set::KeySet;
use super::verify::{Expectations, decode_pinned, key_for};

/// The claims Origo reads from an OpenID Connect ID token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
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
