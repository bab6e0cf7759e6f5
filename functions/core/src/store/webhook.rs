//! The webhook record: an organisation's registered endpoint (`webhook:{org}:{id}`) with the
//! events it wants and its signing secret (`whsec_…`), listed in the organisation's index
//! (`webhooks:{org}`: the entry is written before the record and removed after it).

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{index, keys, record};
use crate::platform::Platform;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredWebhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at_ms: u64,
    pub owner: String,
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_secret_until_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    #[serde(default)]
    pub previous_secret_until_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl StoredWebhook {
    /// The secrets that sign a message sent at `now_ms`: the current one, and the one before
    /// it while it is still valid.
    pub fn signing_secrets(&self, now_ms: u64) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let Some(prev) = &self.previous_secret
            && now_ms < self.previous_secret_until_ms
        {
            out.push(prev);
        }
        out
    }
}

/// True for webhook ids: `wh_` and letters, digits or `_`, at most 64 bytes.
pub fn valid_id(id: &str) -> bool {
    id.starts_with("wh_") && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The webhook `id` of `org` (none for ids that cannot be webhooks).
pub async fn get(p: &impl Platform, org: &str, id: &str) -> Result<Option<StoredWebhook>, ApiError> {
    if !valid_id(id) {
        return Ok(None);
    }
    record::get(p, &keys::webhook(org, id)).await
}

pub async fn put(p: &impl Platform, org: &str, hook: &StoredWebhook) -> Result<(), ApiError> {
    index::add(p, &keys::webhook_index(org), &hook.id, hook.created_at_ms).await?;
    record::put(p, &keys::webhook(org, &hook.id), hook).await
}

pub async fn delete(p: &impl Platform, org: &str, id: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::webhook(org, id)).await?;
    index::remove(p, &keys::webhook_index(org), id).await
}

/// The webhooks of `org`, sorted by id.
pub async fn of_org(p: &impl Platform, org: &str) -> Result<Vec<StoredWebhook>, ApiError> {
    let ix = index::load(p, &keys::webhook_index(org)).await?;
    let mut hooks = Vec::new();
    for id in ix.entries.keys() {
        if let Some(h) = record::get(p, &keys::webhook(org, id)).await? {
            hooks.push(h);
        }
    }
    Ok(hooks)
}
