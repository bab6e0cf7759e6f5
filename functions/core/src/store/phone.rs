//! An account's phone number: the verified one (`phone:{account}`) and one waiting for the
//! code sent to it (`phone_verify:{account}`: the code as a digest, the tries left, a
//! lifetime given to the sweep).

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{expiry, format, keys, record};
use crate::platform::Platform;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedPhone {
    #[serde(default = "format::current")]
    pub v: u32,
    /// E.164.
    pub number: String,
    pub verified_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPhone {
    #[serde(default = "format::current")]
    pub v: u32,
    pub number: String,
    /// SHA-256 of the account, the number and the code.
    pub code_sha256: String,
    pub tries_left: u32,
    pub expires_at_ms: u64,
}

pub async fn verified(p: &impl Platform, account: &str) -> Result<Option<VerifiedPhone>, ApiError> {
    record::get(p, &keys::phone(account)).await
}

pub async fn put_verified(p: &impl Platform, account: &str, phone: &VerifiedPhone) -> Result<(), ApiError> {
    record::put(p, &keys::phone(account), phone).await
}

/// The number waiting for its code, unless it has expired.
pub async fn pending(p: &impl Platform, account: &str) -> Result<Option<PendingPhone>, ApiError> {
    let found: Option<PendingPhone> = record::get(p, &keys::phone_verification(account)).await?;
    Ok(found.filter(|v| v.expires_at_ms > p.now_ms()))
}

/// Writes the pending number and gives it to the sweep at its expiry.
pub async fn put_pending(p: &impl Platform, account: &str, pending: &PendingPhone) -> Result<(), ApiError> {
    let key = keys::phone_verification(account);
    record::put(p, &key, pending).await?;
    expiry::expire_at(p, &key, pending.expires_at_ms).await
}

pub async fn delete_pending(p: &impl Platform, account: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::phone_verification(account)).await
}

/// Forgets the account's numbers, verified and pending.
pub async fn delete_all(p: &impl Platform, account: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::phone(account)).await?;
    delete_pending(p, account).await
}
