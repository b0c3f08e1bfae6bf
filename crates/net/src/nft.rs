//! berth's nftables table, written from the state: one `ip` table per daemon holding
//! masquerade for each network that is not internal, isolation between networks, and
//! published ports as elements of two maps (any host address, or one address), so
//! publishing a port adds a map element, not a rule, and no process listens for it.
//! The table is replaced whole, atomically, by one `nft -f` batch; ports are added and
//! removed as elements.

use std::fmt::Write;
use std::net::Ipv4Addr;

use crate::state::{Network, Port, State};

/// The nat and filter chains; the maps and sets are written before them.
const CHAINS: &str = "
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @ports
    meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport map @ports_ip
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local meta l4proto { tcp, udp } dnat ip to meta l4proto . th dport map @ports
    meta l4proto { tcp, udp } dnat ip to ip daddr . meta l4proto . th dport map @ports_ip
  }
";

/// The batch that replaces table `table` with what `state` needs.
pub fn ruleset(table: &str, state: &State) -> String {
    let mut s = format!("table ip {table} {{}}\ndelete table ip {table}\ntable ip {table} {{\n");
    maps(&mut s, &state.ports);
    let bridges: Vec<String> = state
        .networks
        .iter()
        .map(|n| format!("\"{}\"", n.bridge))
        .collect();
    if bridges.is_empty() {
        s.push_str("  set bridges { type ifname; }\n");
    } else {
        let _ = writeln!(
            s,
            "  set bridges {{ type ifname; elements = {{ {} }} }}",
            bridges.join(", ")
        );
    }
    s.push_str(CHAINS);
    postrouting(&mut s, &state.networks);
    forward(&mut s, &state.networks);
    s.push_str("}\n");
    s
}

fn maps(s: &mut String, ports: &[Port]) {
    let any: Vec<String> = ports
        .iter()
        .filter(|p| p.host_ip.is_unspecified())
        .map(any_element)
        .collect();
    let one: Vec<String> = ports
        .iter()
        .filter(|p| !p.host_ip.is_unspecified())
        .map(ip_element)
        .collect();
    map(
        s,
        "ports",
        "inet_proto . inet_service : ipv4_addr . inet_service",
        &any,
    );
    map(
        s,
        "ports_ip",
        "ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service",
        &one,
    );
}

fn map(s: &mut String, name: &str, typ: &str, elements: &[String]) {
    let _ = write!(s, "  map {name} {{ type {typ};");
    if !elements.is_empty() {
        let _ = write!(s, " elements = {{ {} }}", elements.join(", "));
    }
    s.push_str(" }\n");
}

fn any_element(p: &Port) -> String {
    format!(
        "{} . {} : {} . {}",
        p.proto.as_str(),
        p.host_port,
        p.container_ip,
        p.container_port
    )
}

fn ip_element(p: &Port) -> String {
    format!(
        "{} . {} . {} : {} . {}",
        p.host_ip,
        p.proto.as_str(),
        p.host_port,
        p.container_ip,
        p.container_port
    )
}

/// The map a port's element belongs in, and the element.
fn element(p: &Port) -> (&'static str, String) {
    if p.host_ip.is_unspecified() {
        ("ports", any_element(p))
    } else {
        ("ports_ip", ip_element(p))
    }
}

/// The batch that adds (or with `add` false deletes) the elements of `ports`.
pub fn port_elements(table: &str, ports: &[Port], add: bool) -> String {
    let verb = if add { "add" } else { "delete" };
    ports
        .iter()
        .map(|p| {
            let (map, el) = element(p);
            format!("{verb} element ip {table} {map} {{ {el} }}\n")
        })
        .collect()
}

/// Masquerade: host-to-container traffic from 127.0.0.0/8 (published on localhost),
/// hairpin traffic (a container reaching a neighbour through a published port), and
/// traffic leaving a network that is not internal.
fn postrouting(s: &mut String, networks: &[Network]) {
    s.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    s.push_str("    ip saddr 127.0.0.0/8 oifname @bridges masquerade\n");
    for n in networks {
        let (br, sub) = (&n.bridge, n.subnet);
        let _ = writeln!(
            s,
            "    ct status dnat ip saddr {sub} oifname \"{br}\" masquerade"
        );
        if n.masquerades() {
            let _ = writeln!(s, "    ip saddr {sub} oifname != \"{br}\" masquerade");
        }
    }
    s.push_str("  }\n");
}

/// Isolation: nothing crosses from one network's bridge to another's; an internal
/// network's bridge talks to nothing else.
fn forward(s: &mut String, networks: &[Network]) {
    s.push_str("  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
    for n in networks {
        let br = &n.bridge;
        if n.internal {
            let _ = writeln!(s, "    iifname \"{br}\" oifname != \"{br}\" drop");
            let _ = writeln!(s, "    oifname \"{br}\" iifname != \"{br}\" drop");
        } else {
            let _ = writeln!(
                s,
                "    iifname \"{br}\" oifname @bridges oifname != \"{br}\" drop"
            );
        }
    }
    s.push_str("  }\n");
}

/// The batch that removes the table (nothing left of berth's).
pub fn delete(table: &str) -> String {
    format!("table ip {table} {{}}\ndelete table ip {table}\n")
}

/// A table name for a daemon whose default bridge is `bridge`.
pub fn table_name(bridge: &str) -> String {
    let clean: String = bridge
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("berth_{clean}")
}

/// Whether `ip` is a host address published ports may name (loopback included).
pub fn is_host_ip(ip: Ipv4Addr) -> bool {
    !ip.is_multicast() && !ip.is_broadcast()
}
