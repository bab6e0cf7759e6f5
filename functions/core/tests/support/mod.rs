//! An in-memory platform and helpers shared by the handler tests. Outbound HTTP reaches local
//! stand-ins: the email provider (`mail.test`, recorded), a partner's webhook receiver
//! (`hooks.partner.test`, recorded), our own OIDC provider fixture (`idp.test`), a browser's
//! push service (`push.test`, recorded, answering `push_status`) and an SMS provider
//! (`sms.test`, recorded, answering `sms_status`).
#![allow(dead_code)]

pub mod oidc_provider;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use futures_executor::block_on;
use http::{Method, StatusCode};
use origo_functions::coordinator::{Event, RoomCommand, RoomCommandOutcome, RoomState, Settings, storage};
use origo_functions::{Platform, PlatformError, Request, Response, auth, billing, chat, notify, room};
use origo_shared::RoomKey;
use serde_json::{Value, json};

/// The Ed25519 seed of the test deployment's signing key (`k1`).
pub const SEED_HEX: &str = "0707070707070707070707070707070707070707070707070707070707070707";
pub const TURN_SECRET: &str = "turn-secret-for-tests";
pub const NODE_SECRET: &str = "node-secret-for-tests";
pub const T0_MS: u64 = 1_800_000_000_000;

pub struct TestPlatform {
    pub kv: RefCell<BTreeMap<String, Vec<u8>>>,
    pub vars: HashMap<String, String>,
    pub now_ms: Cell<u64>,
    counter: Cell<u64>,
    pub webhooks: RefCell<Vec<http::Request<Bytes>>>,
    pub mail: RefCell<Vec<Value>>,
    pub idp: oidc_provider::Provider,
    pub mail_down: Cell<bool>,
    /// What the partner's receiver answers (status, `Retry-After`); 0: no answer at all.
    pub hooks_answer: RefCell<(u16, Option<String>)>,
    /// Every request the push service received, and the status it answers.
    pub pushes: RefCell<Vec<http::Request<Bytes>>>,
    pub push_status: Cell<u16>,
    /// Every request the SMS provider received, and the status it answers.
    pub sms: RefCell<Vec<http::Request<Bytes>>>,
    pub sms_status: Cell<u16>,
    /// Every command sent to a room's coordinator, in order.
    pub commands: RefCell<Vec<(RoomKey, RoomCommand)>>,
}

