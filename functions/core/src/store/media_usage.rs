//! A media node's usage record for one room in one month
//! (`usage:{org}:{month}:media:{node}:{room}`): a [`Usage`] with the sequence number of the
//! last report applied, so a resent report is not counted twice.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::usage::Usage;
use super::{keys, record};
use crate::platform::Platform;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MediaUsageRecord {
    #[serde(flatten)]
    pub usage: Usage,
    #[serde(default)]
    pub report_seq: u64,
}

/// Node `node`'s record of `room` in `month` (empty when none was kept yet).
pub async fn get(
    p: &impl Platform,
    org: &str,
    month: &str,
    node: &str,
    room: &str,
) -> Result<MediaUsageRecord, ApiError> {
    Ok(record::get(p, &keys::media_usage(org, month, node, room)).await?.unwrap_or_default())
}

pub async fn put(
    p: &impl Platform,
    org: &str,
    month: &str,
    node: &str,
    room: &str,
    r: &MediaUsageRecord,
) -> Result<(), ApiError> {
    super::usage_total::listed(p, org, month, &format!("media:{node}:{room}")).await?;
    record::put(p, &keys::media_usage(org, month, node, room), r).await
}
