//! An organisation's usage in one month: the sum of its usage records under
//! `usage:{org}:{YYYY-MM}` — one per room written by that room's coordinator (presence) and
//! one per media node and room (media connected).

use origo_shared::ApiError;

use super::usage::Usage;
use super::{keys, record};
use crate::platform::Platform;

/// The sum of `org`'s usage records in `month` (`YYYY-MM`).
pub async fn usage_of(p: &impl Platform, org: &str, month: &str) -> Result<Usage, ApiError> {
    let mut total = Usage::default();
    let exact = keys::usage_prefix(org, month);
    // `usage:o:2026-1` must not take `usage:o:2026-11…`: the month ends at the key or a `:`.
    let below = format!("{exact}:");
    for k in record::keys(p, &exact).await? {
        if (k == exact || k.starts_with(&below))
            && let Some(u) = record::get::<Usage>(p, &k).await?
        {
            total.add(&u);
        }
    }
    Ok(total)
}
