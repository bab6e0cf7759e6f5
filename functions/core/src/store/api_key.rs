//! The partner API key record (`apikey:{id}`: the key's organisation, role and the SHA-256 of
//! its secret) and its organisation's index (`org_apikey:{org}:{id}`).

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{keys, record};
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

/// Stores a new key and its index entry.
pub async fn insert(p: &impl Platform, key: &StoredApiKey) -> Result<(), ApiError> {
    record::put(p, &keys::api_key(&key.id), key).await?;
    record::put_text(p, &keys::org_api_key(&key.org, &key.id), "1").await
}

/// Removes key `id` of `org` and its index entry.
pub async fn delete(p: &impl Platform, org: &str, id: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::api_key(id)).await?;
    record::delete(p, &keys::org_api_key(org, id)).await
}

/// The keys of `org`, sorted by id.
pub async fn of_org(p: &impl Platform, org: &str) -> Result<Vec<StoredApiKey>, ApiError> {
    let prefix = keys::org_api_key_prefix(org);
    let mut out = Vec::new();
    for k in record::keys(p, &prefix).await? {
        if let Some(stored) = record::get(p, &keys::api_key(&k[prefix.len()..])).await? {
            out.push(stored);
        }
    }
    Ok(out)
}

/// Removes every key of `org` (each key before its index entry).
pub async fn delete_of_org(p: &impl Platform, org: &str) -> Result<(), ApiError> {
    let prefix = keys::org_api_key_prefix(org);
    for k in record::keys(p, &prefix).await? {
        record::delete(p, &keys::api_key(&k[prefix.len()..])).await?;
        record::delete(p, &k).await?;
    }
    Ok(())
}
