//! The engine's side of networking (the work is `berth_net`'s): which networks a
//! container's settings name, checked at create; its namespace, addresses and published
//! ports made when it starts and released when its run ends or it is removed.
//! An engine without networks (no daemon set them) gives every container but `host`
//! one a namespace of its own with only `lo`, as before bridges.

use std::net::Ipv4Addr;

use berth_net::ports::{self, Wanted};
use berth_net::{Join, NetError, Networks, Plumbing};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::{Container, Status};
use crate::spec::network::Joined;

/// Where a container's network mode puts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `none`: only `lo`.
    None,
    /// `host`.
    Host,
    /// `container:<name>`.
    Container(String),
    /// A network, by name (`bridge` for the default).
    Network(String),
}

/// Parses a network mode.
pub fn mode(name: &str) -> Mode {
    match name {
        "" | "default" | "bridge" => Mode::Network("bridge".into()),
        "none" => Mode::None,
        "host" => Mode::Host,
        n => match n.strip_prefix("container:") {
            Some(c) => Mode::Container(c.into()),
            None => Mode::Network(n.into()),
        },
    }
}

impl Engine {
    /// Gives this engine networks: containers on the default mode join `bridge`.
    pub fn set_networks(&mut self, networks: Networks) {
        self.networks = Some(networks);
    }

    /// The networks, if this engine has them.
    pub fn networks(&self) -> Option<&Networks> {
        self.networks.as_ref()
    }

    /// Checks a new container's network settings: the networks it names exist, its
    /// ports parse, `--ip` is on a user network.
    pub(crate) fn check_network(&self, c: &Container) -> Result<()> {
        let net = &c.config.host.net;
        ports::wanted(&net.port_bindings, &net.exposed, net.publish_all).map_err(NetError::from)?;
        let Some(networks) = &self.networks else {
            return match mode(&c.config.host.network_mode) {
                Mode::Network(n) if n != "bridge" => Err(crate::spec::SpecError::NetworkMode(
                    c.config.host.network_mode.clone(),
                )
                .into()),
                _ => Ok(()),
            };
        };
        match mode(&c.config.host.network_mode) {
            Mode::Network(n) => {
                let found = networks.get(&n)?;
                let asked_ip = net.networks.get(&n).is_some_and(|e| !e.ipv4.is_empty());
                if found.predefined && asked_ip {
                    return Err(NetError::IpOnDefault.into());
                }
            }
            Mode::Container(other) => {
                self.containers().find(&other)?;
            }
            Mode::None | Mode::Host => {}
        }
        for name in net.networks.keys() {
            networks.get(name)?;
        }
        Ok(())
    }

    /// Makes container `c`'s network before it starts: None for a namespace of its own
    /// (or the host's). The veth pairs are left to [`Engine::plumb_network`] (with the
    /// returned plumbing), which may run while the container is being created.
    pub(crate) fn attach_network(
        &self,
        c: &Container,
    ) -> Result<(Option<Joined>, Option<Plumbing>)> {
        let Some(networks) = &self.networks else {
            return Ok((None, None));
        };
        match mode(&c.config.host.network_mode) {
            Mode::Host => Ok((None, None)),
            // A namespace made ahead of need (see berth_net::netns_pool) is cheaper than
            // the runtime's.
            Mode::None => Ok((
                Some(Joined {
                    netns: networks.sandbox(&c.id)?,
                    addresses: Vec::new(),
                    embedded_dns: false,
                    files_from: None,
                }),
                None,
            )),
            Mode::Container(other) => Ok((Some(self.join_container(&other)?), None)),
            Mode::Network(first) => {
                let joins = joins(c, &first)?;
                let net = &c.config.host.net;
                let wanted: Vec<Wanted> =
                    ports::wanted(&net.port_bindings, &net.exposed, net.publish_all)
                        .map_err(NetError::from)?;
                let (a, plumbing) = networks.reserve(&c.id, &c.name, &joins, &wanted, &net.dns)?;
                Ok((
                    Some(Joined {
                        netns: a.netns,
                        addresses: a.endpoints.iter().map(|(_, e)| e.ip).collect(),
                        embedded_dns: a.endpoints.iter().any(|(n, _)| !n.predefined),
                        files_from: None,
                    }),
                    Some(plumbing),
                ))
            }
        }
    }

    /// Makes the veth pairs [`Engine::attach_network`] left (a failure is undone by
    /// [`Engine::detach_network`]).
    pub(crate) fn plumb_network(&self, plumbing: &Plumbing) -> Result<()> {
        match &self.networks {
            Some(n) => Ok(n.plumb(plumbing)?),
            None => Ok(()),
        }
    }

    /// The namespace of running container `other`.
    fn join_container(&self, other: &str) -> Result<Joined> {
        let o = self.containers().find(other)?;
        let o = self.refresh(o)?;
        if o.state.status != Status::Running || o.state.pid <= 0 {
            return Err(EngineError::NotRunning(o.id));
        }
        Ok(Joined {
            netns: format!("/proc/{}/ns/net", o.state.pid).into(),
            addresses: Vec::new(),
            embedded_dns: false,
            files_from: Some(self.containers().dir(&o.id)),
        })
    }

    /// Releases container `id`'s network (its run ended, or its start failed).
    pub(crate) fn detach_network(&self, id: &str) -> Result<()> {
        match &self.networks {
            Some(n) => Ok(n.detach(id)?),
            None => Ok(()),
        }
    }
}

