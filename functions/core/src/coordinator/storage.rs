//! The coordinator's storage decisions, for every host that runs coordinators (the `origo`
//! actors, a Durable Object): where a room's state lives, how a room starts from its record,
//! and which writes one batch of effects commits. The host only reads and writes what these
//! functions name, in one transaction, before it delivers the batch's messages (output gate).

use origo_shared::RoomKey;
use origo_shared::usage::month_of;
use serde::Serialize;

use super::{Effect, RoomState};
use origo_shared::chat::{ChatChange, ChatMessage};

use crate::store::chat::message_id;
use crate::store::expiry;
use crate::store::index::Index;
use crate::store::keys;
use crate::store::usage::Usage;

/// A room's empty timeout when its record sets none (5 minutes).
pub const DEFAULT_EMPTY_TIMEOUT_MS: u64 = 300_000;

/// One write of a commit: a key and its new value (`None`: delete it).
pub type Write = (String, Option<Vec<u8>>);

/// Most chat messages a room's history keeps (the oldest go first).
pub const CHAT_HISTORY_MAX: usize = 5_000;

/// Most webhook events a room keeps waiting in its outbox (the oldest go first).
pub const OUTBOX_MAX: usize = 256;

/// The writes one batch of effects commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// Written as they are.
    pub writes: Vec<Write>,
    /// Records changed from their current value, one entry per record: the host reads each
    /// (in the same transaction, where it has one) and commits what [`Merge::apply`] returns
    /// with the rest.
    pub merges: Vec<Merge>,
}

/// Changes to one record that depend on its current value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merge {
    pub key: String,
    pub ops: Vec<MergeOp>,
}

/// One change of a [`Merge`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOp {
    /// Participant milliseconds to add to a usage record (`usage:{org}:{month}:room:{room}`),
    /// which only this room's owner writes.
    AddUsage {
        ms: u64,
        /// The day of the month it was used on ([`crate::store::usage::day_key`]).
        day: String,
    },
    /// An entry for an index record ([`crate::store::index`]). Entries beyond `cap`, and
    /// those named below `evict_below`, are removed, and with each the record
    /// `{evict_prefix}{entry}`.
    IndexAdd { entry: String, value: u64, cap: usize, evict_below: Option<String>, evict_prefix: String },
    /// A change to a chat message's record (`chat:{org}:{room}:{id}`) older than the room's
    /// recent chat, checked again against the record; a record that is gone stays gone.
    ChangeChat { by: String, admin: bool, change: ChatChange, seq: u64 },
}

impl Merge {
    /// True for merges of a usage record (a host that keeps the room's records apart from
    /// the shared store keeps these with the room and copies them out).
    pub fn is_usage(&self) -> bool {
        self.ops.iter().all(|op| matches!(op, MergeOp::AddUsage { .. }))
    }

    /// The writes that carry out the merge on `current` (absent or unreadable: a new record).
    pub fn apply(&self, current: Option<&[u8]>) -> Vec<Write> {
        if self.is_usage() {
            let mut usage: Usage = current.and_then(|b| serde_json::from_slice(b).ok()).unwrap_or_default();
            for op in &self.ops {
                if let MergeOp::AddUsage { ms, day } = op {
                    usage.add_participant_ms(day, *ms);
                }
            }
            return vec![(self.key.clone(), serde_json::to_vec(&usage).ok())];
        }
        if self.ops.iter().all(|op| matches!(op, MergeOp::ChangeChat { .. })) {
            let Some(mut message) =
                current.and_then(|b| serde_json::from_slice::<ChatMessage>(b).ok()).map(ChatMessage::normalized)
            else {
                return Vec::new();
            };
            let mut changed = false;
            for op in &self.ops {
                if let MergeOp::ChangeChat { by, admin, change, seq } = op {
                    changed |= message.apply(change, by, *admin, *seq).unwrap_or(false);
                }
            }
            return if changed { vec![(self.key.clone(), serde_json::to_vec(&message).ok())] } else { Vec::new() };
        }
        let mut ix = Index::decode(current);
        let before = ix.clone();
        let mut writes = Vec::new();
        for op in &self.ops {
            if let MergeOp::IndexAdd { entry, value, cap, evict_below, evict_prefix } = op {
                let mut gone = ix.insert_capped(entry, *value, *cap);
                if let Some(bound) = evict_below {
                    gone.extend(ix.split_below(bound));
                }
                writes.extend(gone.into_iter().map(|e| (format!("{evict_prefix}{e}"), None)));
            }
        }
        if ix != before || current.is_none() {
            writes.push((self.key.clone(), Some(ix.encode())));
        }
        writes
    }
}

