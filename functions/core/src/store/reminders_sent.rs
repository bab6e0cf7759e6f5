//! Who was reminded of a room's meeting (`reminders_sent:{org}:{room}`): the start they were
//! reminded of and each recipient, written before the reminder goes to them, so nobody is
//! reminded twice of one start — a sweep that stopped half-way goes on with the others. A
//! meeting moved to another start begins a new record. It lives until a day after the meeting
//! ends (the sweep removes it), and goes with its room.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{expiry, keys, record};
use crate::platform::Platform;

/// How long after its meeting ends the record is kept.
pub const KEPT_AFTER_END_MS: u64 = 86_400_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemindersSent {
    /// The start the reminders were for, Unix milliseconds.
    pub start_at_ms: u64,
    /// Recipients (`account:{id}` or `email:{address}`).
    pub sent: Vec<String>,
    pub expires_at_ms: u64,
}

/// The record for the meeting of `org`/`room` starting at `start_at_ms` (empty when the record
/// held is for another start, or there is none).
pub async fn load(p: &impl Platform, org: &str, room: &str, start_at_ms: u64) -> Result<RemindersSent, ApiError> {
    let held: Option<RemindersSent> = record::get(p, &keys::reminders_sent(org, room)).await?;
    Ok(held.filter(|r| r.start_at_ms == start_at_ms).unwrap_or(RemindersSent { start_at_ms, ..Default::default() }))
}

/// Records `recipient` as reminded; false when it already was.
pub async fn mark(
    p: &impl Platform,
    org: &str,
    room: &str,
    sent: &mut RemindersSent,
    recipient: &str,
    end_at_ms: u64,
) -> Result<bool, ApiError> {
    if sent.sent.iter().any(|r| r == recipient) {
        return Ok(false);
    }
    let key = keys::reminders_sent(org, room);
    if sent.sent.is_empty() {
        sent.expires_at_ms = end_at_ms + KEPT_AFTER_END_MS;
        expiry::expire_at(p, &key, sent.expires_at_ms).await?;
    }
    sent.sent.push(recipient.to_owned());
    record::put(p, &key, sent).await?;
    Ok(true)
}
