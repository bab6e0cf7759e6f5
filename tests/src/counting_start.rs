//! When a load generator starts counting: at the moment the generators of one run agreed on
//! (`--start-at`, Unix milliseconds; processes in different network namespaces share the
//! system clock), but never before its own warm-up is over, in which case it says how late.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The instant to start counting from, and how many milliseconds after `start_at_ms` that is
/// (0 when on time or when no moment was agreed).
pub fn counting_start(start_at_ms: Option<u64>, warm_up: Duration) -> (Instant, u64) {
    let now = Instant::now();
    let earliest = now + warm_up;
    let Some(at_ms) = start_at_ms else { return (earliest, 0) };
    let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    start(now, unix_ms, at_ms, earliest)
}

fn start(now: Instant, unix_ms: u64, at_ms: u64, earliest: Instant) -> (Instant, u64) {
    let agreed = now + Duration::from_millis(at_ms.saturating_sub(unix_ms));
    if agreed >= earliest {
        (agreed, 0)
    } else {
        (earliest, (earliest - agreed).as_millis() as u64 + unix_ms.saturating_sub(at_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agreed_moment_unless_the_warm_up_ends_later() {
        let now = Instant::now();
        let warm = now + Duration::from_secs(2);
        assert_eq!(start(now, 10_000, 15_000, warm), (now + Duration::from_secs(5), 0));
        assert_eq!(start(now, 10_000, 11_000, warm), (warm, 1_000), "set up too late for it");
        assert_eq!(start(now, 10_000, 9_000, warm), (warm, 3_000), "already past");
        let (_, late) = counting_start(None, Duration::ZERO);
        assert_eq!(late, 0);
    }
}
