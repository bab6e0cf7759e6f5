//! The account records: the account (`account:{id}`), its email index
//! (`account_email:{sha256(email)}` → id), pending email verifications, password resets
//! (`password_reset:{sha256(token)}`), the sign-in guards
//! (attempts per client address and minute, failures per email for lockout) and the
//! refresh-token chains of its sessions (`refresh:{sha256(token)}`, `refresh_family:{id}`).
//! Tokens and emails are keyed by digest, never as typed.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{expiry, keys, record};
use crate::platform::Platform;
use crate::secret_digest::secret_digest;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The latest sign-up waiting for its link (a never-verified account): only that sign-up's
    /// verification link verifies the account, with that sign-up's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_signup: Option<String>,
    /// Sessions started before this (Unix ms) are revoked: their refresh tokens are refused,
    /// and access tokens issued before its second.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sessions_valid_from_ms: u64,
    /// The provider identities linked to this account (digests, as in `account_oidc:{digest}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub oidc_links: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A pending email verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub account: String,
    pub expires_at_ms: u64,
    /// The sign-up it confirms ([`Account::pending_signup`]; empty in records from before).
    #[serde(default)]
    pub signup: String,
}

/// A pending password reset: single use, short-lived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordReset {
    pub account: String,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
}

/// Failed sign-ins of one email in a row, and the lock they led to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoginGuard {
    pub failures: u32,
    pub locked_until_ms: u64,
    /// Forgotten after this (a day after the last failure, and past any lock).
    #[serde(default)]
    pub expires_at_ms: u64,
}

/// How long a login guard remembers failures.
pub const LOGIN_GUARD_TTL_MS: u64 = 86_400_000;

/// One refresh token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRecord {
    pub account: String,
    pub family: String,
    pub expires_at_ms: u64,
}

/// A chain of rotated refresh tokens: the current one's digest and the used ones'.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub account: String,
    pub current: String,
    pub used: Vec<String>,
    pub expires_at_ms: u64,
    /// When the session began (0 in records from before: revoked by any revocation).
    #[serde(default)]
    pub started_at_ms: u64,
    /// When `current` replaced the last of `used` (0: never rotated); within a short grace
    /// after it, that retired token is answered with `current` again instead of revoking.
    #[serde(default)]
    pub rotated_at_ms: u64,
}

/// The account `id`.
pub async fn load(p: &impl Platform, id: &str) -> Result<Option<Account>, ApiError> {
    record::get(p, &keys::account(id)).await
}

/// Writes an existing account.
pub async fn save(p: &impl Platform, account: &Account) -> Result<(), ApiError> {
    record::put(p, &keys::account(&account.id), account).await
}

/// Stores a new account and its email index.
pub async fn insert(p: &impl Platform, account: &Account) -> Result<(), ApiError> {
    save(p, account).await?;
    record::put_text(p, &keys::account_email(&secret_digest(&account.email)), &account.id).await
}

/// Removes account `id` and its email index when it was never verified and `signup` (its
/// verification that expired) is its latest sign-up: a sign-up nobody confirmed does not hold
/// the address, or the store, for ever.
pub async fn forget_unverified(p: &impl Platform, id: &str, signup: &str) -> Result<(), ApiError> {
    let Some(account) = load(p, id).await? else { return Ok(()) };
    if account.verified || account.pending_signup.as_deref().unwrap_or("") != signup {
        return Ok(());
    }
    let email_key = keys::account_email(&secret_digest(&account.email));
    if record::get_text(p, &email_key).await?.as_deref() == Some(id) {
        record::delete(p, &email_key).await?;
    }
    record::delete(p, &keys::account(id)).await
}

/// The account registered with `email` (already normalised), if any.
pub async fn find_by_email(p: &impl Platform, email: &str) -> Result<Option<Account>, ApiError> {
    match record::get_text(p, &keys::account_email(&secret_digest(email))).await? {
        Some(id) => load(p, &id).await,
        None => Ok(None),
    }
}

/// Keeps a verification under its token's digest.
pub async fn put_verification(p: &impl Platform, token: &str, v: &Verification) -> Result<(), ApiError> {
    let key = keys::email_verification(&secret_digest(token));
    expiry::expire_at(p, &key, v.expires_at_ms).await?;
    record::put(p, &key, v).await
}

