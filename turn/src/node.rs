//! A whole TURN node — core, listeners, metrics endpoint, registry heartbeats, relay usage
//! journaled and reported — run on the calling thread until a shutdown future resolves. The `origo-turn` binary and `origo dev`
//! both start one this way.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use origo_registry_agent::usage_reporter::Registry;
use origo_shared::turn_credentials::TurnSecrets;
use tokio::sync::{Notify, mpsc, oneshot};

use crate::config::Options;
use crate::metrics::{self, Snapshot};
use crate::own_addresses::OwnAddresses;
use crate::peer_policy::PeerPolicy;
use crate::registry::{self, Announcement};
use crate::relay::RelayPorts;
use crate::relay_usage::DatedRelayUsage;
use crate::server::{Config, TurnServer};
use crate::shell::Shell;
use crate::usage;

/// Where a started node listens.
#[derive(Debug, Clone, Default)]
pub struct Listening {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    pub metrics: Option<SocketAddr>,
}

impl Listening {
    /// The lines `origo-turn` prints on start.
    pub fn lines(&self) -> Vec<String> {
        let mut l: Vec<String> = Vec::new();
        for (u, t) in self.udp.iter().zip(&self.tcp) {
            l.push(format!("origo-turn udp {u}"));
            l.push(format!("origo-turn tcp {t}"));
        }
        l.extend(self.tls.iter().map(|a| format!("origo-turn tls {a}")));
        if let Some(m) = self.metrics {
            l.push(format!("origo-turn metrics http://{m}"));
        }
        l
    }
}

/// How long a stopping node waits for its last usage report.
const FINAL_REPORT_WAIT: Duration = Duration::from_secs(5);

