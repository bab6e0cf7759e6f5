//! Accounts: sign-up, email verification, login with rate limit and lockout, rotating refresh
//! tokens, logout.
//!
//! * `POST /v1/auth/signup {email, password, name?}` always answers `202` with the same body,
//!   whether or not the email is taken, after the same hashing work; with
//!   `signup_verification = "email"` (the default) the address receives either a verification
//!   link or a "you already have an account" notice. `"none"` activates new accounts at once
//!   (development only: then sign-up followed by login tells whether an email was taken).
//!   A sign-up with the address of an account that was never verified replaces its pending
//!   password and revokes its sessions, and sends a new link: only the latest sign-up's link
//!   verifies the account ([`address_proof`](crate::address_proof)).
//! * `POST|GET /v1/auth/verify` with the token from the email activates the account.
//! * `POST /v1/auth/login {email, password}` → access token (short, `access_ttl_secs`) and a
//!   refresh token. Wrong email and wrong password get the same `401`. Each client address gets
//!   `rate_login_per_minute` (20) attempts a minute, and `rate_login_failures_per_15_minutes`
//!   (5) failures per account per quarter hour, counted per address and password: a stranger
//!   who keeps failing locks out only their own address, never the owner signing in from
//!   elsewhere, and a new password starts the count afresh. Unknown emails are counted the
//!   same way, so the lock reveals nothing. Sign-up is limited per address
//!   (`rate_signup_per_hour`, before any hashing) and per email (`rate_signup_email_per_hour`).
//! * `POST /v1/auth/refresh {refresh_token}` rotates: the old token stops working, and
//!   presenting a used one revokes the whole chain (it was stolen or replayed).
//! * `POST /v1/auth/logout {refresh_token}` revokes the chain.
//!
//! The records are in [`store::account`](crate::store::account), sessions in
//! [`session`](crate::session). No password or token is stored in the clear or logged.

use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::address_proof::{self, Password};
use crate::email_address::normalize as normalize_email;
#[cfg(feature = "openapi")]
use crate::error_responses as errors;
use crate::names::MAX_NAME_CHARS;
use crate::platform::{Platform, PlatformExt};
use crate::rate_limit;
use crate::reply;
use crate::session::{self, AccountView};
use crate::store::account::{self as stored, Account, Verification};
use crate::variables::var;
use crate::{Request, Response, email, password};

/// How long an email verification link works.
pub const VERIFY_TTL_MS: u64 = 24 * 3600 * 1000;

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Signup {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::email))]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::new_password))]
    pub password: String,
    /// The name others see (default: the part of the email before the `@`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::optional_display_name))]
    pub name: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// An address that is not an email address gets the `401` of a wrong one.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::input_schemas::email))]
    pub email: String,
    pub password: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// `ort_…`, at most 128 bytes; any other is refused with `401`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^ort_", max_length = 128))]
    pub refresh_token: String,
}

/// `POST /v1/auth/logout`: any token is accepted, since ending a session twice is no error.
#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogoutBody {
    pub refresh_token: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The token from the message.
    #[cfg_attr(feature = "openapi", schema(max_length = 128))]
    pub token: String,
}

/// The answer to every sign-up.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignupAccepted {
    pub status: &'static str,
    pub message: &'static str,
}

fn valid_display_name(name: Option<String>) -> Result<Option<String>, ApiError> {
    match name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control) => {
            Err(ApiError::bad_request(format!("name must be at most {MAX_NAME_CHARS} printable characters")))
        }
        other => Ok(other),
    }
}

/// Serves the account endpoints under `/v1/auth/`.
pub async fn route(req: &Request, p: &impl Platform, action: &str) -> Result<Response, ApiError> {
    match (action, req.method()) {
        ("signup", &Method::POST) => signup(req, p).await,
        ("verify", &Method::POST) => verify_post(req, p).await,
        ("verify", &Method::GET) => verify_get(req, p).await,
        ("verify", _) => Ok(reply::method_not_allowed(req, "GET, POST")),
        ("login", &Method::POST) => login(req, p).await,
        ("refresh", &Method::POST) => refresh(req, p).await,
        ("logout", &Method::POST) => logout(req, p).await,
        ("signup" | "login" | "refresh" | "logout", _) => Ok(reply::method_not_allowed(req, "POST")),
        _ => Err(reply::not_found(req)),
    }
}

