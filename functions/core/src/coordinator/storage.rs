//! The coordinator's storage decisions, for every host that runs coordinators (the `origo`
//! actors, a Durable Object): where a room's state lives, how a room starts from its record,
//! and which writes one batch of effects commits. The host only reads and writes what these
//! functions name, in one transaction, before it delivers the batch's messages (output gate).

use origo_shared::RoomKey;
use origo_shared::usage::month_of;
use serde::Serialize;

use super::{Effect, RoomState};
use crate::store::chat::StoredMessage;
use crate::store::keys;
use crate::store::usage::Usage;

/// A room's empty timeout when its record sets none (5 minutes).
pub const DEFAULT_EMPTY_TIMEOUT_MS: u64 = 300_000;

/// One write of a commit: a key and its new value (`None`: delete it).
pub type Write = (String, Option<Vec<u8>>);

/// The writes one batch of effects commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// Written as they are.
    pub writes: Vec<Write>,
    /// Participant time to add to the room's usage record, which only this room's owner
    /// writes: the host reads the record and commits [`UsageAddition::apply`] with the rest.
    pub usage: Option<UsageAddition>,
}

/// Participant milliseconds to add to one usage record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageAddition {
    /// The record (`usage:{org}:{month}:room:{room}`).
    pub key: String,
    pub ms: u64,
}

impl UsageAddition {
    /// The record's new value from its current one (absent or unreadable: a new record).
    pub fn apply(&self, current: Option<&[u8]>) -> Write {
        let mut usage: Usage = current.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
        usage.add_participant_ms(self.ms);
        (self.key.clone(), serde_json::to_vec(&usage).ok())
    }
}

/// Where the room's durable state lives.
pub fn snapshot_key(room: &RoomKey) -> String {
    keys::coordinator_snapshot(room)
}

/// The room's stored state; `None` for a room with none, or one whose record cannot be read
/// (it starts afresh, as a new room would).
pub fn decode_snapshot(bytes: &[u8]) -> Result<RoomState, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// How long the room may stay empty, from its record (`room:{org}:{name}`,
/// `empty_timeout_secs`), or [`DEFAULT_EMPTY_TIMEOUT_MS`].
pub fn empty_timeout_ms(room_record: Option<&[u8]>) -> u64 {
    room_record
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v["empty_timeout_secs"].as_u64())
        .map_or(DEFAULT_EMPTY_TIMEOUT_MS, |secs| secs.saturating_mul(1000))
}

/// An event waiting in the webhook outbox.
#[derive(Serialize)]
struct OutboxEvent<'a> {
    #[serde(rename = "type")]
    kind: origo_shared::WebhookEvent,
    timestamp: u64,
    data: &'a serde_json::Value,
}

