//! Reminders due: the due index ([`due_index`](super::due_index)) of scheduled meetings'
//! reminders (`reminder_due:{minute}`: room record key → due time; cursor `reminder_cursor`).
//! An entry is a hint, the room's schedule the truth: an entry whose room no longer has a
//! reminder due then (moved, removed) is dropped unsent.

use origo_shared::ApiError;

use super::due_index::{Due, DueIndex};
use super::keys;
use crate::platform::Platform;

const REMINDERS: DueIndex = DueIndex { bucket: keys::reminder_bucket, cursor: keys::REMINDER_CURSOR };

/// Gives the room at `room_key` a reminder at `at_ms`.
pub async fn add(p: &impl Platform, room_key: &str, at_ms: u64) -> Result<(), ApiError> {
    REMINDERS.add(p, room_key, at_ms).await
}

/// Takes back the reminder of `room_key` at `at_ms` (no error when there is none).
pub async fn remove(p: &impl Platform, room_key: &str, at_ms: u64) -> Result<(), ApiError> {
    REMINDERS.remove(p, room_key, at_ms).await
}

/// The reminders due by `now`, found in the buckets the last pass left.
pub async fn due(p: &impl Platform, now: u64) -> Result<Due, ApiError> {
    REMINDERS.due(p, now, usize::MAX).await
}

/// Removes the entries of `due` (handled) and moves the cursor on.
pub async fn finish(p: &impl Platform, due: &Due) -> Result<(), ApiError> {
    REMINDERS.finish(p, due).await
}
