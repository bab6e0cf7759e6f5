//! `origo-media-node`: the regional SFU. A sans-IO core over str0m ([`sfu`]), the token checks
//! for its sessions ([`auth`]), and the shell that owns the socket and serves the control API
//! ([`node`]).

pub mod auth;
pub mod node;
pub mod sfu;
pub mod udp;
pub mod usage;
