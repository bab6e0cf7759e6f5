//! `GET /v1/rooms/{room}/ws` on Workers: the participant's token is checked here, as the
//! `origo` host checks it — the token `join` issued for `{room}`, with its seat (`seat` claim;
//! `?access_token=` or `Authorization: Bearer`) — and the socket is handed to
//! the room's Durable Object with the verified joiner. The object is created near the caller
//! (`request.cf`) when the room has none yet.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use origo_functions::Platform;
use origo_functions::coordinator::{Joiner, assignment};
use origo_functions::store::keys;
use origo_shared::node::NodeDescriptor;
use origo_shared::token::{self, ParticipantGrant, TokenConfig};
use origo_shared::{ApiError, RoomKey};
use worker::{Env, Headers, Method, Request, RequestInit, Response};

use crate::bindings::{self, OBJECT_BASE, ORG_HEADER, ROOM_HEADER};
use crate::http_bridge::error;
use crate::room_coordinator::JOINER_HEADER;
use crate::{WorkerPlatform, variables};

/// The room named by a `/v1/rooms/{room}/ws` path.
pub fn room_of(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/rooms/")?.strip_suffix("/ws").filter(|r| !r.contains('/'))
}

/// Checks the caller and hands the socket to the room's object.
pub async fn connect(req: Request, env: Env, room: &str, hint: Option<&'static str>) -> worker::Result<Response> {
    let upgrade = req.headers().get("upgrade")?.is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if req.method() != Method::Get || !upgrade {
        return error(ApiError::bad_request("this endpoint takes a WebSocket upgrade"));
    }
    let (key, who) = match authorize(&req, &env, room, hint).await {
        Ok(found) => found,
        Err(e) => {
            worker::console_log!("room socket refused: {}", e.code.as_str());
            return error(e);
        }
    };
    let joiner = serde_json::to_vec(&who).map_err(|e| worker::Error::RustError(e.to_string()))?;
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    headers.set(ORG_HEADER, &key.org)?;
    headers.set(ROOM_HEADER, &key.room)?;
    headers.set(JOINER_HEADER, &URL_SAFE_NO_PAD.encode(joiner))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let inner = Request::new_with_init(&format!("{OBJECT_BASE}/ws"), &init)?;
    bindings::room_stub(&env, &key, hint)?.fetch_with_request(inner).await
}

async fn authorize(
    req: &Request,
    env: &Env,
    room: &str,
    hint: Option<&'static str>,
) -> Result<(RoomKey, Joiner), ApiError> {
    if !origo_functions::room::valid_room_name(room) {
        return Err(ApiError::not_found(format!("no room named {}", room.chars().take(64).collect::<String>())));
    }
    let url = req.url().map_err(|_| ApiError::bad_request("bad URL"))?;
    let mut query_token = None;
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "access_token" => query_token = Some(value.into_owned()),
            _ => return Err(ApiError::bad_request("the query takes only access_token")),
        }
    }
    let raw = match query_token {
        Some(t) => t,
        None => {
            let header = req.headers().get("authorization").ok().flatten();
            origo_shared::bearer(header.as_deref().map(str::as_bytes))
                .map_err(|_| ApiError::unauthorized("send the participant token as ?access_token= or a bearer token"))?
                .to_owned()
        }
    };
    let vars = variables::component_variables(env, "room").map_err(ApiError::internal)?;
    let config = TokenConfig::from_variables(|n| vars.get(n).cloned())?;
    let now_secs = worker::Date::now().as_millis() / 1000;
    let claims = config.verify(&raw, now_secs)?;
    let (ParticipantGrant { org, .. }, _seat) = token::socket_grant(&claims, room)?;
    let media = match &claims.node {
        Some(node) => {
            let platform = WorkerPlatform::new(env.clone(), vars.clone(), Default::default(), hint);
            match platform.kv_get(&keys::node(node)).await {
                Ok(Some(b)) => serde_json::from_slice::<NodeDescriptor>(&b).ok().as_ref().and_then(assignment),
                _ => None,
            }
        }
        None => None,
    };
    let who = Joiner::of(&claims, room, media);
    Ok((RoomKey::new(org, room), who))
}
