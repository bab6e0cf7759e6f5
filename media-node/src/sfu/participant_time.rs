//! Participant time per room, for billing: each session counts from when its media connects
//! until it closes, taken in slices by the usage reporter.

use std::collections::HashMap;
use std::time::Instant;

use super::RoomKey;

/// Participant-milliseconds per room not yet taken.
#[derive(Debug, Default)]
pub(super) struct ParticipantTime {
    per_room: HashMap<RoomKey, u64>,
}

impl ParticipantTime {
    /// One participant of `room` was there from `from` to `to`.
    pub fn add(&mut self, room: &RoomKey, from: Instant, to: Instant) {
        *self.per_room.entry(room.clone()).or_default() += to.saturating_duration_since(from).as_millis() as u64;
    }

    /// Everything counted so far, by room (rooms with nothing left out), sorted.
    pub fn take(&mut self) -> Vec<(RoomKey, u64)> {
        let mut out: Vec<(RoomKey, u64)> = self.per_room.drain().filter(|(_, ms)| *ms > 0).collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn time_adds_up_per_room_and_is_taken_once() {
        let t0 = Instant::now();
        let (a, b) = (RoomKey::new("o", "a"), RoomKey::new("o", "b"));
        let mut p = ParticipantTime::default();
        p.add(&b, t0, t0 + Duration::from_millis(250));
        p.add(&a, t0, t0 + Duration::from_secs(1));
        p.add(&a, t0, t0 + Duration::from_secs(2));
        p.add(&b, t0, t0);
        assert_eq!(p.take(), vec![(a, 3000), (b, 250)]);
        assert_eq!(p.take(), vec![]);
    }
}
