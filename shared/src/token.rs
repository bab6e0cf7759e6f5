//! Participant and account tokens: JWT claims with room grants, issued and verified with
//! `jsonwebtoken`.
//!
//! * HS256 is the default; EdDSA (Ed25519) and RS256 are accepted when the token names a key by
//!   `kid` that the verifier holds (asymmetric public keys are published as a JWKS).
//! * Verification is strict: the header's `alg` must be one we support **and** the one bound to
//!   the key its `kid` names (no algorithm confusion: an HS256 token "signed" with a public key
//!   is refused), `alg: none` is refused, as are a wrong signature, a wrong issuer or audience, an
//!   expired token and one not valid yet.
//! * No clock is read: callers pass `now` as Unix seconds.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The `room` grant of a guest token: every room of the token's organisation (only guest
/// sign-in issues it; room names cannot contain `*`).
pub const ANY_ROOM: &str = "*";

/// What a token lets its holder do, LiveKit-style. Every permission defaults to "no".
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Grants {
    /// The room the grants apply to (`None`: no room-scoped permission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// May join `room`.
    pub join: bool,
    /// May publish audio/video tracks.
    pub publish: bool,
    /// May subscribe to other participants' tracks.
    pub subscribe: bool,
    /// May send chat and data messages.
    pub publish_data: bool,
    /// May mute, kick and update others in `room`.
    pub room_admin: bool,
    /// May create rooms.
    pub room_create: bool,
    /// Joins without being announced to the others (recorders, bots).
    pub hidden: bool,
}

impl Grants {
    /// The usual grants of a participant of `room`: join, publish, subscribe, publish data.
    pub fn participant(room: impl Into<String>) -> Self {
        Grants {
            room: Some(room.into()),
            join: true,
            publish: true,
            subscribe: true,
            publish_data: true,
            ..Grants::default()
        }
    }

    /// True when these grants allow joining `room`.
    pub fn can_join(&self, room: &str) -> bool {
        self.join && matches!(self.room.as_deref(), Some(r) if r == room || r == ANY_ROOM)
    }

    /// True when these grants allow administering `room`.
    pub fn can_admin(&self, room: &str) -> bool {
        self.room_admin && self.room.as_deref() == Some(room)
    }
}

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A participant of rooms (guest sign-in, partner-minted, or the token `join` returns).
    #[default]
    Participant,
    /// A signed-in account: acts in its organisations with the role it holds there.
    Account,
}

impl TokenKind {
    fn is_participant(&self) -> bool {
        *self == TokenKind::Participant
    }
}

/// The claims of an Origo token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the Origo deployment, or a partner's API key id for partner-minted tokens.
    pub iss: String,
    /// Audience: the service the token is meant for.
    pub aud: String,
    /// The participant's identity (stable per user).
    pub sub: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free-form metadata the application attaches to the participant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Unique token id (for revocation lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Room grants.
    #[serde(default)]
    pub grants: Grants,
    /// Who the token speaks for (absent: a participant).
    #[serde(default, skip_serializing_if = "TokenKind::is_participant")]
    pub kind: TokenKind,
    /// The organisation the token acts in (participant tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The media node a participant token was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Claims {
    /// Claims for `identity`, valid from `now` for `ttl_secs`.
    pub fn new(
        iss: impl Into<String>,
        aud: impl Into<String>,
        identity: impl Into<String>,
        now: u64,
        ttl_secs: u64,
    ) -> Self {
        Claims {
            iss: iss.into(),
            aud: aud.into(),
            sub: identity.into(),
            name: None,
            metadata: None,
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl_secs),
            jti: None,
            grants: Grants::default(),
            kind: TokenKind::Participant,
            org: None,
            node: None,
        }
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }

    pub fn with_jti(mut self, jti: impl Into<String>) -> Self {
        self.jti = Some(jti.into());
        self
    }

    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    pub fn with_kind(mut self, kind: TokenKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn with_org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    pub fn with_node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The participant identity (`sub`).
    pub fn identity(&self) -> &str {
        &self.sub
    }
}

