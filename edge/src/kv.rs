//! Key-value storage behind the components' `fermyon:spin/key-value` stores.
//!
//! Two backends: an embedded, file-backed database (redb, one table per store label) that
//! needs no server and survives restarts, and Redis for several edge hosts sharing state.
//! A write has reached disk (or Redis) when the call returns.

use std::path::Path;
use std::sync::Arc;

use redb::ReadableDatabase;
use redis::AsyncCommands;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("embedded store: {0}")]
    Embedded(String),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("storage task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

fn embedded<E: std::fmt::Display>(e: E) -> KvError {
    KvError::Embedded(e.to_string())
}

/// Which backend holds the data.
#[derive(Clone)]
pub enum KvBackend {
    Embedded(Arc<redb::Database>),
    Redis(redis::aio::ConnectionManager),
}

impl std::fmt::Debug for KvBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KvBackend::Embedded(_) => "KvBackend::Embedded",
            KvBackend::Redis(_) => "KvBackend::Redis",
        })
    }
}

/// The Redis key prefix of every Origo key-value entry.
const REDIS_PREFIX: &str = "origo:kv:";

fn redis_key(store: &str, key: &str) -> String {
    format!("{REDIS_PREFIX}{store}:{key}")
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

    /// Connects to Redis at `url` (`redis://host:port/db`).
    pub async fn connect_redis(url: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url)?;
        let manager = redis::aio::ConnectionManager::new(client).await?;
        Ok(KvBackend::Redis(manager))
    }

    /// The Redis connection, when this is the Redis backend.
    pub fn redis_connection(&self) -> Option<redis::aio::ConnectionManager> {
        match self {
            KvBackend::Redis(c) => Some(c.clone()),
            KvBackend::Embedded(_) => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            KvBackend::Embedded(_) => "embedded",
            KvBackend::Redis(_) => "redis",
        }
    }

    /// Checks that the backend answers (for `/health`).
    pub async fn ping(&self) -> Result<(), KvError> {
        match self {
            KvBackend::Embedded(db) => {
                let db = db.clone();
                tokio::task::spawn_blocking(move || db.begin_read().map(drop).map_err(embedded)).await?
            }
            KvBackend::Redis(conn) => {
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
            KvBackend::Redis(conn) => Ok(conn.clone().get(redis_key(store, key)).await?),
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
            KvBackend::Redis(conn) => Ok(conn.clone().set(redis_key(store, key), value).await?),
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
            KvBackend::Redis(conn) => Ok(conn.clone().del(redis_key(store, key)).await?),
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
            KvBackend::Redis(conn) => {
                let mut pipe = redis::pipe();
                pipe.atomic();
                for (k, v) in &ops {
                    match v {
                        Some(v) => pipe.set(redis_key(store, k), v.as_slice()).ignore(),
                        None => pipe.del(redis_key(store, k)).ignore(),
                    };
                }
                let _: () = pipe.query_async(&mut conn.clone()).await?;
                Ok(())
            }
        }
    }

    pub async fn exists(&self, store: &str, key: &str) -> Result<bool, KvError> {
        match self {
            KvBackend::Embedded(_) => Ok(self.get(store, key).await?.is_some()),
            KvBackend::Redis(conn) => Ok(conn.clone().exists(redis_key(store, key)).await?),
        }
    }

    /// Every key of `store`, sorted.
    pub async fn keys(&self, store: &str) -> Result<Vec<String>, KvError> {
        match self {
            KvBackend::Embedded(db) => {
                let (db, store) = (db.clone(), store.to_owned());
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_read().map_err(embedded)?;
                    let t = match txn.open_table(table(&store)) {
                        Ok(t) => t,
                        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                        Err(e) => return Err(embedded(e)),
                    };
                    let mut keys = Vec::new();
                    for entry in t.range::<&str>(..).map_err(embedded)? {
                        let (k, _) = entry.map_err(embedded)?;
                        keys.push(k.value().to_owned());
                    }
                    Ok(keys)
                })
                .await?
            }
            KvBackend::Redis(conn) => {
                let mut conn = conn.clone();
                let prefix = format!("{REDIS_PREFIX}{store}:");
                // The label is a slug, so the pattern has no glob characters besides the final '*'.
                let mut iter: redis::AsyncIter<'_, String> = conn.scan_match(format!("{prefix}*")).await?;
                let mut keys = Vec::new();
                while let Some(k) = iter.next_item().await {
                    let k = k?;
                    if let Some(rest) = k.strip_prefix(&prefix) {
                        keys.push(rest.to_owned());
                    }
                }
                drop(iter);
                keys.sort();
                keys.dedup();
                Ok(keys)
            }
        }
    }
}
