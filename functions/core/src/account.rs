//! Accounts: sign-up, email verification, login with rate limit and lockout, rotating refresh
//! tokens, logout.
//!
//! * `POST /v1/auth/signup {email, password, name?}` always answers `202` with the same body,
//!   whether or not the email is taken, after the same hashing work; with
//!   `signup_verification = "email"` (the default) the address receives either a verification
//!   link or a "you already have an account" notice. `"none"` activates new accounts at once
//!   (development only: then sign-up followed by login tells whether an email was taken).
//! * `POST|GET /v1/auth/verify` with the token from the email activates the account.
//! * `POST /v1/auth/login {email, password}` → access token (short, `access_ttl_secs`) and a
//!   refresh token. Wrong email and wrong password get the same `401`. After
//!   `login_max_failures` (5) failures in a row an email is locked for `login_lockout_secs`
//!   (900) — also for emails nobody uses, so the lock reveals nothing. Each client address gets
//!   `login_rate_per_minute` (20) attempts a minute.
//! * `POST /v1/auth/refresh {refresh_token}` rotates: the old token stops working, and
//!   presenting a used one revokes the whole chain (it was stolen or replayed).
//! * `POST /v1/auth/logout {refresh_token}` revokes the chain.
//!
//! Stored: `account:{id}`, `account_email:{sha256(email)}` → id, refresh tokens as
//! `refresh:{sha256(token)}` and their chain `refresh_family:{id}`; verification tokens as
//! `verify:{sha256(token)}`. No password or token is stored in the clear or logged.

use http::{Method, StatusCode};
use origo_shared::token::{Claims, TokenKind};
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::platform::{Platform, PlatformExt};
use crate::principal::{digest_eq, secret_digest};
use crate::reply::{self, unavailable};
use origo_shared::token::{AUDIENCE, TokenConfig};
use crate::variables::{num_var, token_config, var};
use crate::{Request, Response, email, password};

/// How long an email verification link works.
pub const VERIFY_TTL_MS: u64 = 24 * 3600 * 1000;
/// Used refresh tokens remembered per chain, to recognise replays.
const MAX_USED_REMEMBERED: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Argon2id PHC string; `None` for accounts that only sign in through OIDC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub verified: bool,
    pub created_at_ms: u64,
}

/// What clients see of an account.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountView {
    pub id: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Account {
    pub fn view(&self) -> AccountView {
        AccountView { id: self.id.clone(), email: self.email.clone(), name: self.name.clone() }
    }
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Signup {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    pub token: String,
}

/// Tokens of a signed-in account.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Session {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub refresh_expires_in: u64,
    pub account: AccountView,
}