/// Runs a node with `opts` on this thread; `on_ready` gets the bound addresses once every
/// listener is up. When `shutdown` resolves the node drains (see [`drain`]) for up to
/// `--drain-secs`, or until `hurry` resolves; then it returns, after journaling (and, with a
/// registry, trying to report) the relay usage so far.
pub fn run(
    opts: Options,
    on_ready: impl FnOnce(&Listening),
    shutdown: impl Future<Output = ()>,
    hurry: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    anyhow::ensure!(!opts.listen.is_empty(), "at least one --listen address is needed");
    anyhow::ensure!(opts.min_port <= opts.max_port, "--min-port must not exceed --max-port");
    if opts.allow_loopback_peers {
        tracing::warn!("--allow-loopback-peers is on: this server relays to loopback (tests and benchmarks only)");
    }

    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("cannot create data dir {}", opts.data_dir.display()))?;
    let nonce_key = load_or_create_key(&opts.data_dir.join("turn-nonce.key"))?;
    let secrets = TurnSecrets::new(opts.auth_secret.iter().filter(|s| !s.is_empty()));
    anyhow::ensure!(!secrets.is_empty(), "--auth-secret must not be empty");
    let relay_ip = opts.relay_ip.unwrap_or(opts.listen[0].ip());
    let config = Config {
        realm: opts.realm.clone(),
        user_quota: opts.limits.user_quota,
        total_quota: opts.limits.total_quota,
        max_bps: (opts.limits.max_bps > 0).then_some(opts.limits.max_bps),
        unauth_rate: opts.limits.unauth_rate,
        unauth_burst: opts.limits.unauth_burst,
        external_ip: opts.external_ip,
        ipv4_relay: relay_ip.is_ipv4(),
        ipv6_relay: relay_ip.is_ipv6(),
        ..Config::default()
    };
    let policy = opts
        .allowed_peer_ip
        .iter()
        .fold(PeerPolicy::new().allow_loopback(opts.allow_loopback_peers), |p, net| p.allow_network(*net));
    if !opts.allowed_peer_ip.is_empty() {
        let nets: Vec<String> = opts.allowed_peer_ip.iter().map(|n| n.to_string()).collect();
        tracing::info!(networks = %nets.join(","), "relaying to these networks although the default rules deny them");
    }
    let core = TurnServer::new(config, secrets, nonce_key, policy);
    let mut seed = [0u8; 2];
    let _ = getrandom03::fill(&mut seed);
    let ports = RelayPorts::new(relay_ip, opts.min_port, opts.max_port, u16::from_be_bytes(seed));
    let tls_acceptor = match (&opts.cert, &opts.pkey) {
        (Some(c), Some(k)) => Some(origo_tls_listener::acceptor(c, k, &[])?),
        (None, None) => None,
        _ => anyhow::bail!("--cert and --pkey go together"),
    };
    let snapshot = Arc::new(Mutex::new(Snapshot::default()));
    let journal = usage::open_journal(&opts.data_dir)
        .with_context(|| format!("cannot open the usage journal in {}", opts.data_dir.display()))?;
    if !journal.pending().is_empty() {
        tracing::info!(reports = journal.pending().len(), "relay usage from before the restart will be reported");
    }
    let usage_registry = match (&opts.registry, &opts.node_token) {
        (Some(url), Some(secret)) => Some(Registry { url: url.clone(), secret: secret.clone() }),
        (Some(_), None) => {
            tracing::warn!("--registry without --node-token: relay usage is journaled, not reported");
            None
        }
        _ => None,
    };
    let relayed = Arc::new(Mutex::new(DatedRelayUsage::default()));

    // Metrics and registry heartbeats run on their own thread; the relay loop on this one.
    let side = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let metrics_addr = side
        .block_on(metrics::serve(opts.metrics_listen, snapshot.clone()))
        .with_context(|| format!("cannot listen on {}", opts.metrics_listen))?;
    let (flush, flushes) = mpsc::channel(4);
    side.spawn(usage::report(opts.node_id.clone(), usage_registry, journal, relayed.clone(), flushes));

    // TURN listens on UDP and TCP on the same port. For `:0` pick a port free for both, and
    // hold its TCP side, so another program cannot take the TCP port in between.
    let mut held_tcp = std::collections::HashMap::new();
    let mut listen = Vec::new();
    for a in &opts.listen {
        if a.port() != 0 {
            listen.push(*a);
            continue;
        }
        let (addr, tcp) = free_udp_and_tcp_port(*a).with_context(|| format!("no port free for UDP and TCP on {a}"))?;
        held_tcp.insert(addr, tcp);
        listen.push(addr);
    }

    let stream_limits = opts.limits.streams();
    let heartbeat_now = Arc::new(Notify::new());
    let side_handle = side.handle().clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let (shell, udp_addrs) =
            Shell::new(core, &listen, ports, stream_limits, snapshot.clone(), relayed)
                .await
                .context("cannot bind the UDP listeners")?;
        let mut listening = Listening { metrics: Some(metrics_addr), ..Listening::default() };
        for addr in &udp_addrs {
            let tcp = match held_tcp.remove(addr) {
                Some(held) => {
                    held.set_nonblocking(true)?;
                    tokio::net::TcpListener::from_std(held)?
                }
                None => tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on tcp {addr}"))?,
            };
            listening.udp.push(*addr);
            listening.tcp.push(tcp.local_addr()?);
            shell.serve_tcp(tcp);
        }
        if let Some(acceptor) = tls_acceptor {
            let wanted = if opts.tls_listen.is_empty() {
                vec![SocketAddr::new(opts.listen[0].ip(), 5349)]
            } else {
                opts.tls_listen.clone()
            };
            for addr in wanted {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on tls {addr}"))?;
                listening.tls.push(l.local_addr()?);
                shell.serve_tls(l, acceptor.clone());
            }
        }
        // Every listener (TCP shares the UDP ports) is refused as a peer.
        let listeners: Vec<SocketAddr> =
            listening.udp.iter().chain(&listening.tls).copied().chain([metrics_addr]).collect();
        shell.set_own_addresses(OwnAddresses::new(&listeners, Some(relay_ip), opts.external_ip));
        if let Some(url) = &opts.registry {
            let public = opts.external_ip.unwrap_or(udp_addrs[0].ip());
            let host = |a: &SocketAddr| SocketAddr::new(public, a.port()).to_string();
            let mut ice_urls: Vec<String> = udp_addrs
                .iter()
                .flat_map(|a| [format!("turn:{}?transport=udp", host(a)), format!("turn:{}?transport=tcp", host(a))])
                .collect();
            ice_urls.extend(listening.tls.iter().map(|a| format!("turns:{}?transport=tcp", host(a))));
            let announcement = Announcement {
                registry: url.clone(),
                token: opts.node_token.clone(),
                node_id: opts.node_id.clone(),
                region: opts.region.clone(),
                ice_urls,
            };
            side_handle.spawn(registry::run(announcement, snapshot.clone(), heartbeat_now.clone()));
        }
        tracing::info!(udp = ?listening.udp, tls = ?listening.tls, %metrics_addr, relay_ip = %relay_ip, "origo-turn started");
        on_ready(&listening);
        shutdown.await;
        drain(&shell, &heartbeat_now, Duration::from_secs(opts.drain_secs), hurry).await;
        tracing::info!("origo-turn stopping");
        shell.gather_relayed();
        let (done, reported) = oneshot::channel();
        if flush.send(done).await.is_ok() && tokio::time::timeout(FINAL_REPORT_WAIT, reported).await.is_err() {
            tracing::warn!("the last usage report is still under way; it stays journaled");
        }
        drop(shell);
        anyhow::Ok(())
    })?;
    side.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// How often a draining node counts its allocations.
