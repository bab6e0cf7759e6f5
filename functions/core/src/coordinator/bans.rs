//! Who was removed from the room and until when. A removed identity's next join is refused
//! and so is its socket, while the ban lasts; the room keeps at most [`MAX_BANS`] of them (the
//! ones ending soonest go first).

use std::collections::BTreeMap;

/// Most bans a room keeps.
pub const MAX_BANS: usize = 1000;

/// Identity → banned until (Unix ms).
pub type Bans = BTreeMap<String, u64>;

/// Bans `identity` until `until_ms`, forgetting bans that ended and, when full, the ones that
/// end soonest.
pub fn ban(bans: &mut Bans, identity: &str, until_ms: u64, now: u64) {
    bans.retain(|_, until| *until > now);
    let until = bans.get(identity).copied().unwrap_or(0).max(until_ms);
    bans.insert(identity.to_owned(), until);
    while bans.len() > MAX_BANS {
        let Some(first) = bans.iter().min_by_key(|(_, until)| **until).map(|(id, _)| id.clone()) else { break };
        bans.remove(&first);
    }
}

/// Until when `identity` is banned, if it is.
pub fn banned_until(bans: &Bans, identity: &str, now: u64) -> Option<u64> {
    bans.get(identity).copied().filter(|until| *until > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_end_and_stay_bounded() {
        let mut b = Bans::new();
        ban(&mut b, "eve", 100, 0);
        assert_eq!(banned_until(&b, "eve", 50), Some(100));
        assert_eq!(banned_until(&b, "eve", 100), None);
        for i in 0..MAX_BANS + 10 {
            ban(&mut b, &format!("p{i}"), 1_000 + i as u64, 0);
        }
        assert_eq!(b.len(), MAX_BANS);
        assert_eq!(banned_until(&b, "p0", 0), None, "the soonest-ending ban went first");
        assert!(banned_until(&b, &format!("p{}", MAX_BANS + 9), 0).is_some());
    }
}
