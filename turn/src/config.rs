//! Flags of `origo-turn`, named after coturn's so operators feel at home. Each also reads an
//! `ORIGO_TURN_*` environment variable (lists are comma-separated there).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Parser;

/// Origo's STUN/TURN server.
#[derive(Debug, Clone, Parser)]
#[command(name = "origo-turn", version, about)]
pub struct Options {
    /// UDP and TCP listening address (repeatable).
    #[arg(long = "listen", env = "ORIGO_TURN_LISTEN", value_delimiter = ',', default_value = "127.0.0.1:3478")]
    pub listen: Vec<SocketAddr>,

    /// TLS listening address (repeatable; needs --cert and --pkey). Default with a certificate:
    /// port 5349 on the first --listen IP.
    #[arg(long = "tls-listen", env = "ORIGO_TURN_TLS_LISTEN", value_delimiter = ',')]
    pub tls_listen: Vec<SocketAddr>,

    /// IP relay sockets are bound to (default: the first --listen IP).
    #[arg(long, env = "ORIGO_TURN_RELAY_IP")]
    pub relay_ip: Option<IpAddr>,

    /// Public IP advertised in XOR-RELAYED-ADDRESS when the relay IP is behind NAT.
    #[arg(long, env = "ORIGO_TURN_EXTERNAL_IP")]
    pub external_ip: Option<IpAddr>,

    /// Lowest relay port.
    #[arg(long, env = "ORIGO_TURN_MIN_PORT", default_value_t = 49152)]
    pub min_port: u16,

    /// Highest relay port.
    #[arg(long, env = "ORIGO_TURN_MAX_PORT", default_value_t = 65535)]
    pub max_port: u16,

    /// Authentication realm.
    #[arg(long, env = "ORIGO_TURN_REALM", default_value = "origo")]
    pub realm: String,

    /// TURN REST shared secret (repeatable: the first is current, all are accepted).
    #[arg(
        long = "auth-secret",
        env = "ORIGO_TURN_AUTH_SECRET",
        value_delimiter = ',',
        required = true,
        hide_env_values = true
    )]
    pub auth_secret: Vec<String>,

    /// TLS certificate chain (PEM).
    #[arg(long, env = "ORIGO_TURN_CERT")]
    pub cert: Option<PathBuf>,

    /// TLS private key (PEM).
    #[arg(long, env = "ORIGO_TURN_PKEY")]
    pub pkey: Option<PathBuf>,

    /// Allocations one user may hold at once.
    #[arg(long, env = "ORIGO_TURN_USER_QUOTA", default_value_t = 32)]
    pub user_quota: usize,

    /// Allocations the server holds at once.
    #[arg(long, env = "ORIGO_TURN_TOTAL_QUOTA", default_value_t = 10_000)]
    pub total_quota: usize,

    /// Bandwidth cap per allocation, bits per second (0: none).
    #[arg(long, env = "ORIGO_TURN_MAX_BPS", default_value_t = 0)]
    pub max_bps: u64,

    /// Allow loopback peers. For tests and benchmarks only: never in production.
    #[arg(long, env = "ORIGO_TURN_ALLOW_LOOPBACK_PEERS")]
    pub allow_loopback_peers: bool,

    /// Address of the HTTP endpoint serving /health and /metrics.
    #[arg(long, env = "ORIGO_TURN_METRICS_LISTEN", default_value = "127.0.0.1:9478")]
    pub metrics_listen: SocketAddr,

    /// Where state is kept (the nonce key, so nonces survive a restart).
    #[arg(long, env = "ORIGO_TURN_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The edge's base URL, to heartbeat this node into its registry (`http://edge:8080`).
    #[arg(long, env = "ORIGO_TURN_REGISTRY")]
    pub registry: Option<String>,

    /// Bearer token for the registry.
    #[arg(long, env = "ORIGO_TURN_NODE_TOKEN", hide_env_values = true)]
    pub node_token: Option<String>,

    /// This node's id in the registry.
    #[arg(long, env = "ORIGO_TURN_NODE_ID", default_value = "turn-1")]
    pub node_id: String,

    /// This node's region id.
    #[arg(long, env = "ORIGO_TURN_REGION", default_value = "eu-central")]
    pub region: String,
}
