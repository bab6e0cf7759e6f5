//! Sessions of signed-in accounts: a short access token (`access_ttl_secs`) and a refresh
//! token (`refresh_ttl_secs`) that rotates. Refreshing gives a new pair and retires the old
//! refresh token; presenting a retired one revokes the whole chain (it was stolen or
//! replayed). A chain keeps its original end: rotation does not extend a session forever.
//!
//! Revoking every session of an account (a password reset, or the owner of an address claiming
//! an account that was never verified) sets [`Account::sessions_valid_from_ms`]: chains that
//! began before it are refused at the next refresh, and access tokens issued before its second
//! at the next request ([`account_claims`]).

use origo_shared::ApiError;
use origo_shared::token::{AUDIENCE, Claims, TokenConfig, TokenKind};
use serde::Serialize;

use crate::Request;
use crate::platform::{Platform, PlatformExt};
use crate::reply::bearer;
use crate::secret_digest::{digest_eq, secret_digest};
use crate::store::account::{self as stored, Account, RefreshFamily, RefreshRecord};
use crate::variables::token_config;

/// Used refresh tokens remembered per chain, to recognise replays.
const MAX_USED_REMEMBERED: usize = 32;

/// What clients see of an account.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountView {
    pub id: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl AccountView {
    pub fn of(a: &Account) -> AccountView {
        AccountView { id: a.id.clone(), email: a.email.clone(), name: a.name.clone() }
    }
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
pub async fn start(p: &impl Platform, account: &Account) -> Result<Session, ApiError> {
    let config = token_config(p)?;
    let family = p.random_hex(12);
    let expires_at_ms = p.now_ms() + config.refresh_ttl_secs * 1000;
    let refresh = new_refresh(p, &account.id, &family, expires_at_ms).await?;
    let f = RefreshFamily {
        account: account.id.clone(),
        current: secret_digest(&refresh),
        used: vec![],
        expires_at_ms,
        started_at_ms: p.now_ms(),
    };
    stored::put_refresh_family(p, &family, &f).await?;
    Ok(Session {
        access_token: access_token(p, &config, account)?,
        token_type: "Bearer",
        expires_in: config.access_ttl_secs,
        refresh_token: refresh,
        refresh_expires_in: config.refresh_ttl_secs,
        account: AccountView::of(account),
    })
}

/// Trades a refresh token for a new session in the same chain, or a 401.
pub async fn rotate(p: &impl Platform, token: &str) -> Result<Session, ApiError> {
    let (digest, record, mut family) = lookup(p, token).await?;
    let now = p.now_ms();
    if !digest_eq(&digest, &family.current) {
        // A rotated-out token came back: someone holds a copy. End the whole chain.
        revoke(p, &record.family, &family).await?;
        return Err(ApiError::unauthorized("refresh token was already used; the session is revoked, sign in again"));
    }
    if record.expires_at_ms <= now || family.expires_at_ms <= now {
        revoke(p, &record.family, &family).await?;
        return Err(invalid());
    }
    let account = stored::load(p, &record.account).await?.ok_or_else(invalid)?;
    if family.started_at_ms < account.sessions_valid_from_ms {
        revoke(p, &record.family, &family).await?;
        return Err(invalid());
    }
    let config = token_config(p)?;
    let next = new_refresh(p, &account.id, &record.family, family.expires_at_ms).await?;
    family.used.push(std::mem::replace(&mut family.current, secret_digest(&next)));
    if family.used.len() > MAX_USED_REMEMBERED {
        let old = family.used.remove(0);
        stored::delete_refresh(p, &old).await?;
    }
    stored::put_refresh_family(p, &record.family, &family).await?;
    Ok(Session {
        access_token: access_token(p, &config, &account)?,
        token_type: "Bearer",
        expires_in: config.access_ttl_secs,
        refresh_token: next,
        refresh_expires_in: family.expires_at_ms.saturating_sub(now) / 1000,
        account: AccountView::of(&account),
    })
}

/// Revokes the chain of `token`. Ending a session twice is not an error: it is gone either way.
pub async fn end(p: &impl Platform, token: &str) -> Result<(), ApiError> {
    if let Ok((_, record, family)) = lookup(p, token).await {
        revoke(p, &record.family, &family).await?;
    }
    Ok(())
}

/// Revokes every session of `account` as of now (the caller saves the account).
pub fn revoke_all(p: &impl Platform, account: &mut Account) {
    account.sessions_valid_from_ms = p.now_ms();
}

/// True when an access token issued at `iat` (seconds) belongs to a revoked session.
pub fn revoked(account: &Account, iat: u64) -> bool {
    iat < account.sessions_valid_from_ms / 1000
}

/// The claims of the account access token `req` carries, refused with `401` when its account
/// is gone or its sessions were revoked since, and `403` for other tokens.
pub async fn account_claims(req: &Request, p: &impl Platform, why: &str) -> Result<Claims, ApiError> {
    let claims = token_config(p)?.verify(bearer(req)?, p.now_secs())?;
    if claims.kind != TokenKind::Account {
        return Err(ApiError::forbidden(why.to_owned()));
    }
    check_account_token(p, &claims).await?;
    Ok(claims)
}

/// `Ok` when the account of `claims` exists and the token's session was not revoked.
pub async fn check_account_token(p: &impl Platform, claims: &Claims) -> Result<(), ApiError> {
    match stored::load(p, &claims.sub).await? {
        Some(a) if !revoked(&a, claims.iat) => Ok(()),
        _ => Err(ApiError::unauthorized("this session was revoked; sign in again")),
    }
}

async fn new_refresh(p: &impl Platform, account: &str, family: &str, expires_at_ms: u64) -> Result<String, ApiError> {
    let token = format!("ort_{}", p.random_hex(32));
    let record = RefreshRecord { account: account.to_owned(), family: family.to_owned(), expires_at_ms };
    stored::put_refresh(p, &secret_digest(&token), &record).await?;
    Ok(token)
}

async fn revoke(p: &impl Platform, family_id: &str, f: &RefreshFamily) -> Result<(), ApiError> {
    for digest in f.used.iter().chain(std::iter::once(&f.current)) {
        stored::delete_refresh(p, digest).await?;
    }
    stored::delete_refresh_family(p, family_id).await
}

fn invalid() -> ApiError {
    ApiError::unauthorized("refresh token is invalid, expired or revoked; sign in again")
}

/// The digest, refresh record and chain of `token`, or a 401.
async fn lookup(p: &impl Platform, token: &str) -> Result<(String, RefreshRecord, RefreshFamily), ApiError> {
    if !token.starts_with("ort_") || token.len() > 128 {
        return Err(invalid());
    }
    let digest = secret_digest(token);
    let record = stored::refresh(p, &digest).await?.ok_or_else(invalid)?;
    let family = stored::refresh_family(p, &record.family).await?.ok_or_else(invalid)?;
    Ok((digest, record, family))
}
