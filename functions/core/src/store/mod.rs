//! The storage layer of the functions and the room coordinators: every key format
//! ([`keys`]) and every record kept in the key-value store. Handlers and hosts read and write
//! through these, so a second host (a Durable Object, a Lambda on Redis) stores the same
//! records under the same keys.

pub mod keys;
pub mod usage;
