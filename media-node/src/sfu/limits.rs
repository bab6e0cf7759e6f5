//! What one SFU lets its sessions hold: how long a session may take to connect, how many
//! tracks it may publish and m-lines it may offer, and how many sessions a room may hold when
//! the participant token does not say.

use std::time::Duration;

/// The SFU's limits (see [`Limits::default`] for the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A session whose ICE and DTLS are not up this long after it was opened is closed.
    pub connect_timeout: Duration,
    /// Tracks one session may publish (m-lines the client sends on).
    pub max_published_tracks: usize,
    /// m-lines in one client offer, beyond those the SFU added for its subscriptions.
    pub max_offer_mids: usize,
    /// Sessions one room may hold on this SFU when the participant token carries no
    /// `room_sessions` claim.
    pub room_sessions: u32,
    /// Sessions one participant may open a minute in one room (0: no limit).
    pub creates_per_minute: u32,
}

impl Default for Limits {
    /// 15 s to connect, 8 published tracks, 16 m-lines per offer, 100 sessions per room.
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(15),
            max_published_tracks: 8,
            max_offer_mids: 16,
            room_sessions: 100,
            creates_per_minute: crate::create_rate::CreateRate::PER_MINUTE,
        }
    }
}
