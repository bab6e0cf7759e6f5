//! Flags of `origo-turn`, named after coturn's so operators feel at home. Each also reads an
//! `ORIGO_TURN_*` environment variable (lists are comma-separated there).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

use crate::stream_limits::StreamLimits;

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

    /// Quotas, rate limits, connection caps and timeouts.
    #[command(flatten)]
    pub limits: Limits,

    /// Allow loopback peers. For tests and benchmarks only: never in production.
    #[arg(long, env = "ORIGO_TURN_ALLOW_LOOPBACK_PEERS")]
    pub allow_loopback_peers: bool,

    /// Peer networks relayed to although the default rules deny them (CIDR, repeatable or
    /// comma-separated), e.g. the private network of your own media nodes; like coturn's
    /// `allowed-peer-ip`. Loopback stays denied (see `--allow-loopback-peers`).
    #[arg(long = "allowed-peer-ip", env = "ORIGO_TURN_ALLOWED_PEER_IPS", value_delimiter = ',', value_name = "CIDR")]
    pub allowed_peer_ip: Vec<origo_shared::destination_policy::IpNet>,

    /// Address of the HTTP endpoint serving /health and /metrics.
    #[arg(long, env = "ORIGO_TURN_METRICS_LISTEN", default_value = "127.0.0.1:9478")]
    pub metrics_listen: SocketAddr,

    /// Where state is kept: the nonce key (so nonces survive a restart) and the usage journal
    /// (relay usage until the registry acknowledges it). `--state-dir` is the same flag.
    #[arg(long, alias = "state-dir", env = "ORIGO_TURN_DATA_DIR", default_value = "./data")]
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

    /// On SIGTERM, how long the allocations running here may go on (new ones are refused
    /// with 508 and the heartbeat says `draining`, so joins get other TURN servers) before the
    /// node exits; it exits sooner once the last allocation has ended. A second SIGTERM stops
    /// it at once; 0 stops at once on the first.
    #[arg(long, env = "ORIGO_TURN_DRAIN_SECS", default_value_t = 600)]
    pub drain_secs: u64,
}

/// What one client may take: allocations per identity, bandwidth per allocation, answers to
/// unauthenticated requests per source, TCP/TLS connections and how long they may idle.
/// `Limits::default()` is what the flags default to.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct Limits {
    /// Allocations one identity (the user part of the `<expiry>:<user>` username, so every
    /// credential minted for it counts together) may hold at once.
    #[arg(long, env = "ORIGO_TURN_USER_QUOTA", default_value_t = 32)]
    pub user_quota: usize,

    /// Allocations the server holds at once.
    #[arg(long, env = "ORIGO_TURN_TOTAL_QUOTA", default_value_t = 10_000)]
    pub total_quota: usize,

    /// Bandwidth cap per allocation and direction, bits per second (0: none); datagrams over
    /// it are dropped.
    #[arg(long, env = "ORIGO_TURN_MAX_BPS", default_value_t = 16_000_000)]
    pub max_bps: u64,

    /// Unauthenticated answers (Binding responses, 401/438 challenges, errors before
    /// authentication) per source address per second; requests over it get no answer.
    #[arg(long, env = "ORIGO_TURN_UNAUTH_RATE", default_value_t = 100.0)]
    pub unauth_rate: f64,

    /// The burst of unauthenticated answers a source may have before the rate applies.
    #[arg(long, env = "ORIGO_TURN_UNAUTH_BURST", default_value_t = 200.0)]
    pub unauth_burst: f64,

    /// TCP and TLS connections open at once.
    #[arg(long, env = "ORIGO_TURN_MAX_TCP_CONNECTIONS", default_value_t = 4096)]
    pub max_tcp_connections: usize,

    /// TCP and TLS connections open at once from one source address (IPv6: one /64).
    #[arg(long, env = "ORIGO_TURN_MAX_TCP_CONNECTIONS_PER_IP", default_value_t = 128)]
    pub max_tcp_connections_per_ip: usize,

    /// Seconds a TCP/TLS connection without an allocation may go without a complete message.
    #[arg(long, env = "ORIGO_TURN_TCP_IDLE_TIMEOUT", default_value_t = 30)]
    pub tcp_idle_timeout: u64,

    /// Seconds a message on a TCP/TLS connection may stay incomplete.
    #[arg(long, env = "ORIGO_TURN_TCP_FRAME_TIMEOUT", default_value_t = 10)]
    pub tcp_frame_timeout: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            user_quota: 32,
            total_quota: 10_000,
            max_bps: 16_000_000,
            unauth_rate: 100.0,
            unauth_burst: 200.0,
            max_tcp_connections: 4096,
            max_tcp_connections_per_ip: 128,
            tcp_idle_timeout: 30,
            tcp_frame_timeout: 10,
        }
    }
}

impl Limits {
    /// The connection limits of the shell.
    pub fn streams(&self) -> StreamLimits {
        StreamLimits {
            max_total: self.max_tcp_connections,
            max_per_source: self.max_tcp_connections_per_ip,
            idle_timeout: Duration::from_secs(self.tcp_idle_timeout.max(1)),
            frame_timeout: Duration::from_secs(self.tcp_frame_timeout.max(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_flags_defaults() {
        let o = Options::parse_from(["origo-turn", "--auth-secret", "s"]);
        assert_eq!(o.limits, Limits::default());
        assert!(o.limits.max_bps > 0, "a bandwidth cap is on by default");
        assert_eq!(o.limits.streams(), StreamLimits::default());
    }
}
