//! Notifications waiting for another try (`notify_retry:{id}`), and the due index of when
//! (`notify_due:{minute}`, cursor `notify_cursor`; [`due_index`](super::due_index)). A record
//! is written before its entry, so an entry always names a record or one already done; every
//! record is also given to the expiry index for [`LIFETIME_MS`] after its first attempt, so
//! nothing queued outlives its schedule even if its entry is lost.

use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use super::due_index::{BUCKET_MS, Due, DueIndex};
use super::{expiry, keys, record};
use crate::outgoing::Outgoing;
use crate::platform::Platform;

/// How long a queued notification may wait in all: past the whole retry schedule
/// ([`retry_schedule`](crate::retry_schedule), about 28 h without `Retry-After`).
pub const LIFETIME_MS: u64 = 2 * 24 * 3_600_000;

/// Minutes a retry moves on when its minute's bucket is full, before it is refused.
const SPILL_MINUTES: u64 = 10;

const QUEUE: DueIndex = DueIndex { bucket: keys::notification_retry_bucket, cursor: keys::NOTIFICATION_RETRY_CURSOR };

/// One notification waiting for another try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    pub id: String,
    pub message: Outgoing,
    /// What it is for, in logs and reports (`meeting_reminder`, `password_reset`…).
    pub purpose: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub first_at_ms: u64,
    /// When the next attempt is due.
    pub next_at_ms: u64,
    /// After this the message means nothing (a reset link that expired, a meeting that
    /// ended): it is dropped unsent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// What the last attempt got.
    pub last_error: String,
}

/// Stores `q` and makes it due at `q.next_at_ms` (moved on a minute at a time, up to
/// [`SPILL_MINUTES`], when that minute is full). Refused with 403 `limit_exceeded` when every
/// minute near it is full: a flood of failures is not kept.
pub async fn put(p: &impl Platform, q: &mut Queued) -> Result<(), ApiError> {
    let key = keys::notification_retry(&q.id);
    for _ in 0..=SPILL_MINUTES {
        record::put(p, &key, q).await?;
        match QUEUE.add(p, &q.id, q.next_at_ms).await {
            Ok(()) => {
                if q.attempts <= 1 {
                    expiry::expire_at(p, &key, q.first_at_ms.saturating_add(LIFETIME_MS)).await?;
                }
                return Ok(());
            }
            Err(e) if e.code == ErrorCode::LimitExceeded => q.next_at_ms += BUCKET_MS,
            Err(e) => return Err(e),
        }
    }
    record::delete(p, &key).await?;
    Err(ApiError::new(ErrorCode::LimitExceeded, "too many notifications are waiting for another try"))
}

/// The queued notification `id` (absent when done, dropped or expired).
pub async fn get(p: &impl Platform, id: &str) -> Result<Option<Queued>, ApiError> {
    record::get(p, &keys::notification_retry(id)).await
}

/// Forgets `id` (sent, refused for good, or out of tries).
pub async fn delete(p: &impl Platform, id: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::notification_retry(id)).await
}

/// The ids due by `now`, at most about `limit` of them.
pub async fn due(p: &impl Platform, now: u64, limit: usize) -> Result<Due, ApiError> {
    QUEUE.due(p, now, limit).await
}

/// Takes the entries of `due` out of the index and moves its cursor on.
pub async fn finish(p: &impl Platform, due: &Due) -> Result<(), ApiError> {
    QUEUE.finish(p, due).await
}
