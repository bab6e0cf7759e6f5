//! Links between media nodes serving one room (cascading), ordered by the room's coordinator
//! with the node secret. `POST /v1/rooms/{org}/{room}/links {peer_node, peer_control_url}`
//! makes this node open a link to the peer: the room's shard offers it from a socket of its
//! own, this handler hands the offer to the peer's `POST …/relays` (with the node secret) and
//! gives the peer's answer back to the shard. `GET …/links` lists the room's links and their
//! state. Media then flows over the link as WebRTC between the two SFUs: ICE, DTLS-SRTP with
//! the fingerprints exchanged here, one copy of each track per link.
// Handlers short-circuit with a ready response (`Result<_, Response>`), the usual axum shape.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use origo_shared::ErrorCode;
use serde::{Deserialize, Serialize};
use str0m::change::{SdpAnswer, SdpOffer};

use super::error_response::{error, sfu_error, unavailable};
use super::moderation::{name, room_key};
use super::schema::{LinkList, LinkOpened, RelayAccepted, SdpOfferSchema};
use super::sessions::call;
use super::{Api, json_body, node_secret};
use crate::command::{Command, OpenedRelay};
use crate::sfu::{RoomKey, SessionId};

/// Request bodies are limited to this (an offer to open a link carries a data channel only).
const MAX_BODY: usize = 64 * 1024;
/// A peer's control URL is at most this long.
const MAX_URL: usize = 512;
/// How long the peer has to answer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);
/// The peer's answer is read up to this size.
const MAX_ANSWER: usize = 64 * 1024;

/// `POST …/links`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenLinkBody {
    /// The node to link to (its id in the registry).
    peer_node: String,
    /// That node's control API (`http(s)://host:port`, as its heartbeat gives it).
    peer_control_url: String,
}

/// `POST …/relays`: another node's offer.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayOffer {
    /// The node that opens the link.
    from_node: String,
    #[schema(value_type = SdpOfferSchema)]
    offer: SdpOffer,
}

/// The peer's answer to [`RelayOffer`].
#[derive(Deserialize, Serialize)]
struct RelayAnswer {
    answer: SdpAnswer,
    udp: SocketAddr,
}

/// Opens a link to another node for a room (or keeps the one open).
#[utoipa::path(post, path = "/v1/rooms/{org}/{room}/links", tag = "links",
    summary = "Link this node to another serving the room: each node's tracks cross once, whatever the number of subscribers",
    params(("org" = String, Path, description = "The room's organisation id"),
        ("room" = String, Path, description = "The room's name")),
    request_body = OpenLinkBody, security(("node_secret" = [])),
    responses(
        (status = 200, description = "A link to that node for the room was open already", body = LinkOpened),
        (status = 201, description = "Opened: ICE and DTLS now connect", body = LinkOpened),
        (status = 400, description = "Malformed JSON, a bad name or URL, or this node itself", body = origo_shared::ErrorBody),
        (status = 401, description = "Missing or wrong node secret (or none configured)", body = origo_shared::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = origo_shared::ErrorBody),
        (status = 502, description = "The peer refused the link or did not answer", body = origo_shared::ErrorBody),
        (status = 503, description = "No socket for the link, or the node is stopping", body = origo_shared::ErrorBody)))]
pub async fn open(
    State(api): State<Arc<Api>>,
    Path((org, room)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    node_secret::check(api.node_secret.as_deref(), &headers)?;
    let room = room_key(org, room)?;
    let body: OpenLinkBody = json_body::parse(&body, MAX_BODY)?;
    name("peer node", &body.peer_node)?;
    if body.peer_node == api.node_id {
        return Err(error(400, ErrorCode::BadRequest, "a node does not link to itself"));
    }
    let url = relays_url(&body.peer_control_url, &room)?;
    let peer_node = body.peer_node;
    let opened = call(&api, |reply| Command::OpenRelay { room: room.clone(), peer_node: peer_node.clone(), reply })
        .await?
        .map_err(sfu_error)?;
    let (id, offer) = match opened {
        OpenedRelay::Exists(id) => {
            return Ok(
                Json(serde_json::json!({ "session": id, "peer_node": peer_node, "opened": false })).into_response()
            );
        }
        OpenedRelay::New(id, offer) => (id, offer),
    };
    let answered = match ask_peer(&api, url, offer).await {
        Ok(a) => call(&api, |reply| Command::RelayAnswered { id, answer: a.answer, peer: a.udp, reply })
            .await?
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(e) = answered {
        let _ = api.shards.send(Command::Remove { id }).await;
        tracing::warn!(org = %room.org, room = %room.room, %peer_node, "link not opened: {e}");
        return Err(error(502, ErrorCode::BadGateway, format!("the peer node did not take the link: {e}")));
    }
    tracing::info!(org = %room.org, room = %room.room, %peer_node, session = id, "link opened");
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "session": id, "peer_node": peer_node, "opened": true })))
        .into_response())
}

