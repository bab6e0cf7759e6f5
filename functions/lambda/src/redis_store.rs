//! The functions' key-value store in Redis, in the layout `origo --redis` uses
//! (`origo:kv:{store}:{key}`, store `default`), so `origo` coordinators on the same Redis read
//! and write the same records. `rediss://user:password@host:port/db` connects over TLS
//! (rustls, the Mozilla roots compiled in, or the private CA of `ORIGO_REDIS_CA_FILE`); at
//! start the function logs whether that Redis persists what it acknowledges.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use origo_functions::PlatformError;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

/// Every function key lives under this prefix (`origo:kv:` and the store label `default`).
pub const KEY_PREFIX: &str = "origo:kv:default:";

/// The Redis key of a function's `key`.
pub fn redis_key(key: &str) -> String {
    format!("{KEY_PREFIX}{key}")
}

/// The `SCAN MATCH` pattern of every key starting with `prefix`: the glob characters of the
/// prefix escaped, then `*`.
pub fn match_pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(KEY_PREFIX.len() + prefix.len() + 1);
    out.push_str(KEY_PREFIX);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

fn failed(e: redis::RedisError) -> PlatformError {
    PlatformError::Store(e.to_string())
}

/// Why the store could not connect. No variant holds the URL, which may carry a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("ORIGO_REDIS_CA_FILE is for TLS: ORIGO_REDIS_URL must start with rediss://")]
    CaWithoutTls,
    #[error("cannot read ORIGO_REDIS_CA_FILE {}: {error}", path.display())]
    CaFile { path: PathBuf, error: std::io::Error },
    #[error("ORIGO_REDIS_CA_FILE {} holds no PEM certificate", .0.display())]
    CaNotPem(PathBuf),
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
}

/// What the Redis says it does with a write it has acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// `appendonly yes`, synced as `appendfsync` says.
    AppendOnly { fsync: String },
    /// `appendonly no`: a crash or restart of Redis can lose acknowledged writes.
    NotPersisted,
    /// `CONFIG GET` was refused or answered nothing (managed services often disable it).
    Unknown(String),
}

/// Asks the Redis on `conn` how it persists writes (`CONFIG GET appendonly`, `appendfsync`).
pub async fn persistence(conn: &mut impl redis::aio::ConnectionLike) -> Persistence {
    async fn config_get(conn: &mut impl redis::aio::ConnectionLike, name: &str) -> Result<Option<String>, String> {
        let reply: HashMap<String, String> =
            redis::cmd("CONFIG").arg("GET").arg(name).query_async(conn).await.map_err(|e| e.to_string())?;
        Ok(reply.get(name).cloned())
    }
    match config_get(conn, "appendonly").await {
        Err(e) => Persistence::Unknown(e),
        Ok(None) => Persistence::Unknown("CONFIG GET appendonly answered nothing".into()),
        Ok(Some(v)) if v.eq_ignore_ascii_case("no") => Persistence::NotPersisted,
        Ok(Some(_)) => Persistence::AppendOnly {
            fsync: config_get(conn, "appendfsync").await.ok().flatten().unwrap_or_else(|| "unknown".into()),
        },
    }
}

/// A client for `url`, trusting the PEM CA in `ca_file` when given (TLS only).
fn client(url: &str, ca_file: Option<&Path>) -> Result<redis::Client, ConnectError> {
    let tls = url.trim_start().to_ascii_lowercase().starts_with("rediss://");
    if tls {
        // The process's rustls provider for the connections the redis crate builds (another
        // part of the process may have installed one already, which is as good).
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    match ca_file {
        None => Ok(redis::Client::open(url)?),
        Some(_) if !tls => Err(ConnectError::CaWithoutTls),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|error| ConnectError::CaFile { path: path.to_owned(), error })?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(ConnectError::CaNotPem(path.to_owned()));
            }
            Ok(redis::Client::build_with_tls(url, redis::TlsCertificates { client_tls: None, root_cert: Some(pem) })?)
        }
    }
}

/// The store, over one multiplexed connection that reconnects by itself.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`; `rediss://user:password@host:port/db` for
    /// TLS, trusting the PEM CA in `ca_file` when given), and logs whether that Redis persists
    /// writes: a warning when it does not. One plain connection comes first, so a refused
    /// password or an untrusted certificate fails the start at once instead of being retried.
    pub async fn connect(url: &str, ca_file: Option<&Path>) -> Result<Self, ConnectError> {
        let client = client(url, ca_file)?;
        let addr = client.get_connection_info().addr().to_string();
        let mut first = client.get_multiplexed_async_connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut first).await?;
        match persistence(&mut first).await {
            Persistence::NotPersisted => tracing::warn!(
                redis = %addr,
                "Redis does not persist writes (appendonly no): if it restarts or crashes it loses writes the functions have already acknowledged; run it with appendonly yes (appendfsync always to survive a power loss too)"
            ),
            Persistence::AppendOnly { fsync } => {
                tracing::info!(redis = %addr, appendfsync = fsync.as_str(), "Redis persists writes (appendonly yes)")
            }
            Persistence::Unknown(why) => tracing::info!(
                redis = %addr,
                reason = why.as_str(),
                "Redis persistence could not be checked (CONFIG GET appendonly); make sure it persists writes (appendonly yes, or the service's equivalent)"
            ),
        }
        drop(first);
        Ok(RedisStore { conn: ConnectionManager::new(client).await? })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        self.conn.clone().get(redis_key(key)).await.map_err(failed)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), PlatformError> {
        self.conn.clone().set(redis_key(key), value).await.map_err(failed)
    }

    pub async fn delete(&self, key: &str) -> Result<(), PlatformError> {
        self.conn.clone().del(redis_key(key)).await.map_err(failed)
    }

    /// Adds `delta` to the counter at `key` and returns the new value; a new counter expires
    /// after `ttl_ms` (one script: `INCRBY`, then `PEXPIRE` when it was just made).
    pub async fn counter_add(&self, key: &str, delta: u64, ttl_ms: u64) -> Result<u64, PlatformError> {
        let script = redis::Script::new(
            "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) \
             if v == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end \
             return v",
        );
        let next: i64 = script
            .key(redis_key(key))
            .arg(delta)
            .arg(ttl_ms.max(1))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(failed)?;
        Ok(u64::try_from(next).unwrap_or(0))
    }

    /// Every key starting with `prefix`, sorted, without duplicates (`SCAN` may repeat one).
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, PlatformError> {
        let mut conn = self.conn.clone();
        let full_prefix = redis_key(prefix);
        let mut iter: redis::AsyncIter<'_, String> = conn.scan_match(match_pattern(prefix)).await.map_err(failed)?;
        let mut keys = Vec::new();
        while let Some(k) = iter.next_item().await {
            let k = k.map_err(failed)?;
            if k.starts_with(&full_prefix) {
                keys.push(k[KEY_PREFIX.len()..].to_owned());
            }
        }
        drop(iter);
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_patterns() {
        assert_eq!(redis_key("room:public:standup"), "origo:kv:default:room:public:standup");
        assert_eq!(match_pattern("chat:public:a"), "origo:kv:default:chat:public:a*");
        assert_eq!(match_pattern(r"a*b?[c]\d"), r"origo:kv:default:a\*b\?\[c\]\\d*");
        assert_eq!(match_pattern(""), "origo:kv:default:*");
    }
}
