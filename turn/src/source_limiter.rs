//! Rate limits per source address in a table of bounded size: a flood from spoofed addresses
//! cannot grow memory without bound. The table keeps two generations; once the current one is
//! full the older is dropped, so sources seen recently keep their buckets and the coldest are
//! forgotten first. A forgotten source starts again with a full bucket.
//!
//! Sources are keyed by IPv4 address or IPv6 /64, since one IPv6 host usually holds a whole /64.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::token_bucket::TokenBucket;

/// The key a source address is counted under: the IPv4 address, or the /64 of an IPv6 one
/// (IPv4-mapped IPv6 counts as its IPv4 address).
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Token buckets per source, at most `capacity` of them.
#[derive(Debug)]
pub struct SourceLimiter {
    rate: f64,
    burst: f64,
    half: usize,
    current: HashMap<IpAddr, TokenBucket>,
    previous: HashMap<IpAddr, TokenBucket>,
}

impl SourceLimiter {
    /// `rate` answers a second per source with bursts of `burst`; at most `capacity` sources
    /// remembered.
    pub fn new(rate: f64, burst: f64, capacity: usize) -> Self {
        SourceLimiter { rate, burst, half: (capacity / 2).max(1), current: HashMap::new(), previous: HashMap::new() }
    }

    /// Takes one token for `ip`; false when it is over its rate.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let key = source_key(ip);
        if let Some(b) = self.current.get_mut(&key) {
            return b.take(1.0, now);
        }
        let mut bucket = self.previous.remove(&key).unwrap_or_else(|| TokenBucket::new(self.rate, self.burst, now));
        let allowed = bucket.take(1.0, now);
        if self.current.len() >= self.half {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, bucket);
        allowed
    }

    /// Forgets sources whose bucket has refilled (they are no different from unknown ones).
    pub fn sweep(&mut self, now: Instant) {
        self.current.retain(|_, b| !b.is_full(now));
        self.previous.retain(|_, b| !b.is_full(now));
    }

    /// Sources remembered now.
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_source_has_its_own_bucket() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(1.0, 3.0, 1024);
        let (a, b): (IpAddr, IpAddr) = ("198.51.100.1".parse().unwrap(), "198.51.100.2".parse().unwrap());
        assert_eq!((0..10).filter(|_| l.allow(a, t0)).count(), 3);
        assert!(l.allow(b, t0), "another source is still answered");
        assert!(l.allow(a, t0 + Duration::from_secs(1)), "refilled at the rate");
        assert!(!l.allow(a, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(0.0, 2.0, 1024);
        assert!(l.allow("2001:db8:1:2::1".parse().unwrap(), t0));
        assert!(l.allow("2001:db8:1:2:ffff::9".parse().unwrap(), t0));
        assert!(!l.allow("2001:db8:1:2::abcd".parse().unwrap(), t0), "same /64");
        assert!(l.allow("2001:db8:1:3::1".parse().unwrap(), t0), "another /64");
        assert_eq!(source_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn a_flood_of_sources_stays_within_the_capacity() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(1.0, 1.0, 1000);
        let hot: IpAddr = "203.0.113.9".parse().unwrap();
        assert!(l.allow(hot, t0));
        for i in 0..100_000u32 {
            l.allow(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), t0);
            if i % 100 == 0 {
                // The busy source keeps asking: it stays remembered and limited.
                assert!(!l.allow(hot, t0), "at source {i}");
            }
            assert!(l.len() <= 1000);
        }
        l.sweep(t0 + Duration::from_secs(2));
        assert!(l.is_empty(), "refilled buckets are forgotten");
    }
}
