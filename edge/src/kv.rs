//! Key-value storage behind the components' `fermyon:spin/key-value` stores.
//!
//! Two backends: an embedded, file-backed database (redb, one table per store label) that
//! needs no server and survives restarts, and Redis for several edge hosts sharing state, with
//! its records where a [`RedisLayout`] puts them (Origo's own, or Spin's). A write has reached
//! disk (or Redis) when the call returns.

use std::path::Path;
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};
use redis::AsyncCommands;

use crate::redis_layout::RedisLayout;

/// The store the functions and the room coordinators share (the manifest's `default`).
pub const DEFAULT_STORE: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("embedded store: {0}")]
    Embedded(String),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    RedisConnect(#[from] crate::redis_client::ConnectError),
    #[error("storage task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error("keys starting with {:?} are reserved for the host", crate::redis_layout::HOST_NAMESPACE)]
    ReservedKey,
    #[error("the value at {0:?} is not a counter, or the counter would overflow")]
    NotACounter(String),
}

fn embedded<E: std::fmt::Display>(e: E) -> KvError {
    KvError::Embedded(e.to_string())
}

/// Which backend holds the data.
#[derive(Clone)]
pub enum KvBackend {
    Embedded(Arc<redb::Database>),
    Redis(redis::aio::ConnectionManager, RedisLayout),
}

impl std::fmt::Debug for KvBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvBackend::Embedded(_) => f.write_str("KvBackend::Embedded"),
            KvBackend::Redis(_, layout) => write!(f, "KvBackend::Redis({})", layout.as_str()),
        }
    }
}

/// How long a rate-limit counter lives in Redis at most (the longest window is an hour).
const RATE_COUNTER_TTL_MS: u64 = 2 * 3_600_000;

/// Keys Redis examines per `SCAN` call (start-up listings, Spin's `get-keys`).
const SCAN_COUNT: usize = 2_000;

fn redis_key(layout: RedisLayout, store: &str, key: &str) -> Result<String, KvError> {
    layout.record_key(store, key).ok_or(KvError::ReservedKey)
}

/// Store labels are short slugs, so they are safe as table names and inside Redis patterns.
pub fn valid_store_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 64
        && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn table(store: &str) -> redb::TableDefinition<'_, &'static str, &'static [u8]> {
    redb::TableDefinition::new(store)
}

impl KvBackend {
    /// Opens (or creates) the embedded database at `path`.
    pub fn open_embedded(path: &Path) -> Result<Self, KvError> {
        let db = redb::Database::create(path).map_err(embedded)?;
        Ok(KvBackend::Embedded(Arc::new(db)))
    }

    /// Connects to Redis at `url` (`redis://host:port/db`, `rediss://user:password@host:port/db`
    /// for TLS, trusting the PEM CA in `ca_file` when given), records laid out as `layout`
    /// says. Warns when that Redis does not persist writes ([`crate::redis_client`]).
    pub async fn connect_redis(url: &str, ca_file: Option<&Path>, layout: RedisLayout) -> Result<Self, KvError> {
        let manager = crate::redis_client::connect(url, ca_file).await?;
        Ok(KvBackend::Redis(manager, layout))
    }

    /// The Redis connection, when this is the Redis backend.
    pub fn redis_connection(&self) -> Option<redis::aio::ConnectionManager> {
        match self {
            KvBackend::Redis(c, _) => Some(c.clone()),
            KvBackend::Embedded(_) => None,
        }
    }

    /// Where records sit in Redis, when this is the Redis backend.
    pub fn redis_layout(&self) -> Option<RedisLayout> {
        match self {
            KvBackend::Redis(_, layout) => Some(*layout),
            KvBackend::Embedded(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            KvBackend::Embedded(_) => "embedded",
            KvBackend::Redis(_, _) => "redis",
        }
    }

    /// Checks that the backend answers (for `/health`).
    pub async fn ping(&self) -> Result<(), KvError> {
        match self {
            KvBackend::Embedded(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || db.begin_read().map(drop).map_err(embedded)).await?
            }
            KvBackend::Redis(conn, _) => {
                let mut conn = conn.clone();
                let _: String = redis::cmd("PING").query_async(&mut conn).await?;
                Ok(())
            }
        }
    }

