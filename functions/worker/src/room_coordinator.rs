//! The room coordinator as a Durable Object: one object per room (`{org}:{room}`) owns the
//! room's [`RoomState`] — the same pure state machine and the same storage decisions
//! (`coordinator::storage`) as the `origo` host's actors.
//!
//! * **Output gate.** Every event's writes — the room's state, chat messages, seats, usage,
//!   webhook events waiting for delivery — are committed in one storage transaction before
//!   any message that depends on them is sent (and the runtime's own output gate holds
//!   outgoing messages until storage confirms).
//! * **Hibernation.** Participants' WebSockets are accepted with the hibernation API: the
//!   object may leave memory while they stay open. Each socket carries its connection number
//!   as its attachment; when the object wakes, it reloads the state and keeps the
//!   participants whose socket is still open ([`RoomState::resumed`]).
//! * **Alarms.** The object's one alarm is the earliest of the room's own (sweeps, disconnect
//!   deadlines, the empty-room timeout) and the deadline of a socket that has not yet sent
//!   `join`. At each alarm the room also reads the node registry, so participants move off a
//!   lost media node.
//! * **Seats and chat history** live in this object's storage too (`store::home`): the join
//!   function and the chat history reach them through [`StorageOp`]s. The room's usage record
//!   is kept here and copied to Workers KV, where billing sums the month.
//!
//! * **Webhook events.** A commit that wrote events to the room's outbox also sets a flag in
//!   the same transaction; then the organisation's [`WebhookDispatcher`](crate::WebhookDispatcher)
//!   is told to take them in, and the flag is cleared. While it is set, the room's alarm tells
//!   the dispatcher again every [`TELL_RETRY_MS`], so no outbox is left untaken.
//!
//! The Worker has checked the participant token before a socket reaches the object; commands
//! (`POST /command`) come from the functions over the stub. Nothing else reaches an object.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use origo_functions::coordinator::{
    ConnId, Effect, Event, Joiner, NodeView, RoomCommand, RoomCommandOutcome, RoomState, storage,
};
use origo_functions::store::home::{Home, home};
use origo_functions::store::keys;
use origo_functions::variables::selector_config;
use origo_functions::webhook_delivery::DispatchCommand;
use origo_functions::{Platform, PlatformError};
use origo_shared::signal::{ClientMessage, MAX_CLIENT_FRAME_BYTES, PROTOCOL_VERSION, ServerMessage};
use origo_shared::{ApiError, ErrorCode, RoomKey};
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Method, Request, Response, ScheduledTime, State, WebSocket, WebSocketIncomingMessage,
    WebSocketPair, durable_object,
};

use crate::bindings::{self, ORG_HEADER, ROOM_HEADER};
use crate::http_bridge::error;
use crate::object_storage;
use crate::storage_protocol::StorageOp;
use crate::variables;

/// Which room this object is (alarms arrive without a request naming it).
const ROOM_KEY: &str = "origo:room";
/// The verified joiner of a socket that has not sent `join` yet, by connection.
const PENDING_PREFIX: &str = "origo:pending:";
/// How long a new socket may take to send `join`.
const JOIN_TIMEOUT_MS: u64 = 10_000;
/// Most sockets one room holds open.
const MAX_SOCKETS: usize = 1_000;
/// Set (to a token of the commit) while the dispatcher was not told of events in the outbox.
const UNTOLD_KEY: &str = "origo:webhooks_untold";
/// How soon the alarm tells the dispatcher again after a failure.
const TELL_RETRY_MS: u64 = 5_000;
/// The header carrying the verified joiner (base64url JSON) from the Worker.
pub const JOINER_HEADER: &str = "x-origo-joiner";

/// What each socket carries through hibernation.
#[derive(Debug, Serialize, Deserialize)]
struct Attachment {
    conn: ConnId,
    opened_ms: u64,
}

#[durable_object]
pub struct RoomCoordinator {
    state: State,
    env: Env,
    /// The room's state while the object is in memory.
    room: RefCell<Option<RoomState>>,
    /// True once this object stored which room it is.
    named: Cell<bool>,
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        panic!("crypto.getRandomValues is unavailable");
    }
    u64::from_le_bytes(b)
}

