//! `origo-turn`: a STUN/TURN server (RFC 8489, RFC 8656).
//!
//! The protocol lives in a sans-IO core ([`server::TurnServer`]): bytes and times in, bytes and
//! relay instructions out, tested without sockets. The binary wraps it in UDP, TCP and TLS
//! listeners, relay sockets, a metrics endpoint, registry heartbeats and usage reports.

pub mod allocation;
pub mod attribute;
pub mod channel_data;
pub mod config;
pub mod credentials;
pub mod header;
pub mod message;
pub mod metrics;
pub mod node;
pub mod nonce;
pub mod own_addresses;
pub mod peer_policy;
pub mod registry;
pub mod relay;
pub mod relay_usage;
pub mod server;
pub mod shell;
pub mod source_limiter;
pub mod stream_limits;
pub mod token_bucket;
pub mod usage;
