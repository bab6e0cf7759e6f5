//! A room's identity across the platform: rooms are named per organisation.

use std::fmt;

/// The organisation and the room's name within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomKey {
    /// The organisation id.
    pub org: String,
    /// The room's name (unique within the organisation).
    pub room: String,
}

impl RoomKey {
    /// The key of room `room` in organisation `org`.
    pub fn new(org: impl Into<String>, room: impl Into<String>) -> Self {
        RoomKey { org: org.into(), room: room.into() }
    }
}

impl fmt::Display for RoomKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.room)
    }
}
