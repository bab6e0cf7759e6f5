//! Where each record lives on a host that splits storage by consistency, as the Cloudflare
//! build does: a room's own records (its coordinator's state, its seats, its chat history) sit
//! with the room's single owner — a Durable Object's transactional storage — so the
//! coordinator commits them in one transaction with its state, and the join function's seat
//! count sees every seat the room holds; the node registry, written by every node's heartbeat
//! every few seconds and read on every join, sits in one strongly consistent object, and so do
//! the organisations' live-room indexes (written when a meeting starts, read on every join);
//! everything else is in the shared, eventually consistent store (Workers KV).
//!
//! An organisation's webhook deliveries (what is pending, each delivery with its attempts, the
//! endpoints' logs and health, the rooms' intake cursors) sit with its one dispatcher, which
//! alone writes them; the partner API reads them there.
//!
//! A room's usage record is written by its owner only: the owner keeps it with its state and
//! copies it to the shared store, where billing sums an organisation's month.

use origo_shared::RoomKey;

use super::keys;
use crate::names::{valid_org_id, valid_room_name};

/// The home of a record, or of every record under a listing prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Home {
    /// The storage of this room's coordinator.
    Room(RoomKey),
    /// The storage of this organisation's webhook dispatcher.
    Dispatcher(String),
    /// The node registry's storage.
    Registry,
    /// The shared store.
    Shared,
}

/// Record kinds kept with their room: `kind:{org}:{room}:…`.
const ROOM_KINDS: [&str; 4] = ["coord", "seat", "chat", "webhook_outbox"];

/// Record kinds kept with their room that end at the room: `kind:{org}:{room}`.
const ROOM_WHOLE_KINDS: [&str; 3] = ["coord", "chat_index", "outbox_index"];

/// Record kinds kept with their organisation's dispatcher: `kind:{org}` or `kind:{org}:…`.
const DISPATCHER_KINDS: [&str; 5] =
    ["webhook_pending", "webhook_delivery", "webhook_log", "webhook_health", "webhook_cursor"];

/// The home of the record at `key`, or of the records a listing of `key` as a prefix finds.
/// A prefix must name the room in full (`seat:{org}:{room}:`) to reach the room's storage.
pub fn home(key: &str) -> Home {
    if key.starts_with(keys::NODE_PREFIX) || key == keys::NODE_INDEX || key.starts_with(keys::LIVE_ROOMS_PREFIX) {
        return Home::Registry;
    }
    if let Some((kind, rest)) = key.split_once(':')
        && DISPATCHER_KINDS.contains(&kind)
    {
        let org = rest.split_once(':').map_or(rest, |(org, _)| org);
        // `webhook_pending:{org}` ends at the organisation; the others always go on.
        let whole = !rest.contains(':');
        let shaped = if kind == "webhook_pending" { whole } else { !whole };
        return if shaped && valid_org_id(org) { Home::Dispatcher(org.to_owned()) } else { Home::Shared };
    }
    let mut parts = key.splitn(4, ':');
    let (Some(kind), Some(org), Some(room)) = (parts.next(), parts.next(), parts.next()) else {
        return Home::Shared;
    };
    let rest = parts.next();
    // `coord:{org}:{room}` and `chat_index:…` have nothing after the room; the others always do.
    let shaped =
        if ROOM_WHOLE_KINDS.contains(&kind) { rest.is_none() } else { ROOM_KINDS.contains(&kind) && rest.is_some() };
    if shaped && valid_org_id(org) && valid_room_name(room) {
        Home::Room(RoomKey::new(org, room))
    } else {
        Home::Shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_records_live_with_their_room() {
        let room = Home::Room(RoomKey::new("o1", "standup"));
        assert_eq!(home(&keys::seat("o1", "standup", "alice:1")), room);
        assert_eq!(home(&keys::seat_prefix("o1", "standup")), room);
        assert_eq!(home(&keys::chat_message("o1", "standup", "0001-0002")), room);
        assert_eq!(home(&keys::chat_prefix("o1", "standup")), room);
        assert_eq!(home(&keys::coordinator_snapshot(&RoomKey::new("o1", "standup"))), room);
        assert_eq!(home(&keys::chat_index("o1", "standup")), room);
        assert_eq!(home(&keys::outbox_index("o1", "standup")), room);
        assert_eq!(home(&keys::webhook_outbox("o1", "standup", "0001-00000001")), room);
    }

    #[test]
    fn deliveries_live_with_their_organisations_dispatcher() {
        let o1 = Home::Dispatcher("o1".into());
        assert_eq!(home(&keys::webhook_pending("o1")), o1);
        assert_eq!(home(&keys::webhook_delivery("o1", "wh_a", "msg_1")), o1);
        assert_eq!(home(&keys::webhook_log("o1", "wh_a")), o1);
        assert_eq!(home(&keys::webhook_health("o1", "wh_a")), o1);
        assert_eq!(home(&keys::webhook_cursor("o1", "standup")), o1);
        // The organisation's own line has the empty room.
        assert_eq!(home(&keys::webhook_cursor("o1", "")), o1);
        for shared in ["webhook_pending:", "webhook_pending:o1:x", "webhook_log:o1", "webhook_delivery:Bad Org:x:y"] {
            assert_eq!(home(shared), Home::Shared, "{shared}");
        }
        // The endpoints themselves and their index are shared records.
        assert_eq!(home(&keys::webhook("o1", "wh_a")), Home::Shared);
    }

    #[test]
    fn the_registry_and_the_rest() {
        assert_eq!(home(&keys::node("media-1")), Home::Registry);
        assert_eq!(home(keys::NODE_PREFIX), Home::Registry);
        assert_eq!(home(keys::NODE_INDEX), Home::Registry);
        assert_eq!(home(&keys::live_rooms("o1")), Home::Registry);
        for shared in [
            keys::room("o1", "standup"),
            keys::room_prefix("o1"),
            keys::room_index("o1", "standup"),
            keys::expiry_bucket(7, 1),
            keys::room_usage("o1", "2026-12", "standup"),
            keys::account("a1"),
            keys::webhook("o1", "w1"),
            // Listings that do not name one room stay in the shared store.
            "seat:o1:".to_owned(),
            "chat:".to_owned(),
            keys::COORDINATOR_SNAPSHOT_PREFIX.to_owned(),
            // Not a room name: never a room's storage.
            "seat:o1:Bad Room:alice".to_owned(),
        ] {
            assert_eq!(home(&shared), Home::Shared, "{shared}");
        }
    }
}
