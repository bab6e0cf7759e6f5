//! A whole media node, wired: one task per SFU shard owns its SFU and UDP socket
//! ([`shard`](crate::shard)), the axum control API talks to them through commands
//! ([`control`]), the usage reporter journals participant time and sends it
//! to the edge ([`usage`]), and a registry agent heartbeats the node's load.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use origo_shared::node::{NodeAddresses, NodeHeartbeat, NodeKind};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use crate::auth::Verifier;
use crate::command::Shards;
use crate::control::{self, Api};
use crate::session_capacity::SessionCapacity;
use crate::sfu::{Limits, Sfu};
use crate::usage;
use origo_registry_agent::usage_journal::Journal;

/// How the node runs.
pub struct NodeConfig {
    pub node_id: String,
    pub region: String,
    /// HTTP control API address.
    pub listen: SocketAddr,
    /// UDP media address (bound; also the ICE candidate unless `public_udp` is set). Shard
    /// `i` uses the port plus `i` (all ephemeral with port 0).
    pub udp: SocketAddr,
    pub public_udp: Option<SocketAddr>,
    /// Independent SFU shards (each its own socket and task, rooms spread over them by
    /// name); 0: one per core.
    pub shards: usize,
    /// The control API's URL as clients reach it (default `http://` + the bound address).
    pub advertise_url: Option<String>,
    /// Sessions the node opens at most (0: [`SESSIONS_PER_SHARD`] per shard); once full,
    /// creates answer 503 and the heartbeat says `load >= capacity`.
    pub capacity: u32,
    /// What each shard's sessions may hold.
    pub limits: Limits,
    /// The edge to heartbeat to, and the node secret.
    pub registry: Option<(String, String)>,
    /// The node secret the edge's room coordinators present on the control calls (closing and
    /// muting participants); without it those calls are refused.
    pub node_secret: Option<String>,
    pub verifier: Arc<Verifier>,
    /// Where usage waits until the registry takes it (memory only when `None`).
    pub usage_journal: Option<std::path::PathBuf>,
    /// The control API's certificate and key: with them it speaks only HTTPS, and is advertised
    /// under the certificate's first DNS name unless `advertise_url` says otherwise.
    pub tls: Option<origo_tls_listener::CertificateFiles>,
}

/// The default session cap per shard (one shard per core).
pub const SESSIONS_PER_SHARD: u32 = 200;

/// A running node.
pub struct Running {
    pub control: SocketAddr,
    /// The first shard's UDP address (`udp_all`: every shard's).
    pub udp: SocketAddr,
    pub udp_all: Vec<SocketAddr>,
    pub control_url: String,
    flush: mpsc::Sender<oneshot::Sender<()>>,
    sessions: SessionCapacity,
    drain: crate::drain::Drain,
}

impl Running {
    /// Stops taking sessions and lets the calls here go on until they end or `deadline`
    /// passes, then asks for the participants still here to be moved ([`crate::drain`]).
    pub async fn drain(&self, deadline: std::time::Duration) {
        self.drain.run(&self.sessions, &self.sessions.full_signal(), deadline).await;
    }

    /// Journals the usage so far and tries once to report it (for a graceful stop).
    pub async fn flush_usage(&self) {
        let (tx, rx) = oneshot::channel();
        if self.flush.send(tx).await.is_ok() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rx).await;
        }
    }
}