/// The writes `fx` (the effects of one batch, applied to `state`) commit at `now_ms`.
/// `random` names webhook events (`{now_ms:016}-{random:08x}`, unique and in time order).
pub fn commit(
    state: &RoomState,
    fx: &[Effect],
    now_ms: u64,
    mut random: impl FnMut() -> u32,
) -> Result<Commit, serde_json::Error> {
    let (org, room) = (state.org.as_str(), state.room.as_str());
    let key = RoomKey::new(org, room);
    let mut commit = Commit::default();
    let mut snapshot = false;
    let mut usage_ms = 0u64;
    for effect in fx {
        match effect {
            Effect::Persist => snapshot = true,
            Effect::StoreChat(m) => {
                let stored = StoredMessage::of(m);
                let id = stored.id.clone();
                commit.writes.push((keys::chat_message(org, room, &id), Some(serde_json::to_vec(&stored)?)));
            }
            Effect::Webhook { event, data } => {
                let id = format!("{now_ms:016}-{:08x}", random());
                let body = OutboxEvent { kind: *event, timestamp: now_ms / 1000, data };
                commit.writes.push((keys::webhook_outbox(org, &id), Some(serde_json::to_vec(&body)?)));
            }
            Effect::Usage { ms, .. } => usage_ms += ms,
            Effect::SeatHeld { identity, until_ms } => {
                let seat = serde_json::json!({ "expires_at_ms": until_ms });
                commit.writes.push((keys::seat(org, room, identity), Some(serde_json::to_vec(&seat)?)));
            }
            Effect::SeatFreed { identity } => commit.writes.push((keys::seat(org, room, identity), None)),
            _ => {}
        }
    }
    if state.finished {
        // A finished room forgets its state in the same transaction as its last writes.
        commit.writes.push((snapshot_key(&key), None));
    } else if snapshot {
        commit.writes.push((snapshot_key(&key), Some(serde_json::to_vec(state)?)));
    }
    if usage_ms > 0 {
        commit.usage = Some(UsageAddition { key: keys::room_usage(org, &month_of(now_ms), room), ms: usage_ms });
    }
    Ok(commit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::{Event, Joiner, Settings};

    fn joiner(id: &str) -> Joiner {
        Joiner {
            identity: id.into(),
            name: id.into(),
            metadata: None,
            admin: false,
            publish_data: true,
            hidden: false,
            media: None,
        }
    }

    #[test]
    fn a_join_commits_the_snapshot_seat_and_webhooks() {
        let mut state = RoomState::new("o1", "standup", 60_000, Settings::default());
        let fx = state.apply(Event::Connect { conn: 1, who: joiner("alice"), last_seq: None }, 1_000);
        let c = commit(&state, &fx, 1_000, || 7).unwrap();
        let keys: Vec<&str> = c.writes.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"coord:o1:standup"), "{keys:?}");
        assert!(keys.contains(&"seat:o1:standup:alice"), "{keys:?}");
        assert!(keys.iter().any(|k| k.starts_with("webhook_outbox:o1:0000000000001000-00000007")), "{keys:?}");
        let snapshot = &c.writes.iter().find(|(k, _)| k == "coord:o1:standup").unwrap().1;
        assert_eq!(decode_snapshot(snapshot.as_deref().unwrap()).unwrap(), state);
        assert_eq!(c.usage, None);
    }

    #[test]
    fn leaving_bills_usage_by_read_modify_write() {
        let mut state = RoomState::new("o1", "standup", 60_000, Settings::default());
        state.apply(Event::Connect { conn: 1, who: joiner("alice"), last_seq: None }, 1_000);
        let fx = state.apply(Event::Client { conn: 1, msg: origo_shared::signal::ClientMessage::Leave }, 4_000);
        let c = commit(&state, &fx, 4_000, || 0).unwrap();
        let usage = c.usage.unwrap();
        assert_eq!(usage.key, "usage:o1:1970-01:room:standup");
        assert_eq!(usage.ms, 3_000);
        assert!(c.writes.contains(&("seat:o1:standup:alice".into(), None)));
        let before = serde_json::to_vec(&Usage { participant_ms: 500, ..Usage::default() }).unwrap();
        let (_, after) = usage.apply(Some(&before));
        let after: Usage = serde_json::from_slice(&after.unwrap()).unwrap();
        assert_eq!((after.participant_ms, after.participant_seconds), (3_500, 3));
        let (_, fresh) = usage.apply(Some(b"not json"));
        assert_eq!(serde_json::from_slice::<Usage>(&fresh.unwrap()).unwrap().participant_ms, 3_000);
    }

    #[test]
    fn a_finished_room_deletes_its_snapshot() {
        let mut state = RoomState::new("o1", "standup", 60_000, Settings::default());
        state.apply(Event::Connect { conn: 1, who: joiner("alice"), last_seq: None }, 1_000);
        let fx = state.apply(Event::Command(super::super::RoomCommand::Close { reason: "deleted".into() }), 2_000);
        assert!(fx.contains(&Effect::Finished));
        let c = commit(&state, &fx, 2_000, || 0).unwrap();
        assert!(c.writes.contains(&("coord:o1:standup".into(), None)));
        assert!(!c.writes.iter().any(|(k, v)| k == "coord:o1:standup" && v.is_some()));
    }

    #[test]
    fn empty_timeout_from_the_room_record() {
        assert_eq!(empty_timeout_ms(Some(br#"{"empty_timeout_secs":30}"#)), 30_000);
        assert_eq!(empty_timeout_ms(Some(b"{}")), DEFAULT_EMPTY_TIMEOUT_MS);
        assert_eq!(empty_timeout_ms(Some(b"garbage")), DEFAULT_EMPTY_TIMEOUT_MS);
        assert_eq!(empty_timeout_ms(None), DEFAULT_EMPTY_TIMEOUT_MS);
    }
}
