//! Rooms: create, list, get, delete. Stored in key-value under `room:{name}`.

use http::{Method, StatusCode};
use origo_shared::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

use crate::auth::authenticate;
use crate::platform::{Platform, PlatformExt};
use crate::reply::{self, respond, unavailable};
use crate::{Request, Response};

/// Largest `max_participants` a room may ask for.
pub const MAX_PARTICIPANTS_LIMIT: u32 = 1000;

/// A room as stored and returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub name: String,
    pub max_participants: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    pub created_at_ms: u64,
    pub created_by: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRoom {
    name: String,
    #[serde(default)]
    max_participants: Option<u32>,
    #[serde(default)]
    metadata: Option<String>,
}

/// True for names made of 1–64 of `a-z 0-9 - _`.
pub fn valid_room_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn key(name: &str) -> String {
    format!("room:{name}")
}

/// Serves `/v1/rooms` and `/v1/rooms/{room}`.
pub async fn handle(req: Request, p: &impl Platform) -> Response {
    respond(route(&req, p).await)
}

async fn route(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let segments = reply::segments(req);
    match (segments.as_slice(), req.method()) {
        (["v1", "rooms"], &Method::POST) => create(req, p).await,
        (["v1", "rooms"], &Method::GET) => list(req, p).await,
        (["v1", "rooms"], _) => Err(reply::method_not_allowed(req, "GET, POST")),
        (["v1", "rooms", name], &Method::GET) => get(req, p, name).await,
        (["v1", "rooms", name], &Method::DELETE) => delete(req, p, name).await,
        (["v1", "rooms", _], _) => Err(reply::method_not_allowed(req, "GET, DELETE")),
        _ => Err(reply::not_found(req)),
    }
}

async fn create(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    let claims = authenticate(req, p)?;
    let body: CreateRoom = reply::parse_json(req)?;
    if !valid_room_name(&body.name) {
        return Err(ApiError::bad_request("room name must be 1-64 characters of a-z, 0-9, '-' or '_'"));
    }
    let max = body.max_participants.unwrap_or(100);
    if max == 0 || max > MAX_PARTICIPANTS_LIMIT {
        return Err(ApiError::bad_request(format!("max_participants must be 1..={MAX_PARTICIPANTS_LIMIT}")));
    }
    if body.metadata.as_ref().is_some_and(|m| m.len() > 4096) {
        return Err(ApiError::bad_request("metadata is limited to 4096 bytes"));
    }
    if p.kv_get(&key(&body.name)).await.map_err(unavailable)?.is_some() {
        return Err(ApiError::new(ErrorCode::Conflict, format!("room {} already exists", body.name)));
    }
    let room = Room {
        name: body.name,
        max_participants: max,
        metadata: body.metadata,
        created_at_ms: p.now_ms(),
        created_by: claims.sub,
    };
    p.kv_set_json(&key(&room.name), &room).await.map_err(unavailable)?;
    Ok(reply::json(StatusCode::CREATED, &room))
}

async fn list(req: &Request, p: &impl Platform) -> Result<Response, ApiError> {
    authenticate(req, p)?;
    let mut keys = p.kv_keys("room:").await.map_err(unavailable)?;
    keys.sort();
    let mut rooms = Vec::with_capacity(keys.len());
    for k in keys {
        if let Some(room) = p.kv_get_json::<Room>(&k).await.map_err(unavailable)? {
            rooms.push(room);
        }
    }
    Ok(reply::json(StatusCode::OK, &serde_json::json!({ "rooms": rooms })))
}

async fn get(req: &Request, p: &impl Platform, name: &str) -> Result<Response, ApiError> {
    authenticate(req, p)?;
    match p.kv_get_json::<Room>(&key(name)).await.map_err(unavailable)? {
        Some(room) if valid_room_name(name) => Ok(reply::json(StatusCode::OK, &room)),
        _ => Err(ApiError::not_found(format!("no room named {name}"))),
    }
}

async fn delete(req: &Request, p: &impl Platform, name: &str) -> Result<Response, ApiError> {
    authenticate(req, p)?;
    if !valid_room_name(name) || p.kv_get(&key(name)).await.map_err(unavailable)?.is_none() {
        return Err(ApiError::not_found(format!("no room named {name}")));
    }
    p.kv_delete(&key(name)).await.map_err(unavailable)?;
    Ok(reply::no_content())
}
