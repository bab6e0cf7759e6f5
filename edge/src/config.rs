//! Command line and environment configuration of the `origo` binary.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Origo: an open video-meeting platform.
#[derive(Debug, Parser)]
#[command(name = "origo", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run everything on this machine with embedded defaults (no servers to install).
    Dev(ServeOptions),
    /// Run the edge tier: functions, room coordinators and the node registry.
    Edge(ServeOptions),
}

impl Command {
    pub fn options(&self) -> &ServeOptions {
        match self {
            Command::Dev(o) | Command::Edge(o) => o,
        }
    }

    /// The mode name reported by `/health`.
    pub fn mode(&self) -> &'static str {
        match self {
            Command::Dev(_) => "dev",
            Command::Edge(_) => "edge",
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Settings shared by the serving commands. Every flag can also be set as `ORIGO_*`.
#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    /// Address to serve HTTP on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "ORIGO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory where state is kept (created when missing).
    #[arg(long, env = "ORIGO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Log format.
    #[arg(long, env = "ORIGO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}
