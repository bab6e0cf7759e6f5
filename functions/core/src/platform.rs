//! The one seam between function logic and its host.

use bytes::Bytes;
use origo_shared::RoomKey;

use crate::coordinator::{RoomCommand, RoomCommandOutcome};
use crate::webhook_delivery::{DispatchCommand, DispatchOutcome};

/// What went wrong in a host call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    #[error("key-value store: {0}")]
    Store(String),
    #[error("outbound HTTP: {0}")]
    Http(String),
    #[error("outbound request to a host the function may not reach")]
    HostNotAllowed,
    #[error("room coordinator: {0}")]
    Coordinator(String),
}

/// Services a host gives a function. Methods are `async` without a `Send` bound: Workers
/// futures are `!Send`; hosts that need `Send` provide it themselves.
#[allow(async_fn_in_trait)]
pub trait Platform {
    /// Reads `key` from the function's key-value store.
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError>;
    /// Writes `key`; durable when the call returns.
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError>;
    /// Deletes `key` (no error when absent).
    async fn kv_delete(&self, key: &str) -> Result<(), PlatformError>;
    /// Every key that starts with `prefix`.
    async fn kv_keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError>;
    /// Adds `delta` to the counter `key` and returns its new value, atomically across every
    /// instance of the deployment (a counter that does not exist starts at 0; `delta` 0 reads
    /// it). The counter is removed at the latest `ttl_ms` after it was created: natively where
    /// the store expires keys, else through the expiry index ([`crate::store::expiry`]).
    async fn counter_add(&self, key: &str, delta: u64, ttl_ms: u64) -> Result<u64, PlatformError>;
    /// Sends an HTTP request (only to hosts the deployment allows).
    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError>;
    /// A configuration variable (`None` when unset).
    fn variable(&self, name: &str) -> Option<String>;
    /// Wall-clock time, Unix milliseconds.
    fn now_ms(&self) -> u64;
    /// Fills `buf` with cryptographically secure random bytes.
    fn random(&self, buf: &mut [u8]);
    /// Sends `command` to the coordinator of `room` — the one owner of the room's live state,
    /// started when the room has none — and returns once it is applied and durable. The
    /// caller has checked that the command is allowed.
    async fn coordinator_send(
        &self,
        room: &RoomKey,
        command: &RoomCommand,
    ) -> Result<RoomCommandOutcome, PlatformError>;
    /// Sends `command` to the webhook dispatcher of `org` — the one owner of the
    /// organisation's deliveries, started when it has none — and returns once it is carried
    /// out and durable.
    async fn dispatcher_send(&self, org: &str, command: &DispatchCommand) -> Result<DispatchOutcome, PlatformError>;
}

/// A dispatcher's answer to a command sent over HTTP, or why there is none.
pub fn dispatcher_answer(status: u16, body: &[u8]) -> Result<DispatchOutcome, PlatformError> {
    if !(200..300).contains(&status) {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        return Err(PlatformError::Coordinator(format!("the webhook dispatcher answered {status}: {text}")));
    }
    serde_json::from_slice(body).map_err(|e| PlatformError::Coordinator(format!("bad answer: {e}")))
}

/// A coordinator's answer to a command sent over HTTP (`POST …/commands` on `origo`, a Durable
/// Object's `/command`): the outcome, or why there is none.
pub fn coordinator_answer(status: u16, body: &[u8]) -> Result<RoomCommandOutcome, PlatformError> {
    if !(200..300).contains(&status) {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        return Err(PlatformError::Coordinator(format!("answered {status}: {text}")));
    }
    serde_json::from_slice(body).map_err(|e| PlatformError::Coordinator(format!("bad answer: {e}")))
}

/// Helpers every handler uses on top of [`Platform`].
pub(crate) trait PlatformExt: Platform {
    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// `n` random bytes as lowercase hex.
    fn random_hex(&self, n: usize) -> String {
        let mut buf = vec![0u8; n];
        self.random(&mut buf);
        buf.iter().map(|b| format!("{b:02x}")).collect()
    }

    async fn kv_get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, PlatformError> {
        match self.kv_get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| PlatformError::Store(format!("stored value at {key} is not valid: {e}"))),
        }
    }

    async fn kv_set_json<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), PlatformError> {
        let bytes = serde_json::to_vec(value).map_err(|e| PlatformError::Store(e.to_string()))?;
        self.kv_set(key, &bytes).await
    }
}

impl<P: Platform + ?Sized> PlatformExt for P {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coordinators_answer() {
        assert_eq!(coordinator_answer(200, br#"{"outcome":"applied"}"#), Ok(RoomCommandOutcome::Applied));
        let refused = coordinator_answer(503, br#"{"error":{"code":"unavailable","message":"retry"}}"#);
        assert!(matches!(refused, Err(PlatformError::Coordinator(m)) if m.starts_with("answered 503")));
        assert!(matches!(coordinator_answer(200, b"not json"), Err(PlatformError::Coordinator(_))));
        let long = vec![b'x'; 10_000];
        let Err(PlatformError::Coordinator(m)) = coordinator_answer(500, &long) else { panic!() };
        assert!(m.len() < 300, "the error quotes at most 200 characters of the answer");
    }
}
