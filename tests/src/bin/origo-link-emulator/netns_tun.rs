//! A TUN device made inside another network namespace: the thread enters the namespace, makes
//! and configures the device there, and comes back. The device's file stays with this process,
//! so every packet that site sends to another site's address is read here.

use std::fs::File;
use std::net::Ipv4Addr;

use anyhow::Context;
use nix::sched::{CloneFlags, setns};

/// Makes `name` in `/run/netns/{netns}` with `addr`/`prefix` (the prefix's route goes through
/// it), up and non-blocking. Call it before any other thread exists: only this thread moves.
pub fn open(netns: &str, name: &str, addr: Ipv4Addr, prefix: u8) -> anyhow::Result<tun::Device> {
    let home = File::open("/proc/thread-self/ns/net").context("cannot read this thread's network namespace")?;
    let target = File::open(format!("/run/netns/{netns}"))
        .with_context(|| format!("no network namespace {netns:?} (ip netns add {netns})"))?;
    setns(&target, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("cannot enter network namespace {netns:?} (needs root)"))?;
    let made = make(name, addr, prefix);
    setns(&home, CloneFlags::CLONE_NEWNET).context("cannot return to the emulator's own network namespace")?;
    let device = made.with_context(|| format!("cannot make TUN device {name} in {netns}"))?;
    device.set_nonblock().context("cannot make the TUN device non-blocking")?;
    Ok(device)
}

fn make(name: &str, addr: Ipv4Addr, prefix: u8) -> anyhow::Result<tun::Device> {
    let mask = Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0));
    let mut config = tun::Configuration::default();
    config.tun_name(name).layer(tun::Layer::L3).address(addr).netmask(mask).up();
    Ok(tun::create(&config)?)
}
