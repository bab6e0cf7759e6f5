//! [`Platform`] on Cloudflare Workers. Records live where `store::home` puts them: a room's
//! own records in its [`RoomCoordinator`](crate::RoomCoordinator)'s storage, an organisation's
//! webhook deliveries in its [`WebhookDispatcher`](crate::WebhookDispatcher)'s, the node
//! registry in the [`NodeRegistry`](crate::NodeRegistry)'s, the rest in Workers KV. A listing
//! of an object's records brings their values along, so reading them after costs no further
//! request (a Worker may make only so many subrequests). Inside an object, the records of its
//! own home are read and written in its storage directly ([`WorkerPlatform::in_object`]).
//!
//! Outbound requests go only to the component's allowed hosts and are cut off after
//! [`OUTBOUND_TIMEOUT_MS`] (an `AbortSignal`), their answer included.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use origo_functions::coordinator::{RoomCommand, RoomCommandOutcome};
use origo_functions::store::home::{Home, home};
use origo_functions::webhook_delivery::{DispatchCommand, DispatchOutcome};
use origo_functions::{Platform, PlatformError};
use origo_manifest::AllowedHosts;
use origo_shared::RoomKey;
use origo_shared::outbound_destination::{TRUSTED_HOSTS_VARIABLE, TrustedHosts, check_url};
use worker::{AbortController, Delay, Env, Headers, Method, Request, RequestInit, RequestRedirect, Storage, Stub};

use crate::bindings::{self, OBJECT_BASE, ORG_HEADER, ROOM_HEADER};
use crate::object_storage;
use crate::storage_protocol::{StorageOp, StorageReply};

/// Largest response body read from an outbound request.
const MAX_RESPONSE_BODY: usize = 4 << 20;
/// Most keys one KV listing page gives.
const KV_PAGE: u64 = 1000;
/// How long an outbound request may take, its answer's body included.
pub const OUTBOUND_TIMEOUT_MS: u64 = 15_000;

/// The platform of one request to one function.
pub struct WorkerPlatform {
    env: Env,
    variables: BTreeMap<String, String>,
    allowed: AllowedHosts,
    /// Where a new room's object is created (from the caller's `request.cf`).
    hint: Option<&'static str>,
    /// Values that came with a listing of an object's records, by key.
    listed: RefCell<HashMap<String, Option<Vec<u8>>>>,
    /// Inside a Durable Object: its home and its own storage.
    local: Option<(Home, Storage)>,
}

fn store_error(e: impl std::fmt::Display) -> PlatformError {
    PlatformError::Store(e.to_string())
}

impl WorkerPlatform {
    pub fn new(
        env: Env,
        variables: BTreeMap<String, String>,
        allowed: AllowedHosts,
        hint: Option<&'static str>,
    ) -> Self {
        WorkerPlatform { env, variables, allowed, hint, listed: RefCell::new(HashMap::new()), local: None }
    }

    /// The platform of a Durable Object whose storage is the home of `home`'s records: those
    /// are read and written there directly, not through a request to itself.
    pub fn in_object(mut self, home: Home, storage: Storage) -> Self {
        self.local = Some((home, storage));
        self
    }

    /// This object's own storage, when `home` is its home.
    fn local(&self, home: &Home) -> Option<&Storage> {
        self.local.as_ref().filter(|(h, _)| h == home).map(|(_, s)| s)
    }

    fn kv(&self) -> Result<worker::KvStore, PlatformError> {
        self.env.kv(bindings::KV).map_err(store_error)
    }

    /// The object holding records of `home` (none for the shared store), with the headers
    /// naming its room.
    fn object(&self, home: &Home) -> Result<Option<(Stub, Headers)>, PlatformError> {
        let headers = Headers::new();
        let stub = match home {
            Home::Shared => return Ok(None),
            Home::Registry => bindings::registry_stub(&self.env).map_err(store_error)?,
            Home::Room(room) => {
                headers.set(ORG_HEADER, &room.org).map_err(store_error)?;
                headers.set(ROOM_HEADER, &room.room).map_err(store_error)?;
                bindings::room_stub(&self.env, room, self.hint).map_err(store_error)?
            }
            Home::Dispatcher(org) => {
                headers.set(ORG_HEADER, org).map_err(store_error)?;
                bindings::dispatcher_stub(&self.env, org).map_err(store_error)?
            }
        };
        Ok(Some((stub, headers)))
    }

