//! When a delivery is tried again, and what an endpoint's answer means — the schedule the
//! Standard Webhooks specification recommends: at once, then 5 s, 5 min, 30 min, 2 h, 5 h,
//! 10 h and 10 h after each failure (±10 % jitter); only a 2xx is a success; 410 Gone disables
//! the endpoint; 429, 502, 503 and 504 are retried no sooner than their `Retry-After`.
//! Webhook deliveries and notifications through providers
//! ([`notification_retry`](crate::notification_retry)) both follow it.

/// The wait before each attempt after the first, in order (the first attempt is at once).
pub const RETRY_DELAYS_MS: [u64; 7] = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000];

/// Attempts of one message before it fails for good.
pub const MAX_ATTEMPTS: usize = RETRY_DELAYS_MS.len() + 1;

/// An endpoint that has failed every delivery this long is disabled.
pub const DISABLE_AFTER_MS: u64 = 5 * 24 * 3_600_000;

/// The longest `Retry-After` honoured (a longer one waits this long).
pub const MAX_RETRY_AFTER_MS: u64 = 36_000_000;

/// What one attempt's answer leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The endpoint took the message.
    Delivered,
    /// Try again at this time.
    Retry { at_ms: u64 },
    /// The schedule is spent: the message failed.
    GiveUp,
    /// The endpoint asked never to be called again (410 Gone).
    Disable,
}

/// The verdict on attempt number `attempts_made` (1 for the first) that ended at `now_ms`
/// with `status` (`None`: no answer — refused, timed out, unreachable) and `retry_after`
/// (the answer's header). `jitter` is a random number that spreads the retries.
pub fn judge(
    status: Option<u16>,
    retry_after: Option<&str>,
    attempts_made: usize,
    now_ms: u64,
    jitter: u32,
) -> Verdict {
    match status {
        Some(s) if (200..300).contains(&s) => return Verdict::Delivered,
        Some(410) => return Verdict::Disable,
        _ => {}
    }
    let asked = match status {
        Some(429 | 502 | 503 | 504) => retry_after.and_then(|v| retry_after_ms(v, now_ms)),
        _ => None,
    };
    match retry_at(attempts_made, now_ms, jitter, asked) {
        Some(at_ms) => Verdict::Retry { at_ms },
        None => Verdict::GiveUp,
    }
}

/// When attempt number `attempts_made` (1 for the first), failed at `now_ms`, is followed by
/// the next: the schedule's wait, jittered, and no sooner than `asked` (a `Retry-After`, at
/// most [`MAX_RETRY_AFTER_MS`]). `None` when the schedule is spent.
pub fn retry_at(attempts_made: usize, now_ms: u64, jitter: u32, asked: Option<u64>) -> Option<u64> {
    let base = *RETRY_DELAYS_MS.get(attempts_made.saturating_sub(1))?;
    let wait = jittered(base, jitter).max(asked.unwrap_or(0).min(MAX_RETRY_AFTER_MS));
    Some(now_ms.saturating_add(wait))
}

/// `base` moved by up to ±10 %, by `jitter`.
fn jittered(base: u64, jitter: u32) -> u64 {
    let spread = base / 10;
    if spread == 0 {
        return base;
    }
    let offset = u64::from(jitter) % (2 * spread + 1);
    base - spread + offset
}

/// A `Retry-After` value (seconds, or an HTTP date) as a wait from `now_ms`.
pub fn retry_after_ms(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_ms = u64::try_from(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis()).ok()?;
    Some(at_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_recommended_one() {
        let waits: Vec<u64> = (1..MAX_ATTEMPTS)
            .map(|n| match judge(Some(500), None, n, 0, 0) {
                Verdict::Retry { at_ms } => at_ms,
                other => panic!("{other:?}"),
            })
            .collect();
        // Jitter 0 is the low end: 90 % of each wait.
        assert_eq!(waits, RETRY_DELAYS_MS.map(|d| d - d / 10).to_vec());
        assert_eq!(judge(Some(500), None, MAX_ATTEMPTS, 0, 0), Verdict::GiveUp);
        assert_eq!(judge(None, None, MAX_ATTEMPTS, 0, 0), Verdict::GiveUp);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for j in [0, 1, 999, 1_000, 1_001, u32::MAX] {
            let Verdict::Retry { at_ms } = judge(None, None, 2, 0, j) else { panic!() };
            assert!((270_000..=330_000).contains(&at_ms), "{at_ms}");
        }
    }

    #[test]
    fn only_2xx_succeeds_and_410_disables() {
        assert_eq!(judge(Some(200), None, 1, 0, 0), Verdict::Delivered);
        assert_eq!(judge(Some(204), None, 1, 0, 0), Verdict::Delivered);
        for s in [301, 302, 400, 401, 404, 500] {
            assert!(matches!(judge(Some(s), None, 1, 0, 0), Verdict::Retry { .. }), "{s}");
        }
        assert_eq!(judge(Some(410), None, 1, 0, 0), Verdict::Disable);
    }

    #[test]
    fn retry_after_is_honoured_for_the_overload_answers_only() {
        let now = 1_700_000_000_000;
        for s in [429, 502, 503, 504] {
            assert_eq!(judge(Some(s), Some("120"), 1, now, 0), Verdict::Retry { at_ms: now + 120_000 }, "{s}");
        }
        // Never sooner than the schedule.
        assert_eq!(judge(Some(503), Some("1"), 1, now, 0), Verdict::Retry { at_ms: now + 4_500 });
        // Other answers ignore it.
        assert_eq!(judge(Some(500), Some("120"), 1, now, 0), Verdict::Retry { at_ms: now + 4_500 });
        // A date, and a huge value that is capped.
        let date = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(now + 60_000));
        assert_eq!(judge(Some(429), Some(&date), 1, now, 0), Verdict::Retry { at_ms: now + 60_000 });
        assert_eq!(
            judge(Some(429), Some("99999999999"), 1, now, 0),
            Verdict::Retry { at_ms: now + MAX_RETRY_AFTER_MS }
        );
        assert_eq!(judge(Some(429), Some("soon"), 1, now, 0), Verdict::Retry { at_ms: now + 4_500 });
    }
}
