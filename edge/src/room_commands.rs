//! `POST /internal/v1/rooms/{org}/{room}/commands`: the edge host's side of the functions'
//! coordinator stub (`Platform::coordinator_send`). A component calls it in-process through
//! `http://origo.internal`; such a request carries [`InProcessCall`], which nothing from the
//! network can set. When another `origo` process owns the room (Redis scale-out), the command
//! is forwarded to it, authenticated with the deployment's node secret, a bounded number of times
//! ([`crate::room_forward`]). Anything else gets 404.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use origo_functions::coordinator::RoomCommand;
use origo_functions::org::valid_org_id;
use origo_functions::room::valid_room_name;
use origo_shared::{ApiError, ErrorCode, RoomKey};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::http_error::HttpError;
use crate::outbound::InProcessCall;
use crate::room_actor::{Command, Route};
use crate::room_forward::{HOPS_HEADER, next_hop};
use crate::room_socket::RoomSockets;

/// The route, as the Spin platform's stub names it.
pub const PATH: &str = "/internal/v1/rooms/{org}/{room}/commands";
/// Largest command accepted.
const MAX_BODY: usize = 64 << 10;
/// How long a command may wait for the room.
const TIMEOUT: Duration = Duration::from_secs(10);

fn refuse(e: ApiError) -> Response {
    HttpError::from(e).into_response()
}

/// True when the request came from a component of this process, or from a process of the
/// same deployment (bearer: the node secret, compared in constant time).
pub fn trusted(req: &Request, node_secret: Option<&String>) -> bool {
    if req.extensions().get::<InProcessCall>().is_some() {
        return true;
    }
    let presented = origo_shared::bearer(req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes()));
    match (presented, node_secret) {
        (Ok(p), Some(secret)) if !secret.is_empty() => bool::from(p.as_bytes().ct_eq(secret.as_bytes())),
        _ => false,
    }
}

/// Applies one command to the room's coordinator and answers with its outcome.
pub async fn handler(
    State(sockets): State<Arc<RoomSockets>>,
    Path((org, room)): Path<(String, String)>,
    req: Request,
) -> Response {
    let node_secret = sockets.variables.get("node_secret");
    if !trusted(&req, node_secret) {
        return refuse(ApiError::not_found("no such route"));
    }
    if !valid_org_id(&org) || !valid_room_name(&room) {
        return refuse(ApiError::not_found("no such room"));
    }
    let headers = req.headers().clone();
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return refuse(ApiError::new(ErrorCode::PayloadTooLarge, "a room command is at most 64 KiB")),
    };
    let command: RoomCommand = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return refuse(ApiError::bad_request(format!("not a room command: {e}"))),
    };
    if let Err(why) = command.validate() {
        return refuse(ApiError::bad_request(why));
    }
    let key = RoomKey::new(org, room);
    let route = match sockets.hub.route(&key).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(org = %key.org, room = %key.room, "cannot place the room: {e}");
            return refuse(ApiError::new(ErrorCode::Unavailable, "the room is unavailable; retry"));
        }
    };
    match route {
        Route::Here(tx) => {
            let (reply, answer) = oneshot::channel();
            if tx.send(Command::Host { command, reply }).await.is_err() {
                return refuse(ApiError::new(ErrorCode::Unavailable, "the room stopped; retry"));
            }
            match tokio::time::timeout(TIMEOUT, answer).await {
                Ok(Ok(outcome)) => (StatusCode::OK, axum::Json(outcome)).into_response(),
                _ => refuse(ApiError::new(ErrorCode::Unavailable, "the room did not apply the command; retry")),
            }
        }
        Route::Elsewhere(url) => match next_hop(&headers, &key, &url, "command") {
            Ok(hops) => forward(&url, &key, &body, hops, node_secret).await,
            Err(e) => refuse(e),
        },
    }
}

/// Sends the command on to the process that owns the room; `hops` is the forward count the
/// owner sees.
async fn forward(owner: &str, key: &RoomKey, body: &[u8], hops: u32, node_secret: Option<&String>) -> Response {
    let Some(secret) = node_secret.filter(|s| !s.is_empty()) else {
        return refuse(ApiError::new(ErrorCode::Unavailable, "the room is owned elsewhere and node_secret is unset"));
    };
    let url = format!("{}/internal/v1/rooms/{}/{}/commands", owner.trim_end_matches('/'), key.org, key.room);
    let client = reqwest::Client::builder().timeout(TIMEOUT).build().unwrap_or_default();
    let sent = client
        .post(&url)
        .bearer_auth(secret)
        .header(header::CONTENT_TYPE, "application/json")
        .header(HOPS_HEADER, hops)
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(res) => {
            let status = StatusCode::from_u16(res.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            match res.bytes().await {
                Ok(b) => (status, [(header::CONTENT_TYPE, "application/json")], b).into_response(),
                Err(_) => refuse(ApiError::new(ErrorCode::Unavailable, "the room's owner did not answer; retry")),
            }
        }
        Err(e) => {
            tracing::warn!(%url, "cannot reach the room's owner: {e}");
            refuse(ApiError::new(ErrorCode::Unavailable, "the room's owner is unreachable; retry"))
        }
    }
}