const ACCEPTED: SignupAccepted = SignupAccepted {
    status: "accepted",
    message: "If this address can be used, it will receive a message with the next step.",
};

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/signup", tag = "auth",
    summary = "Create an account; the same answer whether or not the email is taken",
    request_body = Signup, security(),
    responses(
        (status = 202, body = SignupAccepted),
        (status = 400, response = errors::BadRequest),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 502, response = errors::BadGateway),
        (status = 503, response = errors::Unavailable),
        (status = 429, response = errors::RateLimited),
    )))]
async fn signup(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    // Before any hashing or email: per client address, then per address signed up with.
    rate_limit::hit(p, &rate_limit::SIGNUP_PER_ADDRESS, &rate_limit::address_of(req, p)).await?;
    let body: Signup = reply::parse_json(req)?;
    let email = normalize_email(&body.email)?;
    password::check_policy(&body.password)?;
    rate_limit::hit(p, &rate_limit::SIGNUP_PER_EMAIL, &email).await?;
    let name = valid_display_name(body.name)?;
    let by_email = var(p, "signup_verification").as_deref() != Some("none");
    if by_email && !email::configured(p) {
        return Err(ApiError::new(ErrorCode::Unavailable, "sign-up needs email delivery (email_api_url)"));
    }
    match stored::find_by_email(p, &email).await? {
        Some(existing) if existing.verified => {
            password::equalize(p, &body.password);
            if by_email {
                let text = format!(
                    "Someone tried to sign up for Origo with your address, which already has an account ({}).\n\
                     If it was you, sign in instead (or reset your password from the sign-in page). \
                     If not, you can ignore this message: nothing changed.",
                    existing.email
                );
                email::send(p, &email, "Someone tried to sign up with your address", &text).await?;
            }
        }
        Some(mut pending) => {
            // Never verified: perhaps someone else's sign-up with this address. The latest
            // sign-up replaces the pending password, and only its link verifies the account.
            pending.password_hash = Some(password::hash(p, &body.password)?);
            pending.name = name;
            session::revoke_all(p, &mut pending);
            if by_email {
                let signup = p.random_hex(8);
                pending.pending_signup = Some(signup.clone());
                stored::save(p, &pending).await?;
                send_verification(p, &pending, &signup).await?;
            } else {
                address_proof::proved(p, pending, Password::Keep).await?;
            }
        }
        None => {
            let signup = p.random_hex(8);
            let account = Account {
                id: format!("acct_{}", p.random_hex(10)),
                email: email.clone(),
                name,
                password_hash: Some(password::hash(p, &body.password)?),
                verified: !by_email,
                created_at_ms: p.now_ms(),
                pending_signup: by_email.then(|| signup.clone()),
                ..Account::default()
            };
            stored::insert(p, &account).await?;
            if by_email {
                send_verification(p, &account, &signup).await?;
            }
        }
    }
    Ok(reply::json(StatusCode::ACCEPTED, &ACCEPTED))
}

/// Sends the verification link of the sign-up `signup` of `account`.
async fn send_verification(p: &impl Platform, account: &Account, signup: &str) -> Result<(), ApiError> {
    let token = p.random_hex(24);
    let record = Verification {
        account: account.id.clone(),
        expires_at_ms: p.now_ms() + VERIFY_TTL_MS,
        signup: signup.to_owned(),
    };
    stored::put_verification(p, &token, &record).await?;
    let link = match var(p, "public_url") {
        Some(b) => format!("{}/v1/auth/verify?token={token}", b.trim_end_matches('/')),
        None => format!("verification code: {token}"),
    };
    let text = format!(
        "Confirm your Origo account within 24 hours:\n\n{link}\n\n\
         If you did not just sign up, ignore this message. Only the link of the latest sign-up works."
    );
    email::send(p, &account.email, "Confirm your Origo account", &text).await
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/verify", tag = "auth",
    summary = "Confirm an email address",
    request_body = VerifyBody, security(),
    responses(
        (status = 200, description = "Verified: `{verified: true, account}`"),
        (status = 400, response = errors::BadRequest),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn verify_post(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: VerifyBody = reply::parse_json(req)?;
    verify(p, &body.token).await
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/auth/verify", tag = "auth",
    summary = "Confirm an email address (the link in the message)",
    params(("token" = String, Query, description = "The token from the message")), security(),
    responses(
        (status = 200, description = "Verified: `{verified: true, account}`"),
        (status = 400, response = errors::BadRequest),
        (status = 503, response = errors::Unavailable),
    )))]
