//! Why an outbound request through the [`GuardedClient`](crate::GuardedClient) got no answer.

use origo_shared::outbound_destination::Refusal;

/// Why a request got no response: refused by the destination policy before any connection,
/// or a failure on the way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Refused by the outbound destination policy (no connection was made).
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The connection (5 s) or the whole request (15 s) took too long.
    #[error("the destination did not answer in time")]
    Timeout,
    /// The response body is larger than the client reads.
    #[error("the response is larger than {0} bytes")]
    ResponseTooLarge(usize),
    /// Name resolution, connection, TLS or HTTP failed (the text names no URL).
    #[error("{0}")]
    Network(String),
}

impl DestinationError {
    /// Whether the policy refused the request.
    pub fn is_refused(&self) -> bool {
        matches!(self, DestinationError::Refused(_))
    }
}
