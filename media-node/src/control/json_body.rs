//! Request bodies: JSON of at most a route's limit, or a 413/400 with the JSON error body.
// Short-circuits with a ready response (`Result<_, Response>`), the usual axum shape.
#![allow(clippy::result_large_err)]

use axum::response::Response;
use origo_shared::ErrorCode;

use super::error_response::error;

/// `body` as a `T`, if it is at most `limit` bytes of valid JSON for it.
pub(super) fn parse<T: serde::de::DeserializeOwned>(body: &[u8], limit: usize) -> Result<T, Response> {
    if body.len() > limit {
        return Err(error(413, ErrorCode::PayloadTooLarge, format!("bodies are limited to {} KiB", limit / 1024)));
    }
    serde_json::from_slice(body).map_err(|e| {
        tracing::info!("bad request body: {e}");
        let e = e.to_string().chars().take(160).collect::<String>();
        error(400, ErrorCode::InvalidJson, format!("invalid body: {e}"))
    })
}
