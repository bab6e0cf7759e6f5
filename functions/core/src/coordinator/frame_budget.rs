//! How many frames one participant may send: a token bucket per participant for chat and one for
//! everything else, refilled with time. A frame over budget is refused with a `rate_limited`
//! error (once per burst); a connection that keeps sending over budget is closed with
//! [`close::TOO_MANY_MESSAGES`](super::close::TOO_MANY_MESSAGES).

use serde::{Deserialize, Serialize};

/// The budget's numbers, part of the room's [`Settings`](super::Settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FrameLimits {
    /// Chat messages a connection may send at once.
    pub chat_burst: u32,
    /// Chat messages a second, sustained.
    pub chat_per_sec: u32,
    /// Other frames (presence, hand, tracks, pings…) at once.
    pub other_burst: u32,
    /// Other frames a second, sustained.
    pub other_per_sec: u32,
    /// Frames refused in one stretch of abuse before the connection is closed.
    pub strikes_to_close: u32,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits { chat_burst: 20, chat_per_sec: 5, other_burst: 60, other_per_sec: 20, strikes_to_close: 100 }
    }
}

/// Which bucket a frame draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameClass {
    Chat,
    Other,
}

/// What to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refuse it and tell the client (the first refusal of a stretch).
    RefuseAndWarn,
    /// Refuse it quietly (the client was told).
    Refuse,
    /// Close the connection: it kept sending over budget.
    Close,
}

/// One bucket: `tokens` in thousandths, so refill keeps sub-token precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Bucket {
    milli_tokens: u64,
    at_ms: u64,
}

impl Bucket {
    fn take(&mut self, burst: u32, per_sec: u32, now: u64) -> bool {
        let cap = u64::from(burst.max(1)) * 1000;
        let refill = now.saturating_sub(self.at_ms).saturating_mul(u64::from(per_sec));
        self.milli_tokens = self.milli_tokens.saturating_add(refill).min(cap);
        self.at_ms = now;
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }

    fn full(burst: u32, now: u64) -> Self {
        Bucket { milli_tokens: u64::from(burst.max(1)) * 1000, at_ms: now }
    }
}

/// The budget of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameBudget {
    chat: Bucket,
    other: Bucket,
    strikes: u32,
}

impl FrameBudget {
    /// A full budget at `now`.
    pub fn new(limits: &FrameLimits, now: u64) -> Self {
        FrameBudget {
            chat: Bucket::full(limits.chat_burst, now),
            other: Bucket::full(limits.other_burst, now),
            strikes: 0,
        }
    }

    /// Charges one frame of `class` at `now`.
    pub fn charge(&mut self, limits: &FrameLimits, class: FrameClass, now: u64) -> Verdict {
        let ok = match class {
            FrameClass::Chat => self.chat.take(limits.chat_burst, limits.chat_per_sec, now),
            FrameClass::Other => self.other.take(limits.other_burst, limits.other_per_sec, now),
        };
        if ok {
            self.strikes = 0;
            return Verdict::Accept;
        }
        self.strikes += 1;
        if self.strikes >= limits.strikes_to_close.max(1) {
            Verdict::Close
        } else if self.strikes == 1 {
            Verdict::RefuseAndWarn
        } else {
            Verdict::Refuse
        }
    }
}

/// Every participant's budget (by identity: a participant that reconnects keeps what it had
/// left, so reopening the socket does not buy a fresh burst). Kept in memory only — a room
/// loaded from storage starts them full — so two rooms are equal whatever budgets they hold.
#[derive(Debug, Clone, Default)]
pub struct Budgets(pub std::collections::BTreeMap<String, FrameBudget>);

impl PartialEq for Budgets {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Budgets {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let l = FrameLimits::default();
        let mut b = FrameBudget::new(&l, 0);
        for _ in 0..l.chat_burst {
            assert_eq!(b.charge(&l, FrameClass::Chat, 0), Verdict::Accept);
        }
        assert_eq!(b.charge(&l, FrameClass::Chat, 0), Verdict::RefuseAndWarn);
        assert_eq!(b.charge(&l, FrameClass::Chat, 0), Verdict::Refuse);
        // Other frames have their own bucket.
        assert_eq!(b.charge(&l, FrameClass::Other, 0), Verdict::Accept);
        // 200 ms at 5 a second is one more message.
        assert_eq!(b.charge(&l, FrameClass::Chat, 200), Verdict::Accept);
        assert_eq!(b.charge(&l, FrameClass::Chat, 200), Verdict::RefuseAndWarn);
    }

    #[test]
    fn sustained_abuse_closes() {
        let l = FrameLimits { strikes_to_close: 5, ..FrameLimits::default() };
        let mut b = FrameBudget::new(&l, 0);
        let verdicts: Vec<Verdict> = (0..l.chat_burst + 5).map(|_| b.charge(&l, FrameClass::Chat, 0)).collect();
        assert_eq!(verdicts.last(), Some(&Verdict::Close));
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::RefuseAndWarn).count(), 1);
    }

    #[test]
    fn refill_is_capped_at_the_burst() {
        let l = FrameLimits::default();
        let mut b = FrameBudget::new(&l, 0);
        let accepted = (0..100).filter(|_| b.charge(&l, FrameClass::Chat, 3_600_000) == Verdict::Accept).count();
        assert_eq!(accepted, l.chat_burst as usize);
    }
}
