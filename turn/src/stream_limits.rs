//! Limits on TCP and TLS connections, free of I/O: how many may be open at once (in total and
//! per source), and when an open one is closed for saying nothing useful — no complete message
//! for a while although it holds no allocation, or a frame left incomplete too long (a client
//! dribbling a header byte by byte).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::source_limiter::source_key;

/// The settings, from the `--max-tcp-*` and `--tcp-*-timeout` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// TCP and TLS connections open at once.
    pub max_total: usize,
    /// TCP and TLS connections open at once from one source (IPv4 address or IPv6 /64).
    pub max_per_source: usize,
    /// A connection without an allocation is closed after this long without a complete message.
    pub idle_timeout: Duration,
    /// A frame may stay incomplete this long.
    pub frame_timeout: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_total: 4096,
            max_per_source: 128,
            idle_timeout: Duration::from_secs(30),
            frame_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a connection was refused or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefusal {
    /// At `max_total`.
    Total,
    /// The source is at `max_per_source`.
    PerSource,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub open: u64,
    pub accepted: u64,
    pub refused_total: u64,
    pub refused_per_source: u64,
    pub closed_idle: u64,
    pub closed_incomplete: u64,
}

/// The open connections, counted per source.
#[derive(Debug)]
pub struct ConnectionTable {
    limits: StreamLimits,
    per_source: HashMap<IpAddr, usize>,
    total: usize,
    pub stats: StreamStats,
}

impl ConnectionTable {
    pub fn new(limits: StreamLimits) -> Self {
        ConnectionTable { limits, per_source: HashMap::new(), total: 0, stats: StreamStats::default() }
    }

    pub fn limits(&self) -> StreamLimits {
        self.limits
    }

    /// Counts a new connection from `ip`, or says why it is refused. Every `Ok` is paired
    /// with one [`ConnectionTable::close`].
    pub fn open(&mut self, ip: IpAddr) -> Result<(), StreamRefusal> {
        let key = source_key(ip);
        if self.total >= self.limits.max_total {
            self.stats.refused_total += 1;
            return Err(StreamRefusal::Total);
        }
        let n = self.per_source.entry(key).or_insert(0);
        if *n >= self.limits.max_per_source {
            self.stats.refused_per_source += 1;
            if *n == 0 {
                self.per_source.remove(&key);
            }
            return Err(StreamRefusal::PerSource);
        }
        *n += 1;
        self.total += 1;
        self.stats.accepted += 1;
        self.stats.open = self.total as u64;
        Ok(())
    }

    /// A connection from `ip` closed.
    pub fn close(&mut self, ip: IpAddr) {
        let key = source_key(ip);
        if let Some(n) = self.per_source.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&key);
            }
            self.total -= 1;
        }
        self.stats.open = self.total as u64;
    }

    /// Sources with an open connection.
    pub fn sources(&self) -> usize {
        self.per_source.len()
    }
}

/// Why an open connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No complete message within the idle timeout, and no allocation.
    Idle,
    /// A frame stayed incomplete past the frame timeout.
    Incomplete,
}

/// The clocks of one open connection.
#[derive(Debug, Clone)]
pub struct StreamTimer {
    idle_timeout: Duration,
    frame_timeout: Duration,
    last_complete: Instant,
    partial_since: Option<Instant>,
}

impl StreamTimer {
    pub fn new(limits: &StreamLimits, now: Instant) -> Self {
        StreamTimer {
            idle_timeout: limits.idle_timeout,
            frame_timeout: limits.frame_timeout,
            last_complete: now,
            partial_since: None,
        }
    }

    /// After reading: `completed` whole messages were taken from the buffer, and `pending`
    /// bytes of the next one are left.
    pub fn read(&mut self, now: Instant, completed: usize, pending: usize) {
        if completed > 0 {
            self.last_complete = now;
            self.partial_since = None;
        }
        match (pending, self.partial_since) {
            (0, _) => self.partial_since = None,
            (_, None) => self.partial_since = Some(now),
            (_, Some(_)) => {}
        }
    }

