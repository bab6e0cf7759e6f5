//! How `origo` reaches Redis: a `redis://` or `rediss://` (TLS) URL with its credentials
//! (`rediss://user:password@host:port/db`), an optional private CA for TLS, a first connection
//! checked once so that a wrong address, password or certificate stops start-up with a clear
//! error instead of being retried, and the check that the Redis keeps what it acknowledges.
//!
//! TLS is rustls; the server's certificate is checked against the Mozilla roots compiled in
//! (what managed Redis services present) or, with a CA file, against that CA alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redis::aio::ConnectionManager;

/// How long the first connection (TCP, TLS, authentication, one `PING`) may take, attempts at
/// a Redis that is still starting included.
const FIRST_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `origo` could not connect to Redis. No variant holds the URL, which may carry a password.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the Redis URL is not valid (redis://[user:password@]host:port/db, rediss:// for TLS): {0}")]
    Url(redis::RedisError),
    #[error("--redis-ca-file (ORIGO_REDIS_CA_FILE) is for TLS: the Redis URL must start with rediss://")]
    CaWithoutTls,
    #[error("cannot read the Redis CA file {}: {error}", path.display())]
    CaFile { path: PathBuf, error: std::io::Error },
    #[error("the Redis CA file {} holds no PEM certificate", .0.display())]
    CaNotPem(PathBuf),
    #[error("cannot connect to Redis at {addr}: {error}")]
    Connect { addr: String, error: redis::RedisError },
    #[error("Redis at {addr} did not answer within {} s", FIRST_CONNECTION_TIMEOUT.as_secs())]
    Timeout { addr: String },
}

/// What the Redis says it does with a write it has acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persistence {
    /// `appendonly yes`: every write is appended to the AOF, synced as `appendfsync` says
    /// (`always`, `everysec`, `no`).
    AppendOnly { fsync: String },
    /// `appendonly no`: writes live in memory (and in snapshots, if any) and a crash or a
    /// restart of Redis can lose acknowledged ones.
    NotPersisted,
    /// `CONFIG GET` was refused or answered nothing (managed services often disable it).
    Unknown(String),
}

/// A Redis client for `url`, trusting the PEM CA in `ca_file` when given (TLS only).
pub fn client(url: &str, ca_file: Option<&Path>) -> Result<redis::Client, ConnectError> {
    let tls = url.trim_start().to_ascii_lowercase().starts_with("rediss://");
    if tls {
        // The process's rustls provider, for the connections the redis crate builds; another
        // part of the process may have installed one already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    match ca_file {
        None => redis::Client::open(url).map_err(ConnectError::Url),
        Some(_) if !tls => Err(ConnectError::CaWithoutTls),
        Some(path) => {
            let pem = std::fs::read(path).map_err(|error| ConnectError::CaFile { path: path.to_owned(), error })?;
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(ConnectError::CaNotPem(path.to_owned()));
            }
            let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
            redis::Client::build_with_tls(url, certs).map_err(ConnectError::Url)
        }
    }
}

/// The address of `client`'s Redis as logs and errors name it (`host:port`, no credentials).
pub fn address(client: &redis::Client) -> String {
    client.get_connection_info().addr().to_string()
}

/// Connects to Redis at `url` and returns a connection that reconnects by itself. The first
/// connection is checked (TCP, TLS, authentication, a `PING`) within a bounded time: a server
/// that is still starting (connection refused, `LOADING`) is tried again until then, but a
/// refused password or an untrusted certificate is an error at once. It also logs, once,
/// whether the Redis persists what it acknowledges ([`log_persistence`]).
pub async fn connect(url: &str, ca_file: Option<&Path>) -> Result<ConnectionManager, ConnectError> {
    let client = client(url, ca_file)?;
    let addr = address(&client);
    let deadline = tokio::time::Instant::now() + FIRST_CONNECTION_TIMEOUT;
    let persisted = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, first_connection(&client, left)).await {
            Err(_) => return Err(ConnectError::Timeout { addr }),
            Ok(Ok(p)) => break p,
            Ok(Err(e)) if still_starting(&e) && tokio::time::Instant::now() + RETRY_PAUSE < deadline => {
                tracing::debug!(redis = %addr, "Redis is not ready yet: {e}");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Ok(Err(error)) => return Err(ConnectError::Connect { addr, error }),
        }
    };
    log_persistence(&addr, &persisted);
    ConnectionManager::new(client).await.map_err(|error| ConnectError::Connect { addr, error })
}

/// Between attempts at a Redis that is still starting.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// One connection, authenticated and answering, and what it says of persistence.
async fn first_connection(client: &redis::Client, timeout: Duration) -> redis::RedisResult<Persistence> {
    let config =
        redis::AsyncConnectionConfig::new().set_connection_timeout(Some(timeout)).set_response_timeout(Some(timeout));
    let mut conn = client.get_multiplexed_async_connection_with_config(&config).await?;
    // Authentication errors (NOAUTH, WRONGPASS) surface on the first command at the latest.
    let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    Ok(persistence(&mut conn).await)
}

/// A Redis that is starting up: not listening yet, or loading its data.
fn still_starting(e: &redis::RedisError) -> bool {
    e.is_connection_refusal() || e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
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

/// Logs what [`persistence`] found: a warning when the Redis at `addr` does not persist writes.
pub fn log_persistence(addr: &str, persistence: &Persistence) {
    match persistence {
        Persistence::NotPersisted => tracing::warn!(
            redis = addr,
            "Redis does not persist writes (appendonly no): if it restarts or crashes it loses writes origo has already acknowledged, so \"durable before visible\" does not hold; run it with appendonly yes (appendfsync always to survive a power loss too)"
        ),
        Persistence::AppendOnly { fsync } => {
            tracing::info!(redis = addr, appendfsync = fsync.as_str(), "Redis persists writes (appendonly yes)")
        }
        Persistence::Unknown(why) => tracing::info!(
            redis = addr,
            reason = why.as_str(),
            "Redis persistence could not be checked (CONFIG GET appendonly); make sure it persists writes (appendonly yes, or the service's equivalent)"
        ),
    }
}
