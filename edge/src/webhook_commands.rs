//! `POST /internal/v1/webhooks/{org}/commands`: the edge host's side of the functions'
//! dispatcher stub (`Platform::dispatcher_send`). Like the room commands
//! ([`crate::room_commands`]), it takes requests from this process's components (in-process,
//! through `http://origo.internal`) and from processes of the same deployment (the node
//! secret as a bearer token); anything else gets 404.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use origo_functions::org::valid_org_id;
use origo_functions::webhook_delivery::DispatchCommand;
use origo_shared::{ApiError, ErrorCode};

use crate::http_error::HttpError;
use crate::room_commands::trusted;
use crate::room_socket::RoomSockets;

pub const PATH: &str = "/internal/v1/webhooks/{org}/commands";
const MAX_BODY: usize = 64 << 10;
const TIMEOUT: Duration = Duration::from_secs(30);

fn refuse(e: ApiError) -> Response {
    HttpError::from(e).into_response()
}

pub async fn handler(State(sockets): State<Arc<RoomSockets>>, Path(org): Path<String>, req: Request) -> Response {
    if !trusted(&req, sockets.variables.get("node_secret")) {
        return refuse(ApiError::not_found("no such route"));
    }
    let forwarded = req.headers().contains_key(crate::webhook_dispatchers::FORWARDED_HEADER);
    if !valid_org_id(&org) {
        return refuse(ApiError::not_found("no such organisation"));
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return refuse(ApiError::new(ErrorCode::PayloadTooLarge, "a dispatcher command is at most 64 KiB")),
    };
    let command: DispatchCommand = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return refuse(ApiError::bad_request(format!("not a dispatcher command: {e}"))),
    };
    let Some(webhooks) = sockets.hub.webhooks() else {
        return refuse(ApiError::new(ErrorCode::Unavailable, "this process delivers no webhooks"));
    };
    match tokio::time::timeout(TIMEOUT, webhooks.command(&org, command, forwarded)).await {
        Ok(Ok(outcome)) => axum::Json(outcome).into_response(),
        Ok(Err(e)) => refuse(e),
        Err(_) => refuse(ApiError::new(ErrorCode::Unavailable, "the webhook dispatcher is busy; try again")),
    }
}
