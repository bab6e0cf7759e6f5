//! `origo-shared`: the wire types and pure helpers every Origo crate uses.
//!
//! Nothing here performs I/O, reads a clock or spawns a task: callers pass the current time
//! (as Unix seconds or milliseconds) and any randomness in. The crate builds for the native
//! target, `wasm32-wasip2` (edge components) and `wasm32-unknown-unknown` (Cloudflare Workers).

pub mod error;
pub mod node;
pub mod region;
#[cfg(feature = "agent")]
pub mod registry_agent;
pub mod signal;
pub mod token;
pub mod turn_credentials;
pub mod webhook;

pub use error::{ApiError, ErrorBody, ErrorCode};
