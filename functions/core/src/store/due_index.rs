//! A time-bucketed index of things due at a time, for the maintenance sweep: one index record
//! per minute of due times (name → due time), the way the expiry index
//! ([`expiry`](super::expiry)) keeps lifetimes, and a cursor naming the last minute wholly
//! handled. A pass reads the minutes from the cursor to now's, the current one included, so
//! an entry is handled at the first sweep after it is due: as punctual as
//! `sweep_interval_secs`. Scheduled meetings' reminders ([`reminder_due`](super::reminder_due))
//! and notifications waiting for another try ([`notification_queue`](super::notification_queue))
//! use one each.

use std::collections::BTreeMap;

use origo_shared::ApiError;

use super::{index, record};
use crate::platform::Platform;

/// The width of one bucket.
pub const BUCKET_MS: u64 = 60_000;
/// Most buckets one pass reads (a sweep that fell behind catches up over passes).
pub const BUCKETS_PER_PASS: u64 = 1440;
/// How far back a pass starts when the store has no cursor (no entry was ever added).
const FIRST_LOOKBACK_BUCKETS: u64 = 60;

/// The bucket of a due time.
pub fn bucket_of(at_ms: u64) -> u64 {
    at_ms / BUCKET_MS
}

/// One due index: where its buckets and its cursor are kept.
#[derive(Debug, Clone, Copy)]
pub struct DueIndex {
    /// The record of one minute's bucket.
    pub bucket: fn(u64) -> String,
    /// The record of the last minute wholly handled.
    pub cursor: &'static str,
}

/// What is due by a time, found in the buckets the last pass left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// (bucket record, name, due time), earliest bucket first.
    pub entries: Vec<(String, String, u64)>,
    /// Buckets read.
    pub buckets: u64,
    /// The last bucket that is wholly past and read, to be stored as the cursor by
    /// [`DueIndex::finish`].
    pub through: u64,
}

impl DueIndex {
    /// Makes `name` due at `at_ms`. Refused with 403 `limit_exceeded` when that minute's
    /// bucket is full.
    pub async fn add(&self, p: &impl Platform, name: &str, at_ms: u64) -> Result<(), ApiError> {
        // A store's first entry starts the cursor, so a first pass long after it still reads it.
        if record::get_text(p, self.cursor).await?.is_none() {
            let from = bucket_of(at_ms.min(p.now_ms())).saturating_sub(1);
            record::put_text(p, self.cursor, &from.to_string()).await?;
        }
        index::add(p, &(self.bucket)(bucket_of(at_ms)), name, at_ms).await
    }

    /// Takes back `name`, due at `at_ms` (no error when it is not there).
    pub async fn remove(&self, p: &impl Platform, name: &str, at_ms: u64) -> Result<(), ApiError> {
        index::remove(p, &(self.bucket)(bucket_of(at_ms)), name).await
    }

    /// Reads the buckets from the cursor to `now`'s, and what in them is due — whole buckets,
    /// stopping before the one that would take the entries past `limit` (the rest waits for
    /// the next pass).
    pub async fn due(&self, p: &impl Platform, now: u64, limit: usize) -> Result<Due, ApiError> {
        let current = bucket_of(now);
        let done = match record::get_text(p, self.cursor).await?.and_then(|t| t.trim().parse::<u64>().ok()) {
            Some(done) => done,
            None => current.saturating_sub(FIRST_LOOKBACK_BUCKETS),
        };
        let mut out = Due { through: done, ..Due::default() };
        let mut bucket = done + 1;
        while bucket <= current && out.buckets < BUCKETS_PER_PASS {
            let key = (self.bucket)(bucket);
            let ix = index::load(p, &key).await?;
            let due: Vec<(&String, &u64)> = ix.entries.iter().filter(|(_, at)| **at <= now).collect();
            if !out.entries.is_empty() && out.entries.len() + due.len() > limit {
                break;
            }
            out.entries.extend(due.into_iter().map(|(name, at)| (key.clone(), name.clone(), *at)));
            out.buckets += 1;
            if bucket < current {
                out.through = bucket;
            }
            bucket += 1;
        }
        Ok(out)
    }

    /// Removes the entries of `due` (handled) and moves the cursor on.
    pub async fn finish(&self, p: &impl Platform, due: &Due) -> Result<(), ApiError> {
        let mut by_bucket: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (bucket, name, _) in &due.entries {
            by_bucket.entry(bucket.as_str()).or_default().push(name.clone());
        }
        for (bucket, names) in by_bucket {
            let ix = index::load(p, bucket).await?;
            if ix.entries.keys().all(|k| names.contains(k)) {
                record::delete(p, bucket).await?;
            } else {
                index::remove_all(p, bucket, &names).await?;
            }
        }
        record::put_text(p, self.cursor, &due.through.to_string()).await
    }
}
