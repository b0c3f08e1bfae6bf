//! What a container asks of networking, as kept in its record: the networks it joins
//! beyond its network mode (with an address, MAC and aliases each), published and
//! exposed ports, and its DNS and /etc/hosts settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ports::Bindings;

/// A container's settings on one network (docker's `EndpointSettings`, the part a
/// user sets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointSettings {
    /// An IPv4 address asked for (`--ip`).
    pub ipv4: String,
    /// More names (`--network-alias`).
    pub aliases: Vec<String>,
    /// A MAC address asked for.
    pub mac: String,
}

/// A container's network settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerNet {
    /// The networks it is on, by name, with its settings there (the network mode's
    /// network included when it is a network).
    pub networks: BTreeMap<String, EndpointSettings>,
    /// `-p`: container port (`80/tcp`) to host bindings.
    pub port_bindings: Bindings,
    /// `-P`: publish every exposed port.
    pub publish_all: bool,
    /// Exposed ports (`80/tcp`), the image's and `--expose`'s.
    pub exposed: Vec<String>,
    /// `--dns`.
    pub dns: Vec<String>,
    /// `--dns-search`.
    pub dns_search: Vec<String>,
    /// `--dns-option`.
    pub dns_options: Vec<String>,
    /// `--add-host` (`name:ip`).
    pub extra_hosts: Vec<String>,
    /// `--mac-address` (for the first network).
    pub mac_address: String,
    /// The container was disconnected from its network mode's network: it starts
    /// without it (until connected again).
    pub mode_disconnected: bool,
}
