//! Why a token was refused or could not be issued.

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
