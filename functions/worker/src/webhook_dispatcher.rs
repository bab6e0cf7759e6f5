//! An organisation's webhook dispatcher as a Durable Object: one object per organisation
//! (named by it) is the one owner of its deliveries, and runs the same delivery engine as the
//! `origo` host's dispatcher tasks (`origo_functions::webhook_delivery`).
//!
//! * **Its records** — what is pending, each delivery with its attempts, the endpoints' logs
//!   and health, the rooms' intake cursors (`store::home`'s `Home::Dispatcher`) — are in the
//!   object's own storage; the engine reads and writes them there directly, and the partner
//!   API reads them with storage operations (`POST /storage`). The rooms' outboxes stay in the
//!   rooms' objects: the engine reads and deletes their records through them.
//! * **Commands** (`POST /command`, a [`DispatchCommand`] as JSON, the shapes `origo` takes at
//!   `POST /internal/v1/webhooks/{org}/commands`) are answered with the [`DispatchOutcome`].
//!   A room's `intake` only records, durably, that the room has events waiting, and returns:
//!   a room never waits for a delivery. Every other command is carried out before the answer.
//! * **The alarm** does the work: it takes in the rooms that said they had events, sends one
//!   batch of what is due (`deliver_due`), and sets itself again — at once while more is due,
//!   else at `Report.next_due_ms`, or not at all. Every command sets it to now. A failed turn
//!   (storage unavailable) tries again after [`BACKOFF_MS`].
//!
//! The engine's calls run one at a time (a lock in the object): the engine loads the
//! organisation's pending index at the start of a call and writes it at the end, and outbound
//! requests let other events of the object run in between.

use futures_util::lock::Mutex;
use origo_functions::store::home::{Home, home};
use origo_functions::webhook_delivery::{self, DispatchCommand, DispatchOutcome};
use origo_functions::{PlatformError, org::valid_org_id};
use origo_shared::{ApiError, ErrorCode};
use worker::{
    DurableObject, Env, Headers, Method, Request, RequestInit, Response, ScheduledTime, State, durable_object,
};

use crate::bindings::{self, OBJECT_BASE, ORG_HEADER};
use crate::http_bridge::error;
use crate::object_storage;
use crate::storage_protocol::StorageOp;
use crate::{WorkerPlatform, variables};

/// Which organisation this object serves (alarms arrive without a request naming it).
const ORG_KEY: &str = "origo:org";
/// A room that wrote events to its outbox and was not taken in yet: `origo:intake:{room}`,
/// its value a token of the request that named it.
const INTAKE_PREFIX: &str = "origo:intake:";
/// Largest command body.
const MAX_COMMAND_BYTES: usize = 64 << 10;
/// Batches of deliveries one alarm sends (the next alarm follows at once when more is due).
const BATCHES_PER_TURN: usize = 1;
/// Wait after a turn that failed.
const BACKOFF_MS: u64 = 5_000;
/// The component whose variables and outbound hosts deliveries use.
const COMPONENT: &str = "notify";

#[durable_object]
pub struct WebhookDispatcher {
    state: State,
    env: Env,
    /// Held by each call of the engine.
    engine: Mutex<()>,
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

fn token() -> String {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        panic!("crypto.getRandomValues is unavailable");
    }
    format!("{:016x}", u64::from_le_bytes(b))
}

impl DurableObject for WebhookDispatcher {
    fn new(state: State, env: Env) -> Self {
        WebhookDispatcher { state, env, engine: Mutex::new(()) }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let Ok(Some(org)) = req.headers().get(ORG_HEADER) else {
            return error(ApiError::bad_request("a request to a webhook dispatcher names its organisation"));
        };
        if !valid_org_id(&org) {
            return error(ApiError::bad_request("not an organisation id"));
        }
        let storage = self.state.storage();
        match storage.get::<String>(ORG_KEY).await? {
            Some(mine) if mine != org => {
                return error(ApiError::bad_request("this object serves another organisation"));
            }
            Some(_) => {}
            None => storage.put(ORG_KEY, &org).await?,
        }
        match (req.method(), req.path().as_str()) {
            (Method::Post, "/command") => {
                let body = req.bytes().await?;
                if body.len() > MAX_COMMAND_BYTES {
                    return error(ApiError::payload_too_large("a dispatcher command is at most 64 KiB"));
                }
                let command: DispatchCommand = match serde_json::from_slice(&body) {
                    Ok(c) => c,
                    Err(e) => return error(ApiError::bad_request(format!("not a dispatcher command: {e}"))),
                };
                match self.command(&org, &command).await {
                    Ok(outcome) => Response::from_json(&outcome),
                    Err(e) => {
                        worker::console_warn!("webhook dispatcher {org}: command failed: {}", e.message);
                        error(e)
                    }
                }
            }
            (Method::Post, object_storage::PATH) => {
                let op: StorageOp = match req.json().await {
                    Ok(op) => op,
                    Err(e) => return error(ApiError::bad_request(format!("not a storage operation: {e}"))),
                };
                let mine = Home::Dispatcher(org);
                object_storage::serve(&storage, op, |k| home(k) == mine).await
            }
            _ => error(ApiError::not_found("no such route")),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let storage = self.state.storage();
        let Some(org) = storage.get::<String>(ORG_KEY).await? else { return Response::empty() };
        let _engine = self.engine.lock().await;
        let next = match self.turn(&org).await {
            Ok(next) => next,
            Err(e) => {
                worker::console_warn!("webhook dispatcher {org}: {}; trying again shortly", e.message);
                Some(now_ms() + BACKOFF_MS)
            }
        };
        match next {
            Some(at) => set_alarm(&storage, at).await?,
            None => storage.delete_alarm().await?,
        }
        // A room that said it had events after the turn looked set the alarm before this one
        // replaced it: look again now that it is set.
        if !object_storage::list(&storage, INTAKE_PREFIX).await?.is_empty() {
            set_alarm(&storage, now_ms()).await?;
        }
        Response::empty()
    }
}

impl WebhookDispatcher {
    /// The engine's platform: the notify component's variables and outbound hosts, this
    /// object's storage for the organisation's delivery records.
    fn platform(&self, org: &str) -> Result<WorkerPlatform, ApiError> {
        let vars = variables::component_variables(&self.env, COMPONENT).map_err(|e| {
            worker::console_error!("the deployment is incomplete: {e}");
            ApiError::new(ErrorCode::Unavailable, "the deployment is not configured")
        })?;
        let allowed = variables::allowed_hosts(&self.env, COMPONENT);
        Ok(WorkerPlatform::new(self.env.clone(), vars, allowed, None)
            .in_object(Home::Dispatcher(org.to_owned()), self.state.storage()))
    }

