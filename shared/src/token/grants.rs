//! Room grants: what a token lets its holder do.

use serde::{Deserialize, Serialize};

/// The `room` grant of a guest token: every room of the token's organisation (only guest
/// sign-in issues it; room names cannot contain `*`).
pub const ANY_ROOM: &str = "*";

/// What a token lets its holder do, LiveKit-style. Every permission defaults to "no".
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Grants {
    /// The room the grants apply to (`None`: no room-scoped permission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// May join `room`.
    pub join: bool,
    /// May publish audio/video tracks.
    pub publish: bool,
    /// May subscribe to other participants' tracks.
    pub subscribe: bool,
    /// May send chat and data messages.
    pub publish_data: bool,
    /// May mute, kick and update others in `room`.
    pub room_admin: bool,
    /// May create rooms.
    pub room_create: bool,
    /// Joins without being announced to the others (recorders, bots).
    pub hidden: bool,
}

impl Grants {
    /// The usual grants of a participant of `room`: join, publish, subscribe, publish data.
    pub fn participant(room: impl Into<String>) -> Self {
        Grants {
            room: Some(room.into()),
            join: true,
            publish: true,
            subscribe: true,
            publish_data: true,
            ..Grants::default()
        }
    }

    /// True when these grants allow joining `room`.
    pub fn can_join(&self, room: &str) -> bool {
        self.join && matches!(self.room.as_deref(), Some(r) if r == room || r == ANY_ROOM)
    }

    /// True when these grants allow administering `room`.
    pub fn can_admin(&self, room: &str) -> bool {
        self.room_admin && self.room.as_deref() == Some(room)
    }
}
