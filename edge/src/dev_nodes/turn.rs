//! The in-process TURN server of `origo dev` (on its own thread), with the application's
//! `turn_secret`, so relay-only calls work on one machine with nothing else installed. Its
//! options are built here, typed: nothing of the edge process's environment reaches it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use origo_turn::config::{Limits, Options};
use origo_turn::node::Listening;
use tokio::sync::oneshot;

/// A running in-process TURN server; stops when dropped.
pub struct TurnNode {
    pub listening: Listening,
    _stop: oneshot::Sender<()>,
}

/// Starts a TURN node on `listen` with `secret`, keeping its state under `data_dir/turn`.
/// Loopback peers are allowed: in `origo dev` the browsers and the media node are all local.
pub fn start(listen: SocketAddr, secret: &str, data_dir: &Path) -> anyhow::Result<TurnNode> {
    let opts = Options {
        listen: vec![listen],
        tls_listen: Vec::new(),
        relay_ip: None,
        external_ip: None,
        min_port: 49152,
        max_port: 65535,
        realm: "origo".into(),
        auth_secret: vec![secret.to_owned()],
        cert: None,
        pkey: None,
        limits: Limits::default(),
        allow_loopback_peers: true,
        allowed_peer_ip: Vec::new(),
        metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.join("turn"),
        registry: None,
        node_token: None,
        node_id: "dev-turn-1".into(),
        region: "eu-west".into(),
        // `origo dev` stops its TURN server with itself.
        drain_secs: 0,
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let failed = ready_tx.clone();
    std::thread::Builder::new().name("origo-turn".into()).spawn(move || {
        let result = origo_turn::node::run(
            opts,
            |l| {
                let _ = ready_tx.send(Ok(l.clone()));
            },
            async {
                let _ = stop_rx.await;
            },
            std::future::pending(),
        );
        if let Err(e) = result {
            let _ = failed.send(Err(e));
        }
    })?;
    let moved = || {
        format!(
            "the in-process TURN server cannot listen on {listen}: move it with --turn-listen ADDR (ORIGO_DEV_TURN_LISTEN), or --turn-listen off"
        )
    };
    let listening = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .context("the in-process TURN server did not start")?
        .with_context(moved)?;
    Ok(TurnNode { listening, _stop: stop_tx })
}
