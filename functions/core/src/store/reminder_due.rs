//! Reminders due: the time-bucketed index of scheduled meetings' reminders, one record per
//! minute of due times (`reminder_due:{minute}`: room record key → due time), the way the
//! expiry index ([`expiry`](super::expiry)) keeps lifetimes. The maintenance sweep reads the
//! minutes that came due since its cursor (`reminder_cursor`), the current one included, so a
//! reminder goes out at the first sweep after it is due: as punctual as `sweep_interval_secs`.
//! An entry is a hint, the room's schedule the truth: an entry whose room no longer has a
//! reminder due then (moved, removed) is dropped unsent.

use origo_shared::ApiError;

use super::{index, keys, record};
use crate::platform::Platform;

/// The width of one bucket.
pub const BUCKET_MS: u64 = 60_000;
/// Most buckets one pass reads (a sweep that fell behind catches up over passes).
pub const BUCKETS_PER_PASS: u64 = 1440;
/// How far back a store's first pass starts.
const FIRST_LOOKBACK_BUCKETS: u64 = 60;

/// The bucket of a due time.
pub fn bucket_of(at_ms: u64) -> u64 {
    at_ms / BUCKET_MS
}

/// Gives the room at `room_key` a reminder at `at_ms`.
pub async fn add(p: &impl Platform, room_key: &str, at_ms: u64) -> Result<(), ApiError> {
    index::add(p, &keys::reminder_bucket(bucket_of(at_ms)), room_key, at_ms).await
}

/// Takes back the reminder of `room_key` at `at_ms` (no error when there is none).
pub async fn remove(p: &impl Platform, room_key: &str, at_ms: u64) -> Result<(), ApiError> {
    index::remove(p, &keys::reminder_bucket(bucket_of(at_ms)), room_key).await
}

/// The reminders due by `now`, found in the buckets the last pass left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// (bucket record, room record key, due time), earliest bucket first.
    pub entries: Vec<(String, String, u64)>,
    /// Buckets read.
    pub buckets: u64,
    /// The last bucket that is wholly past, to be stored as the cursor by [`finish`].
    pub through: u64,
}

/// Reads the buckets from the cursor to `now`'s, and what in them is due.
pub async fn due(p: &impl Platform, now: u64) -> Result<Due, ApiError> {
    let current = bucket_of(now);
    let done = match record::get_text(p, keys::REMINDER_CURSOR).await?.and_then(|t| t.trim().parse::<u64>().ok()) {
        Some(done) => done,
        None => current.saturating_sub(FIRST_LOOKBACK_BUCKETS),
    };
    let mut out = Due { through: done, ..Due::default() };
    let mut bucket = done + 1;
    while bucket <= current && out.buckets < BUCKETS_PER_PASS {
        let key = keys::reminder_bucket(bucket);
        let ix = index::load(p, &key).await?;
        for (room, at) in &ix.entries {
            if *at <= now {
                out.entries.push((key.clone(), room.clone(), *at));
            }
        }
        out.buckets += 1;
        if bucket < current {
            out.through = bucket;
        }
        bucket += 1;
    }
    Ok(out)
}

/// Removes the entries of `due` (handled) and moves the cursor on.
pub async fn finish(p: &impl Platform, due: &Due) -> Result<(), ApiError> {
    let mut by_bucket: std::collections::BTreeMap<&str, Vec<String>> = std::collections::BTreeMap::new();
    for (bucket, room, _) in &due.entries {
        by_bucket.entry(bucket.as_str()).or_default().push(room.clone());
    }
    for (bucket, rooms) in by_bucket {
        let ix = index::load(p, bucket).await?;
        if ix.entries.keys().all(|k| rooms.contains(k)) {
            record::delete(p, bucket).await?;
        } else {
            index::remove_all(p, bucket, &rooms).await?;
        }
    }
    record::put_text(p, keys::REMINDER_CURSOR, &due.through.to_string()).await
}
