//! The format version stored records carry (`"v"`). Version 1 is what releases before
//! versioning wrote (records without `"v"`); version 2 added index records, room lifetimes,
//! seat reservations held by the coordinator and the per-room webhook outbox.
//!
//! The rules that keep rolling deploys lossless: a new field is optional with a default, so a
//! record written by the previous release reads as before (`tests/store_format.rs` reads
//! records in the previous format); a field is never renamed or given a new meaning; a record
//! a newer release wrote (a higher `v`) is read by what it shares with this one.

/// The version this release writes.
pub const CURRENT: u32 = 2;

/// The version of a record stored without one.
pub fn first() -> u32 {
    1
}

/// The version this release writes (a serde default for new records).
pub fn current() -> u32 {
    CURRENT
}
