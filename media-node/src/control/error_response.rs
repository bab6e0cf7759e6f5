//! The control API's errors as responses: a 4xx/5xx status and the JSON body
//! `{"error": {"code", "message"}}` ([`origo_shared::ApiError`]).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use origo_shared::{ApiError, ErrorCode};

use crate::auth::AuthError;
use crate::sfu::SfuError;

pub(super) fn error(status: u16, code: ErrorCode, msg: impl Into<String>) -> Response {
    let e = ApiError::new(code, msg);
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        [(header::CONTENT_TYPE, "application/json")],
        e.to_json(),
    )
        .into_response()
}

/// A refused session command.
pub(super) fn sfu_error(e: SfuError) -> Response {
    match e {
        SfuError::BadSdp(m) => error(400, ErrorCode::BadRequest, m),
        SfuError::NoSession => error(404, ErrorCode::NotFound, "no such session"),
        SfuError::NoTrack => error(404, ErrorCode::NotFound, "no such track in this session's room"),
        SfuError::NotAllowed(what) => error(403, ErrorCode::Forbidden, format!("this token may not {what}")),
        e @ (SfuError::OfferPending | SfuError::NoPendingOffer | SfuError::Standby) => {
            error(409, ErrorCode::Conflict, e.to_string())
        }
        SfuError::Banned => {
            error(403, ErrorCode::Forbidden, "this participant was removed from the room and may not rejoin it yet")
        }
        e @ SfuError::RoomFull(_) => error(403, ErrorCode::LimitExceeded, e.to_string()),
        SfuError::TooManyTracks(m) => error(400, ErrorCode::BadRequest, m),
        e @ SfuError::ModerationFull => retry_later(e.to_string(), 60),
        e @ SfuError::LinkSocket(_) => {
            tracing::warn!("{e}");
            retry_later(e.to_string(), 5)
        }
    }
}

/// 503 with `Retry-After` (seconds).
pub(super) fn retry_later(msg: impl Into<String>, seconds: u32) -> Response {
    let mut res = error(503, ErrorCode::Unavailable, msg);
    res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    res
}

/// A refused token.
pub(super) fn auth_error(e: AuthError) -> Response {
    match e {
        AuthError::Unauthorized(m) => error(401, ErrorCode::Unauthorized, m),
        AuthError::Forbidden(m) => error(403, ErrorCode::Forbidden, m),
    }
}

/// The shards stopped answering: the node is going away.
pub(super) fn unavailable(msg: &str) -> Response {
    error(503, ErrorCode::Unavailable, msg)
}
