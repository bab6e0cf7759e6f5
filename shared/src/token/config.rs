//! The deployment's token signing keys and token lifetimes, read from variables. The edge
//! functions, the room coordinators and the media node all read them with this one parser.
//!
//! * `token_signing_keys` — Ed25519 keys, comma-separated, each `kid:SEED` or just `SEED`
//!   (32 bytes as 64 hex digits or 43 base64url characters; without a `kid` the key is named
//!   by a hash of its public half). The **first** key signs; the others only verify. Rotation:
//!   put a new key first, keep the old one listed until the tokens it signed have expired
//!   (the longest token lifetime), then drop it. Public halves are published at
//!   `/.well-known/jwks.json`.
//! * `token_secret` (optional) — an HS256 secret, kid `token_kid` (default `primary`). It
//!   signs only when no Ed25519 key is configured, and always verifies: a deployment moves
//!   from HS256 to Ed25519 without logging anyone out.
//! * `token_issuer` (default `origo`), `guest_ttl_secs` (900), `access_ttl_secs` (900),
//!   `participant_ttl_secs` (21600), `refresh_ttl_secs` (30 days).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::claims::Claims;
use super::key::TokenKey;
use super::key_set::KeySet;
use super::verify::Expectations;
use crate::error::{ApiError, ErrorCode};

/// The audience of every token the deployment issues.
pub const AUDIENCE: &str = "origo";

/// Keys and lifetimes.
pub struct TokenConfig {
    /// The keys: the active one signs, all verify.
    pub keys: KeySet,
    /// The `iss` of every token the deployment issues.
    pub issuer: String,
    /// Lifetime of a guest sign-in token.
    pub guest_ttl_secs: u64,
    /// Lifetime of an account access token.
    pub access_ttl_secs: u64,
    /// Lifetime of the participant token `join` returns.
    pub participant_ttl_secs: u64,
    /// Lifetime of a refresh token.
    pub refresh_ttl_secs: u64,
}

fn misconfigured(msg: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, format!("auth is misconfigured: {msg}"))
}

/// Parses one `kid:SEED` / `SEED` entry of `token_signing_keys`.
pub fn parse_signing_key(entry: &str) -> Result<TokenKey, String> {
    let entry = entry.trim();
    let (kid, seed) = match entry.rsplit_once(':') {
        Some((kid, seed)) => (Some(kid.trim()), seed.trim()),
        None => (None, entry),
    };
    let bytes = if seed.len() == 64 && seed.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&seed[2 * i..2 * i + 2], 16).unwrap_or(0)).collect::<Vec<u8>>()
    } else {
        URL_SAFE_NO_PAD.decode(seed).map_err(|_| "a signing key seed must be 64 hex digits or base64url".to_owned())?
    };
    let seed: [u8; 32] = bytes.try_into().map_err(|_| "a signing key seed must be 32 bytes".to_owned())?;
    let kid = match kid {
        Some(k) if !k.is_empty() && k.len() <= 64 && k.bytes().all(|b| b.is_ascii_graphic()) => k.to_owned(),
        Some(_) => return Err("a kid must be 1-64 printable characters".to_owned()),
        None => {
            // Name the key after its public half, so the name is stable and reveals nothing.
            let probe = TokenKey::ed25519_from_seed("probe", seed).map_err(|e| e.to_string())?;
            let x = probe.public_jwk().and_then(|j| j.x.clone()).unwrap_or_default();
            let digest = Sha256::digest(x.as_bytes());
            format!("ed-{}", digest[..6].iter().map(|b| format!("{b:02x}")).collect::<String>())
        }
    };
    TokenKey::ed25519_from_seed(kid, seed).map_err(|e| e.to_string())
}

impl TokenConfig {
    /// From variables looked up by name (every host passes its own lookup).
    pub fn from_variables(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let num = |name: &str, default: u64| var(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        let mut keys = KeySet::new();
        if let Some(list) = var("token_signing_keys") {
            for entry in list.split(',').filter(|e| !e.trim().is_empty()) {
                keys.insert(parse_signing_key(entry).map_err(misconfigured)?);
            }
        }
        if let Some(secret) = var("token_secret") {
            let kid = var("token_kid").unwrap_or_else(|| "primary".into());
            if keys.get(&kid).is_some() {
                return Err(misconfigured(format!("kid {kid} names two keys")));
            }
            keys.insert(TokenKey::hs256(kid, secret.as_bytes()).map_err(misconfigured)?);
        }
        if keys.active_key().is_none() {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "auth is not configured: set token_signing_keys (or token_secret)",
            ));
        }
        Ok(TokenConfig {
            keys,
            issuer: var("token_issuer").unwrap_or_else(|| "origo".into()),
            guest_ttl_secs: num("guest_ttl_secs", 900),
            access_ttl_secs: num("access_ttl_secs", 900),
            participant_ttl_secs: num("participant_ttl_secs", 6 * 3600),
            refresh_ttl_secs: num("refresh_ttl_secs", 30 * 86_400),
        })
    }

    /// What a verifier of this deployment's tokens expects.
    pub fn expectations(&self) -> Expectations {
        Expectations::new(self.issuer.clone(), AUDIENCE)
    }

    /// Signs `claims` with the active key.
    pub fn issue(&self, claims: &Claims) -> Result<String, ApiError> {
        self.keys.issue(claims).map_err(|e| ApiError::internal(format!("cannot sign a token: {e}")))
    }

    /// Verifies a token this deployment issued, at `now` (Unix seconds); a refusal is a 401.
    pub fn verify(&self, raw: &str, now: u64) -> Result<Claims, ApiError> {
        super::verify::verify(raw.trim(), &self.keys, &self.expectations(), now)
            .map_err(|e| ApiError::unauthorized(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_with_and_without_kid() {
        let hex = "07".repeat(32);
        let named = parse_signing_key(&format!("k2:{hex}")).unwrap();
        assert_eq!(named.kid(), "k2");
        let unnamed = parse_signing_key(&hex).unwrap();
        assert!(unnamed.kid().starts_with("ed-"));
        assert_eq!(unnamed.kid(), parse_signing_key(&hex).unwrap().kid());
        let b64 = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(parse_signing_key(&b64).unwrap().public_jwk(), unnamed.public_jwk());
        assert!(parse_signing_key("k:short").is_err());
        assert!(parse_signing_key(&format!(":{hex}")).is_err());
    }

    #[test]
    fn unconfigured_and_misconfigured_are_unavailable() {
        let none = TokenConfig::from_variables(|_| None).err().unwrap();
        assert_eq!(none.code, ErrorCode::Unavailable);
        let bad =
            TokenConfig::from_variables(|n| (n == "token_signing_keys").then(|| "nonsense".into())).err().unwrap();
        assert_eq!(bad.code, ErrorCode::Unavailable);
    }
}
