//! `POST /v1/sessions` (an SDP offer → the session and its answer), `PATCH` and `DELETE
//! /v1/sessions/{id}` (renegotiation, subscriptions, quality; closing), `GET
//! /v1/sessions/{id}/tracks`. Every call carries the participant token the edge issued for this
//! node; a session answers only to the identity that opened it.
// Handlers short-circuit with a ready response (`Result<_, Response>`), the usual axum shape.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use origo_shared::ErrorCode;
use serde::Deserialize;
use str0m::change::{SdpAnswer, SdpOffer};

use super::error_response::{auth_error, error, retry_later, sfu_error, unavailable};
use super::schema::{SdpAnswerSchema, SdpOfferSchema, SessionCreated, SessionUpdated, TrackList};
use super::{Api, json_body};
use crate::auth::Participant;
use crate::command::Command;
use crate::sfu::{NewSession, OsRandom, Quality, RoomKey, SessionId, prepare_session};

/// Request bodies are limited to this.
const MAX_BODY: usize = 64 * 1024;

/// `POST /v1/sessions`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[schema(value_type = SdpOfferSchema)]
    offer: SdpOffer,
    /// A standby transport (through another TURN server, say) for the participant's session:
    /// it publishes and receives nothing, and replaces nothing but an older standby, until a
    /// `PATCH` with `take_over` makes it the participant's session.
    #[serde(default)]
    standby: bool,
}

/// `PATCH /v1/sessions/{id}`: any of these, applied in this order: taking over, the answer to
/// the node's last offer, a client offer, quality preferences, unsubscriptions, subscriptions.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// A standby session becomes the participant's session: it gets its token's grants and the
    /// session it stood by for is closed. (`false`, or a session in use: nothing changes.)
    #[serde(default)]
    take_over: bool,
    /// Track ids (`identity:mid`, from `GET …/tracks`) to receive; `"all"` for every track now
    /// and later.
    #[serde(default)]
    subscribe: Option<Vec<String>>,
    /// Track ids to stop receiving; `"all"` for every one.
    #[serde(default)]
    unsubscribe: Option<Vec<String>>,
    /// The answer to the offer the node sent last.
    #[serde(default)]
    #[schema(value_type = Option<SdpAnswerSchema>)]
    answer: Option<SdpAnswer>,
    /// A client offer (it added or removed tracks of its own).
    #[serde(default)]
    #[schema(value_type = Option<SdpOfferSchema>)]
    offer: Option<SdpOffer>,
    /// Track id → the most of it wanted (`off`, `low`, `medium`, `high`).
    #[serde(default)]
    quality: Option<BTreeMap<String, Quality>>,
}

async fn authorize(api: &Api, headers: &HeaderMap) -> Result<Participant, Response> {
    let raw = origo_shared::bearer(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
        .map_err(|_| error(401, ErrorCode::Unauthorized, "missing Authorization: Bearer <participant token>"))?;
    api.verifier.participant(raw).await.map_err(|e| {
        tracing::info!("session refused: {e}");
        auth_error(e)
    })
}

/// A command to the session's (or room's) shard, and its reply.
pub(super) async fn call<T>(
    api: &Api,
    make: impl FnOnce(tokio::sync::oneshot::Sender<T>) -> Command,
) -> Result<T, Response> {
    api.shards.call(make).await.map_err(|_| unavailable("the media node is stopping"))
}

/// The session, if the caller owns it.
async fn owned(api: &Api, headers: &HeaderMap, id: &str) -> Result<(SessionId, Participant), Response> {
    let p = authorize(api, headers).await?;
    let id: SessionId = id.parse().map_err(|_| error(404, ErrorCode::NotFound, "no such session"))?;
    match call(api, |reply| Command::Owner { id, reply }).await? {
        Some((RoomKey { org, room }, identity)) if org == p.org && room == p.room && identity == p.identity => {
            Ok((id, p))
        }
        _ => Err(error(404, ErrorCode::NotFound, "no such session")),
    }
}

/// Opens a session from the client's offer.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions",
    summary = "Open a WebRTC session: the client's SDP offer in, the node's answer out",
    request_body = CreateBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "The session and the node's answer", body = SessionCreated),
        (status = 400, description = "Malformed JSON or SDP; more published tracks or m-lines than the node accepts", body = origo_shared::ErrorBody),
        (status = 401, description = "Missing, forged or expired token", body = origo_shared::ErrorBody),
        (status = 403, description = "The token is for another node or grants no room (`forbidden`); the participant was removed from the room (`forbidden`); the room is full on this node (`limit_exceeded`)", body = origo_shared::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = origo_shared::ErrorBody),
        (status = 429, description = "This participant opened sessions too often (with `Retry-After`)", body = origo_shared::ErrorBody),
        (status = 503, description = "The node is full (with `Retry-After`) or stopping", body = origo_shared::ErrorBody)))]
