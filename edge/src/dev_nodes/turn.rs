//! `origo dev` runs a TURN server in-process (on its own thread), with the application's
//! `turn_secret`, so relay-only calls work on one machine with nothing else installed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use origo_turn::config::Options;
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
    let dir = data_dir.join("turn");
    let args = [
        "origo-turn".to_owned(),
        "--listen".into(),
        listen.to_string(),
        "--auth-secret".into(),
        secret.to_owned(),
        "--allow-loopback-peers".into(),
        "--metrics-listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        dir.to_string_lossy().into_owned(),
    ];
    let opts = Options::try_parse_from(args).context("in-process TURN options")?;
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
        );
        if let Err(e) = result {
            let _ = failed.send(Err(e));
        }
    })?;
    let listening =
        ready_rx.recv_timeout(Duration::from_secs(10)).context("the in-process TURN server did not start")??;
    Ok(TurnNode { listening, _stop: stop_tx })
}