    /// Carries out `command`; the alarm then delivers.
    async fn command(&self, org: &str, command: &DispatchCommand) -> Result<DispatchOutcome, ApiError> {
        let unavailable = |e: worker::Error| ApiError::new(ErrorCode::Unavailable, format!("storage: {e}"));
        let outcome = match command {
            DispatchCommand::Intake { rooms } => {
                let storage = self.state.storage();
                for room in rooms {
                    if !origo_functions::names::valid_room_name(room) {
                        return Err(ApiError::bad_request("not a room name"));
                    }
                    storage.put(&format!("{INTAKE_PREFIX}{room}"), token()).await.map_err(unavailable)?;
                }
                DispatchOutcome::Done { queued: 0 }
            }
            other => {
                let p = self.platform(org)?;
                let _engine = self.engine.lock().await;
                let outcome = webhook_delivery::handle(&p, org, other).await?;
                set_alarm(&self.state.storage(), now_ms()).await.map_err(unavailable)?;
                return Ok(outcome);
            }
        };
        set_alarm(&self.state.storage(), now_ms()).await.map_err(unavailable)?;
        Ok(outcome)
    }

    /// One turn of the alarm (the engine's lock held): intake, one batch of deliveries.
    /// Returns when to come back.
    async fn turn(&self, org: &str) -> Result<Option<u64>, ApiError> {
        let p = self.platform(org)?;
        let storage = self.state.storage();
        let store = |e: worker::Error| ApiError::new(ErrorCode::Unavailable, format!("storage: {e}"));
        let waiting = object_storage::list(&storage, INTAKE_PREFIX).await.map_err(store)?;
        if !waiting.is_empty() {
            let rooms = waiting.iter().map(|(k, _)| k[INTAKE_PREFIX.len()..].to_owned()).collect();
            webhook_delivery::handle(&p, org, &DispatchCommand::Intake { rooms }).await?;
            // A room that wrote again while it was taken in (a new token) is taken in again.
            for (key, token) in &waiting {
                if storage.get::<String>(key).await.map_err(store)?.as_deref() == Some(token) {
                    storage.delete(key).await.map_err(store)?;
                }
            }
        }
        let report = webhook_delivery::deliver_due(&p, org, BATCHES_PER_TURN).await?;
        if report.delivered + report.retried + report.failed > 0 {
            worker::console_log!(
                "webhook dispatcher {org}: {} delivered, {} to retry, {} failed, {} pending",
                report.delivered,
                report.retried,
                report.failed,
                report.pending
            );
        }
        for endpoint in &report.disabled {
            worker::console_warn!("webhook dispatcher {org}: endpoint {endpoint} disabled");
        }
        let again = !object_storage::list(&storage, INTAKE_PREFIX).await.map_err(store)?.is_empty();
        let now = now_ms();
        Ok(match report.next_due_ms {
            _ if again => Some(now),
            Some(at) => Some(at.max(now)),
            None => None,
        })
    }
}

async fn set_alarm(storage: &worker::Storage, at_ms: u64) -> worker::Result<()> {
    let date = worker::js_sys::Date::new(&worker::wasm_bindgen::JsValue::from_f64(at_ms as f64));
    storage.set_alarm(ScheduledTime::new(date)).await
}

/// Sends `command` to the dispatcher of `org` and returns its outcome.
pub async fn send(env: &Env, org: &str, command: &DispatchCommand) -> Result<DispatchOutcome, PlatformError> {
    let failed = |e: String| PlatformError::Coordinator(format!("webhook dispatcher: {e}"));
    let stub = bindings::dispatcher_stub(env, org).map_err(|e| failed(e.to_string()))?;
    let headers = Headers::new();
    headers.set(ORG_HEADER, org).map_err(|e| failed(e.to_string()))?;
    headers.set("content-type", "application/json").map_err(|e| failed(e.to_string()))?;
    let body = serde_json::to_string(command).map_err(|e| failed(e.to_string()))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let req = Request::new_with_init(&format!("{OBJECT_BASE}/command"), &init).map_err(|e| failed(e.to_string()))?;
    let mut res = stub.fetch_with_request(req).await.map_err(|e| failed(e.to_string()))?;
    let body = res.bytes().await.map_err(|e| failed(e.to_string()))?;
    origo_functions::platform::dispatcher_answer(res.status_code(), &body)
}
