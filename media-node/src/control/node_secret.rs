//! Who may make the control calls that close and mute participants: the edge's room
//! coordinators, presenting the node secret as a bearer token (compared in constant time). A
//! node without a node secret refuses them all.
// The check short-circuits with a ready response (`Result<_, Response>`), the usual axum shape.
#![allow(clippy::result_large_err)]

use axum::http::{HeaderMap, header};
use axum::response::Response;
use origo_shared::ErrorCode;
use subtle::ConstantTimeEq;

use super::error_response::error;

/// `Ok` when the request carries `Authorization: Bearer <node secret>`; a 401 otherwise.
pub(super) fn check(secret: Option<&str>, headers: &HeaderMap) -> Result<(), Response> {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        tracing::info!("control call refused: this node has no node secret");
        return Err(error(401, ErrorCode::Unauthorized, "this node takes no control calls: it has no node secret"));
    };
    let given = origo_shared::bearer(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
        .map_err(|_| error(401, ErrorCode::Unauthorized, "missing Authorization: Bearer <node secret>"))?;
    if bool::from(given.trim().as_bytes().ct_eq(secret.as_bytes())) {
        Ok(())
    } else {
        tracing::info!("control call refused: wrong node secret");
        Err(error(401, ErrorCode::Unauthorized, "wrong node secret"))
    }
}
