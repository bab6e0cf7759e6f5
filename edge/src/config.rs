//! Command line and environment configuration of the `origo` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::function_host::Limits;
use crate::metrics_listener::MetricsListen;
use crate::redis_layout::RedisLayout;

/// Origo: an open video-meeting platform.
#[derive(Debug, Parser)]
#[command(name = "origo", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything on this machine with embedded defaults (no servers to install). Builds
    /// the function components when they are missing or stale and generates development secrets.
    Dev(ServeOptions),
    /// Run the edge tier: functions, room coordinators and the node registry.
    Edge(ServeOptions),
    /// Run room coordinators only, beside functions hosted elsewhere (Spin): the room
    /// WebSocket, the functions' command route, alarms and the node watcher, sharing rooms with
    /// the other processes on the same Redis.
    Coordinator(CoordinatorOptions),
}

impl Command {
    /// How the server runs.
    pub fn mode(&self) -> Mode {
        match self {
            Command::Dev(_) => Mode::Dev,
            Command::Edge(_) => Mode::Edge,
            Command::Coordinator(_) => Mode::Coordinator,
        }
    }

    pub fn log_format(&self) -> LogFormat {
        match self {
            Command::Dev(o) | Command::Edge(o) => o.log_format,
            Command::Coordinator(o) => o.log_format,
        }
    }
}

/// How `origo` runs: the whole platform on one machine, the edge tier, or its room
/// coordinators alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Builds stale components, fills development secrets, runs TURN and a media node in-process.
    Dev,
    /// Serves prebuilt components with the configuration it is given.
    Edge,
    /// Serves room coordinators and no functions.
    Coordinator,
}

impl Mode {
    /// The name `/health` reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Dev => "dev",
            Mode::Edge => "edge",
            Mode::Coordinator => "coordinator",
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings shared by the serving commands. Every flag can also be set as `ORIGO_*`.
#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    /// Address to serve HTTP on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "ORIGO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where Prometheus `/metrics` is served, on a listener of its own and never on `--listen`:
    /// `off` (the default), or an address such as `127.0.0.1:9080` (loopback or a private
    /// interface for the scraper; `127.0.0.1:0` picks a free port).
    #[arg(long, env = "ORIGO_METRICS_LISTEN", default_value = "off")]
    pub metrics_listen: MetricsListen,

    /// Directory where state is kept (created when missing).
    #[arg(long, env = "ORIGO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Log format.
    #[arg(long, env = "ORIGO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// The Spin manifest naming the function components and their routes.
    #[arg(long, env = "ORIGO_MANIFEST", default_value = "spin.toml")]
    pub manifest: PathBuf,

    /// Where compiled components are cached (default: DATA_DIR/cache/components).
    #[arg(long, env = "ORIGO_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Keep key-value data in Redis instead of the embedded store (`redis://127.0.0.1:6379/0`;
    /// `rediss://user:password@host:port/db` for TLS).
    #[arg(long, env = "ORIGO_REDIS")]
    pub redis: Option<String>,

    /// With a `rediss://` Redis: trust the CA certificates in this PEM file (a private CA)
    /// instead of the public roots.
    #[arg(long, env = "ORIGO_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// Where key-value records sit in Redis: `origo` (`origo:kv:{store}:{key}`) or `spin` (as
    /// Spin's Redis key-value backend keeps them, shared with a Spin deployment).
    #[arg(long, env = "ORIGO_REDIS_LAYOUT", value_enum, default_value = "origo")]
    pub redis_layout: RedisLayout,

    /// An application variable, `NAME=VALUE` (repeatable; also `ORIGO_VAR_NAME=VALUE`).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = crate::variables::parse_assignment)]
    pub vars: Vec<(String, String)>,

    /// Do not build missing or stale components (`origo dev` builds them by default).
    #[arg(long, env = "ORIGO_NO_BUILD")]
    pub no_build: bool,

    /// `origo dev` only: where the in-process TURN server listens, UDP and TCP (`off`: none).
    /// It runs when the manifest declares a `turn_secret` variable, and uses that secret.
    #[arg(long, env = "ORIGO_DEV_TURN_LISTEN", default_value = "127.0.0.1:3478")]
    pub turn_listen: String,

    /// `origo dev` only: where the in-process media node's control API listens (its UDP media
    /// port is picked on the same IP); `off`: none.
    #[arg(long, env = "ORIGO_DEV_MEDIA_LISTEN", default_value = "127.0.0.1:0")]
    pub media_listen: String,

    /// Linear memory one function instance may use, MiB.
    #[arg(long, env = "ORIGO_MAX_MEMORY_MB", default_value_t = 128)]
    pub max_memory_mb: usize,

    /// CPU time one request may spend in the function, ms.
    #[arg(long, env = "ORIGO_CPU_TIMEOUT_MS", default_value_t = 2000)]
    pub cpu_timeout_ms: u64,

    /// Total time one function request may take, ms.
    #[arg(long, env = "ORIGO_TIMEOUT_MS", default_value_t = 30_000)]
    pub timeout_ms: u64,