    /// Whether the connection must close at `now`.
    pub fn expired(&self, now: Instant, has_allocation: bool) -> Option<Expiry> {
        if self.partial_since.is_some_and(|t| now >= t + self.frame_timeout) {
            return Some(Expiry::Incomplete);
        }
        if !has_allocation && now >= self.last_complete + self.idle_timeout {
            return Some(Expiry::Idle);
        }
        None
    }

    /// When to check again (no later than one idle timeout from `now`, as an allocation may
    /// end meanwhile).
    pub fn next_check(&self, now: Instant) -> Instant {
        let idle = self.last_complete + self.idle_timeout;
        let idle = if idle > now { idle } else { now + self.idle_timeout };
        match self.partial_since {
            Some(t) => idle.min(t + self.frame_timeout),
            None => idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize) -> StreamLimits {
        StreamLimits { max_total: total, max_per_source: per, ..StreamLimits::default() }
    }

    #[test]
    fn caps_in_total_and_per_source() {
        let mut t = ConnectionTable::new(limits(3, 2));
        let (a, b, c): (IpAddr, IpAddr, IpAddr) =
            ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap(), "198.51.100.3".parse().unwrap());
        assert_eq!(t.open(a), Ok(()));
        assert_eq!(t.open(a), Ok(()));
        assert_eq!(t.open(a), Err(StreamRefusal::PerSource));
        assert_eq!(t.open(b), Ok(()));
        assert_eq!(t.open(c), Err(StreamRefusal::Total));
        t.close(a);
        assert_eq!(t.open(c), Ok(()));
        assert_eq!(t.open(a), Err(StreamRefusal::Total));
        t.close(a);
        t.close(b);
        t.close(c);
        assert_eq!(t.sources(), 0);
        assert_eq!(
            t.stats,
            StreamStats { open: 0, accepted: 4, refused_total: 2, refused_per_source: 1, ..StreamStats::default() }
        );
        // A close without an open changes nothing.
        t.close(a);
        assert_eq!(t.stats.open, 0);
        let mut none = ConnectionTable::new(limits(10, 0));
        assert_eq!(none.open(a), Err(StreamRefusal::PerSource));
        assert_eq!(none.sources(), 0);
    }

    #[test]
    fn idle_and_incomplete_connections_expire() {
        let t0 = Instant::now();
        let l = StreamLimits {
            idle_timeout: Duration::from_secs(30),
            frame_timeout: Duration::from_secs(10),
            ..StreamLimits::default()
        };
        let s = |n| t0 + Duration::from_secs(n);
        let mut t = StreamTimer::new(&l, t0);
        assert_eq!(t.expired(s(29), false), None);
        assert_eq!(t.expired(s(30), false), Some(Expiry::Idle));
        assert_eq!(t.expired(s(300), true), None, "an allocation keeps a quiet connection");
        assert_eq!(t.next_check(s(5)), s(30));
        // A header dribbled byte by byte: the first byte starts the frame clock.
        t.read(s(1), 0, 1);
        t.read(s(5), 0, 2);
        t.read(s(9), 0, 3);
        assert_eq!(t.next_check(s(9)), s(11));
        assert_eq!(t.expired(s(10), true), None);
        assert_eq!(t.expired(s(11), true), Some(Expiry::Incomplete), "even with an allocation");
        // Completing it resets both clocks.
        t.read(s(10), 1, 0);
        assert_eq!(t.expired(s(39), false), None);
        assert_eq!(t.expired(s(40), false), Some(Expiry::Idle));
        // A complete message followed by the start of the next one.
        t.read(s(20), 1, 5);
        assert_eq!(t.expired(s(29), false), None);
        assert_eq!(t.expired(s(30), false), Some(Expiry::Incomplete));
        assert_eq!(t.next_check(s(45)), s(30).min(s(75)));
    }
}
