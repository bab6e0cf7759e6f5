//! The room records: the room (`room:{org}:{name}`, its settings), the media node its
//! participants were last placed on (`room_node:{org}:{name}`) and the seats held in it
//! (`seat:{org}:{room}:{identity}`, renewed by the room's coordinator while the participant is
//! connected, counted against the room's and the plan's limits).

use origo_shared::ApiError;
use serde::{Deserialize, Serialize};

use super::{keys, record};
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
}

/// A seat held in a room until `expires_at_ms`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Seat {
    pub expires_at_ms: u64,
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

pub async fn put(p: &impl Platform, room: &Room) -> Result<(), ApiError> {
    record::put(p, &keys::room(&room.org, &room.name), room).await
}

/// How many rooms `org` has.
pub async fn count(p: &impl Platform, org: &str) -> Result<usize, ApiError> {
    Ok(record::keys(p, &keys::room_prefix(org)).await?.len())
}

/// The rooms of `org`, sorted by name.
pub async fn of_org(p: &impl Platform, org: &str) -> Result<Vec<Room>, ApiError> {
    let mut rooms = Vec::new();
    for k in record::keys(p, &keys::room_prefix(org)).await? {
        if let Some(room) = record::get::<Room>(p, &k).await? {
            rooms.push(room);
        }
    }
    Ok(rooms)
}

/// Removes a room with its node placement and seats.
pub async fn delete(p: &impl Platform, org: &str, name: &str) -> Result<(), ApiError> {
    record::delete(p, &keys::room(org, name)).await?;
    record::delete(p, &keys::room_node(org, name)).await?;
    for k in record::keys(p, &keys::seat_prefix(org, name)).await? {
        record::delete(p, &k).await?;
    }
    Ok(())
}

/// Removes the room records of `org` (placements and seats expire on their own).
pub async fn delete_of_org(p: &impl Platform, org: &str) -> Result<(), ApiError> {
    for k in record::keys(p, &keys::room_prefix(org)).await? {
        record::delete(p, &k).await?;
    }
    Ok(())
}

/// The media node the room's participants were last placed on.
pub async fn node(p: &impl Platform, org: &str, name: &str) -> Result<Option<String>, ApiError> {
    record::get_text(p, &keys::room_node(org, name)).await
}

pub async fn set_node(p: &impl Platform, org: &str, name: &str, node: &str) -> Result<(), ApiError> {
    record::put_text(p, &keys::room_node(org, name), node).await
}

/// Seats in use in a room other than `identity`'s (expired seats are removed on the way).
pub async fn seats_taken(p: &impl Platform, org: &str, room: &str, identity: &str, now: u64) -> Result<u32, ApiError> {
    let prefix = keys::seat_prefix(org, room);
    let mut n = 0;
    for k in record::keys(p, &prefix).await? {
        if &k[prefix.len()..] == identity {
            continue;
        }
        match record::get::<Seat>(p, &k).await? {
            Some(s) if s.expires_at_ms > now => n += 1,
            _ => record::delete(p, &k).await?,
        }
    }
    Ok(n)
}

/// Holds a seat for `identity`.
pub async fn take_seat(p: &impl Platform, org: &str, room: &str, identity: &str, seat: &Seat) -> Result<(), ApiError> {
    record::put(p, &keys::seat(org, room, identity), seat).await
}
