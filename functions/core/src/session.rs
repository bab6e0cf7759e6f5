//! Sessions of signed-in accounts: a short access token (`access_ttl_secs`) and a refresh
//! token (`refresh_ttl_secs`) that rotates. Refreshing gives a new pair and retires the old
//! refresh token; presenting a retired one revokes the whole chain (it was stolen or
//! replayed). A chain keeps its original end: rotation does not extend a session forever.
//!
//! Revoking every session of an account (a password reset, or the owner of an address claiming
//! an account that was never verified) sets [`Account::sessions_valid_from_ms`]: chains that
//! began before it are refused at the next refresh, and access tokens issued before its second
//! at the next request ([`account_claims`]).
//!
//! Refreshing is idempotent for a short while: the token a rotation just retired, presented
//! again within [`RETRY_GRACE_MS`] while its successor is still the chain's current token, gets
//! that same successor (and a fresh access token) instead of revoking the chain. Two tabs that
//! refresh at once, or a client retrying a refresh whose answer it lost, keep their session;
//! a retired token presented later, or after its successor was itself used, still revokes it.
//! The successor is derived from the retired token under a key only the deployment holds
//! ([`successor`]), so concurrent refreshes that both read the chain before either wrote it
//! compute and store the same successor, and no state with a plain token is kept.

use hmac::{Hmac, Mac};
use origo_shared::ApiError;
use origo_shared::token::{AUDIENCE, Claims, TokenConfig, TokenKind};
use serde::Serialize;
use sha2::Sha256;

use crate::Request;
use crate::platform::{Platform, PlatformExt};
use crate::reply::bearer;
use crate::secret_digest::{digest_eq, secret_digest};
use crate::store::account::{self as stored, Account, RefreshFamily, RefreshRecord};
use crate::variables::{token_config, var};

/// Used refresh tokens remembered per chain, to recognise replays.
const MAX_USED_REMEMBERED: usize = 32;

/// How long after a rotation the retired token still answers with its successor, ms.
pub const RETRY_GRACE_MS: u64 = 30_000;

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
        rotated_at_ms: 0,
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
    let next = successor(p, &record.family, token)?;
    let next_digest = secret_digest(&next);
    let current = digest_eq(&digest, &family.current);
    if !current && !is_retry(&family, &digest, &next_digest, now) {
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
    if current {
        let next_record = RefreshRecord {
            account: account.id.clone(),
            family: record.family.clone(),
            expires_at_ms: family.expires_at_ms,
        };
        stored::put_refresh(p, &next_digest, &next_record).await?;
        family.used.push(std::mem::replace(&mut family.current, next_digest));
        family.rotated_at_ms = now;
        if family.used.len() > MAX_USED_REMEMBERED {
            let old = family.used.remove(0);
            stored::delete_refresh(p, &old).await?;
        }
        stored::put_refresh_family(p, &record.family, &family).await?;
    }
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

/// Whether `digest`, not the chain's current token, is the one its last rotation retired,
/// presented again within the grace window while that rotation's successor is still current.
fn is_retry(family: &RefreshFamily, digest: &str, successor_digest: &str, now: u64) -> bool {
    family.used.last().is_some_and(|last| digest_eq(last, digest))
        && digest_eq(&family.current, successor_digest)
        && now.saturating_sub(family.rotated_at_ms) <= RETRY_GRACE_MS
}

/// The refresh token that follows `token` in chain `family`: an HMAC-SHA256 of the two under a
/// key derived from the deployment's signing secrets, so the same refresh computes the same
/// successor on every instance, while nobody without those secrets can compute one from a
/// token they hold (a copied token leads nowhere without asking us, which reuse detection sees).
fn successor(p: &impl Platform, family: &str, token: &str) -> Result<String, ApiError> {
    let signing = [var(p, "token_signing_keys"), var(p, "token_secret")];
    if signing.iter().all(Option::is_none) {
        return Err(ApiError::new(
            origo_shared::ErrorCode::Unavailable,
            "auth is not configured: set token_signing_keys (or token_secret)",
        ));
    }
    let mut key = Hmac::<Sha256>::new_from_slice(b"origo refresh-token successor key v1").expect("any key length");
    for s in &signing {
        key.update(s.as_deref().unwrap_or("").as_bytes());
        key.update(&[0]);
    }
    let key = key.finalize().into_bytes();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(family.as_bytes());
    mac.update(&[0]);
    mac.update(token.as_bytes());
    let bytes = mac.finalize().into_bytes();
    Ok(format!("ort_{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()))
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
