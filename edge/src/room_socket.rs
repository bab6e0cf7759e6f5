//! `GET /v1/rooms/{room}/ws`: a participant's WebSocket to the room's coordinator.
//!
//! Authenticated by the participant token (`?access_token=…`, since browsers cannot set headers
//! on a WebSocket, or `Authorization: Bearer`): it must be the token `join` issued for `{room}`,
//! with the seat join holds for it (`seat` claim); a guest or partner token is refused with a
//! 403 before anything is started. The room's coordinator then admits the connection only while
//! it holds that seat (else it closes it with 4004: join again). The first frame is `join`; after that,
//! frames go to the room in order. Each connection has a bounded outbox: a client that cannot
//! keep up is closed with 4009 rather than slowing the room down. When another process owns the
//! room (Redis scale-out) the socket is forwarded there, a bounded number of times
//! ([`crate::room_forward`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use origo_functions::coordinator::{Joiner, assignment, close};
use origo_functions::store::keys;
use origo_shared::RoomKey;
use origo_shared::signal::{ClientMessage, MAX_CLIENT_FRAME_BYTES, PROTOCOL_VERSION, ServerMessage};
use origo_shared::token::TokenConfig;
use origo_shared::token::{self, ParticipantGrant};
use origo_shared::{ApiError, ErrorCode, node::NodeDescriptor};
use serde::Deserialize;
use tokio::sync::{Notify, mpsc};

use crate::http_error::HttpError;
use crate::room_actor::{Command, ConnHandle, Coordinators, OUTBOX, Outgoing, Route, STORE, parse_client, too_slow};
use crate::room_forward::{HOPS_HEADER, next_hop};

/// How long a new connection may take to send `join`.
const JOIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the room's owner may take to accept a forwarded socket (an owner that stalled may
/// accept the connection and never answer).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// What the socket handler needs.
pub struct RoomSockets {
    pub hub: Arc<Coordinators>,
    pub variables: Arc<std::collections::HashMap<String, String>>,
}

#[derive(Deserialize)]
pub struct WsQuery {
    access_token: Option<String>,
}

fn valid_room(name: &str) -> bool {
    origo_functions::room::valid_room_name(name)
}

/// Upgrades after checking the token; refusals are the usual JSON error bodies.
pub async fn handler(
    State(sockets): State<Arc<RoomSockets>>,
    Path(room): Path<String>,
    query: Result<Query<WsQuery>, QueryRejection>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // Refusals are the JSON error body, like every other Origo answer.
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return HttpError::from(ApiError::bad_request(format!("this endpoint takes a WebSocket upgrade: {e}")))
                .into_response();
        }
    };
    let Ok(Query(q)) = query else {
        return HttpError::from(ApiError::bad_request("the query takes only access_token")).into_response();
    };
    match authorize(&sockets, &room, q.access_token.as_deref(), &headers).await {
        Ok((key, who, raw_token)) => {
            let route = match sockets.hub.route(&key).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("cannot place the room: {e}");
                    return HttpError::from(ApiError::new(ErrorCode::Unavailable, "the room is unavailable; retry"))
                        .into_response();
                }
            };
            let hops = match &route {
                Route::Elsewhere(owner) => match next_hop(&headers, &key, owner, "socket") {
                    Ok(h) => h,
                    Err(e) => return HttpError::from(e).into_response(),
                },
                Route::Here(_) => 0,
            };
            ws.max_message_size(MAX_CLIENT_FRAME_BYTES).on_upgrade(move |socket| async move {
                match route {
                    Route::Here(_) => serve(sockets.hub.clone(), key, who, socket).await,
                    Route::Elsewhere(url) => forward(url, &key.room, &raw_token, hops, socket).await,
                }
            })
        }
        Err(e) => {
            tracing::info!(room = %room.chars().take(64).collect::<String>(), code = e.code.as_str(), "room socket refused");
            HttpError::from(e).into_response()
        }
    }
}

async fn authorize(
    sockets: &RoomSockets,
    room: &str,
    query_token: Option<&str>,
    headers: &HeaderMap,
) -> Result<(RoomKey, Joiner, String), ApiError> {
    if !valid_room(room) {
        return Err(ApiError::not_found(format!("no room named {}", room.chars().take(64).collect::<String>())));
    }
    let raw = match query_token {
        Some(t) => t.to_owned(),
        None => origo_shared::bearer(headers.get(axum::http::header::AUTHORIZATION).map(|v| v.as_bytes()))
            .map_err(|_| ApiError::unauthorized("send the participant token as ?access_token= or a bearer token"))?
            .to_owned(),
    };
    let vars = sockets.variables.clone();
    let config = TokenConfig::from_variables(|n| vars.get(n).cloned())?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let claims = config.verify(&raw, now)?;
    let (ParticipantGrant { org, .. }, _seat) = token::socket_grant(&claims, room)?;
    let media = match &claims.node {
        Some(node) => match sockets.hub.kv().get(STORE, &keys::node(node)).await {
            Ok(Some(b)) => serde_json::from_slice::<NodeDescriptor>(&b).ok().as_ref().and_then(assignment),
            _ => None,
        },
        None => None,
    };
    let who = Joiner::of(&claims, room, media);
    Ok((RoomKey::new(org, room), who, raw))
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(origo_shared::close_reason::fit(reason)) }))
}

fn error_frame(code: &str, message: &str) -> Message {
    let msg = ServerMessage::Error { code: code.into(), message: message.into() };
    Message::Text(Utf8Bytes::from(msg.to_frame()))
}

