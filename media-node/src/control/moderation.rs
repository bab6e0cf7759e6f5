//! The room coordinators' calls, authenticated with the node secret: `POST
//! /v1/rooms/{org}/{room}/participants/{identity}/close` closes every session of the identity
//! in the room and bans it from opening new ones until `ban_until_ms` (a kick), and `PUT
//! …/mute` mutes or unmutes its audio and video (the SFU drops that media before fan-out,
//! also for sessions opened later). The handlers parse and authorise; the room's shard does
//! the rest.
// Handlers short-circuit with a ready response (`Result<_, Response>`), the usual axum shape.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json, Response};
use origo_shared::ErrorCode;
use serde::Deserialize;

use super::error_response::{error, sfu_error, unavailable};
use super::node_secret;
use super::{Api, json_body};
use crate::command::Command;
use crate::sfu::RoomKey;

/// Request bodies are limited to this.
const MAX_BODY: usize = 4 * 1024;
/// Organisation ids, room names and identities are at most this long (bytes).
const MAX_NAME: usize = 128;
/// A ban lasts at most this long (a later `ban_until_ms` is cut to it).
pub const MAX_BAN: Duration = Duration::from_secs(30 * 24 * 3600);
/// Reasons are at most this long (characters).
const MAX_REASON: usize = 256;

/// `POST …/close`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// Until when (Unix milliseconds) the identity may not open a session in the room; `null`
    /// or a past time: its sessions are closed, nothing more. At most 30 days ahead.
    #[serde(default)]
    ban_until_ms: Option<u64>,
    /// Why, for the node's log (at most 256 characters).
    #[serde(default)]
    reason: Option<String>,
}

/// `PUT …/mute`: `true` mutes, `false` unmutes, `null` or absent leaves it as it is.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    #[serde(default)]
    audio: Option<bool>,
    #[serde(default)]
    video: Option<bool>,
}

/// What a close did.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Closed {
    /// Sessions of the identity that were closed.
    closed: usize,
    /// Until when the identity is banned from the room (Unix ms), or `null`.
    ban_until_ms: Option<u64>,
}

/// What is muted now.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Muted {
    audio: bool,
    video: bool,
    /// Sessions the identity holds in the room on this node now.
    sessions: usize,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The room and identity of the path, checked.
fn target(org: String, room: String, identity: String) -> Result<(RoomKey, String), Response> {
    name("identity", &identity)?;
    Ok((room_key(org, room)?, identity))
}

/// The room of a path, checked.
pub(super) fn room_key(org: String, room: String) -> Result<RoomKey, Response> {
    name("organisation", &org)?;
    name("room", &room)?;
    Ok(RoomKey::new(org, room))
}

/// A name from a path or body: 1 to [`MAX_NAME`] bytes, no control characters.
pub(super) fn name(what: &str, v: &str) -> Result<(), Response> {
    if v.is_empty() || v.len() > MAX_NAME || v.chars().any(char::is_control) {
        return Err(error(400, ErrorCode::BadRequest, format!("the {what} must be 1-{MAX_NAME} bytes")));
    }
    Ok(())
}

/// Closes the identity's sessions in the room and bans it.
#[utoipa::path(post, path = "/v1/rooms/{org}/{room}/participants/{identity}/close", tag = "moderation",
    summary = "Close every session of a participant in a room and refuse it new ones until a time (a kick)",
    params(("org" = String, Path, description = "The room's organisation id"),
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The participant's identity (`sub` of its token)")),
    request_body = CloseBody, security(("node_secret" = [])),
    responses(
        (status = 200, description = "Closed; the ban in force", body = Closed),
        (status = 400, description = "Malformed JSON, too long a reason or name", body = origo_shared::ErrorBody),
        (status = 401, description = "Missing or wrong node secret (or none configured)", body = origo_shared::ErrorBody),
        (status = 413, description = "Body over 4 KiB", body = origo_shared::ErrorBody),
        (status = 503, description = "The node is stopping", body = origo_shared::ErrorBody)))]
pub async fn close(
    State(api): State<Arc<Api>>,
    Path((org, room, identity)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    node_secret::check(api.node_secret.as_deref(), &headers)?;
    let (room, identity) = target(org, room, identity)?;
    let body: CloseBody = json_body::parse(&body, MAX_BODY)?;
    let reason = body.reason.unwrap_or_default();
    if reason.chars().count() > MAX_REASON {
        return Err(error(400, ErrorCode::BadRequest, format!("the reason is limited to {MAX_REASON} characters")));
    }
    let now = now_ms();
    let ban = body.ban_until_ms.filter(|until| *until > now).map(|until| {
        let length = Duration::from_millis(until - now).min(MAX_BAN);
        (Instant::now() + length, now + length.as_millis() as u64)
    });
    let ban_until = ban.map(|b| b.0);
    let reply = api
        .shards
        .call(|reply| Command::CloseParticipant { room: room.clone(), identity: identity.clone(), ban_until, reply })
        .await
        .map_err(|_| unavailable("the media node is stopping"))?;
    tracing::info!(org = %room.org, room = %room.room, %identity, closed = reply, banned = ban.is_some(), %reason,
        "participant closed by the room");
    Ok(Json(Closed { closed: reply, ban_until_ms: ban.map(|b| b.1) }).into_response())
}

/// Mutes or unmutes the identity's audio and video in the room.
#[utoipa::path(put, path = "/v1/rooms/{org}/{room}/participants/{identity}/mute", tag = "moderation",
    summary = "Mute or unmute a participant's audio and video in a room (the SFU forwards none of what is muted)",
    params(("org" = String, Path, description = "The room's organisation id"),
        ("room" = String, Path, description = "The room's name"),
        ("identity" = String, Path, description = "The participant's identity (`sub` of its token)")),
    request_body = MuteBody, security(("node_secret" = [])),
    responses(
        (status = 200, description = "What is muted now", body = Muted),
        (status = 400, description = "Malformed JSON or too long a name", body = origo_shared::ErrorBody),
        (status = 401, description = "Missing or wrong node secret (or none configured)", body = origo_shared::ErrorBody),
        (status = 413, description = "Body over 4 KiB", body = origo_shared::ErrorBody),
        (status = 503, description = "Too many participants muted on the node, or the node is stopping", body = origo_shared::ErrorBody)))]
pub async fn mute(
    State(api): State<Arc<Api>>,
    Path((org, room, identity)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    node_secret::check(api.node_secret.as_deref(), &headers)?;
    let (room, identity) = target(org, room, identity)?;
    let body: MuteBody = json_body::parse(&body, MAX_BODY)?;
    let (audio, video) = (body.audio, body.video);
    let r = api
        .shards
        .call(|reply| Command::Mute { room: room.clone(), identity: identity.clone(), audio, video, reply })
        .await
        .map_err(|_| unavailable("the media node is stopping"))?;
    let (mute, sessions) = r.map_err(|e| {
        tracing::warn!("mute refused: {e}");
        sfu_error(e)
    })?;
    tracing::info!(org = %room.org, room = %room.room, %identity, audio = mute.audio, video = mute.video,
        "participant muted by the room");
    Ok(Json(Muted { audio: mute.audio, video: mute.video, sessions }).into_response())
}