impl Engine {
    /// Connects container `who` to network `network` (`docker network connect`): kept
    /// in its record, and made at once if it runs.
    pub fn connect_network(
        &self,
        who: &str,
        network: &str,
        settings: berth_net::settings::EndpointSettings,
    ) -> Result<()> {
        let Some(networks) = &self.networks else {
            return Ok(());
        };
        let mut c = self.refresh(self.containers().find(who)?)?;
        if !matches!(mode(&c.config.host.network_mode), Mode::Network(_)) {
            return Err(EngineError::Network(NetError::Invalid {
                what: "network mode for connect",
                value: c.config.host.network_mode.clone(),
            }));
        }
        if self.on_network(&c, network) {
            return Err(NetError::Connected {
                container: c.name,
                network: network.into(),
            }
            .into());
        }
        let mut one = c.clone();
        one.config.host.net.networks = [(network.to_string(), settings.clone())].into();
        one.config.host.net.mode_disconnected = true;
        let Some(join) = joins(&one, "")?.into_iter().next() else {
            return Ok(());
        };
        if c.state.status == Status::Running {
            networks.connect(&c.id, &c.name, &join)?;
        } else if let Some(ip) = join.ip {
            // Checked now, as docker does, not at the next start.
            let net = networks.get(network)?;
            let range = net.ip_range.unwrap_or(net.subnet);
            if !range.contains(&ip) {
                return Err(NetError::Ipam(berth_net::ipam::IpamError::Outside(ip)).into());
            }
        }
        if self.is_mode_network(&c, network) {
            c.config.host.net.mode_disconnected = false;
        }
        c.config.host.net.networks.insert(network.into(), settings);
        self.containers().save(&c)
    }

    /// Disconnects container `who` from network `network` (from its network mode's too:
    /// the mode stays, the container starts without that network, as in docker).
    pub fn disconnect_network(&self, who: &str, network: &str) -> Result<()> {
        let Some(networks) = &self.networks else {
            return Ok(());
        };
        let mut c = self.refresh(self.containers().find(who)?)?;
        if !self.on_network(&c, network) {
            return Err(NetError::NotConnected {
                container: c.name,
                network: network.into(),
            }
            .into());
        }
        if c.state.status == Status::Running {
            networks.disconnect(&c.id, network)?;
        }
        c.config.host.net.networks.remove(network);
        if self.is_mode_network(&c, network) {
            c.config.host.net.mode_disconnected = true;
        }
        self.containers().save(&c)
    }

    /// Gives container `id`'s endpoints its new name (what the embedded DNS answers).
    pub(crate) fn rename_endpoints(&self, id: &str, name: &str) -> Result<()> {
        match &self.networks {
            Some(n) => Ok(n.rename(id, name)?),
            None => Ok(()),
        }
    }

    /// Whether network `network` (a name) is container `c`'s network mode's.
    fn is_mode_network(&self, c: &Container, network: &str) -> bool {
        let Mode::Network(n) = mode(&c.config.host.network_mode) else {
            return false;
        };
        n == network
            || self
                .networks
                .as_ref()
                .and_then(|nets| nets.get(&n).ok())
                .is_some_and(|found| found.name == network)
    }

    /// Whether container `c` is on network `network` (a name).
    fn on_network(&self, c: &Container, network: &str) -> bool {
        let by_mode = self.is_mode_network(c, network) && !c.config.host.net.mode_disconnected;
        by_mode || c.config.host.net.networks.contains_key(network)
    }
}

/// Adds the image's exposed ports to container `c`'s (what `-P` publishes).
pub(crate) fn add_image_ports(c: &mut Container, image: &oci_spec::image::ImageConfiguration) {
    let ports = image
        .config()
        .as_ref()
        .and_then(|cfg| cfg.exposed_ports().clone())
        .unwrap_or_default();
    let exposed = &mut c.config.host.net.exposed;
    for p in ports {
        let key = if p.contains('/') {
            p
        } else {
            format!("{p}/tcp")
        };
        if !exposed.contains(&key) {
            exposed.push(key);
        }
    }
}

/// The networks container `c` joins: its mode's first, then the others it names.
fn joins(c: &Container, first: &str) -> Result<Vec<Join>> {
    let net = &c.config.host.net;
    let mut names = Vec::new();
    if !net.mode_disconnected {
        names.push(first.to_string());
    }
    names.extend(net.networks.keys().filter(|k| *k != first).cloned());
    names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let settings = net.networks.get(&name).cloned().unwrap_or_default();
            let ip = match settings.ipv4.as_str() {
                "" => None,
                s => Some(s.parse::<Ipv4Addr>().map_err(|_| NetError::Invalid {
                    what: "IPv4 address",
                    value: s.into(),
                })?),
            };
            let mac = match (i, settings.mac.as_str(), net.mac_address.as_str()) {
                (_, m, _) if !m.is_empty() => Some(m),
                (0, _, m) if !m.is_empty() => Some(m),
                _ => None,
            };
            let mac = mac
                .map(|m| {
                    berth_net::ipam::parse_mac(m).ok_or_else(|| NetError::Invalid {
                        what: "MAC address",
                        value: m.into(),
                    })
                })
                .transpose()?;
            Ok(Join {
                network: name,
                ip,
                mac,
                aliases: settings.aliases,
            })
        })
        .collect()
}
