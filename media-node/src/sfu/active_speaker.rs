//! The active speaker of each room: audio levels from the RFC 6464 header extension the
//! publishers send, smoothed, and the loudest one above [`SPEAKING_LEVEL`], changing at most
//! once per [`SPEAKER_HOLD`]. A change is told to every session of the room over its data
//! channel: `{"type":"active_speaker","participant"}`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::{RoomKey, SessionId, Sfu};

/// The active speaker changes at most this often (hysteresis).
pub const SPEAKER_HOLD: Duration = Duration::from_millis(700);
/// Quieter than this (dBov) is not speaking.
pub const SPEAKING_LEVEL: f32 = -50.0;
/// A publisher that sent no audio for this long is no longer a candidate.
const LEVEL_MAX_AGE: Duration = Duration::from_secs(2);

/// Who is speaking in one room.
#[derive(Debug, Default)]
pub(super) struct Speakers {
    level: HashMap<SessionId, (f32, Instant)>,
    current: Option<SessionId>,
    changed_at: Option<Instant>,
}

impl Speakers {
    /// The current active speaker.
    pub fn current(&self) -> Option<SessionId> {
        self.current
    }

    /// A level (dBov; `voice`: the publisher's own voice-activity flag) from `from`; the new
    /// active speaker when it changes.
    pub fn observe(&mut self, from: SessionId, level: f32, voice: Option<bool>, now: Instant) -> Option<SessionId> {
        let level = if voice == Some(false) { -127.0 } else { level };
        let smoothed = match self.level.get(&from) {
            Some((old, _)) => old * 0.7 + level * 0.3,
            None => level,
        };
        self.level.insert(from, (smoothed, now));
        // Forget publishers that stopped sending audio.
        self.level.retain(|_, (_, at)| now.saturating_duration_since(*at) < LEVEL_MAX_AGE);
        let loudest = self
            .level
            .iter()
            .filter(|(_, (l, _))| *l > SPEAKING_LEVEL)
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
            .map(|(id, _)| *id)?;
        let held = self.changed_at.is_some_and(|at| now.saturating_duration_since(at) < SPEAKER_HOLD);
        if self.current == Some(loudest) || held {
            return None;
        }
        self.current = Some(loudest);
        self.changed_at = Some(now);
        Some(loudest)
    }

    /// A session left the room.
    pub fn forget(&mut self, id: SessionId) {
        self.level.remove(&id);
        if self.current == Some(id) {
            self.current = None;
        }
    }
}

impl Sfu {
    /// An audio level from a publisher; on a change of active speaker, tells the room.
    pub(super) fn audio_level(&mut self, from: SessionId, level: f32, voice: Option<bool>, now: Instant) {
        let Some(room) = self.sessions.get(&from).map(|s| s.room.clone()) else { return };
        let Some(loudest) = self.speakers.entry(room.clone()).or_default().observe(from, level, voice, now) else {
            return;
        };
        self.counters.speaker_changes += 1;
        let Some(identity) = self.sessions.get(&loudest).map(|s| s.identity.clone()) else { return };
        let msg = serde_json::json!({ "type": "active_speaker", "participant": identity }).to_string();
        let members: Vec<SessionId> =
            self.sessions.iter().filter(|(_, s)| s.room == room && s.standby.is_none()).map(|(id, _)| *id).collect();
        for id in members {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.send_message(msg.as_bytes());
            }
            self.drain(id, now);
        }
    }

    /// A session of `room` closed: it is no longer a speaker, and a room nobody is left in
    /// has none.
    pub(super) fn forget_speaker(&mut self, room: &RoomKey, id: SessionId) {
        if let Some(sp) = self.speakers.get_mut(room) {
            sp.forget(id);
        }
        if self.sessions.values().all(|o| &o.room != room) {
            self.speakers.remove(room);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loudest_takes_over_only_after_the_hold() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut sp = Speakers::default();
        assert_eq!(sp.observe(1, -70.0, Some(true), t0), None, "too quiet to be speaking");
        assert_eq!(sp.observe(2, -20.0, Some(true), t0), Some(2));
        assert_eq!(sp.observe(2, -20.0, Some(true), ms(20)), None, "no change, no announcement");
        // 1 gets loud at once, but 2 became the speaker less than the hold ago.
        for n in 0..10 {
            sp.observe(1, -5.0, None, ms(40 + n * 20));
        }
        assert_eq!(sp.current(), Some(2));
        assert_eq!(sp.observe(1, -5.0, None, ms(800)), Some(1));
        // Voice activity off counts as silence.
        for n in 0..20 {
            sp.observe(1, -5.0, Some(false), ms(820 + n * 20));
        }
        assert_eq!(sp.observe(2, -20.0, Some(true), ms(1600)), Some(2));
        sp.forget(2);
        assert_eq!(sp.current(), None);
    }

    #[test]
    fn a_publisher_that_stopped_sending_is_forgotten() {
        let t0 = Instant::now();
        let mut sp = Speakers::default();
        assert_eq!(sp.observe(1, -10.0, None, t0), Some(1));
        let later = t0 + LEVEL_MAX_AGE + SPEAKER_HOLD;
        // 1 is far louder, but sent nothing for two seconds.
        assert_eq!(sp.observe(2, -40.0, None, later), Some(2));
    }
}
