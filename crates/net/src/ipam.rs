//! Address management: subnets for new networks (from pools, never overlapping another
//! network or a host route) and container addresses within a network (never one that is
//! in use, the network's own, broadcast or the gateway; handed out in turn after the last
//! one, so a freed address is not reused at once).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::state::{Network, State};

/// IPAM errors, in docker's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Every pool overlaps something.
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoPool,
    /// A subnet asked for overlaps another network's.
    #[error("invalid pool request: Pool overlaps with other one on this address space")]
    Overlap,
    /// The network has no free address.
    #[error("no available IPv4 addresses on this network's address pools: {network} ({id})")]
    Exhausted {
        /// The network's name.
        network: String,
        /// Its id.
        id: String,
    },
    /// An address asked for is outside the network.
    #[error(
        "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address {0}"
    )]
    Outside(Ipv4Addr),
    /// An address asked for is taken.
    #[error("Address already in use")]
    InUse(Ipv4Addr),
    /// A gateway outside its subnet.
    #[error("Invalid gateway {gateway}: not in subnet {subnet}")]
    Gateway {
        /// The gateway asked for.
        gateway: Ipv4Addr,
        /// The subnet.
        subnet: Ipv4Net,
    },
    /// An ip range outside its subnet.
    #[error("Invalid ip range {range}: not in subnet {subnet}")]
    Range {
        /// The range asked for.
        range: Ipv4Net,
        /// The subnet.
        subnet: Ipv4Net,
    },
}

/// The pools new networks take subnets from: docker's defaults (172.17-31.0.0/16, then
/// /20s of 192.168.0.0/16), then, where those are all taken, /16s of 10.128.0.0/9.
pub fn default_pools() -> Vec<Ipv4Net> {
    let mut pools: Vec<Ipv4Net> = (17..=31)
        .filter_map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).ok())
        .collect();
    let cut = |net: Ipv4Addr, prefix: u8, size: u8| {
        Ipv4Net::new(net, prefix)
            .ok()
            .and_then(|n| n.subnets(size).ok())
            .into_iter()
            .flatten()
    };
    pools.extend(cut(Ipv4Addr::new(192, 168, 0, 0), 16, 20));
    pools.extend(cut(Ipv4Addr::new(10, 128, 0, 0), 9, 16));
    pools
}

/// Whether two subnets share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first pool that overlaps neither a network in `state` nor one of `routes`.
pub fn pick_subnet(
    pools: &[Ipv4Net],
    state: &State,
    routes: &[Ipv4Net],
) -> Result<Ipv4Net, IpamError> {
    pools
        .iter()
        .find(|p| {
            !state.networks.iter().any(|n| overlaps(&n.subnet, p))
                && !routes.iter().any(|r| r.prefix_len() > 0 && overlaps(r, p))
        })
        .copied()
        .ok_or(IpamError::NoPool)
}

/// Checks a subnet asked for against the networks there are.
pub fn check_subnet(subnet: &Ipv4Net, state: &State) -> Result<(), IpamError> {
    if state.networks.iter().any(|n| overlaps(&n.subnet, subnet)) {
        return Err(IpamError::Overlap);
    }
    Ok(())
}

/// The gateway of `subnet`: the one asked for (inside it), else its first address.
pub fn gateway(subnet: &Ipv4Net, asked: Option<Ipv4Addr>) -> Result<Ipv4Addr, IpamError> {
    match asked {
        Some(g) if subnet.contains(&g) => Ok(g),
        Some(g) => Err(IpamError::Gateway {
            gateway: g,
            subnet: *subnet,
        }),
        None => Ok(u32_addr(u32::from(subnet.network()) + 1)),
    }
}

fn u32_addr(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(n)
}

/// Whether `ip` may not be given to a container of `net`: its network or broadcast
/// address, the gateway, or an address an endpoint has.
fn taken(net: &Network, state: &State, ip: Ipv4Addr) -> bool {
    ip == net.subnet.network()
        || ip == net.subnet.broadcast()
        || ip == net.gateway
        || state.endpoints_of(&net.id).any(|e| e.ip == ip)
}

/// An address for a new endpoint of `net`: `asked` if free and inside, else the next
/// free one after the last handed out. Records it as the last.
pub fn allocate(
    state: &mut State,
    net_id: &str,
    asked: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, IpamError> {
    let net = state
        .networks
        .iter()
        .find(|n| n.id == net_id)
        .cloned()
        .ok_or(IpamError::NoPool)?;
    let ip = match asked {
        Some(ip) => check_asked(&net, state, ip)?,
        None => next_free(&net, state)?,
    };
    if let Some(n) = state.networks.iter_mut().find(|n| n.id == net_id) {
        n.last = Some(ip);
    }
    Ok(ip)
}

fn check_asked(net: &Network, state: &State, ip: Ipv4Addr) -> Result<Ipv4Addr, IpamError> {
    let range = net.ip_range.unwrap_or(net.subnet);
    if !net.subnet.contains(&ip) || !range.contains(&ip) {
        return Err(IpamError::Outside(ip));
    }
    if taken(net, state, ip) {
        return Err(IpamError::InUse(ip));
    }
    Ok(ip)
}

fn next_free(net: &Network, state: &State) -> Result<Ipv4Addr, IpamError> {
    let range = net.ip_range.unwrap_or(net.subnet);
    let first = u32::from(range.network());
    let size = u64::from(u32::from(range.broadcast()) - first) + 1;
    let start = match net.last {
        Some(l) if range.contains(&l) => u64::from(u32::from(l) - first) + 1,
        _ => 0,
    };
    (0..size)
        .map(|i| u32_addr(first + ((start + i) % size) as u32))
        .find(|ip| !taken(net, state, *ip))
        .ok_or_else(|| IpamError::Exhausted {
            network: net.name.clone(),
            id: net.id.clone(),
        })
}

/// The MAC address docker derives from an IPv4 address: 02:42 and the address.
pub fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// A MAC address written as docker does (`02:42:ac:11:00:02`).
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// The host's IPv4 routes (destination networks) from /proc/net/route.
pub fn host_routes() -> Vec<Ipv4Net> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    text.lines().skip(1).filter_map(parse_route_line).collect()
}

fn parse_route_line(line: &str) -> Option<Ipv4Net> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
    let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
    let prefix = u32::from_be(mask).leading_ones() as u8;
    Ipv4Net::new(Ipv4Addr::from(u32::from_be(dest)), prefix).ok()
}
