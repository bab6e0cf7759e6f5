//! How often one participant may open a session: a token bucket per identity per room, so a
//! token cannot make the node set up sessions (offer checks, DTLS certificates) as fast as it
//! can send requests. A join, a reconnect or an ICE restart opens one session; the default,
//! [`CreateRate::PER_MINUTE`] a minute after a burst of [`CreateRate::BURST`], never refuses
//! those. Over it: 429 with `Retry-After`. The table is bounded: past [`MAX_TRACKED`]
//! participants, buckets that are full again are forgotten first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Participants tracked at once, at most.
pub const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Session creates per participant.
pub struct CreateRate {
    per_minute: u32,
    buckets: Mutex<HashMap<(String, String, String), Bucket>>,
}

impl CreateRate {
    /// Creates a minute, sustained.
    pub const PER_MINUTE: u32 = 30;
    /// Creates at once.
    pub const BURST: f64 = 10.0;

    /// `per_minute` creates a minute per participant (0: no limit).
    pub fn new(per_minute: u32) -> Self {
        CreateRate { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one create for `identity` in `org`/`room` at `now`; `Err(wait)` when over the rate.
    pub fn take(&self, org: &str, room: &str, identity: &str, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let per_sec = f64::from(self.per_minute) / 60.0;
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= MAX_TRACKED {
            let refill = Duration::from_secs_f64(Self::BURST / per_sec);
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < refill);
        }
        let key = (org.to_owned(), room.to_owned(), identity.to_owned());
        let b = buckets.entry(key).or_insert(Bucket { tokens: Self::BURST, at: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_sec).min(Self::BURST);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_per_participant() {
        let r = CreateRate::new(30);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(r.take("o", "r", "eve", t0).is_ok());
        }
        let wait = r.take("o", "r", "eve", t0).unwrap_err();
        assert!(wait <= Duration::from_secs(2) && wait > Duration::ZERO, "{wait:?}");
        assert!(r.take("o", "r", "ada", t0).is_ok(), "another participant is not affected");
        assert!(r.take("o", "other", "eve", t0).is_ok(), "nor the same identity in another room");
        assert!(r.take("o", "r", "eve", t0 + Duration::from_secs(2)).is_ok(), "30 a minute: one every 2 s");
        assert!(CreateRate::new(0).take("o", "r", "eve", t0).is_ok());
    }
}