/// The verification of `token`, removed: a link works once.
pub async fn take_verification(p: &impl Platform, token: &str) -> Result<Option<Verification>, ApiError> {
    let key = keys::email_verification(&secret_digest(token));
    let found = record::get(p, &key).await?;
    if found.is_some() {
        record::delete(p, &key).await?;
    }
    Ok(found)
}

/// Keeps a password reset under its token's digest, given to the sweep for when it expires.
pub async fn put_password_reset(p: &impl Platform, token: &str, r: &PasswordReset) -> Result<(), ApiError> {
    let key = keys::password_reset(&secret_digest(token));
    expiry::expire_at(p, &key, r.expires_at_ms).await?;
    record::put(p, &key, r).await
}

/// The password reset of `token`, removed: a link works once.
pub async fn take_password_reset(p: &impl Platform, token: &str) -> Result<Option<PasswordReset>, ApiError> {
    let key = keys::password_reset(&secret_digest(token));
    let found = record::get(p, &key).await?;
    if found.is_some() {
        record::delete(p, &key).await?;
    }
    Ok(found)
}

/// Counts a sign-in attempt from `ip` in `minute`; returns the attempts before this one, and
/// counts nothing once `limit` is reached.
pub async fn count_login_attempt(p: &impl Platform, ip: &str, minute: u64, limit: u32) -> Result<u32, ApiError> {
    let key = keys::login_rate(ip, minute);
    let count: u32 = record::get(p, &key).await?.unwrap_or(0);
    if count >= limit {
        return Ok(count);
    }
    if count == 0 {
        // A new window: gone a minute after it ends; the previous one is of no further use.
        expiry::expire_at(p, &key, (minute + 2).saturating_mul(60_000)).await?;
        record::delete(p, &keys::login_rate(ip, minute.wrapping_sub(1))).await?;
    }
    record::put(p, &key, &(count + 1)).await?;
    Ok(count)
}

/// The sign-in guard of `email`.
pub async fn login_guard(p: &impl Platform, email: &str) -> Result<LoginGuard, ApiError> {
    Ok(record::get(p, &keys::login_guard(&secret_digest(email))).await?.unwrap_or_default())
}

/// Keeps `guard`, forgotten a day after this failure (and not before its lock ends).
pub async fn put_login_guard(p: &impl Platform, email: &str, guard: &LoginGuard) -> Result<(), ApiError> {
    let key = keys::login_guard(&secret_digest(email));
    let mut guard = guard.clone();
    guard.expires_at_ms = (p.now_ms() + LOGIN_GUARD_TTL_MS).max(guard.locked_until_ms);
    expiry::expire_at(p, &key, guard.expires_at_ms).await?;
    record::put(p, &key, &guard).await
}

pub async fn clear_login_guard(p: &impl Platform, email: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::login_guard(&secret_digest(email))).await
}

/// The refresh token whose digest is `digest`.
pub async fn refresh(p: &impl Platform, digest: &str) -> Result<Option<RefreshRecord>, ApiError> {
    record::get(p, &keys::refresh_token(digest)).await
}

pub async fn put_refresh(p: &impl Platform, digest: &str, r: &RefreshRecord) -> Result<(), ApiError> {
    let key = keys::refresh_token(digest);
    expiry::expire_at(p, &key, r.expires_at_ms).await?;
    record::put(p, &key, r).await
}

pub async fn delete_refresh(p: &impl Platform, digest: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::refresh_token(digest)).await
}

/// The refresh-token chain `id`.
pub async fn refresh_family(p: &impl Platform, id: &str) -> Result<Option<RefreshFamily>, ApiError> {
    record::get(p, &keys::refresh_family(id)).await
}

pub async fn put_refresh_family(p: &impl Platform, id: &str, f: &RefreshFamily) -> Result<(), ApiError> {
    let key = keys::refresh_family(id);
    expiry::expire_at(p, &key, f.expires_at_ms).await?;
    record::put(p, &key, f).await
}

pub async fn delete_refresh_family(p: &impl Platform, id: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::refresh_family(id)).await
}
