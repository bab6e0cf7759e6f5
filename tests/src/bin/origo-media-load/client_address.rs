//! Where the generator's clients may send from. Its traffic must stay on this machine: from a
//! loopback address, or from an address inside a network namespace a test made with no route
//! out of it (the simulated regions, whose only routes lead through the link emulator). An
//! address in a namespace with a default route could reach another machine, so it is refused.

use std::net::IpAddr;

/// Ok when clients may use `ip` here.
pub fn confined(ip: IpAddr) -> anyhow::Result<()> {
    if ip.is_loopback() {
        return Ok(());
    }
    anyhow::ensure!(
        ip.is_ipv4(),
        "--client-ip {ip}: only a loopback address or an IPv4 address in a closed network namespace"
    );
    let routes = std::fs::read_to_string("/proc/net/route")?;
    anyhow::ensure!(
        !has_default_route(&routes),
        "--client-ip {ip} is not loopback and this network namespace has a default route: traffic could leave the machine"
    );
    Ok(())
}

/// Whether an IPv4 routing table (`/proc/net/route`'s text) has a default route.
fn has_default_route(table: &str) -> bool {
    table.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        let (_iface, dest) = (f.next(), f.next());
        let mask = f.nth(5);
        dest == Some("00000000") && mask == Some("00000000")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

    #[test]
    fn a_default_route_is_found_and_a_closed_table_passes() {
        let default = format!("{HEADER}eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n");
        assert!(has_default_route(&default));
        let closed = format!("{HEADER}tun0\t0000630A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n");
        assert!(!has_default_route(&closed));
        assert!(!has_default_route(HEADER));
        assert!(confined("127.0.0.2".parse().unwrap()).is_ok());
        assert!(confined("::1".parse().unwrap()).is_ok());
        assert!(confined("2001:db8::1".parse().unwrap()).is_err());
    }
}
