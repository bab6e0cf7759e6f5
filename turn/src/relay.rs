//! Relay sockets: one UDP socket per allocation, on a port from the configured range.

use std::net::{IpAddr, SocketAddr, UdpSocket};

/// Picks and binds relay ports from `[min, max]`, starting where the last search stopped so
/// ports are reused as late as possible.
#[derive(Debug)]
pub struct RelayPorts {
    ip: IpAddr,
    min: u16,
    max: u16,
    next: u16,
}

impl RelayPorts {
    pub fn new(ip: IpAddr, min: u16, max: u16, seed: u16) -> Self {
        let (min, max) = (min.min(max), max.max(min));
        let span = u32::from(max - min) + 1;
        let next = min + (u32::from(seed) % span) as u16;
        RelayPorts { ip, min, max, next }
    }

    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Binds a non-blocking UDP socket on a free port (an even one when asked).
    pub fn bind(&mut self, even: bool) -> std::io::Result<UdpSocket> {
        let span = u32::from(self.max - self.min) + 1;
        let mut last_err = None;
        for _ in 0..span.min(4096) {
            let port = self.next;
            self.next = if self.next >= self.max { self.min } else { self.next + 1 };
            if even && !port.is_multiple_of(2) {
                continue;
            }
            match UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                Ok(s) => {
                    s.set_nonblocking(true)?;
                    return Ok(s);
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free relay port")))
    }
}

impl RelayPorts {
    /// Binds an even port and the odd port after it (RTP/RTCP pairs, EVEN-PORT with R).
    pub fn bind_pair(&mut self) -> std::io::Result<(UdpSocket, UdpSocket)> {
        let mut last_err = None;
        for _ in 0..256 {
            let first = self.bind(true)?;
            let addr = first.local_addr()?;
            if addr.port() >= self.max {
                continue;
            }
            match UdpSocket::bind(SocketAddr::new(self.ip, addr.port() + 1)) {
                Ok(second) => {
                    second.set_nonblocking(true)?;
                    return Ok((first, second));
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free port pair")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_inside_the_range_and_skips_taken_ports() {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        let (min, max) = (base.saturating_sub(20).max(1024), base.saturating_sub(10).max(1034));
        let mut ports = RelayPorts::new("127.0.0.1".parse().unwrap(), min, max, 0);
        let a = ports.bind(false).unwrap();
        let b = ports.bind(false).unwrap();
        let (pa, pb) = (a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
        assert!((min..=max).contains(&pa) && (min..=max).contains(&pb));
        assert_ne!(pa, pb);
        let even = ports.bind(true).unwrap();
        assert_eq!(even.local_addr().unwrap().port() % 2, 0);
    }

    #[test]
    fn pairs_are_even_then_odd() {
        let mut ports = RelayPorts::new("127.0.0.1".parse().unwrap(), 42000, 42999, 7);
        let (a, b) = ports.bind_pair().unwrap();
        let (pa, pb) = (a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
        assert_eq!(pa % 2, 0);
        assert_eq!(pb, pa + 1);
    }

    #[test]
    fn an_exhausted_range_is_an_error() {
        let held = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let mut ports = RelayPorts::new("127.0.0.1".parse().unwrap(), port, port, 0);
        assert!(ports.bind(false).is_err());
    }
}