impl TestPlatform {
    pub fn new() -> Self {
        let vars: HashMap<String, String> = [
            ("token_signing_keys", format!("k1:{SEED_HEX}")),
            ("turn_secret", TURN_SECRET.into()),
            ("node_secret", NODE_SECRET.into()),
            ("email_api_url", "https://mail.test/send".into()),
            ("email_api_key", "mail-key".into()),
            ("public_url", "https://origo.test".into()),
            // Cheap hashing for the many sign-ups here; one test runs the real parameters.
            ("password_hash_memory_kib", "64".into()),
            ("password_hash_iterations", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        TestPlatform {
            kv: RefCell::default(),
            vars,
            now_ms: Cell::new(T0_MS),
            counter: Cell::new(0),
            webhooks: RefCell::default(),
            mail: RefCell::default(),
            idp: oidc_provider::Provider::new(),
            mail_down: Cell::new(false),
            hooks_answer: RefCell::new((204, None)),
            pushes: RefCell::default(),
            push_status: Cell::new(201),
            sms: RefCell::default(),
            sms_status: Cell::new(201),
            commands: RefCell::default(),
        }
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    pub fn advance_secs(&self, secs: u64) {
        self.now_ms.set(self.now_ms.get() + secs * 1000);
        self.idp.now_secs.set(self.now_ms.get() / 1000);
    }

    /// The last email sent to `to`.
    pub fn last_mail_to(&self, to: &str) -> Option<Value> {
        self.mail.borrow().iter().rev().find(|m| m["to"] == to).cloned()
    }

    /// Every stored value, as text: for checking that no secret is stored in the clear.
    pub fn dump(&self) -> String {
        self.kv.borrow().iter().map(|(k, v)| format!("{k}={}\n", String::from_utf8_lossy(v))).collect()
    }
}

impl TestPlatform {
    /// Applies `event` to the room's coordinator the way every coordinator host does it
    /// (`coordinator::storage`): load (or start) the state, apply, commit writes and merges.
    /// The state is taken as one process left it (connections stay open between events).
    /// The seat the room's coordinator holds for `identity` (the one its join's token names).
    pub fn held_seat(&self, room: &RoomKey, identity: &str) -> Option<String> {
        let stored = self.kv.borrow().get(&storage::snapshot_key(room)).cloned()?;
        storage::decode_snapshot(&stored).ok()?.held.get(identity).map(|h| h.seat.clone())
    }

    pub fn apply_room(
        &self,
        room: &RoomKey,
        event: Event,
    ) -> Result<Vec<origo_functions::coordinator::Effect>, PlatformError> {
        let now = self.now_ms.get();
        let stored = self.kv.borrow().get(&storage::snapshot_key(room)).cloned();
        let mut state = match stored.and_then(|b| storage::decode_snapshot(&b).ok()) {
            Some(s) if !s.finished => s,
            _ => {
                let record = self.kv.borrow().get(&origo_functions::store::keys::room(&room.org, &room.room)).cloned();
                RoomState::new(&room.org, &room.room, storage::empty_timeout_ms(record.as_deref()), Settings::default())
            }
        };
        let fx = state.apply(event, now);
        let commit = storage::commit(&mut state, &fx, now, || 7).map_err(|e| PlatformError::Store(e.to_string()))?;
        let mut kv = self.kv.borrow_mut();
        let mut writes = commit.writes;
        for merge in &commit.merges {
            writes.extend(merge.apply(kv.get(&merge.key).map(Vec::as_slice)));
        }
        for (key, value) in writes {
            match value {
                Some(v) => kv.insert(key, v),
                None => kv.remove(&key),
            };
        }
        Ok(fx)
    }
}

impl Platform for TestPlatform {
    async fn kv_get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(self.kv.borrow().get(key).cloned())
    }
    async fn kv_set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        self.kv.borrow_mut().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    async fn kv_delete(&self, key: &str) -> Result<(), PlatformError> {
        self.kv.borrow_mut().remove(key);
        Ok(())
    }
    async fn kv_keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError> {
        Ok(self.kv.borrow().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
    /// Counters as Spin keeps them: decimal text in the store, given to the sweep when made.
    async fn counter_add(&self, key: &str, delta: u64, ttl_ms: u64) -> Result<u64, PlatformError> {
        let next = {
            let mut kv = self.kv.borrow_mut();
            let current: u64 = kv.get(key).and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()).unwrap_or(0);
            let next = current + delta;
            kv.insert(key.to_owned(), next.to_string().into_bytes());
            next
        };
        if next == delta {
            origo_functions::store::expiry::expire_at(self, key, self.now_ms() + ttl_ms)
                .await
                .map_err(|e| PlatformError::Store(e.message))?;
        }
        Ok(next)
    }
    async fn http_send(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>, PlatformError> {
        let empty = |status: u16| http::Response::builder().status(status).body(Bytes::new()).unwrap();
        match req.uri().host() {
            Some("mail.test") => {
                if self.mail_down.get() {
                    return Ok(empty(503));
                }
                assert_eq!(req.headers()["authorization"], "Bearer mail-key");
                self.mail.borrow_mut().push(serde_json::from_slice(req.body()).unwrap());
                Ok(empty(202))
            }
            Some("hooks.partner.test") => {
                let (status, retry_after) = self.hooks_answer.borrow().clone();
                if status == 0 {
                    return Err(PlatformError::Http("connection refused".into()));
                }
                self.webhooks.borrow_mut().push(req);
                let mut res = empty(status);
                if let Some(v) = retry_after {
                    res.headers_mut().insert("retry-after", v.parse().unwrap());
                }
                Ok(res)
            }
            Some("idp.test") => Ok(self.idp.handle(&req)),
            Some("push.test") => {
                self.pushes.borrow_mut().push(req);
                Ok(empty(self.push_status.get()))
            }
            Some("sms.test") => {
                self.sms.borrow_mut().push(req);
                Ok(empty(self.sms_status.get()))
            }
            _ => Err(PlatformError::HostNotAllowed),
        }
    }
    fn variable(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }
    /// A coordinator in memory: the room's state is loaded, the command applied and the
    /// writes committed the way every coordinator host does it (`coordinator::storage`).
    /// The organisation's dispatcher in memory: the command is carried out at once; tests
    /// deliver with `webhook_delivery::deliver_due`.
    async fn dispatcher_send(
        &self,
        org: &str,
        command: &origo_functions::webhook_delivery::DispatchCommand,
    ) -> Result<origo_functions::webhook_delivery::DispatchOutcome, PlatformError> {
        origo_functions::webhook_delivery::handle(self, org, command)
            .await
            .map_err(|e| PlatformError::Coordinator(e.message))
    }
    async fn coordinator_send(
        &self,
        room: &RoomKey,
        command: &RoomCommand,
    ) -> Result<RoomCommandOutcome, PlatformError> {
        self.commands.borrow_mut().push((room.clone(), command.clone()));
        let fx = self.apply_room(room, Event::Command(command.clone()))?;
        Ok(RoomCommandOutcome::of(command, &fx))
    }
    fn random(&self, buf: &mut [u8]) {
        // Distinct, deterministic bytes (a counter spread over the buffer).
        for chunk in buf.chunks_mut(8) {
            self.counter.set(self.counter.get() + 1);
            let bytes = (self.counter.get().wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// A request; `auth` is the bearer credential.
pub fn request(method: Method, uri: &str, auth: Option<&str>, body: Option<Value>) -> Request {
    let mut b = http::Request::builder().method(method).uri(uri);
    if let Some(t) = auth {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(v) => {
            b = b.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(&v).unwrap())
        }
        None => Bytes::new(),
    };
    b.body(body).unwrap()
}

/// Routes a request to its function the way `spin.toml` does.
pub fn dispatch(p: &TestPlatform, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    block_on(async {
        if path.starts_with("/v1/auth/")
            || path == "/.well-known/jwks.json"
            || path.starts_with("/v1/orgs")
            || path.starts_with("/v1/api-keys")
            || path == "/v1/tokens"
            || path.starts_with("/v1/invitations")
        {
            auth::handle(req, p).await
        } else if path.starts_with("/v1/rooms/") && path.split('/').nth(4) == Some("messages") {
            chat::handle(req, p).await
        } else if path.starts_with("/v1/rooms") || path.starts_with("/v1/nodes") || path.starts_with("/v1/maintenance")
        {
            room::handle(req, p).await
        } else if path.starts_with("/v1/webhooks")
            || path.starts_with("/v1/me/")
            || path.starts_with("/v1/push/")
            || path.starts_with("/v1/notifications/")
        {
            notify::handle(req, p).await
        } else if path.starts_with("/v1/billing") || path.starts_with("/v1/operator/") {
            billing::handle(req, p).await
        } else {
            panic!("no function for {path}")
        }
    })
}

/// Sends and returns the response.
pub fn call(p: &TestPlatform, method: Method, uri: &str, auth: Option<&str>, body: Option<Value>) -> Response {
    dispatch(p, request(method, uri, auth, body))
}

/// Sends in an organisation (`X-Origo-Org`).
pub fn call_in(p: &TestPlatform, org: &str, method: Method, uri: &str, auth: &str, body: Option<Value>) -> Response {
    let mut req = request(method, uri, Some(auth), body);
    req.headers_mut().insert("x-origo-org", org.parse().unwrap());
    dispatch(p, req)
}

pub fn json_of(res: &Response) -> Value {
    assert_eq!(res.headers()["content-type"], "application/json", "{}", String::from_utf8_lossy(res.body()));
    serde_json::from_slice(res.body()).unwrap()
}

/// Asserts status and JSON error code; returns the message.
#[track_caller]
pub fn assert_error(res: &Response, status: u16, code: &str) -> String {
    assert_eq!(res.status().as_u16(), status, "{}", String::from_utf8_lossy(res.body()));
    let body = json_of(res);
    assert_eq!(body["error"]["code"], code, "{body}");
    body["error"]["message"].as_str().unwrap().to_owned()
}

#[track_caller]
pub fn ok_json(res: Response, status: StatusCode) -> Value {
    assert_eq!(res.status(), status, "{}", String::from_utf8_lossy(res.body()));
    json_of(&res)
}

pub fn guest(p: &TestPlatform, name: &str) -> String {
    let res = call(p, Method::POST, "/v1/auth/guest", None, Some(json!({ "name": name })));
    ok_json(res, StatusCode::OK)["access_token"].as_str().unwrap().to_owned()
}

/// The verification token in the last mail to `email`.
pub fn verification_token(p: &TestPlatform, email: &str) -> String {
    let mail = p.last_mail_to(email).expect("a verification mail");
    let text = mail["text"].as_str().unwrap();
    let at = text.find("token=").expect("a link with a token") + "token=".len();
    text[at..].split_whitespace().next().unwrap().to_owned()
}

/// Signs up, verifies and logs in; returns the session.
pub fn account(p: &TestPlatform, email: &str) -> Value {
    let password = "correct horse battery";
    let res = call(
        p,
        Method::POST,
        "/v1/auth/signup",
        None,
        Some(json!({ "email": email, "password": password, "name": email.split('@').next().unwrap() })),
    );
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let token = verification_token(p, email);
    ok_json(call(p, Method::POST, "/v1/auth/verify", None, Some(json!({ "token": token }))), StatusCode::OK);
    login(p, email, password)
}

pub fn login(p: &TestPlatform, email: &str, password: &str) -> Value {
    let res = call(p, Method::POST, "/v1/auth/login", None, Some(json!({ "email": email, "password": password })));
    ok_json(res, StatusCode::OK)
}

/// A signed-in owner of a new organisation: (access token, org id, account id).
pub fn owner(p: &TestPlatform, email: &str) -> (String, String, String) {
    let session = account(p, email);
    let token = session["access_token"].as_str().unwrap().to_owned();
    let org =
        ok_json(call(p, Method::POST, "/v1/orgs", Some(&token), Some(json!({ "name": "Acme" }))), StatusCode::CREATED);
    (token, org["id"].as_str().unwrap().to_owned(), session["account"]["id"].as_str().unwrap().to_owned())
}

/// Adds `email` (signed up here) to `org` with `role` the way people join: an invitation by
/// the owner, accepted from the link in the email; returns the member's access token.
pub fn member(p: &TestPlatform, owner_token: &str, org: &str, email: &str, role: &str) -> String {
    let session = account(p, email);
    let token = session["access_token"].as_str().unwrap().to_owned();
    let link = invite(p, owner_token, org, email, role);
    let res = call(p, Method::POST, "/v1/invitations/accept", Some(&token), Some(json!({ "token": link })));
    ok_json(res, StatusCode::OK);
    token
}

/// Invites `email` to `org` as `role`; returns the token of the link in the invitation email.
pub fn invite(p: &TestPlatform, admin_token: &str, org: &str, email: &str, role: &str) -> String {
    let res = call(
        p,
        Method::POST,
        &format!("/v1/orgs/{org}/invitations"),
        Some(admin_token),
        Some(json!({ "email": email, "role": role })),
    );
    ok_json(res, StatusCode::ACCEPTED);
    link_token(p, email, "#invitation=")
}

/// The token after `marker` in the link of the last mail to `email`.
pub fn link_token(p: &TestPlatform, email: &str, marker: &str) -> String {
    let mail = p.last_mail_to(email).expect("a mail");
    let text = mail["text"].as_str().unwrap();
    let at = text.find(marker).unwrap_or_else(|| panic!("a link with {marker} in {text}")) + marker.len();
    text[at..].split_whitespace().next().unwrap().to_owned()
}

/// Registers a node the way a node's heartbeat does.
pub fn register_node(p: &TestPlatform, id: &str, kind: &str, region: &str, load: u32) {
    let mut addresses = json!({});
    if kind == "media" {
        addresses["control_url"] = json!(format!("https://{id}.media.test"));
    } else {
        addresses["ice_urls"] = json!([format!("turn:{id}.turn.test:3478?transport=udp")]);
    }
    let hb = json!({ "id": id, "region": region, "kind": kind, "addresses": addresses, "capacity": 100, "load": load });
    let res = call(p, Method::POST, "/v1/nodes/heartbeat", Some(NODE_SECRET), Some(hb));
    ok_json(res, StatusCode::OK);
}

/// The deployment's public keys, from `/.well-known/jwks.json`.
pub fn published_keys(p: &TestPlatform) -> origo_shared::token::KeySet {
    let jwks = ok_json(call(p, Method::GET, "/.well-known/jwks.json", None, None), StatusCode::OK);
    let mut set = origo_shared::token::KeySet::new();
    for k in jwks["keys"].as_array().unwrap() {
        set.insert(
            origo_shared::token::TokenKey::from_public_jwk(&serde_json::from_value(k.clone()).unwrap()).unwrap(),
        );
    }
    set
}

/// A new partner API key (the full `osk_…` secret) created by `owner_token`.
pub fn api_key(p: &TestPlatform, owner_token: &str, name: &str) -> String {
    let res = call(p, Method::POST, "/v1/api-keys", Some(owner_token), Some(json!({ "name": name })));
    ok_json(res, StatusCode::CREATED)["secret"].as_str().unwrap().to_owned()
}