/// The answer to every sign-up.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignupAccepted {
    pub status: &'static str,
    pub message: &'static str,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RefreshRecord {
    account: String,
    family: String,
    expires_at_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Family {
    account: String,
    current: String,
    used: Vec<String>,
    expires_at_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LoginGuard {
    failures: u32,
    locked_until_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Verification {
    account: String,
    expires_at_ms: u64,
}

/// Lower-cased, trimmed email, or a 400.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let bad = || ApiError::bad_request("email is not a valid address");
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains('@')
        || email.len() > 254
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(email)
}

fn email_key(email: &str) -> String {
    format!("account_email:{}", secret_digest(email))
}

fn account_key(id: &str) -> String {
    format!("account:{id}")
}

pub async fn load(p: &impl Platform, id: &str) -> Result<Option<Account>, ApiError> {
    p.kv_get_json(&account_key(id)).await.map_err(unavailable)
}

/// The account registered with `email`, if any.
pub async fn find_by_email(p: &impl Platform, email: &str) -> Result<Option<Account>, ApiError> {
    let email = normalize_email(email)?;
    let Some(id) = p.kv_get(&email_key(&email)).await.map_err(unavailable)? else {
        return Ok(None);
    };
    load(p, &String::from_utf8_lossy(&id)).await
}

/// Stores a new account and its email index.
pub async fn insert(p: &impl Platform, account: &Account) -> Result<(), ApiError> {
    p.kv_set_json(&account_key(&account.id), account).await.map_err(unavailable)?;
    p.kv_set(&email_key(&account.email), account.id.as_bytes()).await.map_err(unavailable)
}

fn valid_display_name(name: Option<String>) -> Result<Option<String>, ApiError> {
    match name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > 64 || n.chars().any(char::is_control) => {
            Err(ApiError::bad_request("name must be at most 64 printable characters"))
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
        ("verify", _) => Err(reply::method_not_allowed(req, "GET, POST")),
        ("login", &Method::POST) => login(req, p).await,
        ("refresh", &Method::POST) => refresh(req, p).await,
        ("logout", &Method::POST) => logout(req, p).await,
        ("signup" | "login" | "refresh" | "logout", _) => Err(reply::method_not_allowed(req, "POST")),
        _ => Err(reply::not_found(req)),
    }
}

const ACCEPTED: SignupAccepted = SignupAccepted {
    status: "accepted",
    message: "If this address can be used, it will receive a message with the next step.",
};

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/signup", tag = "auth", summary = "Create an account; the same answer whether or not the email is taken", request_body = Signup, security(), responses((status = 202, body = SignupAccepted), (status = 400, description = "Bad input (malformed JSON, unknown or missing fields, invalid values)", body = origo_shared::ErrorBody), (status = 413, description = "Body too large", body = origo_shared::ErrorBody), (status = 415, description = "Not JSON", body = origo_shared::ErrorBody), (status = 502, description = "An upstream provider failed", body = origo_shared::ErrorBody), (status = 503, description = "Not configured, or no node available; retry", body = origo_shared::ErrorBody))))]
async fn signup(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: Signup = reply::parse_json(req)?;
    let email = normalize_email(&body.email)?;
    password::check_policy(&body.password)?;
    let name = valid_display_name(body.name)?;
    let by_email = var(p, "signup_verification").as_deref() != Some("none");
    if by_email && !email::configured(p) {
        return Err(ApiError::new(ErrorCode::Unavailable, "sign-up needs email delivery (email_api_url)"));
    }
    let base = var(p, "public_url");
    match find_by_email(p, &email).await? {
        Some(existing) => {
            password::equalize(p, &body.password);
            if by_email {
                let text = format!(
                    "Someone tried to create an Origo account with this address, which already has one ({}).\n\
                     If it was you, sign in instead. If not, you can ignore this message.",
                    existing.email
                );
                email::send(p, &email, "You already have an Origo account", &text).await?;
            }
        }
        None => {
            let account = Account {
                id: format!("acct_{}", p.random_hex(10)),
                email: email.clone(),
                name,
                password_hash: Some(password::hash(p, &body.password)?),
                verified: !by_email,
                created_at_ms: p.now_ms(),
            };
            insert(p, &account).await?;
            if by_email {
                let token = p.random_hex(24);
                let record = Verification { account: account.id.clone(), expires_at_ms: p.now_ms() + VERIFY_TTL_MS };
                p.kv_set_json(&format!("verify:{}", secret_digest(&token)), &record).await.map_err(unavailable)?;
                let link = match &base {
                    Some(b) => format!("{}/v1/auth/verify?token={token}", b.trim_end_matches('/')),
                    None => format!("verification code: {token}"),
                };
                let text = format!("Confirm your Origo account within 24 hours:\n\n{link}\n");
                email::send(p, &email, "Confirm your Origo account", &text).await?;
            }
        }
    }
    Ok(reply::json(StatusCode::ACCEPTED, &ACCEPTED))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/verify", tag = "auth", summary = "Confirm an email address", request_body = VerifyBody, security(), responses((status = 200, description = "Verified"), (status = 400, description = "Bad input (malformed JSON, unknown or missing fields, invalid values)", body = origo_shared::ErrorBody), (status = 415, description = "Not JSON", body = origo_shared::ErrorBody))))]
async fn verify_post(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: VerifyBody = reply::parse_json(req)?;
    verify(p, &body.token).await
}

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/v1/auth/verify", tag = "auth", summary = "Confirm an email address (the link in the message)", params(("token" = String, Query, description = "The token from the message")), security(), responses((status = 200, description = "Verified"), (status = 400, description = "Bad input (malformed JSON, unknown or missing fields, invalid values)", body = origo_shared::ErrorBody))))]
async fn verify_get(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let token = reply::query_param(req, "token").ok_or_else(|| ApiError::bad_request("token is required"))?;
    verify(p, token).await
}

async fn verify(p: &impl Platform, token: &str) -> Result<Response, ApiError> {
    let refused = || ApiError::new(ErrorCode::BadRequest, "this verification link is invalid or has expired");
    if token.len() > 128 {
        return Err(refused());
    }
    let key = format!("verify:{}", secret_digest(token));
    let record: Verification = p.kv_get_json(&key).await.map_err(unavailable)?.ok_or_else(refused)?;
    p.kv_delete(&key).await.map_err(unavailable)?;
    if record.expires_at_ms <= p.now_ms() {
        return Err(refused());
    }
    let mut account = load(p, &record.account).await?.ok_or_else(refused)?;
    account.verified = true;
    p.kv_set_json(&account_key(&account.id), &account).await.map_err(unavailable)?;
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "verified": true, "account": account.view() })))
}

