//! Why a token was refused or could not be issued.

/// Why a token was refused (or could not be issued).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with a JSON header and claims of the expected shape.
    #[error("token is malformed")]
    Malformed,
    /// The header's `alg` is none of HS256, EdDSA, RS256 (`none` included); holds its first
    /// 16 characters.
    #[error("token algorithm `{0}` is not accepted")]
    UnsupportedAlgorithm(String),
    /// No key has the `kid` the token (or [`KeySet::activate`](super::KeySet::activate)) names;
    /// a token without `kid` gets this when the set has neither an active key nor just one key.
    #[error("token names an unknown signing key")]
    UnknownKey,
    /// The header's `alg` is not the algorithm bound to the key its `kid` names.
    #[error("token algorithm does not match its key")]
    AlgorithmMismatch,
    /// The signature does not verify under the key.
    #[error("token signature is invalid")]
    BadSignature,
    /// `exp` plus the leeway is not after `now`.
    #[error("token has expired")]
    Expired,
    /// `nbf` (`iat` for ID tokens) is later than `now` plus the leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `aud` is not the expected audience.
    #[error("token audience is wrong")]
    WrongAudience,
    /// `iss` is not the expected issuer.
    #[error("token issuer is wrong")]
    WrongIssuer,
    /// No key can sign: the set has no active key, or the key is verify-only.
    #[error("key cannot sign: {0}")]
    CannotSign(&'static str),
    /// Key material was refused (a short HMAC secret, a bad PEM or JWK), or signing failed.
    #[error("invalid key: {0}")]
    InvalidKey(String),
}
