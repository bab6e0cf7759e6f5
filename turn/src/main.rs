//! `origo-turn`: the STUN/TURN node binary.

use clap::Parser;
use origo_turn::config::Options;

fn main() -> anyhow::Result<()> {
    let opts = Options::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORIGO_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    origo_turn::node::run(
        opts,
        |l| {
            for line in l.lines() {
                println!("{line}");
            }
            println!("origo-turn ready");
        },
        stop_signal(),
        stop_signal(),
    )
}

/// The next SIGTERM or SIGINT (the first starts the drain, the second ends it).
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
