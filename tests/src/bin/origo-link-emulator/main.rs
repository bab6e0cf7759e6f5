//! A wide-area network on one machine, for the multi-region tests: every site is a network
//! namespace with one TUN device (`origo-wan`) holding its address, and every packet a site
//! sends to another site's address comes here, waits out the one-way delay between their
//! regions (`--intra-region-ms` inside one), may be lost (`--loss-percent`), and is written to
//! the other site's device. The kernel here has no `netem`, so the delay is kept in user space.
//!
//!   ip netns add eu-dc; ip netns add us-users
//!   origo-link-emulator --site eu-dc:eu-dc:10.99.1.1:eu-west --site us:us-users:10.99.2.1:us-east \
//!       --delay eu-west:us-east:40
//!
//! Prints `link emulator ready (N sites)` once every device is up; stops on SIGTERM, SIGINT or
//! after `--lifetime-secs`, and then prints one JSON object: packets and bytes carried, lost
//! and dropped (a full line) for each pair of sites. Packets stay inside the namespaces.

mod netns_tun;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Parser;
use origo_tests::delay_line::DelayLine;
use origo_tests::link_plan::{LinkPlan, Loss, RegionDelay, Site, ipv4_destination};
use serde_json::json;
use tokio::sync::Notify;

#[derive(Parser, Debug)]
struct Args {
    /// A site, `NAME:NETNS:ADDR:REGION` (repeat for each); the namespace must exist.
    #[arg(long = "site", required = true)]
    sites: Vec<Site>,
    /// One-way delay between two sites of the same region.
    #[arg(long, default_value_t = 5)]
    intra_region_ms: u64,
    /// One-way delay between two regions, `REGION:REGION:MS` (repeat for each pair).
    #[arg(long = "delay")]
    delays: Vec<RegionDelay>,
    /// Share of packets lost, in percent, on every link.
    #[arg(long, default_value_t = 0.0)]
    loss_percent: f64,
    /// Seed of the loss draws (the same seed loses the same packets of the same traffic).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Prefix length of the sites' network: each device routes it (10.99.0.0/16 with 16).
    #[arg(long, default_value_t = 16)]
    prefix: u8,
    /// Bytes each site's incoming line holds before it drops (a router's buffer).
    #[arg(long, default_value_t = 4 << 20)]
    queue_bytes: usize,
    /// Name of the device made in each namespace.
    #[arg(long, default_value = "origo-wan")]
    device: String,
    /// Stops by itself after this long, whatever happens to whoever started it.
    #[arg(long, default_value_t = 3600)]
    lifetime_secs: u64,
}

/// What crossed one link (from one site to another).
#[derive(Default, Clone, Copy)]
struct LinkCounters {
    packets: u64,
    bytes: u64,
    lost: u64,
    overflow: u64,
}

struct Network {
    plan: LinkPlan,
    lines: Vec<DelayLine>,
    loss: Loss,
    /// `links[from * n + to]`.
    links: Vec<LinkCounters>,
    /// Packets to no site (another address, or not IPv4).
    stray: u64,
    /// Packets the destination device would not take.
    unwritten: u64,
}

impl Network {
    /// A packet read from `from`'s device: held for its destination, lost or dropped.
    fn arrive(&mut self, from: usize, packet: &[u8], now: Instant) -> Option<usize> {
        let Some(to) = ipv4_destination(packet).and_then(|a| self.plan.site_of(a)).filter(|&to| to != from) else {
            self.stray += 1;
            return None;
        };
        let n = self.plan.sites().len();
        let link = &mut self.links[from * n + to];
        if self.loss.next_lost() {
            link.lost += 1;
            return None;
        }
        if !self.lines[to].push(now + self.plan.delay(from, to), packet.to_vec()) {
            link.overflow += 1;
            return None;
        }
        link.packets += 1;
        link.bytes += packet.len() as u64;
        Some(to)
    }

    fn report(&self) -> serde_json::Value {
        let sites = self.plan.sites();
        let n = sites.len();
        let links: Vec<_> = (0..n * n)
            .filter(|i| self.links[*i].packets + self.links[*i].lost + self.links[*i].overflow > 0)
            .map(|i| {
                let c = self.links[i];
                json!({"from": sites[i / n].name, "to": sites[i % n].name, "delay_ms": self.plan.delay(i / n, i % n).as_millis() as u64,
                       "packets": c.packets, "bytes": c.bytes, "lost": c.lost, "overflow": c.overflow})
            })
            .collect();
        json!({"links": links, "stray": self.stray, "unwritten": self.unwritten})
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan =
        LinkPlan::new(args.sites, Duration::from_millis(args.intra_region_ms), &args.delays, args.loss_percent / 100.0)
            .map_err(anyhow::Error::msg)?;
    // Every device is made before the runtime starts a thread: entering a namespace moves only
    // the calling thread.
    let devices = plan
        .sites()
        .iter()
        .map(|s| netns_tun::open(&s.netns, &args.device, s.addr, args.prefix))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    let n = plan.sites().len();
    let network = Rc::new(RefCell::new(Network {
        lines: (0..n).map(|_| DelayLine::new(args.queue_bytes)).collect(),
        loss: Loss::new(plan.loss(), args.seed),
        links: vec![LinkCounters::default(); n * n],
        stray: 0,
        unwritten: 0,
        plan,
    }));
    let report = local.block_on(&runtime, async move {
        let devices = devices.into_iter().map(|d| tun::AsyncDevice::new(d).map(Rc::new)).collect::<std::io::Result<Vec<_>>>()?;
        let wake: Vec<Rc<Notify>> = (0..n).map(|_| Rc::new(Notify::new())).collect();
        for (site, device) in devices.iter().enumerate() {
            tokio::task::spawn_local(read_site(site, device.clone(), network.clone(), wake.clone()));
            tokio::task::spawn_local(deliver_site(site, device.clone(), network.clone(), wake[site].clone()));
        }
        println!("link emulator ready ({n} sites)");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = tokio::time::sleep(Duration::from_secs(args.lifetime_secs)) => eprintln!("link emulator: lifetime over"),
        }
        anyhow::Ok(network.borrow().report())
    })?;
    println!("{report}");
    Ok(())
}

/// Reads what one site sends and hands each packet to its destination's line.
async fn read_site(site: usize, device: Rc<tun::AsyncDevice>, network: Rc<RefCell<Network>>, wake: Vec<Rc<Notify>>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match device.recv(&mut buf).await {
            Ok(len) => {
                if let Some(to) = network.borrow_mut().arrive(site, &buf[..len], Instant::now()) {
                    wake[to].notify_one();
                }
            }
            Err(e) => {
                eprintln!("link emulator: reading site {site}: {e}");
                return;
            }
        }
    }
}

/// Writes a site's packets to its device as they fall due.
async fn deliver_site(site: usize, device: Rc<tun::AsyncDevice>, network: Rc<RefCell<Network>>, wake: Rc<Notify>) {
    let mut due = Vec::new();
    loop {
        let next = network.borrow().lines[site].next_due();
        match next {
            None => wake.notified().await,
            Some(at) if at > Instant::now() => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = wake.notified() => {}
                }
            }
            Some(_) => {
                let now = Instant::now();
                {
                    let mut net = network.borrow_mut();
                    while let Some(packet) = net.lines[site].pop_due(now) {
                        due.push(packet);
                    }
                }
                for packet in due.drain(..) {
                    if device.send(&packet).await.is_err() {
                        network.borrow_mut().unwritten += 1;
                    }
                }
            }
        }
    }
}
