//! What the room's moderators imposed on participants: bans (an identity removed from a room
//! may not open a session there until a time) and mutes (the SFU forwards none of an
//! identity's audio or video in a room). Both are kept per (room, identity) and bounded: expired
//! bans are pruned and, past the cap, the ban ending first is dropped; mutes past the cap are
//! refused.

use std::collections::HashMap;
use std::time::Instant;

use str0m::media::MediaKind;

use super::RoomKey;

/// Bans one SFU keeps at most.
pub const MAX_BANS: usize = 10_000;
/// Muted (room, identity) pairs one SFU keeps at most.
pub const MAX_MUTES: usize = 10_000;

/// Which of an identity's media the SFU drops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mute {
    pub audio: bool,
    pub video: bool,
}

impl Mute {
    /// True when media of `kind` is dropped.
    pub fn blocks(self, kind: MediaKind) -> bool {
        if kind == MediaKind::Audio { self.audio } else { self.video }
    }

    fn is_none(self) -> bool {
        !self.audio && !self.video
    }
}

/// Bans and mutes.
#[derive(Debug, Default)]
pub(super) struct Moderation {
    bans: HashMap<(RoomKey, String), Instant>,
    mutes: HashMap<(RoomKey, String), Mute>,
}

/// Too many mutes are in force to add another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MutesFull;

impl Moderation {
    /// Bans `identity` from `room` until `until` (a ban in force ending later stays).
    pub fn ban(&mut self, room: &RoomKey, identity: &str, until: Instant, now: Instant) {
        if until <= now {
            return;
        }
        let key = (room.clone(), identity.to_owned());
        if let Some(at) = self.bans.get_mut(&key) {
            *at = (*at).max(until);
            return;
        }
        if self.bans.len() >= MAX_BANS {
            self.bans.retain(|_, at| *at > now);
        }
        if self.bans.len() >= MAX_BANS
            && let Some(first) = self.bans.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone())
        {
            self.bans.remove(&first);
        }
        self.bans.insert(key, until);
    }

    /// True while `identity` is banned from `room` (an expired ban is forgotten).
    pub fn is_banned(&mut self, room: &RoomKey, identity: &str, now: Instant) -> bool {
        let key = (room.clone(), identity.to_owned());
        match self.bans.get(&key) {
            Some(at) if *at > now => true,
            Some(_) => {
                self.bans.remove(&key);
                false
            }
            None => false,
        }
    }

    #[cfg(test)]
    pub fn ban_count(&self) -> usize {
        self.bans.len()
    }

    /// What is muted of `identity` in `room`.
    pub fn mute_of(&self, room: &RoomKey, identity: &str) -> Mute {
        self.mutes.get(&(room.clone(), identity.to_owned())).copied().unwrap_or_default()
    }

    /// Changes what is muted (`None`: unchanged); returns what is muted now.
    pub fn set_mute(
        &mut self,
        room: &RoomKey,
        identity: &str,
        audio: Option<bool>,
        video: Option<bool>,
    ) -> Result<Mute, MutesFull> {
        let key = (room.clone(), identity.to_owned());
        let old = self.mutes.get(&key).copied().unwrap_or_default();
        let new = Mute { audio: audio.unwrap_or(old.audio), video: video.unwrap_or(old.video) };
        if new.is_none() {
            self.mutes.remove(&key);
        } else if self.mutes.contains_key(&key) || self.mutes.len() < MAX_MUTES {
            self.mutes.insert(key, new);
        } else {
            return Err(MutesFull);
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bans_expire_extend_and_stay_bounded() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let room = RoomKey::new("o", "r");
        let mut m = Moderation::default();
        m.ban(&room, "eve", t0 + s(10), t0);
        assert!(m.is_banned(&room, "eve", t0 + s(9)));
        assert!(!m.is_banned(&room, "bob", t0), "others are not");
        assert!(!m.is_banned(&RoomKey::new("o", "other"), "eve", t0), "other rooms are not");
        m.ban(&room, "eve", t0 + s(5), t0);
        assert!(m.is_banned(&room, "eve", t0 + s(9)), "a shorter ban does not shorten it");
        assert!(!m.is_banned(&room, "eve", t0 + s(10)), "it ends");
        assert_eq!(m.ban_count(), 0, "an expired ban is forgotten");
        m.ban(&room, "eve", t0, t0);
        assert_eq!(m.ban_count(), 0, "a ban already over is not kept");
        for i in 0..MAX_BANS + 5 {
            m.ban(&room, &format!("u{i}"), t0 + s(100 + i as u64), t0);
        }
        assert_eq!(m.ban_count(), MAX_BANS);
        assert!(m.is_banned(&room, &format!("u{}", MAX_BANS + 4), t0), "the newest is kept");
        assert!(!m.is_banned(&room, "u0", t0), "the one ending first made room");
    }

    #[test]
    fn mutes_change_per_kind_and_unmuting_forgets_them() {
        let room = RoomKey::new("o", "r");
        let mut m = Moderation::default();
        assert_eq!(m.set_mute(&room, "eve", Some(true), None), Ok(Mute { audio: true, video: false }));
        assert_eq!(m.set_mute(&room, "eve", None, Some(true)), Ok(Mute { audio: true, video: true }));
        assert!(m.mute_of(&room, "eve").blocks(MediaKind::Audio));
        assert_eq!(m.mute_of(&room, "bob"), Mute::default());
        assert_eq!(m.set_mute(&room, "eve", Some(false), Some(false)), Ok(Mute::default()));
        assert!(m.mutes.is_empty());
        for i in 0..MAX_MUTES {
            m.set_mute(&room, &format!("u{i}"), Some(true), None).unwrap();
        }
        assert_eq!(m.set_mute(&room, "one-more", Some(true), None), Err(MutesFull));
        assert!(m.set_mute(&room, "u1", None, Some(true)).is_ok(), "changing one in force works");
        assert!(m.set_mute(&room, "one-more", Some(false), None).is_ok(), "unmuting always works");
    }
}