    /// Largest request body a function accepts, KiB.
    #[arg(long, env = "ORIGO_MAX_BODY_KB", default_value_t = 1024)]
    pub max_body_kb: usize,

    /// Largest response body a function may return, KiB.
    #[arg(long, env = "ORIGO_MAX_RESPONSE_KB", default_value_t = 8192)]
    pub max_response_kb: usize,

    /// Function instances alive at once.
    #[arg(long, env = "ORIGO_MAX_INSTANCES", default_value_t = 64)]
    pub max_instances: u32,

    /// Instances one function component may hold at once (0: half of --max-instances).
    #[arg(long, env = "ORIGO_MAX_INSTANCES_PER_COMPONENT", default_value_t = 0)]
    pub max_instances_per_component: u32,

    /// Function requests one client address may have in flight at once.
    #[arg(long, env = "ORIGO_MAX_IN_FLIGHT_PER_CLIENT", default_value_t = 16)]
    pub max_in_flight_per_client: u32,

    /// How long a request may wait for a function instance before a 503, ms.
    #[arg(long, env = "ORIGO_QUEUE_TIMEOUT_MS", default_value_t = 2_000)]
    pub queue_timeout_ms: u64,

    #[command(flatten)]
    pub rooms: RoomOptions,
}

/// The settings of `origo coordinator`. Every flag can also be set as `ORIGO_*`.
#[derive(Debug, Clone, Args)]
pub struct CoordinatorOptions {
    /// Address to serve HTTP on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "ORIGO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Log format.
    #[arg(long, env = "ORIGO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Where Prometheus `/metrics` is served, on a listener of its own and never on `--listen`:
    /// `off` (the default), or an address such as `127.0.0.1:9080` (loopback or a private
    /// interface for the scraper; `127.0.0.1:0` picks a free port).
    #[arg(long, env = "ORIGO_METRICS_LISTEN", default_value = "off")]
    pub metrics_listen: MetricsListen,

    /// The Spin manifest whose `[variables]` (declarations and defaults) apply; no component
    /// of it is served.
    #[arg(long, env = "ORIGO_MANIFEST", default_value = "spin.toml")]
    pub manifest: PathBuf,

    /// The Redis the functions and the other coordinators share (`redis://127.0.0.1:6379/0`;
    /// `rediss://user:password@host:port/db` for TLS).
    #[arg(long, env = "ORIGO_REDIS")]
    pub redis: String,

    /// With a `rediss://` Redis: trust the CA certificates in this PEM file (a private CA)
    /// instead of the public roots.
    #[arg(long, env = "ORIGO_REDIS_CA_FILE")]
    pub redis_ca_file: Option<PathBuf>,

    /// Where key-value records sit in Redis: `origo` or `spin` (beside a Spin deployment
    /// whose `default` store is Spin's Redis backend on the same URL).
    #[arg(long, env = "ORIGO_REDIS_LAYOUT", value_enum, default_value = "origo")]
    pub redis_layout: RedisLayout,

    /// An application variable, `NAME=VALUE` (repeatable; also `ORIGO_VAR_NAME=VALUE` and
    /// `SPIN_VARIABLE_NAME=VALUE`).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = crate::variables::parse_assignment)]
    pub vars: Vec<(String, String)>,

    #[command(flatten)]
    pub rooms: RoomOptions,
}

/// The room coordinators' settings, the same for every command that runs them.
#[derive(Debug, Clone, Args)]
pub struct RoomOptions {
    /// How other `origo` processes reach this one when they forward a room's WebSocket or a
    /// command to its owner (with `--redis`); default `http://` + the bound address, which
    /// must then be a specific one (not `0.0.0.0` or `[::]`).
    #[arg(long, env = "ORIGO_ADVERTISE_URL")]
    pub advertise_url: Option<String>,

    /// Room coordinators: how long a dropped participant keeps its place, ms.
    #[arg(long, env = "ORIGO_ROOM_GRACE_MS", default_value_t = 15_000)]
    pub room_grace_ms: u64,

    /// Room coordinators: how often a room sweeps stale participants, bills usage and renews seats, ms.
    #[arg(long, env = "ORIGO_ROOM_SWEEP_MS", default_value_t = 15_000)]
    pub room_sweep_ms: u64,

    /// Room coordinators: a participant silent this long (no message, no ping) is dropped, ms.
    #[arg(long, env = "ORIGO_ROOM_STALE_MS", default_value_t = 45_000)]
    pub room_stale_ms: u64,

    /// Room sockets: chat messages one connection may send at once (then `--room-chat-per-sec`).
    #[arg(long, env = "ORIGO_ROOM_CHAT_BURST", default_value_t = 20)]
    pub room_chat_burst: u32,

    /// Room sockets: chat messages a second one connection may send, sustained.
    #[arg(long, env = "ORIGO_ROOM_CHAT_PER_SEC", default_value_t = 5)]
    pub room_chat_per_sec: u32,

