//! The plan of an emulated wide-area network for `origo-link-emulator`: sites (one network
//! namespace each, with one IPv4 address and a region), the one-way delay inside a region and
//! between each pair of regions, and random loss. Pure: no sockets and no clock reads; the
//! emulator's loop asks it where a packet goes and how long it takes.

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

/// One emulated host: a network namespace reached at `addr`, in `region`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub netns: String,
    pub addr: Ipv4Addr,
    pub region: String,
}

impl FromStr for Site {
    type Err = String;

    /// `NAME:NETNS:ADDR:REGION`, e.g. `eu-dc:origo-eu-dc:10.99.1.1:eu-west`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [name, netns, addr, region] = parts[..] else {
            return Err(format!("a site is NAME:NETNS:ADDR:REGION, not {s:?}"));
        };
        let addr = addr.parse().map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
        if [name, netns, region].iter().any(|p| p.is_empty()) {
            return Err(format!("a site needs a name, a namespace and a region: {s:?}"));
        }
        Ok(Site { name: name.to_owned(), netns: netns.to_owned(), addr, region: region.to_owned() })
    }
}

/// The one-way delay between two regions, in either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionDelay {
    pub a: String,
    pub b: String,
    pub delay: Duration,
}

impl FromStr for RegionDelay {
    type Err = String;

    /// `REGION:REGION:MS`, e.g. `eu-west:us-east:40`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let [a, b, ms] = parts[..] else {
            return Err(format!("a delay is REGION:REGION:MS, not {s:?}"));
        };
        let ms: u64 = ms.parse().map_err(|_| format!("{ms:?} is not a whole number of milliseconds"))?;
        Ok(RegionDelay { a: a.to_owned(), b: b.to_owned(), delay: Duration::from_millis(ms) })
    }
}

/// Sites and the delays between them.
#[derive(Debug, Clone)]
pub struct LinkPlan {
    sites: Vec<Site>,
    /// `delays[from * n + to]`, one way.
    delays: Vec<Duration>,
    loss: f64,
}

impl LinkPlan {
    /// A plan; every pair of distinct regions the sites are in needs a delay, and names and
    /// addresses must be unique. `loss` is a fraction (0.01 is 1 %) applied to every packet.
    pub fn new(sites: Vec<Site>, intra_region: Duration, between: &[RegionDelay], loss: f64) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&loss) {
            return Err(format!("loss must be between 0 and 1, not {loss}"));
        }
        for (i, s) in sites.iter().enumerate() {
            if sites[..i].iter().any(|o| o.name == s.name || o.addr == s.addr || o.netns == s.netns) {
                return Err(format!("site {:?} repeats another's name, namespace or address", s.name));
            }
        }
        let n = sites.len();
        let mut delays = vec![Duration::ZERO; n * n];
        for (from, f) in sites.iter().enumerate() {
            for (to, t) in sites.iter().enumerate() {
                delays[from * n + to] = if from == to {
                    Duration::ZERO
                } else if f.region == t.region {
                    intra_region
                } else {
                    between
                        .iter()
                        .find(|d| (d.a == f.region && d.b == t.region) || (d.a == t.region && d.b == f.region))
                        .map(|d| d.delay)
                        .ok_or_else(|| {
                            format!(
                                "no delay between {} and {} (--delay {}:{}:MS)",
                                f.region, t.region, f.region, t.region
                            )
                        })?
                };
            }
        }
        Ok(LinkPlan { sites, delays, loss })
    }

    pub fn sites(&self) -> &[Site] {
        &self.sites
    }

    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// The site whose address this is.
    pub fn site_of(&self, addr: Ipv4Addr) -> Option<usize> {
        self.sites.iter().position(|s| s.addr == addr)
    }

    /// The one-way delay from one site to another.
    pub fn delay(&self, from: usize, to: usize) -> Duration {
        self.delays[from * self.sites.len() + to]
    }
}

/// The destination of an IPv4 packet (`None` for anything else, or a truncated header).
pub fn ipv4_destination(packet: &[u8]) -> Option<Ipv4Addr> {
    let header = packet.get(..20)?;
    (header[0] >> 4 == 4).then(|| Ipv4Addr::new(header[16], header[17], header[18], header[19]))
}

