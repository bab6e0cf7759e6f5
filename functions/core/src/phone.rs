//! An account's phone number for text-message notifications, verified by a code sent to it:
//!
//! * `POST /v1/me/phone {number}` (E.164) sends a 6-digit code, valid 10 minutes for 5 tries;
//!   limited per account (`rate_phone_code_per_hour`, default 5) and per number
//!   (`rate_phone_number_per_hour`, default 3), so nobody's phone is flooded from here;
//! * `POST /v1/me/phone/verify {code}` makes it the account's number;
//! * `GET /v1/me/phone` the verified number; `DELETE /v1/me/phone` forgets it.
//!
//! The code is stored only as a digest.

use http::{Method, StatusCode};
use origo_shared::ApiError;
use serde::Deserialize;

#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::Platform;
use crate::principal::Principal;
use crate::rate_limit;
use crate::reply;
use crate::secret_digest::{digest_eq, secret_digest};
use crate::sms;
use crate::store::phone::{self as stored, PendingPhone, VerifiedPhone};
use crate::{Request, Response};

/// How long a code is valid.
pub const CODE_TTL_MS: u64 = 10 * 60 * 1000;
/// Wrong codes before the code is void.
pub const CODE_TRIES: u32 = 5;

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PhoneNumber {
    /// E.164: `+`, the country code and the number, 8 to 15 digits.
    #[cfg_attr(feature = "openapi", schema(pattern = "^\\+[1-9][0-9]{7,14}$"))]
    pub number: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PhoneCode {
    /// The 6 digits sent to the number.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9]{6}$"))]
    pub code: String,
}

/// Serves `/v1/me/phone` and `/v1/me/phone/verify`.
pub async fn route(req: &Request, p: &impl Platform, segments: &[&str]) -> Result<Response, ApiError> {
    match (segments, req.method()) {
        (["v1", "me", "phone"], &Method::POST) => start(req, p).await,
        (["v1", "me", "phone"], &Method::GET) => show(req, p).await,
        (["v1", "me", "phone"], &Method::DELETE) => remove(req, p).await,
        (["v1", "me", "phone"], _) => Ok(reply::method_not_allowed(req, "GET, POST, DELETE")),
        (["v1", "me", "phone", "verify"], &Method::POST) => verify(req, p).await,
        (["v1", "me", "phone", "verify"], _) => Ok(reply::method_not_allowed(req, "POST")),
        _ => Err(reply::not_found(req)),
    }
}

async fn account(req: &Request, p: &impl Platform) -> Result<String, ApiError> {
    Ok(Principal::from_request(req, p).await?.account()?.to_owned())
}

fn code_digest(account: &str, number: &str, code: &str) -> String {
    secret_digest(&format!("phone\u{0}{account}\u{0}{number}\u{0}{code}"))
}

/// Six uniformly drawn digits.
fn draw_code(p: &impl Platform) -> String {
    loop {
        let mut buf = [0u8; 4];
        p.random(&mut buf);
        let n = u32::from_le_bytes(buf);
        // Below the largest multiple of a million, so every code is as likely.
        if n < u32::MAX - u32::MAX % 1_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/me/phone", operation_id = "phone_start", tag = "notifications",
    summary = "Send a verification code to a phone number",
    request_body = PhoneNumber, security(("bearer" = [])),
    responses(
        (status = 202, description = "`{number, expires_in}`: the code is on its way"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 429, response = errors::RateLimited),
        (status = 502, response = errors::BadGateway),
        (status = 503, response = errors::Unavailable),
    )))]
async fn start(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    let body: PhoneNumber = reply::parse_json(req)?;
    if !sms::valid_e164(&body.number) {
        return Err(ApiError::bad_request("number must be E.164: + and 8 to 15 digits, e.g. +14155550100"));
    }
    if !sms::configured(p) {
        return Err(ApiError::new(
            origo_shared::ErrorCode::Unavailable,
            "text messages are not configured on this deployment",
        ));
    }
    rate_limit::hit(p, &rate_limit::PHONE_CODE_PER_ACCOUNT, &account).await?;
    rate_limit::hit(p, &rate_limit::PHONE_CODE_PER_NUMBER, &body.number).await?;
    let code = draw_code(p);
    let pending = PendingPhone {
        v: crate::store::format::current(),
        number: body.number.clone(),
        code_sha256: code_digest(&account, &body.number, &code),
        tries_left: CODE_TRIES,
        expires_at_ms: p.now_ms() + CODE_TTL_MS,
    };
    stored::put_pending(p, &account, &pending).await?;
    sms::send(p, &body.number, &format!("Your Origo code is {code}. It is valid for 10 minutes.")).await?;
    Ok(reply::json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "number": body.number, "expires_in": CODE_TTL_MS / 1000 }),
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/me/phone/verify", operation_id = "phone_verify", tag = "notifications",
    summary = "Confirm the phone number with the code sent to it",
    request_body = PhoneCode, security(("bearer" = [])),
    responses(
        (status = 200, description = "`{number, verified_at_ms}`"),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn verify(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    let body: PhoneCode = reply::parse_json(req)?;
    let Some(mut pending) = stored::pending(p, &account).await? else {
        return Err(ApiError::not_found("no code is waiting: send one with POST /v1/me/phone"));
    };
    let right = body.code.len() == 6
        && body.code.bytes().all(|b| b.is_ascii_digit())
        && digest_eq(&code_digest(&account, &pending.number, &body.code), &pending.code_sha256);
    if !right {
        pending.tries_left = pending.tries_left.saturating_sub(1);
        if pending.tries_left == 0 {
            stored::delete_pending(p, &account).await?;
            return Err(ApiError::bad_request("wrong code; it is void now: send a new one"));
        }
        stored::put_pending(p, &account, &pending).await?;
        return Err(ApiError::bad_request(format!("wrong code; {} tries left", pending.tries_left)));
    }
    let phone =
        VerifiedPhone { v: crate::store::format::current(), number: pending.number, verified_at_ms: p.now_ms() };
    stored::put_verified(p, &account, &phone).await?;
    stored::delete_pending(p, &account).await?;
    Ok(reply::json(
        StatusCode::OK,
        &serde_json::json!({ "number": phone.number, "verified_at_ms": phone.verified_at_ms }),
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/me/phone", operation_id = "phone_show", tag = "notifications",
    summary = "This account's verified phone number", security(("bearer" = [])),
    responses(
        (status = 200, description = "`{number, verified_at_ms}`"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 404, response = errors::NotFound),
        (status = 503, response = errors::Unavailable),
    )))]
async fn show(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    let phone = stored::verified(p, &account).await?.ok_or_else(|| ApiError::not_found("no verified phone number"))?;
    Ok(reply::json(
        StatusCode::OK,
        &serde_json::json!({ "number": phone.number, "verified_at_ms": phone.verified_at_ms }),
    ))
}

#[cfg_attr(feature = "openapi", utoipa::path(delete, path = "/v1/me/phone", operation_id = "phone_remove", tag = "notifications",
    summary = "Forget this account's phone number", security(("bearer" = [])),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 503, response = errors::Unavailable),
    )))]
async fn remove(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let account = account(req, p).await?;
    stored::delete_all(p, &account).await?;
    Ok(reply::no_content())
}