    /// Room sockets: other frames (pings, presence, tracks…) one connection may send at once.
    #[arg(long, env = "ORIGO_ROOM_FRAME_BURST", default_value_t = 60)]
    pub room_frame_burst: u32,

    /// Room sockets: other frames a second one connection may send, sustained.
    #[arg(long, env = "ORIGO_ROOM_FRAME_PER_SEC", default_value_t = 20)]
    pub room_frame_per_sec: u32,
}

impl RoomOptions {
    /// Refuses an advertised URL that would send forwarded rooms to whichever process dials it.
    /// Only with Redis do other processes use it. Without `--advertise-url` the default is
    /// `http://` + the bound address, so listening on every interface (`0.0.0.0`, `[::]`) needs
    /// an explicit one: which of the machine's addresses the others reach is the operator's to
    /// say, and `http://0.0.0.0:…` would connect each process to itself.
    pub fn check_advertise(&self, listen: SocketAddr, redis: bool) -> Result<(), String> {
        if !redis {
            return Ok(());
        }
        let Some(url) = &self.advertise_url else {
            if listen.ip().is_unspecified() {
                return Err(format!(
                    "--listen {listen} with --redis needs --advertise-url URL (ORIGO_ADVERTISE_URL): the address \
                     the other origo processes reach this one at, such as http://10.0.0.5:{}; \
                     http://{listen} would reach whichever process dials it",
                    listen.port()
                ));
            }
            return Ok(());
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("--advertise-url {url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--advertise-url {url:?}: the URL must be http:// or https://"));
        }
        let unspecified = match parsed.host_str() {
            Some(host) => host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified()),
            None => true,
        };
        if unspecified {
            return Err(format!(
                "--advertise-url {url:?}: name a host the other origo processes can reach (not 0.0.0.0 or [::])"
            ));
        }
        Ok(())
    }

    /// The URL other processes forward this one's rooms to: `--advertise-url` (without a
    /// trailing `/`), or `http://` + the bound address.
    pub fn advertise_url_for(&self, bound: SocketAddr) -> String {
        match &self.advertise_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }

    /// The room coordinators' timing.
    pub fn settings(&self) -> origo_functions::coordinator::Settings {
        origo_functions::coordinator::Settings {
            disconnect_grace_ms: self.room_grace_ms.max(100),
            sweep_ms: self.room_sweep_ms.max(100),
            stale_after_ms: self.room_stale_ms.max(1000),
            frames: origo_functions::coordinator::FrameLimits {
                chat_burst: self.room_chat_burst.max(1),
                chat_per_sec: self.room_chat_per_sec,
                other_burst: self.room_frame_burst.max(1),
                other_per_sec: self.room_frame_per_sec,
                ..Default::default()
            },
            ..Default::default()
        }
    }
}

impl ServeOptions {
    pub fn limits(&self) -> Limits {
        Limits {
            max_memory_bytes: self.max_memory_mb.max(1) << 20,
            cpu_timeout: Duration::from_millis(self.cpu_timeout_ms.max(10)),
            wall_timeout: Duration::from_millis(self.timeout_ms.max(10)),
            max_request_body: self.max_body_kb << 10,
            max_response_body: self.max_response_kb << 10,
            max_instances: self.max_instances.max(1),
            max_instances_per_component: self.max_instances_per_component,
            max_in_flight_per_client: self.max_in_flight_per_client.max(1),
            queue_timeout: Duration::from_millis(self.queue_timeout_ms.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms(advertise: Option<&str>) -> RoomOptions {
        RoomOptions {
            advertise_url: advertise.map(str::to_owned),
            room_grace_ms: 15_000,
            room_sweep_ms: 15_000,
            room_stale_ms: 45_000,
            room_chat_burst: 20,
            room_chat_per_sec: 5,
            room_frame_burst: 60,
            room_frame_per_sec: 20,
        }
    }

    #[test]
    fn every_interface_with_redis_needs_an_advertised_url() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let any6: SocketAddr = "[::]:8080".parse().unwrap();
        let one: SocketAddr = "10.0.0.5:8080".parse().unwrap();
        assert!(rooms(None).check_advertise(any, false).is_ok(), "no Redis, nothing forwarded");
        let refused = rooms(None).check_advertise(any, true).unwrap_err();
        assert!(refused.contains("--advertise-url"), "{refused}");
        assert!(rooms(None).check_advertise(any6, true).is_err());
        assert!(rooms(None).check_advertise(one, true).is_ok());
        assert!(rooms(Some("http://rooms-1.internal:8080")).check_advertise(any, true).is_ok());
        for bad in ["http://0.0.0.0:8080", "http://[::]:8080", "ftp://rooms-1:8080", "rooms-1:8080", "not a url"] {
            assert!(rooms(Some(bad)).check_advertise(one, true).is_err(), "{bad}");
        }
        assert_eq!(rooms(Some("http://rooms-1:8080/")).advertise_url_for(one), "http://rooms-1:8080");
        assert_eq!(rooms(None).advertise_url_for(one), "http://10.0.0.5:8080");
    }
}
