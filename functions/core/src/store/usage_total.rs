//! An organisation's usage in one month: the sum of the usage records listed in its index
//! (`usage_index:{org}:{YYYY-MM}`) — one per room written by that room's coordinator
//! (presence) and one per media node and room (media connected).

use origo_shared::ApiError;

use super::usage::Usage;
use super::{expiry, index, keys, record};
use crate::platform::Platform;

/// The sum of `org`'s usage records in `month` (`YYYY-MM`).
pub async fn usage_of(p: &impl Platform, org: &str, month: &str) -> Result<Usage, ApiError> {
    let mut total = Usage::default();
    let prefix = keys::usage_prefix(org, month);
    for part in index::load(p, &keys::usage_index(org, month)).await?.entries.keys() {
        if let Some(u) = record::get::<Usage>(p, &format!("{prefix}:{part}")).await? {
            total.add(&u);
        }
    }
    Ok(total)
}

/// Lists the usage record `part` (`room:{room}`, `media:{node}:{room}`) in `org`'s index of
/// `month`; the month's first record gives the month to the sweep for its retention.
pub async fn listed(p: &impl Platform, org: &str, month: &str, part: &str) -> Result<(), ApiError> {
    let index_key = keys::usage_index(org, month);
    let ix = index::load(p, &index_key).await?;
    if ix.contains(part) {
        return Ok(());
    }
    if ix.is_empty() {
        expiry::schedule_usage(p, org, month).await?;
    }
    index::add(p, &index_key, part, 0).await
}
