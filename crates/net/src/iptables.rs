//! The iptables fallback of hosts without nftables: the daemon's rules in chains of its
//! own (`<prefix>-PRE`, `-OUT`, `-POST` in `nat`, `-FWD` in `filter`), rewritten whole
//! by one `iptables-restore --noflush` per change and jumped to from the built-in
//! chains. A published port is a DNAT rule here (iptables has no maps).

use std::fmt::Write;

use crate::state::{Network, Port, State};

/// The chain-name prefix of the daemon whose table is `table` (chain names have 28
/// bytes: the prefix is cut to leave room for the suffixes).
pub fn prefix(table: &str) -> String {
    let p = table.replace('_', "-").to_ascii_uppercase();
    p.chars().take(23).collect()
}

/// The built-in chains jumped from, with their table and our chain's suffix.
pub const JUMPS: [(&str, &str, &str); 4] = [
    ("nat", "PREROUTING", "PRE"),
    ("nat", "OUTPUT", "OUT"),
    ("nat", "POSTROUTING", "POST"),
    ("filter", "FORWARD", "FWD"),
];

/// The `iptables-restore --noflush` input that makes the chains hold what `state` needs.
pub fn restore_input(prefix: &str, state: &State) -> String {
    let mut s = String::from("*nat\n");
    for c in ["PRE", "OUT", "POST"] {
        let _ = writeln!(s, ":{prefix}-{c} - [0:0]\n-F {prefix}-{c}");
    }
    for p in &state.ports {
        let _ = writeln!(s, "-A {prefix}-PRE {}", dnat(p));
        let _ = writeln!(s, "-A {prefix}-OUT {}", dnat(p));
    }
    postrouting(&mut s, prefix, &state.networks);
    s.push_str("COMMIT\n*filter\n");
    let _ = writeln!(s, ":{prefix}-FWD - [0:0]\n-F {prefix}-FWD");
    forward(&mut s, prefix, &state.networks);
    s.push_str("COMMIT\n");
    s
}

/// The match and target of a published port.
fn dnat(p: &Port) -> String {
    let dest = if p.host_ip.is_unspecified() {
        "-m addrtype --dst-type LOCAL".to_string()
    } else {
        format!("-d {}/32", p.host_ip)
    };
    format!(
        "{dest} -p {proto} -m {proto} --dport {} -j DNAT --to-destination {}:{}",
        p.host_port,
        p.container_ip,
        p.container_port,
        proto = p.proto.as_str()
    )
}

fn postrouting(s: &mut String, prefix: &str, networks: &[Network]) {
    for n in networks {
        let (br, sub) = (&n.bridge, n.subnet);
        let _ = writeln!(s, "-A {prefix}-POST -s 127.0.0.0/8 -o {br} -j MASQUERADE");
        let _ = writeln!(
            s,
            "-A {prefix}-POST -s {sub} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE"
        );
        if n.masquerades() {
            let _ = writeln!(s, "-A {prefix}-POST -s {sub} ! -o {br} -j MASQUERADE");
        }
    }
}

fn forward(s: &mut String, prefix: &str, networks: &[Network]) {
    for n in networks {
        let br = &n.bridge;
        if n.internal {
            let _ = writeln!(s, "-A {prefix}-FWD -i {br} ! -o {br} -j DROP");
            let _ = writeln!(s, "-A {prefix}-FWD -o {br} ! -i {br} -j DROP");
            continue;
        }
        for other in networks.iter().filter(|o| o.bridge != n.bridge) {
            let _ = writeln!(s, "-A {prefix}-FWD -i {br} -o {} -j DROP", other.bridge);
        }
    }
}

/// The `iptables-restore --noflush` input that empties the chains (before they are
/// unhooked and deleted).
pub fn flush_input(prefix: &str) -> String {
    let mut s = String::from("*nat\n");
    for c in ["PRE", "OUT", "POST"] {
        let _ = writeln!(s, ":{prefix}-{c} - [0:0]\n-F {prefix}-{c}");
    }
    let _ = write!(
        s,
        "COMMIT\n*filter\n:{prefix}-FWD - [0:0]\n-F {prefix}-FWD\nCOMMIT\n"
    );
    s
}