/// Binds, starts the SFU task, the control API and the registry agent.
pub async fn start(config: NodeConfig) -> anyhow::Result<Running> {
    let n = match config.shards {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n,
    }
    .min(64);
    let offset = |a: SocketAddr, i: usize| -> anyhow::Result<SocketAddr> {
        if a.port() == 0 {
            return Ok(a);
        }
        let port = u16::try_from(usize::from(a.port()) + i).map_err(|_| anyhow::anyhow!("UDP ports run past 65535"))?;
        Ok(SocketAddr::new(a.ip(), port))
    };
    let mut sockets = Vec::new();
    let mut candidates = Vec::new();
    for i in 0..n {
        let socket = UdpSocket::bind(offset(config.udp, i)?).await?;
        let bound = socket.local_addr()?;
        candidates.push(match config.public_udp {
            Some(p) => offset(p, i)?,
            None => bound,
        });
        sockets.push(socket);
    }
    let udp_all: Vec<SocketAddr> = sockets.iter().filter_map(|s| s.local_addr().ok()).collect();
    let udp = udp_all[0];
    let listener = TcpListener::bind(config.listen).await?;
    let control = listener.local_addr()?;
    let tls = match &config.tls {
        Some(files) => Some((files.acceptor()?, files.dns_names()?)),
        None => None,
    };
    let control_url = match (&config.advertise_url, &tls) {
        (Some(url), _) => url.clone(),
        (None, Some((_, names))) => {
            let name = names.first().ok_or_else(|| {
                anyhow::anyhow!("the control API's certificate holds no DNS name to advertise: give --advertise-url https://NAME:PORT")
            })?;
            format!("https://{name}:{}", control.port())
        }
        (None, None) => format!("http://{control}"),
    };
    let sessions = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
    let journal = Journal::open(config.usage_journal.as_deref())?;
    if !journal.pending().is_empty() {
        tracing::info!(reports = journal.pending().len(), "usage from before the restart will be reported");
    }
    let mut senders = Vec::new();
    for (i, (socket, candidate)) in sockets.into_iter().zip(candidates.iter()).enumerate() {
        let (commands, rx) = mpsc::channel(256);
        let sfu = Sfu::with_ids(*candidate, i as u64 + 1, n as u64).with_limits(config.limits);
        tokio::spawn(crate::shard::run(sfu, socket, rx, sessions.clone(), i));
        senders.push(commands);
    }
    let shards = Shards::new(senders, sessions.clone());
    let (flush, flushes) = mpsc::channel(4);
    tokio::spawn(usage::report(shards.clone(), config.node_id.clone(), config.registry.clone(), journal, flushes));

    let capacity = match config.capacity {
        0 => SESSIONS_PER_SHARD.saturating_mul(n as u32),
        c => c,
    };
    let sessions_cap = SessionCapacity::new(capacity as usize, sessions.clone());
    let drain = crate::drain::Drain::default();
    let api = Arc::new(Api {
        shards,
        verifier: config.verifier.clone(),
        node_id: config.node_id.clone(),
        capacity: sessions_cap.clone(),
        candidates: candidates.clone(),
        limits: config.limits,
        setups: tokio::sync::Semaphore::new(n),
        node_secret: config.node_secret.clone(),
        create_rate: crate::create_rate::CreateRate::new(config.limits.creates_per_minute),
        drain: drain.clone(),
        http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap_or_default(),
    });
    let router = control::router(api);
    let served = match tls {
        Some((acceptor, _)) => {
            let listener = origo_tls_listener::TlsListener::new(listener, acceptor)?;
            tokio::spawn(async move { axum::serve(listener, router).await })
        }
        None => tokio::spawn(async move { axum::serve(listener, router).await }),
    };
    tokio::spawn(async move {
        if let Ok(Err(e)) = served.await {
            tracing::error!("media control API stopped: {e}");
        }
    });

    if let Some((registry, secret)) = config.registry {
        let (id, region, url) = (config.node_id.clone(), config.region.clone(), control_url.clone());
        let wake = sessions_cap.full_signal();
        let (cap, stop) = (sessions_cap.clone(), drain.clone());
        tokio::spawn(origo_registry_agent::run_woken(
            registry,
            Some(secret),
            move || {
                Some(NodeHeartbeat {
                    id: id.clone(),
                    region: region.clone(),
                    kind: NodeKind::Media,
                    addresses: NodeAddresses {
                        control_url: Some(url.clone()),
                        udp: candidates.iter().map(ToString::to_string).collect(),
                        ice_urls: vec![],
                    },
                    capacity,
                    load: u32::try_from(cap.load()).unwrap_or(u32::MAX),
                    draining: stop.is_draining(),
                    leaving: stop.is_leaving(),
                    version: Some(env!("CARGO_PKG_VERSION").into()),
                })
            },
            wake,
        ));
    }
    tracing::info!(%control, udp = ?udp_all, node = %config.node_id, "media node ready");
    Ok(Running { control, udp, udp_all, control_url, flush, sessions: sessions_cap, drain })
}