    async fn object_call(&self, stub: &Stub, headers: Headers, op: StorageOp) -> Result<StorageReply, PlatformError> {
        object_storage::call(stub, headers, &op).await.map_err(PlatformError::Store)
    }
}

impl Platform for WorkerPlatform {
    async fn counter_add(&self, key: &str, delta: u64, ttl_ms: u64) -> Result<u64, PlatformError> {
        let stub = crate::bindings::rate_stub(&self.env, key).map_err(store_error)?;
        let op = StorageOp::Increment { key: key.into(), delta, ttl_ms };
        match self.object_call(&stub, Headers::new(), op).await? {
            StorageReply::Count { value } => Ok(value),
            other => Err(store_error(format!("unexpected answer {other:?}"))),
        }
    }

    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        if let Some(v) = self.listed.borrow().get(key) {
            return Ok(v.clone());
        }
        let home = home(key);
        if let Some(storage) = self.local(&home) {
            return Ok(storage.get::<String>(key).await.map_err(store_error)?.map(String::into_bytes));
        }
        match self.object(&home)? {
            None => self.kv()?.get(key).bytes().await.map_err(store_error),
            Some((stub, headers)) => {
                match self.object_call(&stub, headers, StorageOp::Get { key: key.into() }).await? {
                    StorageReply::Value { value } => Ok(value.map(String::into_bytes)),
                    other => Err(store_error(format!("unexpected answer {other:?}"))),
                }
            }
        }
    }

    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        self.listed.borrow_mut().insert(key.to_owned(), Some(value.to_vec()));
        let home = home(key);
        if let Some(storage) = self.local(&home) {
            let value = String::from_utf8(value.to_vec()).map_err(|_| store_error("records are UTF-8 text"))?;
            return storage.put(key, value).await.map_err(store_error);
        }
        match self.object(&home)? {
            None => self.kv()?.put_bytes(key, value).map_err(store_error)?.execute().await.map_err(store_error),
            Some((stub, headers)) => {
                let value = String::from_utf8(value.to_vec()).map_err(|_| store_error("records are UTF-8 text"))?;
                self.object_call(&stub, headers, StorageOp::Put { key: key.into(), value }).await.map(|_| ())
            }
        }
    }

    async fn kv_delete(&self, key: &str) -> Result<(), PlatformError> {
        self.listed.borrow_mut().insert(key.to_owned(), None);
        let home = home(key);
        if let Some(storage) = self.local(&home) {
            return storage.delete(key).await.map(|_| ()).map_err(store_error);
        }
        match self.object(&home)? {
            None => self.kv()?.delete(key).await.map_err(store_error),
            Some((stub, headers)) => {
                self.object_call(&stub, headers, StorageOp::Delete { key: key.into() }).await.map(|_| ())
            }
        }
    }

    async fn kv_keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError> {
        let home = home(prefix);
        if let Some(storage) = self.local(&home) {
            let entries = object_storage::list(storage, prefix).await.map_err(store_error)?;
            return Ok(entries.into_iter().map(|(k, _)| k).collect());
        }
        match self.object(&home)? {
            None => {
                let kv = self.kv()?;
                let mut keys = Vec::new();
                let mut cursor = None;
                loop {
                    let mut list = kv.list().prefix(prefix.to_owned()).limit(KV_PAGE);
                    if let Some(c) = cursor.take() {
                        list = list.cursor(c);
                    }
                    let page = list.execute().await.map_err(store_error)?;
                    keys.extend(page.keys.into_iter().map(|k| k.name));
                    match page.cursor.filter(|_| !page.list_complete) {
                        Some(c) => cursor = Some(c),
                        None => return Ok(keys),
                    }
                }
            }
            Some((stub, headers)) => {
                match self.object_call(&stub, headers, StorageOp::List { prefix: prefix.into() }).await? {
                    StorageReply::Entries { entries } => {
                        let mut listed = self.listed.borrow_mut();
                        Ok(entries
                            .into_iter()
                            .map(|(k, v)| {
                                listed.insert(k.clone(), Some(v.into_bytes()));
                                k
                            })
                            .collect())
                    }
                    other => Err(store_error(format!("unexpected answer {other:?}"))),
                }
            }
        }
    }

    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        let uri = req.uri();
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return Err(PlatformError::Http("the URL must be absolute".into()));
        };
        if !self.allowed.allows(scheme, host, uri.port_u16()) {
            return Err(PlatformError::HostNotAllowed);
        }
        // The Workers runtime resolves names itself, so what can be judged here is the URL: https
        // only unless trusted, no local names, no address in a denied range however written.
        let trusted = TrustedHosts::parse(self.variables.get(TRUSTED_HOSTS_VARIABLE).map(String::as_str).unwrap_or(""))
            .map_err(PlatformError::Http)?;
        if let Err(refusal) = check_url(&uri.to_string(), &trusted) {
            worker::console_warn!("outbound request to {host} refused by the destination policy: {}", refusal.as_str());
            return Err(PlatformError::HostNotAllowed);
        }
        let failed = |e: worker::Error| PlatformError::Http(e.to_string());
        let headers = Headers::new();
        for (name, value) in req.headers() {
            if let Ok(v) = value.to_str() {
                headers.append(name.as_str(), v).map_err(failed)?;
            }
        }
        let method = Method::from(req.method().as_str().to_owned());
        let mut init = RequestInit::new();
        // A redirect is answered to the caller, never followed: it could lead anywhere.
        init.with_method(method).with_headers(headers).with_redirect(RequestRedirect::Manual);
        if !req.body().is_empty() {
            init.with_body(Some(worker::js_sys::Uint8Array::from(req.body().as_ref()).into()));
        }
        let out = Request::new_with_init(&uri.to_string(), &init).map_err(failed)?;
        // The signal ends the request, and the reading of its answer, at the deadline.
        let abort = AbortController::default();
        let signal = abort.signal();
        let exchange = async {
            let mut res = worker::Fetch::Request(out).send_with_signal(&signal).await?;
            let body = res.bytes().await?;
            Ok::<_, worker::Error>((res, body))
        };
        let deadline = Delay::from(Duration::from_millis(OUTBOUND_TIMEOUT_MS));
        let (res, body) = match futures_util::future::select(std::pin::pin!(exchange), deadline).await {
            futures_util::future::Either::Left((answer, _)) => answer.map_err(failed)?,
            futures_util::future::Either::Right(((), _)) => {
                abort.abort();
                return Err(PlatformError::Http(format!("no answer within {} s", OUTBOUND_TIMEOUT_MS / 1000)));
            }
        };
        if body.len() > MAX_RESPONSE_BODY {
            return Err(PlatformError::Http("the response is larger than 4 MiB".into()));
        }
        let mut builder = http::Response::builder().status(res.status_code());
        for (name, value) in res.headers().entries() {
            builder = builder.header(name, value);
        }
        builder.body(Bytes::from(body)).map_err(|e| PlatformError::Http(e.to_string()))
    }

    fn variable(&self, name: &str) -> Option<String> {
        self.variables.get(name).cloned()
    }

    fn now_ms(&self) -> u64 {
        worker::Date::now().as_millis()
    }

    fn random(&self, buf: &mut [u8]) {
        // Web Crypto's getRandomValues; without it there is no safe fallback.
        if getrandom::getrandom(buf).is_err() {
            panic!("crypto.getRandomValues is unavailable");
        }
    }

    async fn coordinator_send(
        &self,
        room: &RoomKey,
        command: &RoomCommand,
    ) -> Result<RoomCommandOutcome, PlatformError> {
        let failed = |e: String| PlatformError::Coordinator(e);
        let stub = bindings::room_stub(&self.env, room, self.hint).map_err(|e| failed(e.to_string()))?;
        let headers = Headers::new();
        headers.set(ORG_HEADER, &room.org).map_err(|e| failed(e.to_string()))?;
        headers.set(ROOM_HEADER, &room.room).map_err(|e| failed(e.to_string()))?;
        headers.set("content-type", "application/json").map_err(|e| failed(e.to_string()))?;
        let body = serde_json::to_string(command).map_err(|e| failed(e.to_string()))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
        let req =
            Request::new_with_init(&format!("{OBJECT_BASE}/command"), &init).map_err(|e| failed(e.to_string()))?;
        let mut res = stub.fetch_with_request(req).await.map_err(|e| failed(e.to_string()))?;
        let body = res.bytes().await.map_err(|e| failed(e.to_string()))?;
        origo_functions::platform::coordinator_answer(res.status_code(), &body)
    }

    async fn dispatcher_send(&self, org: &str, command: &DispatchCommand) -> Result<DispatchOutcome, PlatformError> {
        crate::webhook_dispatcher::send(&self.env, org, command).await
    }
}