const DRAIN_POLL: Duration = Duration::from_millis(250);

/// A graceful stop: new allocations are refused (508) and the registry hears at once that the
/// node is draining, so joins are offered other TURN servers; the allocations running go on
/// until they have all ended, `within` has passed or `hurry` resolves. A client whose relay
/// goes away with the node keeps its call through its other candidates (the join offers TURN
/// servers in two regions).
async fn drain(shell: &Shell, heartbeat_now: &Notify, within: Duration, hurry: impl Future<Output = ()>) {
    if within.is_zero() {
        return;
    }
    shell.start_draining();
    heartbeat_now.notify_one();
    tracing::info!(allocations = shell.allocations(), deadline_secs = within.as_secs(), "draining: no new allocations");
    let emptied = async {
        while shell.allocations() > 0 {
            tokio::time::sleep(DRAIN_POLL).await;
        }
    };
    tokio::select! {
        () = emptied => tracing::info!("drained: every allocation ended"),
        () = tokio::time::sleep(within) => tracing::info!(allocations = shell.allocations(), "drain deadline passed"),
        () = hurry => tracing::info!(allocations = shell.allocations(), "stopping at once (a second signal)"),
    }
}

/// The nonce key, created once (mode 0600) so nonces stay valid across restarts.
fn load_or_create_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(bytes) = std::fs::read(path)
        && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(key);
    }
    let mut key = [0u8; 32];
    getrandom03::fill(&mut key).map_err(|e| anyhow::anyhow!("no OS random source: {e}"))?;
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path).and_then(|mut f| f.write_all(&key)).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}

/// An ephemeral port on `addr`'s IP that is free for both UDP and TCP; the TCP listener is
/// returned bound (the UDP probe is released for the shell to bind at once).
fn free_udp_and_tcp_port(addr: SocketAddr) -> std::io::Result<(SocketAddr, std::net::TcpListener)> {
    let mut last = None;
    for _ in 0..64 {
        let udp = std::net::UdpSocket::bind(addr)?;
        let found = udp.local_addr()?;
        match std::net::TcpListener::bind(found) {
            Ok(tcp) => return Ok((found, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ephemeral_listen_port_is_free_for_udp_and_held_for_tcp() {
        for _ in 0..20 {
            let (addr, tcp) = free_udp_and_tcp_port("127.0.0.1:0".parse().unwrap()).unwrap();
            assert_ne!(addr.port(), 0);
            assert_eq!(tcp.local_addr().unwrap(), addr);
            assert!(std::net::TcpListener::bind(addr).is_err(), "the TCP side is held");
            std::net::UdpSocket::bind(addr).expect("the UDP side is free for the shell");
        }
    }
}