/// Why a token was refused (or could not be issued).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm `{0}` is not accepted")]
    UnsupportedAlgorithm(String),
    #[error("token names an unknown signing key")]
    UnknownKey,
    #[error("token algorithm does not match its key")]
    AlgorithmMismatch,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audience is wrong")]
    WrongAudience,
    #[error("token issuer is wrong")]
    WrongIssuer,
    #[error("key cannot sign: {0}")]
    CannotSign(&'static str),
    #[error("invalid key: {0}")]
    InvalidKey(String),
}

/// The algorithms Origo accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyAlgorithm {
    HS256,
    EdDSA,
    RS256,
}

impl KeyAlgorithm {
    fn jwt(self) -> Algorithm {
        match self {
            KeyAlgorithm::HS256 => Algorithm::HS256,
            KeyAlgorithm::EdDSA => Algorithm::EdDSA,
            KeyAlgorithm::RS256 => Algorithm::RS256,
        }
    }

    fn from_header(alg: &str) -> Option<Self> {
        match alg {
            "HS256" => Some(KeyAlgorithm::HS256),
            "EdDSA" => Some(KeyAlgorithm::EdDSA),
            "RS256" => Some(KeyAlgorithm::RS256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::HS256 => "HS256",
            KeyAlgorithm::EdDSA => "EdDSA",
            KeyAlgorithm::RS256 => "RS256",
        }
    }
}

/// A public key as published in `/.well-known/jwks.json` (RFC 7517).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub kid: String,
    pub alg: String,
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
    pub keys: Vec<PublicJwk>,
}

/// One signing/verification key, bound to one algorithm and named by its `kid`.
#[derive(Clone)]
pub struct TokenKey {
    kid: String,
    alg: KeyAlgorithm,
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
    public: Option<PublicJwk>,
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

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The public half as a JWK; `None` for shared secrets, which are never published.
    pub fn public_jwk(&self) -> Option<&PublicJwk> {
        self.public.as_ref()
    }
}

/// A set of keys: one active key signs, every key verifies (rotation keeps the old ones around
/// until the tokens they signed have expired).
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<TokenKey>,
    active: Option<usize>,
}

impl KeySet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key; the first key able to sign becomes the active one. A key with the `kid` of a
    /// key already present replaces it.
    pub fn with_key(mut self, key: TokenKey) -> Self {
        self.insert(key);
        self
    }

    pub fn insert(&mut self, key: TokenKey) {
        let can_sign = key.encoding.is_some();
        let index = match self.keys.iter().position(|k| k.kid == key.kid) {
            Some(i) => {
                self.keys[i] = key;
                i
            }
            None => {
                self.keys.push(key);
                self.keys.len() - 1
            }
        };
        if self.active.is_none() && can_sign {
            self.active = Some(index);
        }
    }

    /// Makes the key `kid` the one that signs new tokens.
    pub fn activate(&mut self, kid: &str) -> Result<(), TokenError> {
        let i = self.keys.iter().position(|k| k.kid == kid).ok_or(TokenError::UnknownKey)?;
        if self.keys[i].encoding.is_none() {
            return Err(TokenError::CannotSign("verify-only key"));
        }
        self.active = Some(i);
        Ok(())
    }

    /// Drops the key `kid` (tokens it signed stop verifying).
    pub fn retire(&mut self, kid: &str) {
        let active_kid = self.active_key().map(|k| k.kid.clone());
        self.keys.retain(|k| k.kid != kid);
        self.active = active_kid.and_then(|a| self.keys.iter().position(|k| k.kid == a));
    }

    pub fn active_key(&self) -> Option<&TokenKey> {
        self.active.and_then(|i| self.keys.get(i))
    }

    pub fn get(&self, kid: &str) -> Option<&TokenKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The public keys, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks {
        Jwks { keys: self.keys.iter().filter_map(|k| k.public.clone()).collect() }
    }

    /// Signs `claims` with the active key; the header carries its `kid`.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        let key = self.active_key().ok_or(TokenError::CannotSign("no signing key"))?;
        let encoding = key.encoding.as_ref().ok_or(TokenError::CannotSign("verify-only key"))?;
        let mut header = Header::new(key.alg.jwt());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, encoding).map_err(|e| TokenError::InvalidKey(e.to_string()))
    }
}

/// What a verifier expects of a token besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    pub issuer: String,
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
}

impl Expectations {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Expectations { issuer: issuer.into(), audience: audience.into(), leeway_secs: 30 }
    }

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