/// `{peer_control_url}/v1/rooms/{org}/{room}/relays`, for an http(s) URL of at most
/// [`MAX_URL`] bytes.
fn relays_url(base: &str, room: &RoomKey) -> Result<reqwest::Url, Response> {
    let bad = |why: &str| error(400, ErrorCode::BadRequest, format!("peer_control_url: {why}"));
    if base.len() > MAX_URL {
        return Err(bad("too long"));
    }
    let mut url = reqwest::Url::parse(base).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() || url.query().is_some() {
        return Err(bad("an http(s) URL with a host and no query is expected"));
    }
    url.path_segments_mut()
        .map_err(|()| bad("not a base URL"))?
        .pop_if_empty()
        .extend(["v1", "rooms", &room.org, &room.room, "relays"]);
    Ok(url)
}

/// Hands the offer to the peer and reads its answer.
async fn ask_peer(api: &Api, url: reqwest::Url, offer: SdpOffer) -> Result<RelayAnswer, String> {
    let secret = api.node_secret.as_deref().unwrap_or_default();
    let body = serde_json::to_vec(&RelayOffer { from_node: api.node_id.clone(), offer }).map_err(|e| e.to_string())?;
    let res = api
        .http
        .post(url)
        .bearer_auth(secret)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(PEER_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    let status = res.status();
    let mut res = res;
    let mut bytes = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err("its answer is too large".into());
        }
        bytes.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let said: String = String::from_utf8_lossy(&bytes).chars().take(200).collect();
        return Err(format!("it answered {status}: {said}"));
    }
    serde_json::from_slice(&bytes).map_err(|e| format!("its answer is not one: {e}"))
}

/// Answers another node's link for a room.
#[utoipa::path(post, path = "/v1/rooms/{org}/{room}/relays", tag = "links",
    summary = "Take another node's link for the room (called by that node, with the node secret)",
    params(("org" = String, Path, description = "The room's organisation id"),
        ("room" = String, Path, description = "The room's name")),
    request_body = RelayOffer, security(("node_secret" = [])),
    responses(
        (status = 200, description = "This node's answer and the UDP address the link reaches it at", body = RelayAccepted),
        (status = 400, description = "Malformed JSON or SDP, a bad name, or more m-lines than a link carries", body = origo_shared::ErrorBody),
        (status = 401, description = "Missing or wrong node secret (or none configured)", body = origo_shared::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = origo_shared::ErrorBody),
        (status = 503, description = "The node is stopping or draining", body = origo_shared::ErrorBody)))]
pub async fn accept(
    State(api): State<Arc<Api>>,
    Path((org, room)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    node_secret::check(api.node_secret.as_deref(), &headers)?;
    let room = room_key(org, room)?;
    let body: RelayOffer = json_body::parse(&body, MAX_BODY)?;
    name("from_node", &body.from_node)?;
    if api.drain.is_draining() {
        tracing::info!(peer_node = %body.from_node, "link refused: the node is stopping");
        return Err(unavailable("this media node is stopping"));
    }
    let udp = api.candidates[api.shards.of_room(&room)];
    let (from, offer) = (body.from_node, body.offer);
    let (id, answer): (SessionId, SdpAnswer) =
        call(&api, |reply| Command::AcceptRelay { room: room.clone(), peer_node: from.clone(), offer, reply })
            .await?
            .map_err(|e| {
            tracing::info!(peer_node = %from, "link refused: {e}");
            sfu_error(e)
        })?;
    tracing::info!(org = %room.org, room = %room.room, peer_node = %from, session = id, "link accepted");
    Ok(Json(RelayAnswer { answer, udp }).into_response())
}

/// The room's links on this node.
#[utoipa::path(get, path = "/v1/rooms/{org}/{room}/links", tag = "links",
    summary = "The room's links to other nodes, and whether each is connected",
    params(("org" = String, Path, description = "The room's organisation id"),
        ("room" = String, Path, description = "The room's name")),
    security(("node_secret" = [])),
    responses(
        (status = 200, description = "The links", body = LinkList),
        (status = 400, description = "A bad name", body = origo_shared::ErrorBody),
        (status = 401, description = "Missing or wrong node secret (or none configured)", body = origo_shared::ErrorBody),
        (status = 503, description = "The node is stopping", body = origo_shared::ErrorBody)))]
pub async fn list(
    State(api): State<Arc<Api>>,
    Path((org, room)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Response> {
    node_secret::check(api.node_secret.as_deref(), &headers)?;
    let room = room_key(org, room)?;
    let links = call(&api, |reply| Command::RelayStates { room, reply }).await?;
    Ok(Json(serde_json::json!({ "links": links })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peers_relays_url_is_built_from_its_control_url_with_the_room_escaped() {
        let room = RoomKey::new("org 1", "a/b");
        let u = relays_url("http://10.0.0.2:7000", &room).unwrap();
        assert_eq!(u.as_str(), "http://10.0.0.2:7000/v1/rooms/org%201/a%2Fb/relays");
        let u = relays_url("https://media.example/", &room).unwrap();
        assert_eq!(u.path(), "/v1/rooms/org%201/a%2Fb/relays");
        for bad in ["ftp://x", "not a url", "http://x/?q=1", &format!("http://x/{}", "a".repeat(600))] {
            assert!(relays_url(bad, &room).is_err(), "{bad}");
        }
    }
}
