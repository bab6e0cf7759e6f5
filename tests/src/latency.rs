//! Latency recording with exact percentiles (every sample is kept; runs are bounded).

use std::time::Duration;

#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples_us: Vec<u32>,
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        self.samples_us.push(d.as_micros().min(u128::from(u32::MAX)) as u32);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.samples_us.extend(other.samples_us);
    }

    pub fn len(&self) -> usize {
        self.samples_us.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples_us.is_empty()
    }

    /// The `q` quantile (0.0..=1.0) in milliseconds, nearest-rank.
    pub fn quantile_ms(&mut self, q: f64) -> f64 {
        if self.samples_us.is_empty() {
            return 0.0;
        }
        self.samples_us.sort_unstable();
        let rank = ((q * self.samples_us.len() as f64).ceil() as usize).clamp(1, self.samples_us.len());
        f64::from(self.samples_us[rank - 1]) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut l = Latencies::default();
        for us in 1..=100u64 {
            l.record(Duration::from_micros(us * 1000));
        }
        assert_eq!(l.quantile_ms(0.5), 50.0);
        assert_eq!(l.quantile_ms(0.99), 99.0);
        assert_eq!(l.quantile_ms(1.0), 100.0);
        assert_eq!(Latencies::default().quantile_ms(0.5), 0.0);
    }
}