/// The key the token's header names, bound to the header's algorithm.
fn key_for<'k>(token: &str, keys: &'k KeySet) -> Result<&'k TokenKey, TokenError> {
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
fn decode_pinned<T: serde::de::DeserializeOwned>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    const NOW: u64 = 1_800_000_000;
    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-origo";

    fn hs_keys() -> KeySet {
        KeySet::new().with_key(TokenKey::hs256("hs-1", SECRET).unwrap())
    }

    fn ed_keys() -> KeySet {
        KeySet::new().with_key(TokenKey::ed25519_from_seed("ed-1", [7u8; 32]).unwrap())
    }

    fn expect() -> Expectations {
        Expectations::new("origo", "origo-room").with_leeway(0)
    }

    fn claims() -> Claims {
        Claims::new("origo", "origo-room", "alice", NOW, 600)
            .with_name("Alice")
            .with_grants(Grants::participant("standup"))
    }

    /// Builds a token from raw JSON parts and an HS256 secret, bypassing our issuer.
    fn forge(header: &str, payload: &str, hmac_key: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let signing_input = format!("{}.{}", B64.encode(header), B64.encode(payload));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(hmac_key).unwrap();
        mac.update(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    fn payload_json(c: &Claims) -> String {
        serde_json::to_string(c).unwrap()
    }

    #[test]
    fn hs256_round_trip_carries_every_grant() {
        let keys = hs_keys();
        let mut c = claims().with_metadata("{\"role\":\"host\"}").with_jti("t-1");
        c.grants.room_admin = true;
        c.grants.room_create = true;
        c.grants.hidden = true;
        let token = keys.issue(&c).unwrap();
        let back = verify(&token, &keys, &expect(), NOW + 1).unwrap();
        assert_eq!(back, c);
        assert!(back.grants.can_join("standup"));
        assert!(!back.grants.can_join("other"));
        assert!(back.grants.can_admin("standup"));
    }

    #[test]
    fn header_names_the_key_and_algorithm() {
        let token = ed_keys().issue(&claims()).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some("ed-1"));
    }

    #[test]
    fn eddsa_round_trip_and_jwks_verifies() {
        let keys = ed_keys();
        let token = keys.issue(&claims()).unwrap();
        assert_eq!(verify(&token, &keys, &expect(), NOW).unwrap(), claims());
        // A verifier that only has the published JWKS accepts it too.
        let jwks = keys.jwks();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].crv.as_deref(), Some("Ed25519"));
        let json = serde_json::to_string(&jwks).unwrap();
        let parsed: Jwks = serde_json::from_str(&json).unwrap();
        let public_only = KeySet::new().with_key(TokenKey::from_public_jwk(&parsed.keys[0]).unwrap());
        assert!(public_only.active_key().is_none(), "a public key never signs");
        assert_eq!(verify(&token, &public_only, &expect(), NOW).unwrap(), claims());
        assert_eq!(public_only.issue(&claims()), Err(TokenError::CannotSign("no signing key")));
    }

    #[test]
    fn pkcs8_pem_key_matches_seed_key() {
        // `openssl genpkey -algorithm ed25519` output for the seed [7; 32].
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let pem = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).to_pkcs8_pem(Default::default()).unwrap();
        let from_pem = TokenKey::ed25519_from_pkcs8_pem("ed-1", &pem).unwrap();
        assert_eq!(from_pem.public_jwk(), ed_keys().get("ed-1").unwrap().public_jwk());
        assert!(TokenKey::ed25519_from_pkcs8_pem("x", "-----BEGIN NOTHING-----").is_err());
    }

    #[test]
    fn hs256_secret_is_never_published_or_printed() {
        let keys = hs_keys();
        assert!(keys.jwks().keys.is_empty());
        let debug = format!("{keys:?}");
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
    }

    #[test]
    fn short_hmac_secret_is_refused() {
        assert!(matches!(TokenKey::hs256("k", b"short"), Err(TokenError::InvalidKey(_))));
    }

    #[test]
    fn refuses_alg_none() {
        let c = claims();
        for alg in ["none", "None", "NONE"] {
            let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
            let unsigned = format!("{}.{}.", B64.encode(header), B64.encode(payload_json(&c)));
            assert_eq!(
                verify(&unsigned, &hs_keys(), &expect(), NOW),
                Err(TokenError::UnsupportedAlgorithm(alg.into()))
            );
        }
    }

    #[test]
    fn refuses_other_algorithms() {
        let header = r#"{"alg":"HS512","kid":"hs-1"}"#;
        let token = forge(header, &payload_json(&claims()), SECRET);
        assert_eq!(verify(&token, &hs_keys(), &expect(), NOW), Err(TokenError::UnsupportedAlgorithm("HS512".into())));
    }

    #[test]
    fn refuses_wrong_key() {
        let other = KeySet::new().with_key(TokenKey::hs256("hs-1", &[9u8; 32]).unwrap());
        let token = other.issue(&claims()).unwrap();
        assert_eq!(verify(&token, &hs_keys(), &expect(), NOW), Err(TokenError::BadSignature));

        let other_ed = KeySet::new().with_key(TokenKey::ed25519_from_seed("ed-1", [8u8; 32]).unwrap());
        let token = other_ed.issue(&claims()).unwrap();
        assert_eq!(verify(&token, &ed_keys(), &expect(), NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn refuses_unknown_kid() {
        let token = KeySet::new().with_key(TokenKey::hs256("hs-9", SECRET).unwrap()).issue(&claims()).unwrap();
        assert_eq!(verify(&token, &hs_keys(), &expect(), NOW), Err(TokenError::UnknownKey));
    }

    #[test]
    fn refuses_tampered_payload() {
        let token = hs_keys().issue(&claims()).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut c = claims();
        c.grants.room_admin = true;
        let tampered = format!("{}.{}.{}", parts[0], B64.encode(payload_json(&c)), parts[2]);
        assert_eq!(verify(&tampered, &hs_keys(), &expect(), NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn refuses_expired() {
        let token = hs_keys().issue(&claims()).unwrap();
        assert_eq!(verify(&token, &hs_keys(), &expect(), NOW + 600), Err(TokenError::Expired));
        assert_eq!(verify(&token, &hs_keys(), &expect(), NOW + 10_000), Err(TokenError::Expired));
        // Leeway stretches the window, and only by its amount.
        let lenient = expect().with_leeway(30);
        assert!(verify(&token, &hs_keys(), &lenient, NOW + 620).is_ok());
        assert_eq!(verify(&token, &hs_keys(), &lenient, NOW + 630), Err(TokenError::Expired));
    }

    #[test]
    fn refuses_not_yet_valid() {
        let mut c = claims();
        c.nbf = NOW + 100;
        let token = hs_keys().issue(&c).unwrap();
        assert_eq!(verify(&token, &hs_keys(), &expect(), NOW), Err(TokenError::NotYetValid));
        assert!(verify(&token, &hs_keys(), &expect(), NOW + 100).is_ok());
    }

    #[test]
    fn refuses_wrong_audience_and_issuer() {
        let token = hs_keys().issue(&claims()).unwrap();
        let wrong_aud = Expectations::new("origo", "origo-billing").with_leeway(0);
        assert_eq!(verify(&token, &hs_keys(), &wrong_aud, NOW), Err(TokenError::WrongAudience));
        let wrong_iss = Expectations::new("someone-else", "origo-room").with_leeway(0);
        assert_eq!(verify(&token, &hs_keys(), &wrong_iss, NOW), Err(TokenError::WrongIssuer));
    }

    #[test]
    fn refuses_algorithm_confusion() {
        // The classic attack: take the server's *public* Ed25519 key and use it as an HMAC secret,
        // naming the Ed25519 key's kid with alg HS256.
        let keys = ed_keys();
        let jwk = keys.jwks().keys[0].clone();
        let public = B64.decode(jwk.x.unwrap()).unwrap();
        for secret in [public.clone(), jwk.kid.as_bytes().to_vec()] {
            let token = forge(r#"{"alg":"HS256","kid":"ed-1"}"#, &payload_json(&claims()), &secret);
            assert_eq!(verify(&token, &keys, &expect(), NOW), Err(TokenError::AlgorithmMismatch));
        }
        // And the other way round: an EdDSA header naming an HS256 key.
        let hs = hs_keys();
        let ed_token =
            KeySet::new().with_key(TokenKey::ed25519_from_seed("hs-1", [1; 32]).unwrap()).issue(&claims()).unwrap();
        assert_eq!(verify(&ed_token, &hs, &expect(), NOW), Err(TokenError::AlgorithmMismatch));
    }

    #[test]
    fn refuses_malformed_tokens() {
        let keys = hs_keys();
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"] {
            let got = verify(bad, &keys, &expect(), NOW);
            assert!(matches!(got, Err(TokenError::Malformed) | Err(TokenError::BadSignature)), "{bad:?} -> {got:?}");
        }
        // A correctly signed token whose claims lack `exp` is malformed.
        let token = forge(r#"{"alg":"HS256","kid":"hs-1"}"#, r#"{"iss":"origo","aud":"origo-room","sub":"a"}"#, SECRET);
        assert_eq!(verify(&token, &keys, &expect(), NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_until_retired() {
        let mut keys = hs_keys();
        let old = keys.issue(&claims()).unwrap();
        keys.insert(TokenKey::ed25519_from_seed("ed-2", [3; 32]).unwrap());
        keys.activate("ed-2").unwrap();
        let new = keys.issue(&claims()).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(), Some("ed-2"));
        assert!(verify(&old, &keys, &expect(), NOW).is_ok());
        assert!(verify(&new, &keys, &expect(), NOW).is_ok());
        keys.retire("hs-1");
        assert_eq!(verify(&old, &keys, &expect(), NOW), Err(TokenError::UnknownKey));
        assert!(verify(&new, &keys, &expect(), NOW).is_ok());
        assert_eq!(keys.active_key().unwrap().kid(), "ed-2");
    }

    #[test]
    fn token_without_kid_uses_the_active_key_only() {
        let token = forge(r#"{"alg":"HS256"}"#, &payload_json(&claims()), SECRET);
        assert!(verify(&token, &hs_keys(), &expect(), NOW).is_ok());
        assert_eq!(verify(&token, &KeySet::new(), &expect(), NOW), Err(TokenError::UnknownKey));
    }

    #[test]
    fn public_jwk_validation() {
        let mut jwk = ed_keys().jwks().keys[0].clone();
        jwk.x = Some(B64.encode([1u8; 5]));
        assert!(TokenKey::from_public_jwk(&jwk).is_err());
        jwk.crv = Some("X25519".into());
        assert!(TokenKey::from_public_jwk(&jwk).is_err());
        let rsa = PublicJwk {
            kty: "RSA".into(),
            kid: "rsa-1".into(),
            alg: "RS256".into(),
            key_use: Some("sig".into()),
            crv: None,
            x: None,
            n: Some(B64.encode([0xC5u8; 256])),
            e: Some("AQAB".into()),
        };
        let key = TokenKey::from_public_jwk(&rsa).unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::RS256);
        let mut unsupported = rsa.clone();
        unsupported.alg = "PS512".into();
        assert!(TokenKey::from_public_jwk(&unsupported).is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn arb_grants() -> impl Strategy<Value = Grants> {
            (proptest::option::of("[a-z0-9-]{1,24}"), any::<[bool; 7]>()).prop_map(|(room, b)| Grants {
                room,
                join: b[0],
                publish: b[1],
                subscribe: b[2],
                publish_data: b[3],
                room_admin: b[4],
                room_create: b[5],
                hidden: b[6],
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            #[test]
            fn claims_round_trip(identity in "\\PC{1,40}", name in proptest::option::of("\\PC{0,40}"),
                                 metadata in proptest::option::of("\\PC{0,80}"), ttl in 1u64..86_400,
                                 grants in arb_grants()) {
                let mut c = Claims::new("origo", "origo-room", identity, NOW, ttl).with_grants(grants);
                c.name = name;
                c.metadata = metadata;
                for keys in [hs_keys(), ed_keys()] {
                    let token = keys.issue(&c).unwrap();
                    prop_assert_eq!(verify(&token, &keys, &expect(), NOW).unwrap(), c.clone());
                    prop_assert_eq!(verify(&token, &keys, &expect(), NOW + ttl), Err(TokenError::Expired));
                }
            }

            #[test]
            fn garbage_never_verifies(s in "\\PC{0,200}") {
                prop_assert!(verify(&s, &hs_keys(), &expect(), NOW).is_err());
            }
        }
    }
}
