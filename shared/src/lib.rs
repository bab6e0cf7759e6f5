//! `origo-shared`: the wire types and pure helpers every Origo crate uses.
//!
//! Nothing here performs I/O, reads a clock or spawns a task: callers pass the current time
//! (as Unix seconds or milliseconds) and any randomness in. The crate builds for the native
//! target, `wasm32-wasip2` (edge components) and `wasm32-unknown-unknown` (Cloudflare Workers).

#![warn(missing_docs)]

pub mod bearer;
pub mod chat;
pub mod close_reason;
pub mod destination_policy;
pub mod error;
pub mod identity;
pub mod node;
pub mod outbound_destination;
pub mod region;
pub mod room_key;
pub mod signal;
pub mod token;
pub mod turn_credentials;
pub mod usage;
pub mod webhook;
pub mod webhook_event;

pub use bearer::bearer;
pub use error::{ApiError, ErrorBody, ErrorCode, LimitDetail};
pub use room_key::RoomKey;
pub use webhook_event::WebhookEvent;
