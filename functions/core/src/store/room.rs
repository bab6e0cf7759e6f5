//! The room records: the room (`room:{org}:{name}`, its settings), listed in its
//! organisation's index (`rooms:{org}`), the media node its participants were last placed on
//! (`room_node:{org}:{name}`), and its chat history (`chat:{org}:{room}:{id}`, listed in
//! `chat_index:{org}:{room}`). Seats are held by the room's coordinator
//! ([`RoomCommand::Reserve`](crate::coordinator::RoomCommand::Reserve)), in its state.
//!
//! A room of the guest organisation, made by a meeting link, carries `expires_at_ms`: each
//! join pushes it on, and the sweep removes the room once it has passed with no meeting
//! running ([`lifetime`](super::lifetime)). Such rooms are not listed in the index.
//!
//! A room of an organisation may hold a scheduled meeting ([`Schedule`]); `calendar_sequence`
//! counts the changes invitees were told of (the invitations' iCalendar `SEQUENCE`), and
//! survives the schedule's removal so a later schedule of the room supersedes the cancellation.

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{expiry, index, keys, record};
use crate::meeting_schedule::Schedule;
use crate::names::valid_room_name;
use crate::platform::Platform;

/// A room as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Room {
    pub name: String,
    pub org: String,
    pub max_participants: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// Seconds an empty room lives before its coordinator closes it.
    pub empty_timeout_secs: u32,
    /// Preferred region for participants who give no location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub created_at_ms: u64,
    pub created_by: String,
    pub updated_at_ms: u64,
    /// When a meeting-link room is removed unless it is used again (guest rooms only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
    /// The meeting scheduled in the room, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// Changes of the schedule invitees were told of (iCalendar `SEQUENCE`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub calendar_sequence: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The room `name` of `org`, or a 404.
pub async fn load(p: &impl Platform, org: &str, name: &str) -> Result<Room, ApiError> {
    let found = if valid_room_name(name) { record::get::<Room>(p, &keys::room(org, name)).await? } else { None };
    found.ok_or_else(|| ApiError::not_found(format!("no room named {name}")))
}

/// True when `org` has a room `name`.
pub async fn exists(p: &impl Platform, org: &str, name: &str) -> Result<bool, ApiError> {
    record::exists(p, &keys::room(org, name)).await
}

/// Writes a changed room.
pub async fn put(p: &impl Platform, room: &Room) -> Result<(), ApiError> {
    record::put(p, &keys::room(&room.org, &room.name), room).await
}

/// Writes a new room: listed in its organisation's index first (a room with a lifetime is
/// given to the sweep instead).
pub async fn insert(p: &impl Platform, room: &Room) -> Result<(), ApiError> {
    let key = keys::room(&room.org, &room.name);
    match room.expires_at_ms {
        Some(at) => expiry::expire_at(p, &key, at).await?,
        None => index::add(p, &keys::room_index(&room.org, &room.name), &room.name, room.created_at_ms).await?,
    }
    record::put(p, &key, room).await
}

/// Every listed room name of `org`, sorted: the shards of its index, merged.
pub async fn names(p: &impl Platform, org: &str) -> Result<index::Index, ApiError> {
    let mut all = index::Index::new();
    for shard in 0..keys::ROOM_INDEX_SHARDS {
        all.entries.extend(index::load(p, &keys::room_index_shard(org, shard)).await?.entries);
    }
    Ok(all)
}

/// How many rooms `org` keeps.
pub async fn count(p: &impl Platform, org: &str) -> Result<usize, ApiError> {
    Ok(names(p, org).await?.len())
}

/// A page of `org`'s rooms, by name: up to `limit` after `after`, and the cursor of the next
/// page when there is one.
pub async fn page(
    p: &impl Platform,
    org: &str,
    after: &str,
    limit: usize,
) -> Result<(Vec<Room>, Option<String>), ApiError> {
    let ix = names(p, org).await?;
    let names = ix.page(after, limit + 1);
    let more = names.len() > limit;
    let mut rooms = Vec::new();
    for name in names.iter().take(limit) {
        if let Some(room) = record::get::<Room>(p, &keys::room(org, name)).await? {
            rooms.push(room);
        }
    }
    let next = more.then(|| names[limit - 1].to_owned());
    Ok((rooms, next))
}

/// Removes a room with everything kept for it: the record first (the room is gone), its
/// coordinator's state, node placement, chat history and webhook outbox, then its index entry.
pub async fn delete(p: &impl Platform, org: &str, name: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::room(org, name)).await?;
    record::delete(p, &keys::coordinator_snapshot(&origo_shared::RoomKey::new(org, name))).await?;
    // The node placement record of earlier versions (the room's coordinator places now).
    record::delete(p, &keys::room_node(org, name)).await?;
    record::delete(p, &keys::reminders_sent(org, name)).await?;
    trim_chat(p, org, name, u64::MAX).await?;
    let outbox = index::load(p, &keys::outbox_index(org, name)).await?;
    for id in outbox.entries.keys() {
        record::delete(p, &keys::webhook_outbox(org, name, id)).await?;
    }
    record::delete(p, &keys::outbox_index(org, name)).await?;
    index::remove(p, &keys::room_index(org, name), name).await
}

/// Removes every listed room of `org`.
pub async fn delete_of_org(p: &impl Platform, org: &str) -> Result<(), ApiError> {
    for name in names(p, org).await?.entries.keys() {
        delete(p, org, name).await?;
    }
    for shard in 0..keys::ROOM_INDEX_SHARDS {
        record::delete(p, &keys::room_index_shard(org, shard)).await?;
    }
    Ok(())
}

/// Deletes the room's chat messages sent before `before_ms` (all of them: `u64::MAX`).
pub async fn trim_chat(p: &impl Platform, org: &str, name: &str, before_ms: u64) -> Result<(), ApiError> {
    let index_key = keys::chat_index(org, name);
    let ix = index::load(p, &index_key).await?;
    let gone: Vec<String> =
        ix.entries.iter().filter(|(_, sent)| **sent < before_ms).map(|(id, _)| id.clone()).collect();
    for id in &gone {
        record::delete(p, &keys::chat_message(org, name, id)).await?;
    }
    if gone.len() == ix.len() {
        record::delete(p, &index_key).await
    } else {
        index::remove_all(p, &index_key, &gone).await
    }
}

/// True while the room's coordinator holds a meeting (its state is kept until it finishes).
pub async fn meeting_running(p: &impl Platform, org: &str, name: &str) -> Result<bool, ApiError> {
    record::exists(p, &keys::coordinator_snapshot(&origo_shared::RoomKey::new(org, name))).await
}

/// Pushes a guest room's lifetime on to `now + ttl` (written at most a few times per
/// lifetime: only once a quarter of it has gone).
pub async fn renew_lifetime(p: &impl Platform, mut room: Room, now: u64, ttl: u64) -> Result<Room, ApiError> {
    if room.expires_at_ms.is_some_and(|at| at >= now + ttl - ttl / 4) {
        return Ok(room);
    }
    let at = now + ttl;
    room.expires_at_ms = Some(at);
    expiry::expire_at(p, &keys::room(&room.org, &room.name), at).await?;
    put(p, &room).await?;
    Ok(room)
}
