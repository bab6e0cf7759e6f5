//! `origo-media-node`: the regional SFU. A sans-IO core over str0m ([`sfu`]) and a thin shell:
//! one task per shard owning its SFU and UDP socket ([`shard`], batched I/O in [`udp`], the
//! sockets of its links to other nodes in [`link_sockets`]), the
//! commands that reach them ([`command`]), the HTTP control API ([`control`]) with the token
//! checks for its sessions ([`auth`]), the node's session cap ([`session_capacity`]),
//! `/metrics` ([`metrics`]), the usage journal and reporter ([`usage`]), and the wiring of it
//! all ([`node`]).

pub mod auth;
pub mod command;
pub mod control;
pub mod create_rate;
pub mod drain;
pub mod link_sockets;
pub mod metrics;
pub mod node;
pub mod session_capacity;
pub mod sfu;
pub mod shard;
pub mod udp;
pub mod usage;