async fn verify_get(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let token = reply::query_param(req, "token").ok_or_else(|| ApiError::bad_request("token is required"))?;
    verify(p, token).await
}

async fn verify(p: &impl Platform, token: &str) -> Result<Response, ApiError> {
    let refused = || ApiError::new(ErrorCode::BadRequest, "this verification link is invalid or has expired");
    if token.len() > 128 {
        return Err(refused());
    }
    let record = stored::take_verification(p, token).await?.ok_or_else(refused)?;
    if record.expires_at_ms <= p.now_ms() {
        return Err(refused());
    }
    let account = stored::load(p, &record.account).await?.ok_or_else(refused)?;
    let account = if account.verified {
        account
    } else if account.pending_signup.as_deref().unwrap_or("") == record.signup {
        address_proof::proved(p, account, Password::Keep).await?
    } else {
        // A later sign-up with this address replaced the one this link confirms.
        return Err(ApiError::bad_request("a newer sign-up replaced this link; use the link in the latest message"));
    };
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "verified": true, "account": AccountView::of(&account) })))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/login", tag = "auth",
    summary = "Sign in with email and password",
    request_body = Login, security(),
    responses(
        (status = 200, body = crate::session::Session),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 403, response = errors::Forbidden),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 429, response = errors::RateLimited),
        (status = 503, response = errors::Unavailable),
    )))]
async fn login(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    // Per client address, then failures per address and account: a stranger who keeps
    // failing locks out only themselves, never the owner signing in from elsewhere.
    let address = rate_limit::address_of(req, p);
    rate_limit::hit(p, &rate_limit::LOGIN_PER_ADDRESS, &address).await?;
    let body: Login = reply::parse_json(req)?;
    let email = normalize_email(&body.email).map_err(|_| invalid_login())?;
    let account = stored::find_by_email(p, &email).await?;
    // Counted per password (its salted hash): a new password starts the count afresh.
    let epoch = account
        .as_ref()
        .and_then(|a| a.password_hash.as_deref())
        .map_or_else(String::new, |phc| crate::secret_digest::secret_digest(phc)[..16].to_owned());
    let pair = format!("{address}\u{0}{email}\u{0}{epoch}");
    rate_limit::check(p, &rate_limit::LOGIN_FAILURES, &pair).await?;
    let ok = match account.as_ref().and_then(|a| a.password_hash.as_deref()) {
        Some(phc) => password::verify(phc, &body.password),
        None => {
            password::equalize(p, &body.password);
            false
        }
    };
    let account = match (ok, account) {
        (true, Some(a)) => a,
        _ => {
            rate_limit::hit(p, &rate_limit::LOGIN_FAILURES, &pair).await.ok();
            return Err(invalid_login());
        }
    };
    if !account.verified {
        return Err(ApiError::forbidden("confirm your email address first (see the message we sent)"));
    }
    let session = session::start(p, &account).await?;
    Ok(reply::json(StatusCode::OK, &session))
}

fn invalid_login() -> ApiError {
    ApiError::unauthorized("invalid email or password")
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/refresh", tag = "auth",
    summary = "Rotate a refresh token for a new access token",
    request_body = RefreshBody, security(),
    responses(
        (status = 200, body = crate::session::Session),
        (status = 400, response = errors::BadRequest),
        (status = 401, response = errors::Unauthorized),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn refresh(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: RefreshBody = reply::parse_json(req)?;
    Ok(reply::json(StatusCode::OK, &session::rotate(p, &body.refresh_token).await?))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    summary = "Revoke the session of a refresh token",
    request_body = LogoutBody, security(),
    responses(
        (status = 204, description = "Signed out"),
        (status = 400, response = errors::BadRequest),
        (status = 413, response = errors::PayloadTooLarge),
        (status = 415, response = errors::UnsupportedMediaType),
        (status = 503, response = errors::Unavailable),
    )))]
async fn logout(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: LogoutBody = reply::parse_json(req)?;
    session::end(p, &body.refresh_token).await?;
    Ok(reply::no_content())
}
