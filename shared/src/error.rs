//! The one error body every Origo HTTP API returns:
//! `{ "error": { "code": "...", "message": "..." } }`.

use serde::{Deserialize, Serialize};

/// Machine-readable error codes, stable across releases (clients switch on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: a parameter or field is missing or has an invalid value; fix the request.
    BadRequest,
    /// 400: the body is not JSON of the expected shape (malformed, unknown or missing fields).
    InvalidJson,
    /// 401: the credentials are missing, forged or expired; sign in or get a new token.
    Unauthorized,
    /// 403: the caller is known but its role or token grants do not allow this.
    Forbidden,
    /// 404: no such route or resource, or one the caller may not see.
    NotFound,
    /// 405: the route exists but not with this HTTP method.
    MethodNotAllowed,
    /// 409: the request clashes with the current state (the name is taken, an organisation
    /// would lose its last owner).
    Conflict,
    /// 413: the body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 429: too many attempts; the message says when to retry.
    RateLimited,
    /// 403: a platform limit is reached (rooms, API keys, a full room); it stays refused until
    /// something is deleted.
    LimitExceeded,
    /// 402: a quota of the organisation's plan is used up (meetings at once, participants per
    /// room, the month's participant-minutes or TURN gigabytes); the body's `limit` names it,
    /// the plan, and what to do.
    PaymentRequired,
    /// 500: a bug or an unexpected failure inside Origo.
    Internal,
    /// 502: a function or upstream service failed or answered with something unusable.
    BadGateway,
    /// 503: not configured, overloaded or no node available right now; retry shortly.
    Unavailable,
    /// 504: a function or upstream service did not answer in time; retrying may work.
    Timeout,
}

impl ErrorCode {
    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidJson => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::PaymentRequired => 402,
            ErrorCode::Forbidden | ErrorCode::LimitExceeded => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::BadGateway => 502,
            ErrorCode::Unavailable => 503,
            ErrorCode::Timeout => 504,
        }
    }

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::PaymentRequired => "payment_required",
            ErrorCode::Internal => "internal",
            ErrorCode::BadGateway => "bad_gateway",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
        }
    }
}

/// An API error: a code, a message a person can read, and the HTTP status derived from the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    /// What kind of failure it is; also decides the HTTP status.
    pub code: ErrorCode,
    /// What went wrong and, where it helps, what to do about it, in plain English.
    pub message: String,
    /// Seconds after which a retry may succeed (the `Retry-After` header of a 429 or 503).
    pub retry_after_secs: Option<u64>,
    /// The quota or rate that refused the request (a 402 or a 429), for the body.
    pub limit: Option<Box<LimitDetail>>,
}

/// Which limit refused a request, in the error body (`error.limit`): clients can show it in
/// words without parsing the message.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitDetail {
    /// The limit's name: `participant_minutes`, `turn_gigabytes`, `concurrent_rooms`,
    /// `participants_per_room`, or a rate's name (`chat_post_per_minute`).
    pub name: String,
    /// The id of the organisation's plan (absent for rates that no plan sets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// What the limit allows (in its own unit: minutes, gigabytes, meetings, participants,
    /// requests per window).
    pub allowed: u64,
    /// How much is used now, in the same unit.
    pub used: u64,
    /// What to do, in words (`ask an owner to move the organisation to a larger plan`).
    pub action: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_secs: None, limit: None }
    }
    /// A 402 `payment_required` error for the quota `limit`.
    pub fn quota(limit: LimitDetail, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PaymentRequired, message).with_limit(limit)
    }
    /// The same error naming the limit that refused it.
    pub fn with_limit(mut self, limit: LimitDetail) -> Self {
        self.limit = Some(Box::new(limit));
        self
    }
    /// A 429 `rate_limited` error: `message`, and when to retry (in the message and the
    /// `Retry-After` header).
    pub fn rate_limited(retry_after_secs: u64, message: impl Into<String>) -> Self {
        let secs = retry_after_secs.max(1);
        Self::new(ErrorCode::RateLimited, format!("{}; retry in {secs} s", message.into())).with_retry_after(secs)
    }
    /// The same error with a `Retry-After` of `secs`.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
    /// A 400 `bad_request` error with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
    /// A 401 `unauthorized` error with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    /// A 403 `forbidden` error with `message`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    /// A 404 `not_found` error with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    /// A 405 `method_not_allowed` error with `message`.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::MethodNotAllowed, message)
    }
    /// A 413 `payload_too_large` error with `message`.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PayloadTooLarge, message)
    }
    /// A 500 `internal` error with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The HTTP status of the response that carries this error.
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The wire body for this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message.clone(),
                limit: self.limit.as_deref().cloned(),
            },
        }
    }

    /// The wire body serialised as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising two strings into JSON cannot fail.
        serde_json::to_vec(&self.body()).unwrap_or_default()
    }
}

/// `{ "error": { "code", "message" } }`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error's code and message.
    pub error: ErrorDetail,
}

/// The inner object of [`ErrorBody`]. `code` stays a string so that clients keep parsing bodies
/// from newer servers that add codes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The [`ErrorCode`] in snake_case (`not_found`); clients switch on it and treat codes they
    /// do not know by the HTTP status.
    pub code: String,
    /// A human-readable explanation; its wording may change between releases.
    pub message: String,
    /// For a 402 or 429: the limit that refused the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<LimitDetail>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_documented_shape() {
        let e = ApiError::not_found("no route for GET /nope");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v, serde_json::json!({"error": {"code": "not_found", "message": "no route for GET /nope"}}));
        assert_eq!(e.status(), 404);
    }

    #[test]
    fn every_code_maps_to_a_client_or_server_status_and_its_wire_name() {
        let all = [
            ErrorCode::BadRequest,
            ErrorCode::InvalidJson,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::RateLimited,
            ErrorCode::LimitExceeded,
            ErrorCode::PaymentRequired,
            ErrorCode::Internal,
            ErrorCode::BadGateway,
            ErrorCode::Unavailable,
            ErrorCode::Timeout,
        ];
        for code in all {
            let s = code.status();
            assert!((400..600).contains(&s), "{code:?} -> {s}");
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn body_round_trips_and_refuses_other_shapes() {
        let e = ApiError::new(ErrorCode::RateLimited, "slow down");
        let back: ErrorBody = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(back, e.body());
        assert!(serde_json::from_str::<ErrorBody>(r#"{"message":"x"}"#).is_err());
    }
}
