//! Lifetimes: every record a stranger can make, and every record that outlives its use, is
//! given to the sweep when it is written — its key goes into the expiry index, a record per
//! five-minute bucket of due times (`expiry:{bucket}:{shard}`), spread over [`SHARDS`]
//! shards so concurrent writers rarely share one. The sweep ([`sweep`](super::sweep)) walks
//! the buckets that came due and expires what they name. Also here: how long each kind of
//! record lives, from the deployment's variables.

use origo_shared::ApiError;

use super::{index, keys};
use crate::platform::Platform;

/// The width of one expiry bucket.
pub const BUCKET_MS: u64 = 300_000;
/// Shards per bucket.
pub const SHARDS: u64 = 16;
/// Most entries one shard of a bucket takes; a full one spills into the next shard.
pub const SHARD_CAP: usize = 2_000;
/// Guest rooms are removed after this long without a join, unless `guest_room_ttl_secs`
/// says otherwise.
pub const DEFAULT_GUEST_ROOM_TTL_SECS: u64 = 86_400;
/// Usage records are kept this many months after their month (billing statements need
/// them), unless `usage_retention_months` says otherwise.
pub const DEFAULT_USAGE_RETENTION_MONTHS: u64 = 13;

/// The bucket of a due time.
pub fn bucket_of(at_ms: u64) -> u64 {
    at_ms / BUCKET_MS
}

/// The bucket record and entry that give `record` to the sweep at `at_ms`, in the shard
/// `pick` chooses.
pub fn entry(at_ms: u64, pick: u32, record: &str) -> (String, String) {
    (keys::expiry_bucket(bucket_of(at_ms), u64::from(pick) % SHARDS), record.to_owned())
}

/// Gives the record at `key` to the sweep at `at_ms`.
pub async fn expire_at(p: &impl Platform, key: &str, at_ms: u64) -> Result<(), ApiError> {
    let mut pick = [0u8; 4];
    p.random(&mut pick);
    let first = u64::from(u32::from_le_bytes(pick)) % SHARDS;
    let bucket = bucket_of(at_ms);
    // A full shard spills into the next one, then into the next bucket (a little later).
    for step in 0..SHARDS * 4 {
        let bucket_key = keys::expiry_bucket(bucket + step / SHARDS, (first + step) % SHARDS);
        let ix = index::load(p, &bucket_key).await?;
        if ix.contains(key) {
            return Ok(());
        }
        if ix.len() < SHARD_CAP {
            return index::add(p, &bucket_key, key, at_ms).await;
        }
    }
    // Every shard near the due time is full (a flood): the record is kept, and expires on
    // read where it carries `expires_at_ms`.
    Ok(())
}

/// How long a guest room lives without a join.
pub fn guest_room_ttl_ms(p: &impl Platform) -> u64 {
    crate::variables::num_var::<u64>(p, "guest_room_ttl_secs", DEFAULT_GUEST_ROOM_TTL_SECS).saturating_mul(1000)
}

/// How long chat history is kept (`plan_chat_retention_days`, default 30).
pub fn retention_of_chat(p: &impl Platform) -> u64 {
    crate::variables::num_var::<u64>(
        p,
        "plan_chat_retention_days",
        crate::coordinator::DEFAULT_CHAT_RETENTION_MS / 86_400_000,
    )
    .saturating_mul(86_400_000)
}

/// How many months usage records are kept after their month.
pub fn usage_retention_months(p: &impl Platform) -> u64 {
    crate::variables::num_var::<u64>(p, "usage_retention_months", DEFAULT_USAGE_RETENTION_MONTHS)
}

/// Gives `org`'s usage records of `month` (`YYYY-MM`) to the sweep for when their retention
/// ends, the first time the month's index is written.
pub async fn schedule_usage(p: &impl Platform, org: &str, month: &str) -> Result<(), ApiError> {
    let Some(due) = month_end_plus(month, usage_retention_months(p)) else { return Ok(()) };
    expire_at(p, &keys::usage_index(org, month), due).await
}

/// The start of the month `months` after `month` ends, Unix milliseconds.
fn month_end_plus(month: &str, months: u64) -> Option<u64> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (u64, u64) = (y.parse().ok()?, m.parse().ok()?);
    if !(1..=12).contains(&m) {
        return None;
    }
    let index = y * 12 + (m - 1) + 1 + months;
    Some(days_from_civil(index / 12, index % 12 + 1) * 86_400_000)
}

/// Days from 1970-01-01 to the first of `month` in `year` (proleptic Gregorian).
fn days_from_civil(year: u64, month: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year } as i64;
    let m = month as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_end_where_the_calendar_says() {
        // 2026-12 + 0 months ends at 2027-01-01T00:00Z.
        assert_eq!(month_end_plus("2026-12", 0), Some(1_798_761_600_000));
        // 2026-02 + 13 months: 2027-04-01.
        assert_eq!(month_end_plus("2026-02", 13), Some(1_806_537_600_000));
        assert_eq!(month_end_plus("2026-13", 0), None);
        assert_eq!(month_end_plus("garbage", 0), None);
    }

    #[test]
    fn entries_land_in_the_bucket_of_their_due_time() {
        let (k, e) = entry(BUCKET_MS * 7 + 5, 17, "oidc_state:ab");
        assert_eq!(k, "expiry:000000000007:1");
        assert_eq!(e, "oidc_state:ab");
    }
}