fn rate_limited(retry_after_secs: u64, message: String) -> ApiError {
    ApiError::new(ErrorCode::RateLimited, format!("{message}; retry in {retry_after_secs} s"))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/login", tag = "auth", summary = "Sign in with email and password", request_body = Login, security(), responses((status = 200, body = Session), (status = 400, description = "Bad input (malformed JSON, unknown or missing fields, invalid values)", body = origo_shared::ErrorBody), (status = 401, description = "Missing, forged or expired credentials", body = origo_shared::ErrorBody), (status = 403, description = "The caller's role or grants do not allow this, or a limit is reached", body = origo_shared::ErrorBody), (status = 415, description = "Not JSON", body = origo_shared::ErrorBody), (status = 429, description = "Rate limited or locked out", body = origo_shared::ErrorBody))))]
async fn login(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let now = p.now_ms();
    // Per client address: a fixed one-minute window.
    if let Some(ip) = reply::client_ip(req) {
        let limit: u32 = num_var(p, "login_rate_per_minute", 20);
        let key = format!("login_rate:{ip}:{}", now / 60_000);
        let count: u32 = p.kv_get_json(&key).await.map_err(unavailable)?.unwrap_or(0);
        if count >= limit {
            return Err(rate_limited(60 - (now / 1000) % 60, "too many sign-in attempts from this address".into()));
        }
        p.kv_set_json(&key, &(count + 1)).await.map_err(unavailable)?;
        if count == 0 {
            // The previous window's counter is of no further use.
            p.kv_delete(&format!("login_rate:{ip}:{}", now / 60_000 - 1)).await.map_err(unavailable)?;
        }
    }
    let body: Login = reply::parse_json(req)?;
    let email = normalize_email(&body.email).map_err(|_| invalid_login())?;
    let guard_key = format!("login_guard:{}", secret_digest(&email));
    let mut guard: LoginGuard = p.kv_get_json(&guard_key).await.map_err(unavailable)?.unwrap_or_default();
    if guard.locked_until_ms > now {
        return Err(rate_limited(
            (guard.locked_until_ms - now).div_ceil(1000),
            "too many failed sign-ins for this account".into(),
        ));
    }
    let account = find_by_email(p, &email).await?;
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
            guard.failures += 1;
            if guard.failures >= num_var(p, "login_max_failures", 5) {
                guard.failures = 0;
                guard.locked_until_ms = now + num_var(p, "login_lockout_secs", 900u64) * 1000;
            }
            p.kv_set_json(&guard_key, &guard).await.map_err(unavailable)?;
            return Err(invalid_login());
        }
    };
    if guard.failures > 0 || guard.locked_until_ms > 0 {
        p.kv_delete(&guard_key).await.map_err(unavailable)?;
    }
    if !account.verified {
        return Err(ApiError::forbidden("confirm your email address first (see the message we sent)"));
    }
    let session = start_session(p, &account).await?;
    Ok(reply::json(StatusCode::OK, &session))
}

fn invalid_login() -> ApiError {
    ApiError::unauthorized("invalid email or password")
}

/// An access token for `account`.
pub fn access_token(p: &impl Platform, config: &TokenConfig, account: &Account) -> Result<String, ApiError> {
    // Without a chosen name, others see the part of the email before the `@`.
    let name = account.name.clone().unwrap_or_else(|| account.email.split('@').next().unwrap_or("").to_owned());
    let claims = Claims::new(&config.issuer, AUDIENCE, &account.id, p.now_secs(), config.access_ttl_secs)
        .with_kind(TokenKind::Account)
        .with_name(name)
        .with_jti(p.random_hex(12));
    config.issue(&claims)
}

/// Issues an access token and a new refresh-token chain.
pub async fn start_session(p: &impl Platform, account: &Account) -> Result<Session, ApiError> {
    let config = token_config(p)?;
    let family = p.random_hex(12);
    let expires_at_ms = p.now_ms() + config.refresh_ttl_secs * 1000;
    let refresh = new_refresh(p, &account.id, &family, expires_at_ms).await?;
    let f = Family { account: account.id.clone(), current: secret_digest(&refresh), used: vec![], expires_at_ms };
    p.kv_set_json(&format!("refresh_family:{family}"), &f).await.map_err(unavailable)?;
    Ok(Session {
        access_token: access_token(p, &config, account)?,
        token_type: "Bearer",
        expires_in: config.access_ttl_secs,
        refresh_token: refresh,
        refresh_expires_in: config.refresh_ttl_secs,
        account: account.view(),
    })
}