pub async fn create(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let p = authorize(&api, &headers).await?;
    let body: CreateBody = json_body::parse(&body, MAX_BODY)?;
    if let Err(wait) = api.create_rate.take(&p.org, &p.room, &p.identity, Instant::now()) {
        tracing::debug!(identity = %p.identity, "session refused: opened too often");
        let mut res =
            error(429, ErrorCode::RateLimited, "sessions opened too often by this participant; retry shortly");
        res.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(wait.as_secs().max(1)));
        return Err(res);
    }
    if api.drain.is_draining() {
        tracing::info!("session refused: the node is stopping");
        return Err(retry_later("this media node is stopping; join again to be placed on another node", 2));
    }
    let Some(_place) = api.capacity.reserve() else {
        tracing::info!(capacity = api.capacity.capacity(), "session refused: the node is full");
        return Err(retry_later("this media node is full; join again to be placed on another node", 10));
    };
    let new = NewSession {
        room: RoomKey::new(p.org, p.room),
        identity: p.identity,
        may_publish: p.may_publish,
        may_subscribe: p.may_subscribe,
        room_sessions: p.room_sessions,
        standby: body.standby,
    };
    // The Rtc (and its DTLS certificate) is made off the shard's task, so the shard keeps
    // forwarding media meanwhile; the shard then only admits it.
    let local = api.candidates[api.shards.of_room(&new.room)];
    let limits = api.limits;
    let setup = {
        let _turn = api.setups.acquire().await.map_err(|_| unavailable("the media node is stopping"))?;
        tokio::task::spawn_blocking(move || prepare_session(local, &limits, body.offer, &mut OsRandom, Instant::now()))
            .await
            .map_err(|_| unavailable("the media node is stopping"))?
    };
    let prepared = match setup {
        Ok(p) => Box::new(p),
        Err(e) => {
            tracing::info!("session refused: {e}");
            return Err(sfu_error(e));
        }
    };
    match call(&api, |reply| Command::Create { new, prepared, reply }).await? {
        Ok((id, answer)) => Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({ "session_id": id.to_string(), "answer": answer, "node_id": api.node_id })),
        )
            .into_response()),
        Err(e) => {
            tracing::info!("session refused: {e}");
            Err(sfu_error(e))
        }
    }
}

/// Renegotiates a session, changes its subscriptions or quality preferences.
#[utoipa::path(patch, path = "/v1/sessions/{id}", tag = "sessions",
    summary = "Answer the node's offer, offer, set quality, subscribe or unsubscribe",
    params(("id" = String, Path, description = "The session id from POST /v1/sessions")),
    request_body = PatchBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "`answer` to a client offer; `offer` when subscriptions changed (answer it with PATCH)", body = SessionUpdated),
        (status = 400, description = "Malformed JSON or SDP, too many or too long track ids, more published tracks or m-lines than the node accepts", body = origo_shared::ErrorBody),
        (status = 401, description = "Missing, forged or expired token", body = origo_shared::ErrorBody),
        (status = 403, description = "The token may not subscribe", body = origo_shared::ErrorBody),
        (status = 404, description = "No such session (of this identity) or track", body = origo_shared::ErrorBody),
        (status = 409, description = "An offer is waiting for its answer, or no offer is; a standby session that did not take over", body = origo_shared::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = origo_shared::ErrorBody),
        (status = 503, description = "The node is stopping", body = origo_shared::ErrorBody)))]
