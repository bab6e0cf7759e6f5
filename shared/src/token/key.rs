//! One signing or verification key bound to one algorithm.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde::{Deserialize, Serialize};

use super::error::TokenError;
use super::jwk::PublicJwk;

/// The algorithms Origo accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    /// HMAC-SHA256 with a shared secret of at least [`MIN_HMAC_SECRET_LEN`] bytes.
    HS256,
    /// Ed25519 signatures: the deployment's own keys, and providers that publish `OKP` keys.
    EdDSA,
    /// RSA PKCS#1 v1.5 with SHA-256; verify-only, for keys of external providers.
    RS256,
}

impl KeyAlgorithm {
    pub(super) fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::HS256 => Algorithm::HS256,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            KeyAlgorithm::RS256 => Algorithm::RS256,
        }
    }

    pub(super) fn from_header(alg: &str) -> Option<Self> {
        match alg {
            "HS256" => Some(KeyAlgorithm::HS256),
            "EdDSA" => Some(KeyAlgorithm::EdDSA),
            "RS256" => Some(KeyAlgorithm::RS256),
            _ => None,
        }
    }

    /// The JWT `alg` name (`HS256`, `EdDSA`, `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::HS256 => "HS256",
            KeyAlgorithm::EdDSA => "EdDSA",
            KeyAlgorithm::RS256 => "RS256",
        }
    }
}

/// One signing/verification key, bound to one algorithm and named by its `kid`.
#[derive(Clone)]
pub struct TokenKey {
    pub(super) kid: String,
    pub(super) alg: KeyAlgorithm,
    pub(super) encoding: Option<EncodingKey>,
    pub(super) decoding: DecodingKey,
    pub(super) public: Option<PublicJwk>,
}

impl fmt::Debug for TokenKey {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.encoding.is_some())
            .finish()
    }
}

/// The shortest HMAC secret accepted (RFC 7518 §3.2: at least the hash size).
pub const MIN_HMAC_SECRET_LEN: usize = 32;

impl TokenKey {
    /// A shared-secret HS256 key (signs and verifies). The secret must be at least 32 bytes.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, TokenError> {
        if secret.len() < MIN_HMAC_SECRET_LEN {
            return Err(TokenError::InvalidKey(format!("HS256 secrets must be at least {MIN_HMAC_SECRET_LEN} bytes")));
        }
        Ok(TokenKey {
            kid: kid.into(),
            alg: KeyAlgorithm::HS256,
            encoding: Some(EncodingKey::from_secret(secret)),
            decoding: DecodingKey::from_secret(secret),
            public: None,
        })
    }

    /// An Ed25519 key pair from a 32-byte seed (the caller supplies the randomness).
    pub fn ed25519_from_seed(kid: impl Into<String>, seed: [u8; 32]) -> Result<Self, TokenError> {
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        Self::from_ed25519(kid.into(), &signing)
    }

    /// An Ed25519 key pair from a PKCS#8 PEM private key (`openssl genpkey -algorithm ed25519`).
    pub fn ed25519_from_pkcs8_pem(kid: impl Into<String>, pem: &str) -> Result<Self, TokenError> {
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|_| TokenError::InvalidKey("not a PKCS#8 Ed25519 private key".into()))?;
        Self::from_ed25519(kid.into(), &signing)
    }

    fn from_ed25519(kid: String, signing: &ed25519_dalek::SigningKey) -> Result<Self, TokenError> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let der = signing.to_pkcs8_der().map_err(|_| TokenError::InvalidKey("cannot encode Ed25519 key".into()))?;
        let public = signing.verifying_key().to_bytes();
        Ok(TokenKey {
            alg: KeyAlgorithm::EdDSA,
            encoding: Some(EncodingKey::from_ed_der(der.as_bytes())),
            decoding: DecodingKey::from_ed_der(&public),
            public: Some(PublicJwk {
                kty: "OKP".into(),
                kid: kid.clone(),
                alg: "EdDSA".into(),
                key_use: Some("sig".into()),
                crv: Some("Ed25519".into()),
                x: Some(URL_SAFE_NO_PAD.encode(public)),
                n: None,
                e: None,
            }),
            kid,
        })
    }

    /// A verify-only key from a published JWK (Ed25519 `OKP` or `RSA`).
    pub fn from_public_jwk(jwk: &PublicJwk) -> Result<Self, TokenError> {
        let bad = |m: &str| TokenError::InvalidKey(m.to_owned());
        let (alg, decoding) = match (jwk.kty.as_str(), jwk.alg.as_str()) {
            ("OKP", "EdDSA") => {
                if jwk.crv.as_deref() != Some("Ed25519") {
                    return Err(bad("only the Ed25519 curve is accepted"));
                }
                let x = jwk.x.as_deref().ok_or_else(|| bad("OKP key without x"))?;
                let raw = URL_SAFE_NO_PAD.decode(x).map_err(|_| bad("x is not base64url"))?;
                let raw: [u8; 32] = raw.try_into().map_err(|_| bad("x is not 32 bytes"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|_| bad("x is not a curve point"))?;
                (KeyAlgorithm::EdDSA, DecodingKey::from_ed_der(&raw))
            }
            ("RSA", "RS256") => {
                let n = jwk.n.as_deref().ok_or_else(|| bad("RSA key without n"))?;
                let e = jwk.e.as_deref().ok_or_else(|| bad("RSA key without e"))?;
                let key = DecodingKey::from_rsa_components(n, e).map_err(|_| bad("bad RSA components"))?;
                (KeyAlgorithm::RS256, key)
            }
            (kty, alg) => return Err(bad(&format!("unsupported key type {kty}/{alg}"))),
        };
        Ok(TokenKey { kid: jwk.kid.clone(), alg, encoding: None, decoding, public: Some(jwk.clone()) })
    }

    /// The key id that token headers name in `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm the key signs and verifies.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The public half as a JWK; `None` for shared secrets, which are never published.
    pub fn public_jwk(&self) -> Option<&PublicJwk> {
        self.public.as_ref()
    }
}
