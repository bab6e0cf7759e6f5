//! A media node's usage record for one room in one month
//! (`usage:{org}:{month}:media:{node}:{room}`): a [`Usage`] with the reports it took
//! ([`AppliedReports`]: the node's journal epoch and report number), so a resent report is not
//! counted twice and a node that lost its state directory is not ignored.

use origo_shared::ApiError;
use origo_shared::usage::AppliedReports;
use serde::{Deserialize, Serialize};

use super::usage::Usage;
use super::{keys, record};
use crate::platform::Platform;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MediaUsageRecord {
    #[serde(flatten)]
    pub usage: Usage,
    /// `report_epoch`, `report_seq` (records from before epochs have only `report_seq`) and
    /// `earlier_epochs`.
    #[serde(flatten)]
    pub applied: AppliedReports,
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
