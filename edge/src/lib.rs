//! `origo-edge`: the `origo` binary's library half.
//!
//! `origo dev` runs the whole platform on one machine with embedded defaults; `origo edge` runs
//! the edge tier only. Both serve the public HTTP surface described in docs/architecture.md, with the
//! edge functions running as wasm components on wasmtime. `origo coordinator` runs the room
//! coordinators alone, beside functions that another host (Spin) serves.

pub mod component_build;
pub mod component_cache;
pub mod config;
pub mod dev_mailbox;
pub mod dev_nodes;
pub mod fair_share;
pub mod fenced_commit;
pub mod function_host;
pub mod guarded_client;
pub mod host_state;
pub mod http_error;
pub mod kv;
pub mod metrics;
pub mod metrics_listener;
pub mod native_platform;
pub mod node_orders;
pub mod node_probe;
pub mod outbound;
pub mod public_url;
pub mod redis_client;
pub mod redis_layout;
pub mod request_id;
pub mod room_actor;
pub mod room_commands;
pub mod room_forward;
pub mod room_lease;
pub mod room_socket;
pub mod server;
pub mod spin_interfaces;
pub mod sweep_timer;
pub mod variables;
pub mod wasi_keyvalue;
pub mod web;
pub mod webhook_commands;
pub mod webhook_dispatchers;

pub use config::{Cli, Command, CoordinatorOptions, Mode, ServeOptions};
pub use server::Server;
