//! The partner API key record (`apikey:{id}`: the key's organisation, role and the SHA-256 of
//! its secret) and its organisation's index (`api_keys:{org}`).
//!
//! The two change in an order that is safe at every crash point without a transaction: the
//! index entry is written before the key and removed after it, so every key that
//! authenticates is listed (and can be revoked); an entry without its key is skipped.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{index, keys, record};
use crate::api_key_credential::valid_id;
use crate::platform::Platform;
use crate::rbac::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredApiKey {
    pub id: String,
    pub org: String,
    pub name: String,
    pub role: Role,
    pub secret_sha256: String,
    pub created_at_ms: u64,
    pub created_by: String,
}

/// The key `id` (none for ids that cannot be keys).
pub async fn get(p: &impl Platform, id: &str) -> Result<Option<StoredApiKey>, ApiError> {
    if !valid_id(id) {
        return Ok(None);
    }
    record::get(p, &keys::api_key(id)).await
}

/// Stores a new key and its index entry (the entry first).
pub async fn insert(p: &impl Platform, key: &StoredApiKey) -> Result<(), ApiError> {
    index::add(p, &keys::api_key_index(&key.org), &key.id, key.created_at_ms).await?;
    record::put(p, &keys::api_key(&key.id), key).await
}

/// Removes key `id` of `org` and its index entry (the key first).
pub async fn delete(p: &impl Platform, org: &str, id: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::api_key(id)).await?;
    index::remove(p, &keys::api_key_index(org), id).await
}

/// The keys of `org`, sorted by id.
pub async fn of_org(p: &impl Platform, org: &str) -> Result<Vec<StoredApiKey>, ApiError> {
    let ix = index::load(p, &keys::api_key_index(org)).await?;
    let mut out = Vec::new();
    for id in ix.entries.keys() {
        if let Some(stored) = record::get::<StoredApiKey>(p, &keys::api_key(id)).await?
            && stored.org == org
        {
            out.push(stored);
        }
    }
    Ok(out)
}

/// Removes every key of `org` (each key before its index entry).
pub async fn delete_of_org(p: &impl Platform, org: &str) -> Result<(), ApiError> {
    let ix = index::load(p, &keys::api_key_index(org)).await?;
    for id in ix.entries.keys() {
        record::delete(p, &keys::api_key(id)).await?;
    }
    record::delete(p, &keys::api_key_index(org)).await
}
