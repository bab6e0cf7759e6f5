//! `origo-edge`: the `origo` binary's library half.
//!
//! `origo dev` runs the whole platform on one machine with embedded defaults; `origo edge` runs
//! the edge tier only. Both serve the public HTTP surface described in ARCHITECTURE.md.

pub mod config;
pub mod http_error;
pub mod server;

pub use config::{Cli, Command, ServeOptions};
pub use server::{Server, serve};