pub async fn update(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let (id, _) = owned(&api, &headers, &id).await?;
    let body: PatchBody = json_body::parse(&body, MAX_BODY)?;
    let mut out = serde_json::Map::new();
    if body.take_over {
        call(&api, |reply| Command::TakeOver { id, reply }).await?.map_err(sfu_error)?;
    }
    if let Some(answer) = body.answer {
        call(&api, |reply| Command::Answer { id, answer, reply }).await?.map_err(sfu_error)?;
    }
    if let Some(offer) = body.offer {
        let answer = call(&api, |reply| Command::Offer { id, offer, reply }).await?.map_err(sfu_error)?;
        out.insert("answer".into(), serde_json::to_value(answer).unwrap_or_default());
    }
    for (track, quality) in body.quality.unwrap_or_default() {
        if track.len() > 200 {
            return Err(error(400, ErrorCode::BadRequest, "too long a track id"));
        }
        call(&api, |reply| Command::Quality { id, track, quality, reply }).await?.map_err(sfu_error)?;
    }
    for (tracks, subscribe) in [(body.unsubscribe, false), (body.subscribe, true)] {
        let Some(tracks) = tracks else { continue };
        if tracks.len() > 256 || tracks.iter().any(|t| t.len() > 200) {
            return Err(error(400, ErrorCode::BadRequest, "too many or too long track ids"));
        }
        let offer = if subscribe {
            call(&api, |reply| Command::Subscribe { id, tracks, reply }).await?
        } else {
            call(&api, |reply| Command::Unsubscribe { id, tracks, reply }).await?
        };
        if let Some(offer) = offer.map_err(sfu_error)? {
            out.insert("offer".into(), serde_json::to_value(offer).unwrap_or_default());
        }
    }
    Ok(Json(serde_json::Value::Object(out)).into_response())
}

/// Closes a session.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", summary = "Close a session",
    params(("id" = String, Path, description = "The session id from POST /v1/sessions")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Closed"),
        (status = 401, description = "Missing, forged or expired token", body = origo_shared::ErrorBody),
        (status = 403, description = "The token is for another node or grants no room", body = origo_shared::ErrorBody),
        (status = 404, description = "No such session (of this identity)", body = origo_shared::ErrorBody),
        (status = 503, description = "The node is stopping", body = origo_shared::ErrorBody)))]
pub async fn remove(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let (id, _) = owned(&api, &headers, &id).await?;
    let _ = api.shards.send(Command::Remove { id }).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The tracks published in the session's room.
#[utoipa::path(get, path = "/v1/sessions/{id}/tracks", tag = "sessions",
    summary = "Tracks published in the session's room (ids to subscribe to)",
    params(("id" = String, Path, description = "The session id from POST /v1/sessions")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The room's tracks", body = TrackList),
        (status = 401, description = "Missing, forged or expired token", body = origo_shared::ErrorBody),
        (status = 403, description = "The token is for another node or grants no room", body = origo_shared::ErrorBody),
        (status = 404, description = "No such session (of this identity)", body = origo_shared::ErrorBody),
        (status = 503, description = "The node is stopping", body = origo_shared::ErrorBody)))]
pub async fn tracks(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let (_, p) = owned(&api, &headers, &id).await?;
    let t = call(&api, |reply| Command::Tracks { room: RoomKey::new(p.org, p.room), reply }).await?;
    Ok(Json(serde_json::json!({ "tracks": t })).into_response())
}
