//! What berth's networking is, as one versioned document (`<dir>/state.json`): the
//! networks, the endpoints (a container on a network: its address, MAC and host-side
//! veth) and the published ports. It is the source of truth: links and firewall rules
//! are rebuilt from it, and its endpoints are the IPAM's allocations.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The state format this code writes.
pub const STATE_VERSION: u32 = 1;

/// A bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// 64 hex characters.
    pub id: String,
    /// Unique name (`bridge` for the default network).
    pub name: String,
    /// Always `bridge`.
    pub driver: String,
    /// The bridge interface's name.
    pub bridge: String,
    /// The subnet.
    pub subnet: Ipv4Net,
    /// The bridge's address.
    pub gateway: Ipv4Addr,
    /// Where container addresses come from (the subnet when None).
    #[serde(default)]
    pub ip_range: Option<Ipv4Net>,
    /// No traffic in or out of the network's bridge but between its containers.
    #[serde(default)]
    pub internal: bool,
    /// The user's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The driver options given at create.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// When it was made (RFC 3339).
    pub created: String,
    /// The default network: cannot be removed, has no embedded DNS.
    #[serde(default)]
    pub predefined: bool,
    /// Containers can be attached by `docker network connect`.
    #[serde(default)]
    pub attachable: bool,
    /// The last address handed out (allocation goes on after it).
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
}

/// A container on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// 64 hex characters.
    pub id: String,
    /// The container's id.
    pub container: String,
    /// The container's name (what the embedded DNS answers for).
    pub name: String,
    /// The network's id.
    pub network: String,
    /// More names on this network (`--network-alias`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its MAC address, `02:42:..`.
    pub mac: String,
    /// The host end of its veth pair (empty while the container is not running).
    #[serde(default)]
    pub veth: String,
    /// The interface name in the container (`eth0`, `eth1`, ...).
    #[serde(default)]
    pub ifname: String,
}

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// A published port of a running container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The container's id.
    pub container: String,
    /// TCP or UDP.
    pub proto: Proto,
    /// The host address it listens on (0.0.0.0: every one).
    pub host_ip: Ipv4Addr,
    /// The host port.
    pub host_port: u16,
    /// The container's address.
    pub container_ip: Ipv4Addr,
    /// The container's port.
    pub container_port: u16,
}

/// Everything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The format.
    pub version: u32,
    /// The networks.
    #[serde(default)]
    pub networks: Vec<Network>,
    /// The endpoints.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// The published ports.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// The `--dns` servers of running containers on user networks (what their
    /// embedded DNS forwards to).
    #[serde(default)]
    pub resolvers: BTreeMap<String, Vec<String>>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: STATE_VERSION,
            networks: Vec::new(),
            endpoints: Vec::new(),
            ports: Vec::new(),
            resolvers: BTreeMap::new(),
        }
    }
}

impl Network {
    /// Whether traffic leaving the network is masqueraded: not for an internal one, nor
    /// with `com.docker.network.bridge.enable_ip_masquerade=false`.
    pub fn masquerades(&self) -> bool {
        let off = self
            .options
            .get("com.docker.network.bridge.enable_ip_masquerade")
            .is_some_and(|v| v == "false");
        !self.internal && !off
    }
}

impl State {
    /// The network named `s`, or with id (or unique id prefix) `s`.
    pub fn network(&self, s: &str) -> Option<&Network> {
        if s.is_empty() {
            return None;
        }
        if let Some(n) = self.networks.iter().find(|n| n.name == s || n.id == s) {
            return Some(n);
        }
        let mut by_prefix = self.networks.iter().filter(|n| n.id.starts_with(s));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(n), None) => Some(n),
            _ => None,
        }
    }

    /// The endpoints of network `id`.
    pub fn endpoints_of(&self, network: &str) -> impl Iterator<Item = &Endpoint> {
        let network = network.to_string();
        self.endpoints.iter().filter(move |e| e.network == network)
    }

    /// The endpoints of container `id`.
    pub fn container_endpoints(&self, container: &str) -> Vec<&Endpoint> {
        self.endpoints
            .iter()
            .filter(|e| e.container == container)
            .collect()
    }
}
