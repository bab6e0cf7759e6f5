//! A [`Platform`] wholly in memory: the key-value store in a map, a fixed clock, deterministic
//! randomness, a room coordinator applied in place the way every coordinator host applies one
//! (`coordinator::storage`), and no outbound HTTP — except the email provider's while the
//! callers are being set up, whose mail is kept so the links in it can be followed.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use origo_functions::coordinator::{Effect, Event, RoomCommand, RoomCommandOutcome, RoomState, Settings, storage};
use origo_functions::{Platform, PlatformError, Request, Response, auth, billing, chat, notify, room};
use origo_shared::RoomKey;

/// The deployment's node secret (heartbeats, usage reports, the sweep).
pub const NODE_SECRET: &str = "node-secret-for-fuzzing";
/// The clock every request sees.
pub const NOW_MS: u64 = 1_800_000_000_000;

pub struct MemoryPlatform {
    pub kv: RefCell<BTreeMap<String, Vec<u8>>>,
    vars: HashMap<String, String>,
    now_ms: Cell<u64>,
    counter: Cell<u64>,
    /// Mail sent to the provider, kept while `Some`; outbound HTTP is refused while `None`.
    pub mail: RefCell<Option<Vec<serde_json::Value>>>,
}

impl MemoryPlatform {
    /// An empty deployment.
    pub fn new() -> Self {
        let vars = [
            ("token_signing_keys", format!("k1:{}", "07".repeat(32))),
            ("turn_secret", "turn-secret-for-fuzzing".into()),
            ("node_secret", NODE_SECRET.into()),
            ("email_api_url", "https://mail.test/send".into()),
            ("email_api_key", "mail-key".into()),
            ("public_url", "https://origo.test".into()),
            // The cheapest hashing the functions accept: every sign-up and login hashes.
            ("password_hash_memory_kib", "64".into()),
            ("password_hash_iterations", "1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        MemoryPlatform {
            kv: RefCell::default(),
            vars,
            now_ms: Cell::new(NOW_MS),
            counter: Cell::new(0),
            mail: RefCell::new(None),
        }
    }

    /// The same deployment with `kv` as its store (and outbound HTTP refused).
    pub fn with_store(kv: BTreeMap<String, Vec<u8>>) -> Self {
        let p = MemoryPlatform::new();
        *p.kv.borrow_mut() = kv;
        p
    }

    /// Routes `req` to its function the way `spin.toml` does, and waits for the answer.
    pub fn dispatch(&self, req: Request) -> Response {
        let path = req.uri().path().to_owned();
        futures_executor::block_on(async {
            if path.starts_with("/v1/auth/")
                || path == "/.well-known/jwks.json"
                || path.starts_with("/v1/orgs")
                || path.starts_with("/v1/api-keys")
                || path == "/v1/tokens"
                || path.starts_with("/v1/invitations")
            {
                auth::handle(req, self).await
            } else if path.starts_with("/v1/rooms/") && path.split('/').nth(4) == Some("messages") {
                chat::handle(req, self).await
            } else if path.starts_with("/v1/rooms")
                || path.starts_with("/v1/nodes")
                || path.starts_with("/v1/maintenance")
            {
                room::handle(req, self).await
            } else if path.starts_with("/v1/webhooks") {
                notify::handle(req, self).await
            } else if path.starts_with("/v1/billing") {
                billing::handle(req, self).await
            } else {
                panic!("no function serves {path}")
            }
        })
    }

    /// Applies `event` to the room's coordinator: load (or start) the state, apply, commit
    /// the writes and merges.
    fn apply_room(&self, room: &RoomKey, event: Event) -> Result<Vec<Effect>, PlatformError> {
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

impl Default for MemoryPlatform {
    fn default() -> Self {
        MemoryPlatform::new()
    }
}

impl Platform for MemoryPlatform {
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
    async fn counter_add(&self, key: &str, delta: u64, ttl_ms: u64) -> Result<u64, PlatformError> {
        let next = {
            let mut kv = self.kv.borrow_mut();
            let current: u64 = kv.get(key).and_then(|v| std::str::from_utf8(v).ok()?.parse().ok()).unwrap_or(0);
            let next = current.saturating_add(delta);
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
        let mut mail = self.mail.borrow_mut();
        match (mail.as_mut(), req.uri().host()) {
            (Some(kept), Some("mail.test")) => {
                kept.push(serde_json::from_slice(req.body()).map_err(|e| PlatformError::Http(e.to_string()))?);
                Ok(http::Response::builder().status(202).body(Bytes::new()).expect("a response"))
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
    fn random(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.counter.set(self.counter.get() + 1);
            let bytes = self.counter.get().wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    async fn dispatcher_send(
        &self,
        org: &str,
        command: &origo_functions::webhook_delivery::DispatchCommand,
    ) -> Result<origo_functions::webhook_delivery::DispatchOutcome, PlatformError> {
        origo_functions::webhook_delivery::handle(self, org, command).await.map_err(|e| PlatformError::Coordinator(e.message))
    }
    async fn coordinator_send(
        &self,
        room: &RoomKey,
        command: &RoomCommand,
    ) -> Result<RoomCommandOutcome, PlatformError> {
        let fx = self.apply_room(room, Event::Command(command.clone()))?;
        Ok(RoomCommandOutcome::of(command, &fx))
    }
}
