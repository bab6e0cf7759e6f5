//! Password reset by an emailed, single-use link.
//!
//! * `POST /v1/auth/password-reset {email}` always answers `202` with the same body; when the
//!   address has an account it receives a link `{public_url}/#password-reset={token}` that
//!   works once, for [`TTL_MS`] (30 minutes). Only the token's digest is kept, given to the
//!   sweep for when it expires.
//! * `POST /v1/auth/password-reset/confirm {token, password}` sets the password (Argon2id),
//!   marks the address verified — the link proved it ([`address_proof`]) — and revokes every
//!   session of the account; a used, unknown, expired or superseded token is a `400`. Links
//!   sent before a completed reset stop working with it.
//!
//! The token travels in the link's fragment and in the request body, never in a path or query.

use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::address_proof::{self, Password};
use crate::email_address::normalize as normalize_email;
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::platform::{Platform, PlatformExt};
use crate::rate_limit;
use crate::reply;
use crate::session::AccountView;
use crate::store::account::{self as stored, PasswordReset};
use crate::variables::var;
use crate::{Request, Response, email, password};

/// How long a reset link works.
pub const TTL_MS: u64 = 30 * 60 * 1000;

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::email))]
    pub email: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The token from the link.
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub token: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::new_password))]
    pub password: String,
}

/// The answer to every reset request.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetAccepted {
    pub status: &'static str,
    pub message: &'static str,
}

const ACCEPTED: ResetAccepted = ResetAccepted {
    status: "accepted",
    message: "If this address has an account, it will receive a link to choose a new password.",
};

/// The answer to a completed reset.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResetDone {
    pub reset: bool,
    pub account: AccountView,
}

/// Serves `/v1/auth/password-reset[/confirm]` (`rest` is what follows `password-reset`).
pub async fn route(req: &Request, p: &impl Platform, rest: &[&str]) -> Result<Response, ApiError> {
    match (rest, req.method()) {
        ([], &Method::POST) => request(req, p).await,
        (["confirm"], &Method::POST) => confirm(req, p).await,
        ([] | ["confirm"], _) => Ok(reply::method_not_allowed(req, "POST")),
        _ => Err(reply::not_found(req)),
    }
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth",
    summary = "Email a password reset link; the same answer whether or not the address has an account",
    request_body = ResetRequest, security(),
    responses(
        (status = 202, body = ResetAccepted),
        (status = 400, response = errors::BadRequest),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 429, response = errors::RateLimited),
        (status = 502, response = errors::BadGateway),
        (status = 503, response = errors::Unavailable),
    )))]
async fn request(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    rate_limit::hit(p, &rate_limit::EMAIL_PER_ADDRESS, &rate_limit::address_of(req, p)).await?;
    let body: ResetRequest = reply::parse_json(req)?;
    let email_addr = normalize_email(&body.email)?;
    rate_limit::hit(p, &rate_limit::RESET_PER_EMAIL, &email_addr).await?;
    if !email::configured(p) {
        return Err(ApiError::new(ErrorCode::Unavailable, "password reset needs email delivery (email_api_url)"));
    }
    if let Some(account) = stored::find_by_email(p, &email_addr).await? {
        let token = p.random_hex(24);
        let now = p.now_ms();
        let record = PasswordReset { account: account.id.clone(), issued_at_ms: now, expires_at_ms: now + TTL_MS };
        stored::put_password_reset(p, &token, &record).await?;
        let link = match var(p, "public_url") {
            Some(b) => format!("{}/#password-reset={token}", b.trim_end_matches('/')),
            None => format!("reset code: {token}"),
        };
        let text = format!(
            "Choose a new password for your Origo account within 30 minutes:\n\n{link}\n\n\
             The link works once. If you did not ask for it, ignore this message: your password stays as it is."
        );
        // The answer is the same whether the address has an account or not: a delivery that
        // failed is not told (it would say the account exists). The holder may ask again.
        let _ = email::send(p, &account.email, "Reset your Origo password", &text).await;
    }
    Ok(reply::json(StatusCode::ACCEPTED, &ACCEPTED))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth",
    summary = "Set a new password with the link's token; every session of the account is revoked",
    request_body = ResetConfirm, security(),
    responses(
        (status = 200, body = ResetDone),
        (status = 400, response = errors::BadRequest),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn confirm(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: ResetConfirm = reply::parse_json(req)?;
    password::check_policy(&body.password)?;
    let refused = || ApiError::bad_request("this reset link is invalid or was already used; ask for a new one");
    if body.token.is_empty() || body.token.len() > 128 {
        return Err(refused());
    }
    let record = stored::take_password_reset(p, &body.token).await?.ok_or_else(refused)?;
    if record.expires_at_ms <= p.now_ms() {
        return Err(ApiError::bad_request("this reset link has expired; ask for a new one"));
    }
    let account = stored::load(p, &record.account).await?.ok_or_else(refused)?;
    if record.issued_at_ms < account.sessions_valid_from_ms {
        // A reset (or a claim of the address) completed after this link was sent.
        return Err(refused());
    }
    let phc = password::hash(p, &body.password)?;
    let account = address_proof::proved(p, account, Password::Set(phc)).await?;
    // A lockout from before does not keep the owner out once the password is new: failed
    // sign-ins are counted per password (the revocation above starts a new count).
    Ok(reply::json(StatusCode::OK, &ResetDone { reset: true, account: AccountView::of(&account) }))
}
