//! Public keys as published in `/.well-known/jwks.json`.

use serde::{Deserialize, Serialize};

/// A public key as published in `/.well-known/jwks.json` (RFC 7517).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `OKP` (Ed25519) or `RSA`.
    pub kty: String,
    /// The key id tokens name in their header's `kid`.
    pub kid: String,
    /// The one algorithm the key verifies: `EdDSA` or `RS256`.
    pub alg: String,
    /// Intended use (`use`); `sig` for signing keys.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// OKP curve (`Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// OKP public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JSON Web Key Set.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The public keys, in no particular order; a token's `kid` picks one.
    pub keys: Vec<PublicJwk>,
}
