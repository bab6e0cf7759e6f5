//! The sweep: walks the expiry index's buckets ([`expiry`]) that came due since it last ran
//! (`sweep_cursor`) and removes what they name, so its cost follows the number of records
//! due, not the size of the store; any clock drives it (tests move a controlled one over
//! weeks). A record that carries `expires_at_ms` is only removed once that time has passed: a
//! record renewed since it was scheduled (a guest room used again, a login guard hit again)
//! was scheduled again, and the earlier entry is skipped.

use origo_shared::ApiError;
use serde_json::Value;

use super::expiry::{self, SHARDS, bucket_of};
use super::{account, index, invitation, keys, record, room};
use crate::platform::{Platform, PlatformExt};

/// Most buckets one sweep pass walks (a sweep that fell behind catches up over passes).
pub const BUCKETS_PER_PASS: u64 = 288;
/// How far back a store's first sweep starts when the upgrade found no bucket.
const FIRST_LOOKBACK_BUCKETS: u64 = 12;

/// What one sweep pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Buckets walked.
    pub buckets: u64,
    /// Records removed.
    pub expired: u64,
    /// Entries whose record lives on (renewed, or a room still in use).
    pub kept: u64,
    /// The last bucket done: everything due before its end is handled.
    pub through_bucket: u64,
}

/// Walks the buckets due by `now` that the last pass left (at most [`BUCKETS_PER_PASS`]).
pub async fn sweep(p: &impl Platform) -> Result<SweepReport, ApiError> {
    let now = p.now_ms();
    // A bucket is walked once it has ended.
    let last_due = bucket_of(now).saturating_sub(1);
    let done = match record::get_text(p, keys::SWEEP_CURSOR).await?.and_then(|t| t.trim().parse::<u64>().ok()) {
        Some(done) => done,
        None => last_due.saturating_sub(FIRST_LOOKBACK_BUCKETS),
    };
    let mut report = SweepReport { through_bucket: done, ..SweepReport::default() };
    let mut bucket = done + 1;
    while bucket <= last_due && report.buckets < BUCKETS_PER_PASS {
        for shard in 0..SHARDS {
            let bucket_key = keys::expiry_bucket(bucket, shard);
            let ix = index::load(p, &bucket_key).await?;
            for (key, due) in &ix.entries {
                if expire(p, key, *due, now).await? {
                    report.expired += 1;
                } else {
                    report.kept += 1;
                }
            }
            if !ix.is_empty() {
                record::delete(p, &bucket_key).await?;
            }
        }
        report.buckets += 1;
        report.through_bucket = bucket;
        record::put_text(p, keys::SWEEP_CURSOR, &bucket.to_string()).await?;
        bucket += 1;
    }
    Ok(report)
}

/// Expires the record at `key` (scheduled for `due`); false when it lives on.
async fn expire(p: &impl Platform, key: &str, due: u64, now: u64) -> Result<bool, ApiError> {
    let kind = key.split(':').next().unwrap_or("");
    match kind {
        "room" => expire_room(p, key, now).await,
        "rate" => {
            // A rate-limit window's counter, scheduled when it was created for after its end.
            record::delete(p, key).await?;
            Ok(true)
        }
        "chat_index" => {
            // `due` is when the room's last meeting ended, plus the retention: what was sent
            // before that meeting ended is past retention now.
            let Some((org, name)) = key.strip_prefix("chat_index:").and_then(|r| r.split_once(':')) else {
                return Ok(false);
            };
            let ended = due.saturating_sub(expiry::retention_of_chat(p));
            room::trim_chat(p, org, name, ended).await?;
            Ok(true)
        }
        "verify" => {
            // An expired verification takes the account nobody confirmed with it.
            let Some(v) = record::get::<account::Verification>(p, key).await? else { return Ok(true) };
            if v.expires_at_ms > now {
                return Ok(false);
            }
            record::delete(p, key).await?;
            account::forget_unverified(p, &v.account, &v.signup).await?;
            Ok(true)
        }
        "invitation" => invitation::expire(p, key, now).await,
        "usage_index" => {
            let Some((org, month)) = key.strip_prefix("usage_index:").and_then(|r| r.split_once(':')) else {
                return Ok(false);
            };
            let ix = index::load(p, key).await?;
            for part in ix.entries.keys() {
                record::delete(p, &format!("{}:{part}", keys::usage_prefix(org, month))).await?;
            }
            record::delete(p, key).await?;
            Ok(true)
        }
        _ => {
            let current: Option<Value> = p.kv_get_json(key).await.unwrap_or(None);
            let Some(current) = current else { return Ok(true) };
            if current["expires_at_ms"].as_u64().is_some_and(|at| at > now) {
                return Ok(false);
            }
            record::delete(p, key).await?;
            Ok(true)
        }
    }
}

/// A guest room past its lifetime goes with its chat, unless a meeting runs in it.
async fn expire_room(p: &impl Platform, key: &str, now: u64) -> Result<bool, ApiError> {
    let Some((org, name)) = key.strip_prefix("room:").and_then(|r| r.split_once(':')) else { return Ok(false) };
    let Some(stored) = record::get::<room::Room>(p, key).await? else { return Ok(true) };
    if stored.expires_at_ms.is_none_or(|at| at > now) {
        return Ok(false);
    }
    if room::meeting_running(p, org, name).await? {
        let ttl = expiry::guest_room_ttl_ms(p);
        room::renew_lifetime(p, stored, now, ttl).await?;
        return Ok(false);
    }
    room::delete(p, org, name).await?;
    Ok(true)
}
