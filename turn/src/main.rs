//! `origo-turn`: the STUN/TURN node binary.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use origo_shared::turn_credentials::TurnSecrets;
use origo_turn::config::Options;
use origo_turn::metrics::{self, Snapshot};
use origo_turn::peer_policy::PeerPolicy;
use origo_turn::registry::{self, Announcement};
use origo_turn::relay::RelayPorts;
use origo_turn::server::{Config, TurnServer};
use origo_turn::shell::Shell;
use origo_turn::tls;

fn main() -> anyhow::Result<()> {
    let opts = Options::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORIGO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
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
        user_quota: opts.user_quota,
        total_quota: opts.total_quota,
        max_bps: (opts.max_bps > 0).then_some(opts.max_bps),
        external_ip: opts.external_ip,
        ipv4_relay: relay_ip.is_ipv4(),
        ipv6_relay: relay_ip.is_ipv6(),
        ..Config::default()
    };
    let policy = PeerPolicy::new().allow_loopback(opts.allow_loopback_peers);
    let core = TurnServer::new(config, secrets, nonce_key, policy);
    let mut seed = [0u8; 2];
    let _ = getrandom03::fill(&mut seed);
    let ports = RelayPorts::new(relay_ip, opts.min_port, opts.max_port, u16::from_be_bytes(seed));
    let tls_acceptor = match (&opts.cert, &opts.pkey) {
        (Some(c), Some(k)) => Some(tls::acceptor(c, k)?),
        (None, None) => None,
        _ => anyhow::bail!("--cert and --pkey go together"),
    };
    let snapshot = Arc::new(Mutex::new(Snapshot::default()));

    // Metrics and registry heartbeats run on their own thread; the relay loop on this one.
    let side = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let metrics_addr = side
        .block_on(metrics::serve(opts.metrics_listen, snapshot.clone()))
        .with_context(|| format!("cannot listen on {}", opts.metrics_listen))?;

    let side_handle = side.handle().clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let (shell, udp_addrs) =
            Shell::new(core, &opts.listen, ports, snapshot.clone()).await.context("cannot bind the UDP listeners")?;
        let mut lines = Vec::new();
        for addr in &udp_addrs {
            lines.push(format!("origo-turn udp {addr}"));
            let tcp =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on tcp {addr}"))?;
            lines.push(format!("origo-turn tcp {}", tcp.local_addr()?));
            shell.serve_tcp(tcp);
        }
        let mut tls_addrs: Vec<SocketAddr> = Vec::new();
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
                let a = l.local_addr()?;
                tls_addrs.push(a);
                lines.push(format!("origo-turn tls {a}"));
                shell.serve_tls(l, acceptor.clone());
            }
        }
        lines.push(format!("origo-turn metrics http://{metrics_addr}"));
        if let Some(url) = &opts.registry {
            let public = opts.external_ip.unwrap_or(udp_addrs[0].ip());
            let host = |a: &SocketAddr| match public {
                std::net::IpAddr::V6(v6) => format!("[{v6}]:{}", a.port()),
                std::net::IpAddr::V4(v4) => format!("{v4}:{}", a.port()),
            };
            let mut ice_urls: Vec<String> = udp_addrs
                .iter()
                .flat_map(|a| [format!("turn:{}?transport=udp", host(a)), format!("turn:{}?transport=tcp", host(a))])
                .collect();
            ice_urls.extend(tls_addrs.iter().map(|a| format!("turns:{}?transport=tcp", host(a))));
            let announcement = Announcement {
                registry: url.clone(),
                token: opts.node_token.clone(),
                node_id: opts.node_id.clone(),
                region: opts.region.clone(),
                ice_urls,
            };
            side_handle.spawn(registry::run(announcement, snapshot.clone()));
        }
        for l in &lines {
            println!("{l}");
        }
        println!("origo-turn ready");
        tracing::info!(udp = ?udp_addrs, tls = ?tls_addrs, %metrics_addr, relay_ip = %relay_ip, "origo-turn started");

        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("origo-turn stopping");
        drop(shell);
        anyhow::Ok(())
    })?;
    side.shutdown_timeout(Duration::from_secs(1));
    Ok(())
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