/// Which packets are lost: a seeded generator (xorshift64*), so a run can be repeated.
#[derive(Debug, Clone)]
pub struct Loss {
    state: u64,
    /// A packet is lost when the next draw is below this.
    threshold: u64,
}

impl Loss {
    pub fn new(fraction: f64, seed: u64) -> Self {
        let threshold = if fraction >= 1.0 { u64::MAX } else { (fraction.max(0.0) * u64::MAX as f64) as u64 };
        Loss { state: seed | 1, threshold }
    }

    /// Whether the next packet is lost.
    pub fn next_lost(&mut self) -> bool {
        if self.threshold == 0 {
            return false;
        }
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) < self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str, last: u8, region: &str) -> Site {
        Site {
            name: name.into(),
            netns: format!("ns-{name}"),
            addr: Ipv4Addr::new(10, 99, 0, last),
            region: region.into(),
        }
    }

    fn three_regions() -> LinkPlan {
        let sites = vec![
            site("eu-dc", 1, "eu-west"),
            site("eu-users", 2, "eu-west"),
            site("us-dc", 3, "us-east"),
            site("ap-dc", 4, "ap-south"),
        ];
        let between: Vec<RegionDelay> = ["eu-west:us-east:40", "ap-south:eu-west:90", "us-east:ap-south:150"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        LinkPlan::new(sites, Duration::from_millis(5), &between, 0.0).unwrap()
    }

    #[test]
    fn delays_follow_regions_in_both_directions() {
        let plan = three_regions();
        assert_eq!(plan.delay(0, 1), Duration::from_millis(5));
        assert_eq!(plan.delay(1, 2), Duration::from_millis(40));
        assert_eq!(plan.delay(2, 1), Duration::from_millis(40));
        assert_eq!(plan.delay(3, 0), Duration::from_millis(90));
        assert_eq!(plan.delay(2, 3), Duration::from_millis(150));
        assert_eq!(plan.delay(2, 2), Duration::ZERO);
        assert_eq!(plan.site_of(Ipv4Addr::new(10, 99, 0, 3)), Some(2));
        assert_eq!(plan.site_of(Ipv4Addr::new(10, 99, 0, 9)), None);
    }

    #[test]
    fn a_missing_region_pair_or_a_repeated_site_is_refused() {
        let sites = vec![site("a", 1, "eu-west"), site("b", 2, "us-east")];
        let err = LinkPlan::new(sites.clone(), Duration::ZERO, &[], 0.0).unwrap_err();
        assert!(err.contains("no delay between eu-west and us-east"), "{err}");
        let twice = vec![site("a", 1, "eu-west"), site("a", 2, "eu-west")];
        assert!(LinkPlan::new(twice, Duration::ZERO, &[], 0.0).is_err());
        assert!(LinkPlan::new(sites, Duration::ZERO, &[], 1.5).is_err());
        assert!("a:b:c".parse::<Site>().is_err());
        assert!("a:b:10.0.0.1:r".parse::<Site>().is_ok());
        assert!("eu:us:forty".parse::<RegionDelay>().is_err());
    }

    #[test]
    fn only_ipv4_packets_have_a_destination() {
        let mut packet = [0u8; 20];
        packet[0] = 0x45;
        packet[16..20].copy_from_slice(&[10, 99, 1, 1]);
        assert_eq!(ipv4_destination(&packet), Some(Ipv4Addr::new(10, 99, 1, 1)));
        packet[0] = 0x60;
        assert_eq!(ipv4_destination(&packet), None);
        assert_eq!(ipv4_destination(&packet[..10]), None);
    }

    #[test]
    fn loss_draws_about_the_fraction_asked_and_repeats_with_its_seed() {
        let draws = |seed| {
            let mut loss = Loss::new(0.02, seed);
            (0..100_000).filter(|_| loss.next_lost()).count()
        };
        let lost = draws(7);
        assert!((1_700..2_300).contains(&lost), "{lost} of 100000 lost at 2 %");
        assert_eq!(draws(7), lost);
        let mut none = Loss::new(0.0, 7);
        assert!((0..10_000).all(|_| !none.next_lost()));
    }
}
