use clap::Parser;
use origo_edge::config::LogFormat;
use origo_edge::{Cli, Command, Server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.command.log_format());

    let mode = cli.command.mode();
    let server = match &cli.command {
        Command::Dev(opts) | Command::Edge(opts) => {
            tracing::info!(data_dir = %opts.data_dir.display(), "starting");
            Server::bind(mode, opts).await?
        }
        Command::Coordinator(opts) => Server::bind_coordinator(opts).await?,
    };
    let addr = server.local_addr()?;
    tracing::info!(mode = mode.as_str(), %addr, "origo started");
    // The one line on stdout: scripts and tests wait for it.
    println!("origo listening on http://{addr}");
    if let Some(metrics) = server.metrics_addr() {
        tracing::info!(%metrics, "metrics served on their own listener");
        println!("origo metrics on http://{metrics}/metrics");
    }

    server.run(shutdown_signal()).await?;
    tracing::info!("origo stopped");
    Ok(())
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("ORIGO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
