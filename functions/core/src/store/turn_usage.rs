//! A TURN node's usage record of one organisation in one month
//! (`usage:{org}:{month}:turn:{node}`, listed as part `turn:{node}`): the bytes it relayed, per
//! day, in a [`Usage`], with the reports it took ([`AppliedReports`]), so a resent report is
//! not counted twice and a node that lost its state directory is not ignored.

use origo_shared::ApiError;
use origo_shared::usage::AppliedReports;
use serde::{Deserialize, Serialize};

use super::usage::Usage;
use super::{keys, record};
use crate::platform::Platform;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TurnUsageRecord {
    #[serde(flatten)]
    pub usage: Usage,
    #[serde(flatten)]
    pub applied: AppliedReports,
}

/// Node `node`'s record of `org` in `month` (empty when none was kept yet).
pub async fn get(p: &impl Platform, org: &str, month: &str, node: &str) -> Result<TurnUsageRecord, ApiError> {
    Ok(record::get(p, &keys::turn_usage(org, month, node)).await?.unwrap_or_default())
}

pub async fn put(p: &impl Platform, org: &str, month: &str, node: &str, r: &TurnUsageRecord) -> Result<(), ApiError> {
    super::usage_total::listed(p, org, month, &format!("turn:{node}")).await?;
    record::put(p, &keys::turn_usage(org, month, node), r).await
}