/// Adds `op` to the merge of `key` in `merges` (one merge per record).
fn merge_into(merges: &mut Vec<Merge>, key: String, op: MergeOp) {
    match merges.iter_mut().find(|m| m.key == key) {
        Some(m) => m.ops.push(op),
        None => merges.push(Merge { key, ops: vec![op] }),
    }
}

/// Where the room's durable state lives.
pub fn snapshot_key(room: &RoomKey) -> String {
    keys::coordinator_snapshot(room)
}

/// The room's stored state; `None` for a room with none, or one whose record cannot be read
/// (it starts afresh, as a new room would).
pub fn decode_snapshot(bytes: &[u8]) -> Result<RoomState, serde_json::Error> {
    let mut state: RoomState = serde_json::from_slice(bytes)?;
    state.chat = std::mem::take(&mut state.chat).into_iter().map(ChatMessage::normalized).collect();
    Ok(state)
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
    seq: u64,
    data: &'a serde_json::Value,
}

/// The writes `fx` (the effects of one batch, applied to `state`) commit at `now_ms`.
/// Webhook events go to the room's outbox, named by the room's next event sequence number
/// (`state.webhook_seq`, advanced here); `random` picks the expiry shard of a finished room's
/// chat history, given to the sweep for when it is past retention.
pub fn commit(
    state: &mut RoomState,
    fx: &[Effect],
    now_ms: u64,
    mut random: impl FnMut() -> u32,
) -> Result<Commit, serde_json::Error> {
    let (org, room) = (state.org.clone(), state.room.clone());
    let (org, room) = (org.as_str(), room.as_str());
    let key = RoomKey::new(org, room);
    let mut commit = Commit::default();
    let mut snapshot = false;
    let mut usage_ms = 0u64;
    let keep_after = now_ms.saturating_sub(state.terms.chat_retention_ms);
    for effect in fx {
        match effect {
            Effect::Persist => snapshot = true,
            Effect::StoreChat(m) => {
                let id = m.id.clone();
                commit.writes.retain(|(k, _)| *k != keys::chat_message(org, room, &id));
                commit.writes.push((keys::chat_message(org, room, &id), Some(serde_json::to_vec(m)?)));
                let add = MergeOp::IndexAdd {
                    entry: id,
                    value: m.sent_at_ms,
                    cap: CHAT_HISTORY_MAX,
                    evict_below: Some(message_id(keep_after, 0)),
                    evict_prefix: keys::chat_prefix(org, room),
                };
                merge_into(&mut commit.merges, keys::chat_index(org, room), add);
            }
            Effect::Webhook { event, data } => {
                let seq = state.webhook_seq.saturating_add(1).max(now_ms.saturating_mul(1000));
                state.webhook_seq = seq;
                // The sequence number is part of the room's state: kept with the event.
                snapshot = true;
                let id = format!("{seq:020}");
                let body = OutboxEvent { kind: *event, timestamp: now_ms / 1000, seq, data };
                commit.writes.push((keys::webhook_outbox(org, room, &id), Some(serde_json::to_vec(&body)?)));
                let listed = MergeOp::IndexAdd {
                    entry: id,
                    value: now_ms,
                    cap: OUTBOX_MAX,
                    evict_below: None,
                    evict_prefix: keys::webhook_outbox_prefix(org, room),
                };
                merge_into(&mut commit.merges, keys::outbox_index(org, room), listed);
            }
            Effect::ChangeChat { message_id, by, admin, change, seq } => {
                let op = MergeOp::ChangeChat { by: by.clone(), admin: *admin, change: change.clone(), seq: *seq };
                merge_into(&mut commit.merges, keys::chat_message(org, room, message_id), op);
            }
            Effect::Usage { ms, .. } if state.terms.bill_usage => usage_ms += ms,
            _ => {}
        }
    }
    if state.finished {
        // A finished room forgets its state in the same transaction as its last writes; the
        // chat of its meeting outlives it until the retention ends.
        commit.writes.push((snapshot_key(&key), None));
        if !state.chat.is_empty() {
            let expires = now_ms.saturating_add(state.terms.chat_retention_ms);
            let (bucket_key, entry) = expiry::entry(expires, random(), &keys::chat_index(org, room));
            let due = MergeOp::IndexAdd {
                entry,
                value: expires,
                cap: crate::store::index::MAX_ENTRIES,
                evict_below: None,
                evict_prefix: String::new(),
            };
            merge_into(&mut commit.merges, bucket_key, due);
        }
    } else if snapshot {
        commit.writes.push((snapshot_key(&key), Some(serde_json::to_vec(state)?)));
    }
    if usage_ms > 0 {
        let month = month_of(now_ms);
        merge_into(
            &mut commit.merges,
            keys::room_usage(org, &month, room),
            MergeOp::AddUsage { ms: usage_ms, day: crate::store::usage::day_key(now_ms) },
        );
        let listed = MergeOp::IndexAdd {
            entry: format!("room:{room}"),
            value: 0,
            cap: crate::store::index::MAX_ENTRIES,
            evict_below: None,
            evict_prefix: String::new(),
        };
        merge_into(&mut commit.merges, keys::usage_index(org, &month), listed);
    }
    Ok(commit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::{Event, HeldSeat, Joiner, Settings};

    fn joiner(id: &str) -> Joiner {
        Joiner {
            identity: id.into(),
            name: id.into(),
            metadata: None,
            admin: false,
            publish_data: true,
            hidden: false,
            media: None,
            seat: Some(format!("seat{id}")),
        }
    }

    #[test]
    fn a_join_commits_the_snapshot_and_webhooks_to_a_capped_outbox() {
        let mut state = RoomState::new("o1", "standup", 60_000, Settings::default());
        state.held.insert("alice".into(), HeldSeat { seat: "seatalice".into(), until_ms: 60_000, media: None });
        let fx = state.apply(Event::Connect { conn: 1, who: joiner("alice"), last_seq: None }, 1_000);
        let c = commit(&mut state, &fx, 1_000, || 0).unwrap();
        let keys: Vec<&str> = c.writes.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"coord:o1:standup"), "{keys:?}");
        assert!(!keys.iter().any(|k| k.starts_with("seat:")), "seats live in the coordinator: {keys:?}");
        // room_started and participant_joined, in the room's sequence (from the time × 1000).
        assert!(keys.contains(&"webhook_outbox:o1:standup:00000000000001000000"), "{keys:?}");
        assert!(keys.contains(&"webhook_outbox:o1:standup:00000000000001000001"), "{keys:?}");
        assert_eq!(state.webhook_seq, 1_000_001);
        // A later commit in the same millisecond goes on from there.
        let fx = vec![Effect::Webhook { event: origo_shared::WebhookEvent::ChatMessage, data: serde_json::json!({}) }];
        let again = commit(&mut state.clone(), &fx, 1_000, || 0).unwrap();
        assert!(again.writes.iter().any(|(k, _)| k == "webhook_outbox:o1:standup:00000000000001000002"));
        let snapshot = &c.writes.iter().find(|(k, _)| k == "coord:o1:standup").unwrap().1;
        assert_eq!(decode_snapshot(snapshot.as_deref().unwrap()).unwrap(), state);
        // Both are listed in the room's outbox index, which keeps the newest OUTBOX_MAX.
        assert_eq!(c.merges.len(), 1);
        let outbox = &c.merges[0];
        assert_eq!(outbox.key, "outbox_index:o1:standup");
        let mut full = Index::new();
        for i in 0..OUTBOX_MAX {
            full.entries.insert(format!("0000000000000{i:03}-00000000"), 0);
        }
        let writes = outbox.apply(Some(&full.encode()));
        let evicted: Vec<&str> = writes.iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            evicted,
            [
                "webhook_outbox:o1:standup:0000000000000000-00000000",
                "webhook_outbox:o1:standup:0000000000000001-00000000"
            ]
        );
        assert_eq!(Index::decode(writes.last().unwrap().1.as_deref()).len(), OUTBOX_MAX);
    }

    #[test]
    fn leaving_bills_usage_by_read_modify_write() {
        let mut state = RoomState::new("o1", "standup", 60_000, Settings::default());
        state.held.insert("alice".into(), HeldSeat { seat: "seatalice".into(), until_ms: 60_000, media: None });
        state.apply(Event::Connect { conn: 1, who: joiner("alice"), last_seq: None }, 1_000);
        let fx = state.apply(Event::Client { conn: 1, msg: origo_shared::signal::ClientMessage::Leave }, 4_000);
        let c = commit(&mut state, &fx, 4_000, || 0).unwrap();
        let usage = c.merges.iter().find(|m| m.is_usage()).unwrap();
        assert_eq!(usage.key, "usage:o1:1970-01:room:standup");
        assert!(matches!(&usage.ops[..], [MergeOp::AddUsage { ms: 3_000, .. }]));
        let before = serde_json::to_vec(&Usage { participant_ms: 500, ..Usage::default() }).unwrap();
        let after = usage.apply(Some(&before));
        let after: Usage = serde_json::from_slice(after[0].1.as_deref().unwrap()).unwrap();
        assert_eq!((after.participant_ms, after.participant_seconds), (3_500, 3));
        let fresh = usage.apply(Some(b"not json"));
        assert_eq!(serde_json::from_slice::<Usage>(fresh[0].1.as_deref().unwrap()).unwrap().participant_ms, 3_000);
        // The record is listed in the organisation's usage index for the month.
        let listed = c.merges.iter().find(|m| m.key == "usage_index:o1:1970-01").unwrap();
        let written = listed.apply(None);
        let ix = Index::decode(written[0].1.as_deref());
        assert!(ix.contains("room:standup"));
        assert_eq!(listed.apply(written[0].1.as_deref()), Vec::new(), "listing twice writes nothing");
    }

    #[test]
    fn chat_is_indexed_and_the_oldest_goes_past_the_cap_or_retention() {
        let mut state = RoomState::new("o1", "standup", 60_000, Settings::default());
        state.terms.chat_retention_ms = 10_000;
        state.held.insert("alice".into(), HeldSeat { seat: "seatalice".into(), until_ms: 60_000, media: None });
        state.apply(Event::Connect { conn: 1, who: joiner("alice"), last_seq: None }, 1_000);
        let chat = |state: &mut RoomState, at: u64| {
            let msg = origo_shared::signal::ClientMessage::Chat { text: "hi".into(), client_id: None, reply_to: None };
            let fx = state.apply(Event::Client { conn: 1, msg }, at);
            commit(state, &fx, at, || 0).unwrap()
        };
        let c = chat(&mut state, 2_000);
        let merge = c.merges.iter().find(|m| m.key == "chat_index:o1:standup").unwrap();
        let first = merge.apply(None);
        let ix = Index::decode(first.last().unwrap().1.as_deref());
        assert_eq!(ix.len(), 1);
        // 20 s later the first message is past the 10 s retention: evicted, its record deleted.
        let c = chat(&mut state, 22_000);
        let merge = c.merges.iter().find(|m| m.key == "chat_index:o1:standup").unwrap();
        let writes = merge.apply(first.last().unwrap().1.as_deref());
        let old_id = ix.page("", 1)[0].to_owned();
        assert!(writes.contains(&(format!("chat:o1:standup:{old_id}"), None)), "{writes:?}");
        assert_eq!(Index::decode(writes.last().unwrap().1.as_deref()).len(), 1);
    }

    #[test]
    fn a_finished_room_deletes_its_snapshot() {
        let mut state = RoomState::new("o1", "standup", 60_000, Settings::default());
        state.held.insert("alice".into(), HeldSeat { seat: "seatalice".into(), until_ms: 60_000, media: None });
        state.apply(Event::Connect { conn: 1, who: joiner("alice"), last_seq: None }, 1_000);
        let mut quiet = state.clone();
        let chat = origo_shared::signal::ClientMessage::Chat { text: "hi".into(), client_id: None, reply_to: None };
        state.apply(Event::Client { conn: 1, msg: chat }, 1_500);
        let close = || Event::Command(super::super::RoomCommand::Close { reason: "deleted".into() });
        let fx = state.apply(close(), 2_000);
        assert!(fx.contains(&Effect::Finished));
        let c = commit(&mut state, &fx, 2_000, || 0).unwrap();
        assert!(c.writes.contains(&("coord:o1:standup".into(), None)));
        assert!(!c.writes.iter().any(|(k, v)| k == "coord:o1:standup" && v.is_some()));
        // A meeting without chat leaves nothing for the sweep.
        let fx = quiet.apply(close(), 2_000);
        assert!(!commit(&mut quiet, &fx, 2_000, || 0).unwrap().merges.iter().any(|m| m.key.starts_with("expiry:")));
        // Its chat history is given to the sweep for when retention ends.
        let due = c.merges.iter().find(|m| m.key.starts_with("expiry:")).unwrap();
        assert!(matches!(&due.ops[0], MergeOp::IndexAdd { entry, .. } if entry == "chat_index:o1:standup"));
    }

    #[test]
    fn empty_timeout_from_the_room_record() {
        assert_eq!(empty_timeout_ms(Some(br#"{"empty_timeout_secs":30}"#)), 30_000);
        assert_eq!(empty_timeout_ms(Some(b"{}")), DEFAULT_EMPTY_TIMEOUT_MS);
        assert_eq!(empty_timeout_ms(Some(b"garbage")), DEFAULT_EMPTY_TIMEOUT_MS);
        assert_eq!(empty_timeout_ms(None), DEFAULT_EMPTY_TIMEOUT_MS);
    }
}