fn pending_key(conn: ConnId) -> String {
    format!("{PENDING_PREFIX}{conn}")
}

fn frame(ws: &WebSocket, msg: &ServerMessage) {
    if let Err(e) = ws.send_with_str(msg.to_frame()) {
        worker::console_debug!("send to a closed socket: {e}");
    }
}

fn close(ws: &WebSocket, code: u16, reason: &str) {
    if let Err(e) = ws.close(Some(code), Some(origo_shared::close_reason::fit(reason))) {
        worker::console_debug!("close of a closed socket: {e}");
    }
}

impl DurableObject for RoomCoordinator {
    fn new(state: State, env: Env) -> Self {
        RoomCoordinator { state, env, room: RefCell::new(None), named: Cell::new(false) }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let (Ok(Some(org)), Ok(Some(room))) = (req.headers().get(ORG_HEADER), req.headers().get(ROOM_HEADER)) else {
            return error(ApiError::bad_request("a request to a room names it"));
        };
        let key = RoomKey::new(org, room);
        self.remember(&key).await?;
        match (req.method(), req.path().as_str()) {
            (Method::Get, "/ws") => self.accept(&req, &key).await,
            (Method::Post, "/command") => {
                let command: RoomCommand = match req.json().await {
                    Ok(c) => c,
                    Err(e) => return error(ApiError::bad_request(format!("not a room command: {e}"))),
                };
                if let Err(why) = command.validate() {
                    return error(ApiError::bad_request(why));
                }
                match self.run(&key, vec![Event::Command(command.clone())]).await {
                    Ok(fx) => Response::from_json(&RoomCommandOutcome::of(&command, &fx)),
                    Err(e) => error(ApiError::new(ErrorCode::Unavailable, format!("the room is unavailable: {e}"))),
                }
            }
            (Method::Post, object_storage::PATH) => {
                let op: StorageOp = match req.json().await {
                    Ok(op) => op,
                    Err(e) => return error(ApiError::bad_request(format!("not a storage operation: {e}"))),
                };
                let mine = Home::Room(key.clone());
                object_storage::serve(&self.state.storage(), op, |k| home(k) == mine).await
            }
            _ => error(ApiError::not_found("no such route")),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        let Some(att) = ws.deserialize_attachment::<Attachment>()? else {
            close(&ws, 1011, "unknown connection");
            return Ok(());
        };
        let Some(key) = self.room_key().await? else {
            close(&ws, 1011, "unknown room");
            return Ok(());
        };
        let text = match message {
            WebSocketIncomingMessage::String(s) => s,
            WebSocketIncomingMessage::Binary(_) => {
                frame(&ws, &ServerMessage::Error { code: "invalid".into(), message: "frames are JSON text".into() });
                return Ok(());
            }
        };
        if text.len() > MAX_CLIENT_FRAME_BYTES {
            close(&ws, 1009, "frame too large");
            return Ok(());
        }
        let storage = self.state.storage();
        let parsed = ClientMessage::parse(&text);
        match storage.get::<String>(&pending_key(att.conn)).await? {
            Some(joiner) => match parsed {
                Ok(ClientMessage::Join { protocol, last_seq }) if protocol <= PROTOCOL_VERSION => {
                    let who: Joiner =
                        serde_json::from_str(&joiner).map_err(|e| worker::Error::RustError(e.to_string()))?;
                    storage.delete(&pending_key(att.conn)).await?;
                    self.run_or_close(&key, vec![Event::Connect { conn: att.conn, who, last_seq }]).await;
                }
                Ok(_) => {
                    frame(
                        &ws,
                        &ServerMessage::Error {
                            code: "not_joined".into(),
                            message: "the first message must be join".into(),
                        },
                    );
                    close(&ws, 1008, "join first");
                }
                Err(e) => {
                    frame(&ws, &ServerMessage::Error { code: e.code().into(), message: e.to_string() });
                    close(&ws, 1008, "bad join");
                }
            },
            None => match parsed {
                Ok(msg) => self.run_or_close(&key, vec![Event::Client { conn: att.conn, msg }]).await,
                Err(e) => {
                    worker::console_log!("bad frame from a client");
                    frame(&ws, &e.to_message());
                }
            },
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _clean: bool) -> worker::Result<()> {
        self.gone(&ws).await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        self.gone(&ws).await
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let Some(key) = self.room_key().await? else { return Response::empty() };
        let now = now_ms();
        self.expire_pending(now).await?;
        if let Some(token) = self.state.storage().get::<String>(UNTOLD_KEY).await? {
            self.tell_dispatcher(&key, &token).await?;
        }
        // No borrow of the state may be held across an await: another event could run there.
        let in_memory = self.room.borrow().is_some();
        let has_state = in_memory || self.state.storage().get::<String>(&storage::snapshot_key(&key)).await?.is_some();
        if !has_state {
            // Nothing to wake for but sockets that never joined (closed above).
            self.arm(None).await?;
            return Response::empty();
        }
        let mut events = Vec::new();
        if let Some(view) = self.node_view().await {
            events.push(Event::Nodes(Arc::new(view)));
        }
        // The alarm may be early for the room (a socket's join deadline came first).
        let due = |s: &RoomState| s.alarm_at_ms.is_some_and(|at| at <= now);
        let loaded = self.load(&key, now).await;
        let result = match loaded {
            Ok(fx) => {
                if self.room.borrow().as_ref().is_some_and(due) {
                    events.push(Event::Alarm);
                }
                self.run_loaded(fx, events).await
            }
            Err(e) => Err(e),
        };
        self.closed_on_failure(&key, result);
        Response::empty()
    }
}

impl RoomCoordinator {
    /// Stores which room this object is, once.
    async fn remember(&self, key: &RoomKey) -> worker::Result<()> {
        if !self.named.get() {
            let storage = self.state.storage();
            if storage.get::<(String, String)>(ROOM_KEY).await?.is_none() {
                storage.put(ROOM_KEY, (key.org.clone(), key.room.clone())).await?;
            }
            self.named.set(true);
        }
        Ok(())
    }

    async fn room_key(&self) -> worker::Result<Option<RoomKey>> {
        Ok(self.state.storage().get::<(String, String)>(ROOM_KEY).await?.map(|(org, room)| RoomKey::new(org, room)))
    }

    /// The open sockets, by connection.
    fn sockets(&self) -> HashMap<ConnId, WebSocket> {
        self.state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| Some((ws.deserialize_attachment::<Attachment>().ok()??.conn, ws)))
            .collect()
    }

    /// Accepts a participant's socket (its token checked by the Worker); `join` comes next.
    async fn accept(&self, req: &Request, key: &RoomKey) -> worker::Result<Response> {
        let who = req
            .headers()
            .get(JOINER_HEADER)?
            .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
            .and_then(|json| serde_json::from_slice::<Joiner>(&json).ok());
        let Some(who) = who else { return error(ApiError::bad_request("no verified participant")) };
        if self.state.get_websockets().len() >= MAX_SOCKETS {
            worker::console_warn!("room {}:{} is full of sockets", key.org, key.room);
            return error(ApiError::new(ErrorCode::Unavailable, "the room has too many connections"));
        }
        let pair = WebSocketPair::new()?;
        // Attachments are JavaScript values: a connection number stays below 2^53.
        let conn = random_u64() >> 11;
        let now = now_ms();
        self.state.accept_web_socket(&pair.server);
        pair.server.serialize_attachment(Attachment { conn, opened_ms: now })?;
        let joiner = serde_json::to_string(&who).map_err(|e| worker::Error::RustError(e.to_string()))?;
        self.state.storage().put(&pending_key(conn), joiner).await?;
        let storage = self.state.storage();
        let deadline = now + JOIN_TIMEOUT_MS;
        if storage.get_alarm().await?.is_none_or(|at| at as u64 > deadline) {
            set_alarm(&storage, deadline).await?;
        }
        Response::from_websocket(pair.client)
    }

    /// A socket closed or failed.
    async fn gone(&self, ws: &WebSocket) -> worker::Result<()> {
        close(ws, 1000, "closed");
        let Some(att) = ws.deserialize_attachment::<Attachment>()? else { return Ok(()) };
        if self.state.storage().delete(&pending_key(att.conn)).await? {
            return Ok(());
        }
        if let Some(key) = self.room_key().await? {
            self.run_or_close(&key, vec![Event::Disconnect { conn: att.conn }]).await;
        }
        Ok(())
    }

    /// Closes sockets that did not send `join` within [`JOIN_TIMEOUT_MS`].
    async fn expire_pending(&self, now: u64) -> worker::Result<()> {
        let storage = self.state.storage();
        for (conn, ws) in self.sockets() {
            let Some(att) = ws.deserialize_attachment::<Attachment>()? else { continue };
            if att.opened_ms + JOIN_TIMEOUT_MS <= now && storage.delete(&pending_key(conn)).await? {
                close(&ws, 1008, "join first");
            }
        }
        Ok(())
    }

    /// The node registry as it is now (`None` when it cannot be read: the room keeps its nodes).
    async fn node_view(&self) -> Option<NodeView> {
        let platform = self.platform()?;
        let nodes = origo_functions::store::node::all(&platform).await.ok()?;
        Some(NodeView { nodes, selector: selector_config(&platform) })
    }

    /// The room function's platform (its variables reach the registry and the settings).
    fn platform(&self) -> Option<crate::WorkerPlatform> {
        let vars = variables::component_variables(&self.env, "room").ok()?;
        Some(crate::WorkerPlatform::new(self.env.clone(), vars, Default::default(), None))
    }

    /// Loads the room's state into memory when it is not there: from its stored state (the
    /// participants whose socket is still open stay connected) or, for a new room, afresh.
    async fn load(&self, key: &RoomKey, now: u64) -> worker::Result<Vec<Effect>> {
        if self.room.borrow().is_some() {
            return Ok(Vec::new());
        }
        let stored = self.state.storage().get::<String>(&storage::snapshot_key(key)).await?;
        let loaded = stored.and_then(|s| storage::decode_snapshot(s.as_bytes()).ok()).filter(|s| !s.finished);
        let (state, fx) = match loaded {
            Some(state) => {
                let live: Vec<ConnId> = self.sockets().into_keys().collect();
                state.resumed(&live, now)
            }
            None => {
                let record =
                    self.env.kv(bindings::KV)?.get(&keys::room(&key.org, &key.room)).bytes().await.ok().flatten();
                let timeout = storage::empty_timeout_ms(record.as_deref());
                (RoomState::new(&key.org, &key.room, timeout, variables::room_settings(&self.env)), Vec::new())
            }
        };
        let mut room = self.room.borrow_mut();
        if room.is_some() {
            // Loaded meanwhile by another event.
            return Ok(Vec::new());
        }
        *room = Some(state);
        Ok(fx)
    }

    /// Runs events; on a storage failure every socket is closed so clients reconnect.
    async fn run_or_close(&self, key: &RoomKey, events: Vec<Event>) {
        let result = self.run(key, events).await;
        self.closed_on_failure(key, result);
    }

    fn closed_on_failure<T>(&self, key: &RoomKey, result: worker::Result<T>) {
        if let Err(e) = result {
            worker::console_error!("room {}:{}: {e}; closing its connections", key.org, key.room);
            *self.room.borrow_mut() = None;
            for ws in self.state.get_websockets() {
                close(&ws, 1011, "the room's storage is unavailable; reconnect");
            }
        }
    }

    /// Applies `events` (after loading the room), commits their writes in one transaction,
    /// then arms the alarm and delivers their messages. Returns the effects.
    async fn run(&self, key: &RoomKey, events: Vec<Event>) -> worker::Result<Vec<Effect>> {
        let fx = self.load(key, now_ms()).await?;
        self.run_loaded(fx, events).await
    }

    /// [`Self::run`] once loaded, `fx` the effects of loading.
    async fn run_loaded(&self, mut fx: Vec<Effect>, events: Vec<Event>) -> worker::Result<Vec<Effect>> {
        let now = now_ms();
        let mut targets: VecDeque<Vec<ConnId>> = VecDeque::new();
        let (commit, alarm, finished) = {
            let mut room = self.room.borrow_mut();
            let Some(state) = room.as_mut() else { return Ok(Vec::new()) };
            fx = resolve(state, fx, &mut targets);
            for event in events {
                let applied = state.apply(event, now);
                fx.extend(resolve(state, applied, &mut targets));
            }
            let commit = storage::commit(state, &fx, now, || random_u64() as u32)
                .map_err(|e| worker::Error::RustError(format!("cannot serialise the room: {e}")))?;
            (commit, state.alarm_at_ms, state.finished)
        };
        let storage = self.state.storage();
        let mut writes = commit.writes;
        // Events in the outbox: the flag that they are not yet announced commits with them.
        let untold = fx.iter().any(|e| matches!(e, Effect::Webhook { .. })).then(|| format!("{:016x}", random_u64()));
        if let Some(token) = &untold {
            writes.push((UNTOLD_KEY.to_owned(), Some(token.clone().into_bytes())));
        }
        // Merges of the room's own records (its chat index, its usage) are read and written in
        // the object's transaction; the usage is then copied to KV, where billing reads it.
        // Merges of shared records (the organisation's usage index, the expiry index) go to
        // their home after the transaction: each only adds an entry, and is repeated by the
        // next sweep of the room when it was lost.
        let mut usage = Vec::new();
        let mut shared = Vec::new();
        for merge in commit.merges {
            if merge.is_usage() || matches!(home(&merge.key), Home::Room(_)) {
                let current = storage.get::<String>(&merge.key).await?;
                let merged = merge.apply(current.as_deref().map(str::as_bytes));
                if merge.is_usage() {
                    usage.extend(merged.iter().cloned());
                }
                writes.extend(merged);
            } else {
                shared.push(merge);
            }
        }
        if !writes.is_empty() {
            storage
                .transaction(move |txn| async move {
                    for (k, v) in writes {
                        match v {
                            Some(v) => txn.put(&k, String::from_utf8_lossy(&v).into_owned()).await?,
                            None => {
                                txn.delete(&k).await?;
                            }
                        }
                    }
                    Ok(())
                })
                .await?;
        }
        if finished {
            *self.room.borrow_mut() = None;
        }
        self.arm(if finished { None } else { alarm }).await?;
        // Durable: now the messages go out.
        let sockets = self.sockets();
        for effect in &fx {
            match effect {
                Effect::Send { conn, msg } => {
                    if let Some(ws) = sockets.get(conn) {
                        frame(ws, msg);
                    }
                }
                Effect::Broadcast { msg, .. } => {
                    let text = msg.to_frame();
                    for conn in targets.pop_front().unwrap_or_default() {
                        if let Some(ws) = sockets.get(&conn)
                            && let Err(e) = ws.send_with_str(&text)
                        {
                            worker::console_debug!("send to a closed socket: {e}");
                        }
                    }
                }
                Effect::Close { conn, code, reason } => {
                    if let Some(ws) = sockets.get(conn) {
                        close(ws, *code, reason);
                    }
                }
                _ => {}
            }
        }
        // Billing reads an organisation's usage from KV: copy the room's record there (one
        // writer per key, at most once a sweep).
        for (k, v) in usage {
            if let Some(v) = v
                && let Err(e) = self.env.kv(bindings::KV)?.put_bytes(&k, &v)?.execute().await
            {
                worker::console_warn!("cannot copy usage {k} to KV: {e}");
            }
        }
        let orders: Vec<_> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::Node(order) => Some(order.clone()),
                _ => None,
            })
            .collect();
        if !orders.is_empty()
            && let Some(platform) = self.platform()
        {
            let (org, room) = self.room.borrow().as_ref().map(|s| (s.org.clone(), s.room.clone())).unzip();
            let (org, room) = (org.unwrap_or_default(), room.unwrap_or_default());
            for order in &orders {
                crate::node_orders::deliver(&platform, &org, &room, order).await;
            }
        }
        if let Some(platform) = self.platform() {
            for merge in shared {
                if let Err(e) = apply_elsewhere(&platform, &merge).await {
                    worker::console_warn!("cannot update {}: {e}", merge.key);
                }
            }
        }
        if let Some(token) = untold
            && let Some(key) = self.room_key().await?
        {
            self.tell_dispatcher(&key, &token).await?;
        }
        // Nodes the room found unreachable are marked so in the registry; nodes it asked to
        // check are probed now, and what the probe found is the room's next event.
        let mut probed = Vec::new();
        if let Some(platform) = self.platform() {
            for effect in &fx {
                match effect {
                    Effect::NodeUnreachable { node_id } => {
                        crate::node_probe::mark_unreachable(&platform, node_id, now_ms()).await;
                    }
                    Effect::ProbeNode { node_id } => {
                        let outcome = crate::node_probe::probe(&platform, node_id).await;
                        let view = self.node_view().await.map(Arc::new);
                        probed.push(Event::NodeProbed { node_id: node_id.clone(), outcome, view });
                    }
                    _ => {}
                }
            }
        }
        if !probed.is_empty() {
            fx.extend(Box::pin(self.run_loaded(Vec::new(), probed)).await?);
        }
        Ok(fx)
    }

    /// Tells the organisation's webhook dispatcher that the outbox has events; clears the flag
    /// `token` set unless a later commit set it again. On failure the flag stays, and the
    /// alarm (set by [`Self::arm`] while it is there) tries again.
    async fn tell_dispatcher(&self, key: &RoomKey, token: &str) -> worker::Result<()> {
        let command = DispatchCommand::Intake { rooms: vec![key.room.clone()] };
        match crate::webhook_dispatcher::send(&self.env, &key.org, &command).await {
            Ok(_) => {
                let storage = self.state.storage();
                if storage.get::<String>(UNTOLD_KEY).await?.as_deref() == Some(token) {
                    storage.delete(UNTOLD_KEY).await?;
                    // The alarm no longer has to come back for it.
                    let room_alarm = self.room.borrow().as_ref().and_then(|s| s.alarm_at_ms);
                    self.arm(room_alarm).await?;
                }
            }
            Err(e) => {
                worker::console_warn!("room {}:{}: cannot tell the webhook dispatcher: {e}", key.org, key.room);
            }
        }
        Ok(())
    }

    /// Sets the object's alarm to the earliest of the room's, the pending joins' deadlines and,
    /// while the dispatcher was not told of the outbox's events, the next try.
    async fn arm(&self, room_alarm: Option<u64>) -> worker::Result<()> {
        let storage = self.state.storage();
        let retry = storage.get::<String>(UNTOLD_KEY).await?.map(|_| now_ms() + TELL_RETRY_MS);
        let members: Vec<ConnId> = self.room.borrow().as_ref().map(|s| s.connections().collect()).unwrap_or_default();
        let pending = self
            .state
            .get_websockets()
            .iter()
            .filter_map(|ws| ws.deserialize_attachment::<Attachment>().ok().flatten())
            .filter(|a| !members.contains(&a.conn))
            .map(|a| a.opened_ms + JOIN_TIMEOUT_MS)
            .min();
        match [room_alarm, pending, retry].into_iter().flatten().min() {
            Some(at) => set_alarm(&storage, at).await,
            None => storage.delete_alarm().await,
        }
    }
}

async fn set_alarm(storage: &worker::Storage, at_ms: u64) -> worker::Result<()> {
    let date = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(at_ms as f64));
    storage.set_alarm(ScheduledTime::new(date)).await
}

/// Fixes each broadcast's recipients as of now: a participant who joins later in the same
/// batch must not receive what happened before its `joined`.
fn resolve(state: &RoomState, fx: Vec<Effect>, targets: &mut VecDeque<Vec<ConnId>>) -> Vec<Effect> {
    fx.into_iter()
        .map(|e| match e {
            Effect::Broadcast { msg, except } => {
                targets.push_back(state.connections().filter(|c| Some(*c) != except).collect());
                Effect::Broadcast { msg, except: None }
            }
            other => other,
        })
        .collect()
}

/// Applies a merge of a record that lives outside this object, through the platform.
async fn apply_elsewhere(platform: &crate::WorkerPlatform, merge: &storage::Merge) -> Result<(), PlatformError> {
    let current = platform.kv_get(&merge.key).await?;
    for (k, v) in merge.apply(current.as_deref()) {
        match v {
            Some(v) => platform.kv_set(&k, &v).await?,
            None => platform.kv_delete(&k).await?,
        }
    }
    Ok(())
}
