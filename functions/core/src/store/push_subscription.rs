//! The push subscription record: one browser's web push subscription of an account
//! (`push_subscription:{account}:{id}`), listed in the account's index
//! (`push_subscriptions:{account}`: the entry is written before the record and removed after
//! it). The id is a digest of the endpoint, so a browser that registers again replaces its
//! record. Each record has a lifetime (`expires_at_ms`, given to the sweep); a browser that
//! is still subscribed registers again and pushes it on.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{expiry, format, index, keys, record};
use crate::platform::Platform;
use crate::secret_digest::secret_digest;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPushSubscription {
    #[serde(default = "format::current")]
    pub v: u32,
    pub id: String,
    pub account: String,
    /// The push service URL (`https`).
    pub endpoint: String,
    /// The browser's P-256 public key, uncompressed, base64url.
    pub p256dh: String,
    /// The browser's 16-byte authentication secret, base64url.
    pub auth: String,
    pub created_at_ms: u64,
    pub expires_at_ms: u64,
}

/// The id of the subscription at `endpoint`: `ps_` and 24 hex digits of its digest.
pub fn id_of(endpoint: &str) -> String {
    format!("ps_{}", &secret_digest(endpoint)[..24])
}

/// True for subscription ids.
pub fn valid_id(id: &str) -> bool {
    id.len() == 27 && id.starts_with("ps_") && id[3..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The subscription `id` of `account`, unless it is gone or has expired.
pub async fn get(p: &impl Platform, account: &str, id: &str) -> Result<Option<StoredPushSubscription>, ApiError> {
    if !valid_id(id) {
        return Ok(None);
    }
    let found: Option<StoredPushSubscription> = record::get(p, &keys::push_subscription(account, id)).await?;
    Ok(found.filter(|s| s.expires_at_ms > p.now_ms()))
}

/// Writes `sub` and gives it to the sweep at its expiry.
pub async fn put(p: &impl Platform, sub: &StoredPushSubscription) -> Result<(), ApiError> {
    let key = keys::push_subscription(&sub.account, &sub.id);
    index::add(p, &keys::push_subscription_index(&sub.account), &sub.id, sub.created_at_ms).await?;
    record::put(p, &key, sub).await?;
    expiry::expire_at(p, &key, sub.expires_at_ms).await
}

pub async fn delete(p: &impl Platform, account: &str, id: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::push_subscription(account, id)).await?;
    index::remove(p, &keys::push_subscription_index(account), id).await
}

/// The live subscriptions of `account`, sorted by id; index entries whose record is gone or
/// expired are dropped from the index.
pub async fn of_account(p: &impl Platform, account: &str) -> Result<Vec<StoredPushSubscription>, ApiError> {
    let ix_key = keys::push_subscription_index(account);
    let ix = index::load(p, &ix_key).await?;
    let mut subs = Vec::new();
    let mut stale = Vec::new();
    for id in ix.entries.keys() {
        match get(p, account, id).await? {
            Some(s) => subs.push(s),
            None => stale.push(id.clone()),
        }
    }
    if !stale.is_empty() {
        index::remove_all(p, &ix_key, &stale).await?;
    }
    Ok(subs)
}