/// Runs one connection against the local actor.
async fn serve(hub: Arc<Coordinators>, key: RoomKey, who: Joiner, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    // `join` first.
    let first = tokio::time::timeout(JOIN_TIMEOUT, stream.next()).await;
    let last_seq = match first {
        Ok(Some(Ok(Message::Text(t)))) => match parse_client(&t) {
            Ok(ClientMessage::Join { protocol, last_seq }) if protocol <= PROTOCOL_VERSION => last_seq,
            Ok(_) => {
                let _ = sink.send(error_frame("not_joined", "the first message must be join")).await;
                let _ = sink.send(close_frame(1008, "join first")).await;
                return;
            }
            Err(e) => {
                let _ = sink.send(error_frame(e.code(), &e.to_string())).await;
                let _ = sink.send(close_frame(1008, "bad join")).await;
                return;
            }
        },
        _ => {
            let _ = sink.send(close_frame(1008, "join first")).await;
            return;
        }
    };
    let conn = hub.next_conn();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(OUTBOX);
    let kill = Arc::new(Notify::new());
    let writer_kill = kill.clone();
    let writer = tokio::spawn(async move {
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Outgoing::Frame(f)) => {
                        // Write what is queued together and flush once: one syscall for a burst.
                        if sink.feed(Message::Text(Utf8Bytes::from(&*f))).await.is_err() { break; }
                        let mut closing = None;
                        for _ in 0..64 {
                            match rx.try_recv() {
                                Ok(Outgoing::Frame(f)) => {
                                    if sink.feed(Message::Text(Utf8Bytes::from(&*f))).await.is_err() { break; }
                                }
                                Ok(Outgoing::Close(code, reason)) => { closing = Some((code, reason)); break; }
                                Err(_) => break,
                            }
                        }
                        if sink.flush().await.is_err() { break; }
                        if let Some((code, reason)) = closing {
                            let _ = sink.send(close_frame(code, &reason)).await;
                            break;
                        }
                    }
                    Some(Outgoing::Close(code, reason)) => {
                        let _ = sink.send(close_frame(code, &reason)).await;
                        break;
                    }
                    None => break,
                },
                () = writer_kill.notified() => {
                    let (code, reason) = too_slow();
                    let _ = sink.send(close_frame(code, reason)).await;
                    break;
                }
            }
        }
        let _ = sink.close().await;
    });
    hub.send_local(&key, Command::Connect { conn, who, last_seq, handle: ConnHandle { tx: tx.clone(), kill } }).await;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(Message::Text(t)) => match parse_client(&t) {
                Ok(msg) => hub.send_local(&key, Command::Client { conn, msg }).await,
                Err(err) => {
                    tracing::info!(conn, "bad frame from a client");
                    let _ = tx.try_send(Outgoing::Frame(err.to_message().to_frame().into()));
                }
            },
            Ok(Message::Binary(_)) => {
                let _ = tx.try_send(Outgoing::Frame(
                    ServerMessage::Error { code: "invalid".into(), message: "frames are JSON text".into() }
                        .to_frame()
                        .into(),
                ));
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
        if writer.is_finished() {
            break;
        }
    }
    hub.send_local(&key, Command::Disconnect { conn }).await;
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
}

/// Pipes the client's socket to the owner's, frame by frame, both ways; `hops` is the
/// forward count the owner sees.
async fn forward(base_url: String, room: &str, token: &str, hops: u32, client: WebSocket) {
    use tokio_tungstenite::tungstenite::Message as T;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let ws_url = format!(
        "{}/v1/rooms/{room}/ws?access_token={token}",
        base_url.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1)
    );
    let (mut client_tx, mut client_rx) = client.split();
    let connect = async {
        let mut request = ws_url.as_str().into_client_request()?;
        request.headers_mut().insert(HOPS_HEADER, hops.into());
        tokio_tungstenite::connect_async_with_config(request, None, true).await
    };
    let upstream = match tokio::time::timeout(FORWARD_TIMEOUT, connect).await {
        Ok(Ok((s, _))) => s,
        failed => {
            let why = match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer in time".to_owned(),
            };
            tracing::warn!(owner = %base_url, hops, "cannot reach the room's owner: {why}");
            let _ = client_tx.send(close_frame(1012, "the room is moving; reconnect")).await;
            return;
        }
    };
    let (mut up_tx, mut up_rx) = upstream.split();
    let to_owner = async {
        while let Some(Ok(m)) = client_rx.next().await {
            let m = match m {
                Message::Text(t) => T::Text(t.as_str().into()),
                Message::Close(_) => break,
                _ => continue,
            };
            if up_tx.send(m).await.is_err() {
                break;
            }
        }
        let _ = up_tx.close().await;
    };
    let to_client = async {
        while let Some(Ok(m)) = up_rx.next().await {
            let m = match m {
                T::Text(t) => Message::Text(Utf8Bytes::from(t.as_str())),
                T::Close(frame) => {
                    let (code, reason) =
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1000, String::new()));
                    let _ = client_tx.send(close_frame(code, &reason)).await;
                    return;
                }
                _ => continue,
            };
            if client_tx.send(m).await.is_err() {
                return;
            }
        }
        // The owner went away without a close: tell the client to reconnect.
        let _ = client_tx.send(close_frame(1012, "the room is moving; reconnect")).await;
    };
    tokio::select! {
        () = to_owner => {}
        () = to_client => {}
    }
    let _ = close::NORMAL;
}
