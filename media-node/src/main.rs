//! `origo-media-node`: run a media node.

use std::net::SocketAddr;

use clap::Parser;
use origo_media_node::auth::{KeySource, Verifier};
use origo_media_node::node::{NodeConfig, start};
use origo_media_node::sfu::Limits;

/// Origo's SFU: WebRTC sessions over one UDP socket, created through an HTTP control API with
/// participant tokens the edge issued for this node.
#[derive(Parser, Debug)]
#[command(name = "origo-media-node", version)]
struct Args {
    /// Control API address.
    #[arg(long, env = "ORIGO_LISTEN", default_value = "127.0.0.1:7880")]
    listen: SocketAddr,
    /// UDP media address.
    #[arg(long, env = "ORIGO_MEDIA_UDP", default_value = "127.0.0.1:7882")]
    udp: SocketAddr,
    /// The address clients send media to, when it differs from --udp (NAT, 0.0.0.0 binds).
    #[arg(long, env = "ORIGO_MEDIA_PUBLIC_UDP")]
    public_udp: Option<SocketAddr>,
    /// This node's id in the registry (what the edge puts in participant tokens).
    #[arg(long, env = "ORIGO_NODE_ID", default_value = "media-1")]
    node_id: String,
    #[arg(long, env = "ORIGO_REGION", default_value = "eu-west")]
    region: String,
    /// SFU shards, each with its own UDP socket (port, port+1, …) and task; rooms are spread
    /// over them. 0: one per core.
    #[arg(long, env = "ORIGO_MEDIA_SHARDS", default_value_t = 0)]
    shards: usize,
    /// Sessions this node opens at most; once full, creates answer 503 and the heartbeat says
    /// so. 0: 200 per shard.
    #[arg(long, env = "ORIGO_CAPACITY", default_value_t = 0)]
    capacity: u32,
    /// Sessions one room may hold on this node, unless the participant token says
    /// (`room_sessions` claim).
    #[arg(long, env = "ORIGO_MEDIA_ROOM_SESSIONS", default_value_t = 100)]
    room_sessions: u32,
    /// Milliseconds a session may take to connect (ICE and DTLS) before it is closed.
    #[arg(long, env = "ORIGO_MEDIA_CONNECT_TIMEOUT_MS", default_value_t = 15_000)]
    connect_timeout_ms: u64,
    /// Tracks one session may publish.
    #[arg(long, env = "ORIGO_MEDIA_MAX_TRACKS", default_value_t = 8)]
    max_tracks: usize,
    /// m-lines one client offer may have, beyond those the node added for its subscriptions.
    #[arg(long, env = "ORIGO_MEDIA_MAX_MIDS", default_value_t = 16)]
    max_mids: usize,
    /// Sessions one participant may open a minute in one room, after a burst of 10 (0: no limit).
    #[arg(long, env = "ORIGO_MEDIA_SESSION_CREATES_PER_MINUTE", default_value_t = 30)]
    session_creates_per_minute: u32,
    /// The control API's URL as clients reach it (default http:// + --listen).
    #[arg(long, env = "ORIGO_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// The edge: heartbeats go to {edge}/v1/nodes/heartbeat, keys come from {edge}/.well-known/jwks.json.
    #[arg(long, env = "ORIGO_EDGE_URL")]
    edge_url: Option<String>,
    /// The node secret: heartbeats and usage reports carry it, and the room coordinators'
    /// control calls (close, mute) must.
    #[arg(long, env = "ORIGO_NODE_SECRET")]
    node_secret: Option<String>,
    /// Token signing keys (the edge's `token_signing_keys`), instead of fetching the JWKS.
    #[arg(long, env = "ORIGO_TOKEN_SIGNING_KEYS")]
    token_signing_keys: Option<String>,
    #[arg(long, env = "ORIGO_TOKEN_ISSUER", default_value = "origo")]
    token_issuer: String,
    /// Where usage waits until the edge acknowledges it (survives restarts).
    #[arg(long, env = "ORIGO_STATE_DIR", default_value = "origo-media-state")]
    state_dir: std::path::PathBuf,
    /// On SIGTERM, how long the calls running here may go on (no new sessions meanwhile)
    /// before their participants are moved to other nodes; 0 moves them at once.
    #[arg(long, env = "ORIGO_DRAIN_SECS", default_value_t = 600)]
    drain_secs: u64,
    /// PEM certificate chain for the control API: with --tls-key it serves HTTPS only (what a
    /// page served over https may call), advertised as https://<the certificate's first DNS
    /// name>:<port> unless --advertise-url says otherwise.
    #[arg(long, env = "ORIGO_TLS_CERT")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "ORIGO_TLS_KEY")]
    tls_key: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ORIGO_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let args_drain_secs = args.drain_secs;
    let tls = origo_tls_listener::CertificateFiles::from_options(args.tls_cert.clone(), args.tls_key.clone())?;
    let source = match (&args.token_signing_keys, &args.edge_url) {
        (Some(keys), _) => {
            let vars = |n: &str| (n == "token_signing_keys").then(|| keys.clone());
            let config = origo_media_node::auth::keys_from_variables(vars)?;
            KeySource::Fixed(config)
        }
        (None, Some(edge)) => KeySource::Jwks {
            url: format!("{}/.well-known/jwks.json", edge.trim_end_matches('/')),
            client: reqwest::Client::new(),
        },
        (None, None) => anyhow::bail!("give --edge-url (keys from its JWKS) or --token-signing-keys"),
    };
    let verifier = Verifier::new(args.node_id.clone(), args.token_issuer.clone(), source);
    let limits = Limits {
        connect_timeout: std::time::Duration::from_millis(args.connect_timeout_ms.max(1)),
        max_published_tracks: args.max_tracks,
        max_offer_mids: args.max_mids,
        room_sessions: args.room_sessions,
        creates_per_minute: args.session_creates_per_minute,
    };
    let registry = match (&args.edge_url, &args.node_secret) {
        (Some(edge), Some(secret)) => Some((edge.clone(), secret.clone())),
        _ => None,
    };
    let running = start(NodeConfig {
        node_id: args.node_id,
        region: args.region,
        listen: args.listen,
        udp: args.udp,
        public_udp: args.public_udp,
        shards: args.shards,
        advertise_url: args.advertise_url,
        capacity: args.capacity,
        limits,
        registry,
        node_secret: args.node_secret,
        verifier,
        usage_journal: Some(args.state_dir.join("usage-journal.json")),
        tls,
    })
    .await?;
    println!("origo-media-node listening on {} (udp {})", running.control_url, running.udp);
    shutdown_signal().await;
    // Drain: the calls here go on until they end or the deadline; a second signal stops now.
    tokio::select! {
        () = running.drain(std::time::Duration::from_secs(args_drain_secs)) => {}
        () = shutdown_signal() => tracing::info!("stopping before the drain ended"),
    }
    // Account for the time used up to now before going.
    running.flush_usage().await;
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: stopping"),
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => tracing::info!("SIGTERM: stopping"),
    }
}