async fn new_refresh(p: &impl Platform, account: &str, family: &str, expires_at_ms: u64) -> Result<String, ApiError> {
    let token = format!("ort_{}", p.random_hex(32));
    let record = RefreshRecord { account: account.to_owned(), family: family.to_owned(), expires_at_ms };
    p.kv_set_json(&format!("refresh:{}", secret_digest(&token)), &record).await.map_err(unavailable)?;
    Ok(token)
}

async fn revoke_family(p: &impl Platform, family_id: &str, f: &Family) -> Result<(), ApiError> {
    for digest in f.used.iter().chain(std::iter::once(&f.current)) {
        p.kv_delete(&format!("refresh:{digest}")).await.map_err(unavailable)?;
    }
    p.kv_delete(&format!("refresh_family:{family_id}")).await.map_err(unavailable)
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthorized("refresh token is invalid, expired or revoked; sign in again")
}

/// The refresh record and chain of `token`, or a 401.
async fn lookup_refresh(p: &impl Platform, token: &str) -> Result<(String, RefreshRecord, Family), ApiError> {
    if !token.starts_with("ort_") || token.len() > 128 {
        return Err(invalid_refresh());
    }
    let digest = secret_digest(token);
    let record: RefreshRecord =
        p.kv_get_json(&format!("refresh:{digest}")).await.map_err(unavailable)?.ok_or_else(invalid_refresh)?;
    let family: Family = p
        .kv_get_json(&format!("refresh_family:{}", record.family))
        .await
        .map_err(unavailable)?
        .ok_or_else(invalid_refresh)?;
    Ok((digest, record, family))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", summary = "Rotate a refresh token for a new access token", request_body = RefreshBody, security(), responses((status = 200, body = Session), (status = 400, description = "Bad input (malformed JSON, unknown or missing fields, invalid values)", body = origo_shared::ErrorBody), (status = 401, description = "Missing, forged or expired credentials", body = origo_shared::ErrorBody), (status = 415, description = "Not JSON", body = origo_shared::ErrorBody))))]
async fn refresh(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: RefreshBody = reply::parse_json(req)?;
    let (digest, record, mut family) = lookup_refresh(p, &body.refresh_token).await?;
    let now = p.now_ms();
    if !digest_eq(&digest, &family.current) {
        // A rotated-out token came back: someone holds a copy. End the whole chain.
        revoke_family(p, &record.family, &family).await?;
        return Err(ApiError::unauthorized("refresh token was already used; the session is revoked, sign in again"));
    }
    if record.expires_at_ms <= now || family.expires_at_ms <= now {
        revoke_family(p, &record.family, &family).await?;
        return Err(invalid_refresh());
    }
    let account = load(p, &record.account).await?.ok_or_else(invalid_refresh)?;
    let config = token_config(p)?;
    // The chain keeps its original end: rotation does not extend a session forever.
    let next = new_refresh(p, &account.id, &record.family, family.expires_at_ms).await?;
    family.used.push(std::mem::replace(&mut family.current, secret_digest(&next)));
    if family.used.len() > MAX_USED_REMEMBERED {
        let old = family.used.remove(0);
        p.kv_delete(&format!("refresh:{old}")).await.map_err(unavailable)?;
    }
    p.kv_set_json(&format!("refresh_family:{}", record.family), &family).await.map_err(unavailable)?;
    let session = Session {
        access_token: access_token(p, &config, &account)?,
        token_type: "Bearer",
        expires_in: config.access_ttl_secs,
        refresh_token: next,
        refresh_expires_in: family.expires_at_ms.saturating_sub(now) / 1000,
        account: account.view(),
    };
    Ok(reply::json(StatusCode::OK, &session))
}

#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/v1/auth/logout", tag = "auth", summary = "Revoke the session of a refresh token", request_body = RefreshBody, security(), responses((status = 204, description = "Signed out"), (status = 400, description = "Bad input (malformed JSON, unknown or missing fields, invalid values)", body = origo_shared::ErrorBody), (status = 415, description = "Not JSON", body = origo_shared::ErrorBody))))]
async fn logout(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let body: RefreshBody = reply::parse_json(req)?;
    // Logging out twice is not an error: the session is gone either way.
    if let Ok((_, record, family)) = lookup_refresh(p, &body.refresh_token).await {
        revoke_family(p, &record.family, &family).await?;
    }
    Ok(reply::no_content())
}
