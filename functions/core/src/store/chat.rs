//! The chat message record (`chat:{org}:{room}:{id}`), written by the room coordinators for
//! every message sent in a room and read by the chat function's history. An id starts with
//! the send time in milliseconds, zero-padded to 16 digits, so ids — and keys — sort by time;
//! the id is also the paging cursor. Plain data: coordinator hosts use it without a
//! [`Platform`](crate::Platform).

use origo_shared::signal::ChatMessage;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredMessage {
    pub id: String,
    pub from: String,
    pub from_name: String,
    pub text: String,
    pub sent_at_ms: u64,
}

impl StoredMessage {
    /// The record of a message the room sent.
    pub fn of(m: &ChatMessage) -> Self {
        StoredMessage {
            id: message_id(m.sent_at_ms, m.seq),
            from: m.from.clone(),
            from_name: m.from_name.clone(),
            text: m.text.clone(),
            sent_at_ms: m.sent_at_ms,
        }
    }
}

/// The id of a message: the time, then the room's sequence number (unique per room).
pub fn message_id(sent_at_ms: u64, seq: u64) -> String {
    format!("{sent_at_ms:016}-{seq:010}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time() {
        assert_eq!(message_id(1_800_000_000_000, 7), "0001800000000000-0000000007");
        assert!(message_id(999, 9_999_999_999) < message_id(1000, 0));
    }
}