    pub async fn get(&self, store: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            KvBackend::Embedded(db) => {
                let (db, store, key) = (db.clone(), store.to_owned(), key.to_owned());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_read().map_err(embedded)?;
                    let t = match txn.open_table(table(&store)) {
                        Ok(t) => t,
                        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                        Err(e) => return Err(embedded(e)),
                    };
                    Ok(t.get(key.as_str()).map_err(embedded)?.map(|v| v.value().to_vec()))
                })
                .await?
            }
            KvBackend::Redis(conn, layout) => Ok(conn.clone().get(redis_key(*layout, store, key)?).await?),
        }
    }

    pub async fn set(&self, store: &str, key: &str, value: &[u8]) -> Result<(), KvError> {
        match self {
            KvBackend::Embedded(db) => {
                let (db, store, key, value) = (db.clone(), store.to_owned(), key.to_owned(), value.to_vec());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_write().map_err(embedded)?;
                    {
                        let mut t = txn.open_table(table(&store)).map_err(embedded)?;
                        t.insert(key.as_str(), value.as_slice()).map_err(embedded)?;
                    }
                    txn.commit().map_err(embedded)
                })
                .await?
            }
            KvBackend::Redis(conn, layout) => Ok(conn.clone().set(redis_key(*layout, store, key)?, value).await?),
        }
    }

    pub async fn delete(&self, store: &str, key: &str) -> Result<(), KvError> {
        match self {
            KvBackend::Embedded(db) => {
                let (db, store, key) = (db.clone(), store.to_owned(), key.to_owned());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_write().map_err(embedded)?;
                    {
                        let mut t = txn.open_table(table(&store)).map_err(embedded)?;
                        t.remove(key.as_str()).map_err(embedded)?;
                    }
                    txn.commit().map_err(embedded)
                })
                .await?
            }
            KvBackend::Redis(conn, layout) => Ok(conn.clone().del(redis_key(*layout, store, key)?).await?),
        }
    }

    /// Writes (`Some`) and deletes (`None`) in one transaction: one commit for the lot on the
    /// embedded store, one atomic `MULTI` on Redis.
    pub async fn write_batch(&self, store: &str, ops: Vec<(String, Option<Vec<u8>>)>) -> Result<(), KvError> {
        if ops.is_empty() {
            return Ok(());
        }
        match self {
            KvBackend::Embedded(db) => {
                let (db, store) = (db.clone(), store.to_owned());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_write().map_err(embedded)?;
                    {
                        let mut t = txn.open_table(table(&store)).map_err(embedded)?;
                        for (k, v) in &ops {
                            match v {
                                Some(v) => {
                                    t.insert(k.as_str(), v.as_slice()).map_err(embedded)?;
                                }
                                None => {
                                    t.remove(k.as_str()).map_err(embedded)?;
                                }
                            }
                        }
                    }
                    txn.commit().map_err(embedded)
                })
                .await?
            }
            KvBackend::Redis(conn, layout) => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for (k, v) in &ops {
                    let k = redis_key(*layout, store, k)?;
                    match v {
                        Some(v) => pipe.set(k, v.as_slice()).ignore(),
                        None => pipe.del(k).ignore(),
                    };
                }
                let _: () = pipe.query_async(&mut conn.clone()).await?;
                Ok(())
            }
        }
    }

    /// Adds `delta` to the decimal counter at `key` (absent: 0) and returns the new value, in
    /// one transaction (redb) or one `INCRBY` (Redis). On Redis, rate-limit counters (`rate:`
    /// keys) also expire on their own two hours after they are made, whatever the sweep does.
    pub async fn increment(&self, store: &str, key: &str, delta: i64) -> Result<i64, KvError> {
        match self {
            KvBackend::Embedded(db) => {
                let (db, store, key) = (db.clone(), store.to_owned(), key.to_owned());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_write().map_err(embedded)?;
                    let next = {
                        let mut t = txn.open_table(table(&store)).map_err(embedded)?;
                        let current = match t.get(key.as_str()).map_err(embedded)? {
                            Some(v) => std::str::from_utf8(v.value())
                                .ok()
                                .and_then(|s| s.trim().parse::<i64>().ok())
                                .ok_or_else(|| KvError::NotACounter(key.clone()))?,
                            None => 0,
                        };
                        let next = current.checked_add(delta).ok_or_else(|| KvError::NotACounter(key.clone()))?;
                        t.insert(key.as_str(), next.to_string().as_bytes()).map_err(embedded)?;
                        next
                    };
                    txn.commit().map_err(embedded)?;
                    Ok(next)
                })
                .await?
            }
            KvBackend::Redis(conn, layout) => {
                let k = redis_key(*layout, store, key)?;
                let mut conn = conn.clone();
                let next: i64 = redis::cmd("INCRBY").arg(&k).arg(delta).query_async(&mut conn).await?;
                if key.starts_with("rate:") && next == delta {
                    let _: () = redis::cmd("PEXPIRE").arg(&k).arg(RATE_COUNTER_TTL_MS).query_async(&mut conn).await?;
                }
                Ok(next)
            }
        }
    }

    pub async fn exists(&self, store: &str, key: &str) -> Result<bool, KvError> {
        match self {
            KvBackend::Embedded(_) => Ok(self.get(store, key).await?.is_some()),
            KvBackend::Redis(conn, layout) => Ok(conn.clone().exists(redis_key(*layout, store, key)?).await?),
        }
    }

    /// The keys of `store` that start with `prefix` (empty, or a slug followed by `:`), sorted:
    /// a range read on the embedded store; on Redis a `SCAN` with a pattern, which Redis walks
    /// server-side. Never on one of Origo's request paths.
    pub async fn keys_with_prefix(&self, store: &str, prefix: &str) -> Result<Vec<String>, KvError> {
        match self {
            KvBackend::Embedded(db) => {
                let (db, store, prefix) = (db.clone(), store.to_owned(), prefix.to_owned());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_read().map_err(embedded)?;
                    let t = match txn.open_table(table(&store)) {
                        Ok(t) => t,
                        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                        Err(e) => return Err(embedded(e)),
                    };
                    let mut keys = Vec::new();
                    for entry in t.range::<&str>(prefix.as_str()..).map_err(embedded)? {
                        let (k, _) = entry.map_err(embedded)?;
                        let k = k.value();
                        if !k.starts_with(&prefix) {
                            break;
                        }
                        keys.push(k.to_owned());
                    }
                    Ok(keys)
                })
                .await?
            }
            KvBackend::Redis(conn, layout) => {
                let pattern = format!("{}*", redis_key(*layout, store, prefix)?);
                let mut conn = conn.clone();
                // Redis walks every key of the database for a pattern; a large COUNT makes that
                // a few hundred round trips for a million keys instead of a hundred thousand.
                let opts = redis::ScanOptions::default().with_pattern(pattern).with_count(SCAN_COUNT);
                let mut iter: redis::AsyncIter<'_, String> = conn.scan_options(opts).await?;
                let mut keys = Vec::new();
                while let Some(k) = iter.next_item().await {
                    if let Some(key) = layout.store_key(store, &k?) {
                        keys.push(key);
                    }
                }
                drop(iter);
                keys.sort();
                keys.dedup();
                Ok(keys)
            }
        }
    }

    /// Every key of `store`, sorted (Spin's `get-keys`).
    pub async fn keys(&self, store: &str) -> Result<Vec<String>, KvError> {
        self.keys_with_prefix(store, "").await
    }
}
