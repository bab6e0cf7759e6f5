//! The usage record: participant time per organisation and month, kept in several records
//! (one per room's coordinator, one per media node and room) that billing adds up.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    pub participant_seconds: u64,
    pub rooms_created: u64,
    /// Exact participant time; `participant_seconds` is this rounded down.
    #[serde(default)]
    pub participant_ms: u64,
    /// Participant time with media connected, as the media nodes measured it.
    #[serde(default)]
    pub media_participant_ms: u64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.participant_ms += other.participant_ms.max(other.participant_seconds * 1000);
        self.participant_seconds = self.participant_ms / 1000;
        self.rooms_created += other.rooms_created;
        self.media_participant_ms += other.media_participant_ms;
    }

    /// Adds `ms` of participant presence.
    pub fn add_participant_ms(&mut self, ms: u64) {
        self.participant_ms += ms;
        self.participant_seconds = self.participant_ms / 1000;
    }
}
