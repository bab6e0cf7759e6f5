//! The usage record: what an organisation used in one month, kept in several records (one
//! per room's coordinator, one per media node and room, one per TURN node) that billing adds
//! up, each with the same figures per day of the month.

use std::collections::BTreeMap;

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
    /// Application bytes the TURN nodes relayed between clients and their peers, both ways
    /// (the UDP payloads on the relay side).
    #[serde(default)]
    pub relayed_bytes: u64,
    /// What TURN's own framing added on the client side (STUN headers of Send and Data
    /// indications, ChannelData headers and padding), counted apart and not billed.
    #[serde(default)]
    pub relay_framing_bytes: u64,
    /// The same figures per day of the month (`"01"` to `"31"`, UTC).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub daily: BTreeMap<String, DailyUsage>,
}

/// One day's usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DailyUsage {
    #[serde(default)]
    pub participant_ms: u64,
    #[serde(default)]
    pub media_participant_ms: u64,
    #[serde(default)]
    pub relayed_bytes: u64,
}

impl DailyUsage {
    fn add(&mut self, other: &DailyUsage) {
        self.participant_ms += other.participant_ms;
        self.media_participant_ms += other.media_participant_ms;
        self.relayed_bytes += other.relayed_bytes;
    }
}

/// The day key of a Unix time in milliseconds: `"01"` to `"31"` (UTC).
pub fn day_key(ms: u64) -> String {
    format!("{:02}", origo_shared::usage::day_of(ms))
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.participant_ms += other.participant_ms.max(other.participant_seconds * 1000);
        self.participant_seconds = self.participant_ms / 1000;
        self.rooms_created += other.rooms_created;
        self.media_participant_ms += other.media_participant_ms;
        self.relayed_bytes += other.relayed_bytes;
        self.relay_framing_bytes += other.relay_framing_bytes;
        for (day, d) in &other.daily {
            self.daily.entry(day.clone()).or_default().add(d);
        }
    }

    /// Adds `ms` of participant presence on `day` ([`day_key`]).
    pub fn add_participant_ms(&mut self, day: &str, ms: u64) {
        self.participant_ms += ms;
        self.participant_seconds = self.participant_ms / 1000;
        self.daily.entry(day.to_owned()).or_default().participant_ms += ms;
    }

    /// Adds `ms` of participant time with media connected on `day`.
    pub fn add_media_ms(&mut self, day: &str, ms: u64) {
        self.media_participant_ms += ms;
        self.daily.entry(day.to_owned()).or_default().media_participant_ms += ms;
    }

    /// Adds relayed application bytes, and TURN framing, on `day`.
    pub fn add_relayed(&mut self, day: &str, bytes: u64, framing: u64) {
        self.relayed_bytes += bytes;
        self.relay_framing_bytes += framing;
        self.daily.entry(day.to_owned()).or_default().relayed_bytes += bytes;
    }
}
