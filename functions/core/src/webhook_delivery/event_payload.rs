//! The body of a webhook message, version 1 (documented in `docs/webhooks.md`):
//!
//! ```json
//! {"type": "participant.joined", "version": 1, "id": "msg_…", "timestamp": "2026-12-01T20:15:14Z",
//!  "org": "acme", "room": "standup", "seq": 1764620114000000, "data": {…}}
//! ```
//!
//! `id` is the message id (`webhook-id`): the same for every attempt and every endpoint, so a
//! receiver can drop repeats. `seq` increases with every event of a room, across its meetings,
//! so a receiver can order what it got; it is not gap-free (a filter skips events). Fields
//! are only ever added within a version.

use origo_shared::WebhookEvent;
use sha2::{Digest, Sha256};

/// The payload format version.
pub const PAYLOAD_VERSION: u32 = 1;

/// Largest `data` sent; a larger one is replaced by `{"omitted": …}`.
pub const MAX_DATA_BYTES: usize = 64 * 1024;

/// The message id of the event `seq` of `room` in `org`: the same whoever computes it, so an
/// event taken from the outbox twice is one message.
pub fn message_id(org: &str, room: &str, seq: u64) -> String {
    let digest = Sha256::new()
        .chain_update(org)
        .chain_update([0])
        .chain_update(room)
        .chain_update([0])
        .chain_update(seq.to_be_bytes())
        .finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(secs: u64) -> String {
    let at = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The JSON body of one event.
pub fn body(
    event: WebhookEvent,
    id: &str,
    timestamp_secs: u64,
    org: &str,
    room: &str,
    seq: u64,
    data: &serde_json::Value,
) -> String {
    let size = serde_json::to_vec(data).map_or(usize::MAX, |b| b.len());
    let data = if size > MAX_DATA_BYTES {
        serde_json::json!({ "omitted": format!("the event's data is over {} KiB", MAX_DATA_BYTES / 1024) })
    } else {
        data.clone()
    };
    serde_json::json!({
        "type": event,
        "version": PAYLOAD_VERSION,
        "id": id,
        "timestamp": rfc3339(timestamp_secs),
        "org": org,
        "room": room,
        "seq": seq,
        "data": data,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(message_id("o", "r", 1), message_id("o", "r", 1));
        assert_ne!(message_id("o", "r", 1), message_id("o", "r", 2));
        assert_ne!(message_id("o", "r1", 1), message_id("o", "r", 11));
        assert_eq!(message_id("o", "r", 1).len(), 4 + 24);
    }

    #[test]
    fn the_body_carries_the_envelope_and_caps_data() {
        let b: serde_json::Value = serde_json::from_str(&body(
            WebhookEvent::RoomStarted,
            "msg_x",
            1_764_620_114,
            "o",
            "r",
            7,
            &serde_json::json!({"a": 1}),
        ))
        .unwrap();
        assert_eq!(b["type"], "room.started");
        assert_eq!(b["timestamp"], "2025-12-01T20:15:14Z");
        assert_eq!((b["seq"].as_u64(), b["version"].as_u64()), (Some(7), Some(1)));
        let huge = serde_json::json!({ "text": "x".repeat(MAX_DATA_BYTES) });
        let b: serde_json::Value =
            serde_json::from_str(&body(WebhookEvent::ChatMessage, "m", 0, "o", "r", 1, &huge)).unwrap();
        assert!(b["data"]["omitted"].is_string());
    }
}
