//! A token bucket driven by the `Instant`s the caller passes in: `rate` tokens a second, at
//! most `burst` in hand. Used for relayed bytes per allocation and for unauthenticated answers
//! per source address.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        let (rate, burst) = (rate.max(0.0), burst.max(0.0));
        TokenBucket { rate, burst, tokens: burst, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        if now > self.last {
            self.last = now;
        }
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }

    /// Takes `n` tokens; false (taking nothing) when fewer are in hand.
    pub fn take(&mut self, n: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }

    /// True when the bucket has refilled completely by `now`: it is then no different from a
    /// new one and can be forgotten.
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn refills_at_the_rate_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000.0, 1000.0, t0);
        assert!(b.take(1000.0, t0));
        assert!(!b.take(1.0, t0));
        assert!(!b.is_full(t0));
        assert!(b.take(500.0, t0 + Duration::from_millis(500)));
        assert!(!b.take(100.0, t0 + Duration::from_millis(500)));
        // A long pause refills no more than the burst.
        let later = t0 + Duration::from_secs(3600);
        assert!(b.is_full(later));
        assert!(b.take(1000.0, later));
        assert!(!b.take(1.0, later));
    }

    #[test]
    fn a_clock_going_backwards_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(10.0, 1.0, t0);
        assert!(b.take(1.0, t0));
        assert!(!b.take(1.0, t0 - Duration::from_secs(5)));
        assert!(!b.take(1.0, t0));
    }
}
