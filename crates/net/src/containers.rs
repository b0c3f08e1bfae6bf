//! Containers on networks: a namespace file and a veth pair per network when a container
//! starts (its addresses from the IPAM, its published ports as map elements, its
//! embedded DNS server on user networks), more networks while it runs (`connect`,
//! `disconnect`), and all of it released when its run ends.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::error::NetError;
use crate::firewall::Change;
use crate::host::Attachment;
use crate::ipam;
use crate::manager::{new_id, Networks};
use crate::ports::Wanted;
use crate::state::{Endpoint, Network, Port, State};

type Result<T> = std::result::Result<T, NetError>;

/// One network a starting container joins.
#[derive(Debug, Clone, Default)]
pub struct Join {
    /// The network's name or id.
    pub network: String,
    /// An address asked for.
    pub ip: Option<Ipv4Addr>,
    /// A MAC address asked for.
    pub mac: Option<[u8; 6]>,
    /// More names.
    pub aliases: Vec<String>,
}

/// Endpoints with their networks.
pub type Endpoints = Vec<(Network, Endpoint)>;

/// What a container gets when it starts.
#[derive(Debug, Clone)]
pub struct Attached {
    /// Its namespace file.
    pub netns: PathBuf,
    /// Its endpoints, with their networks.
    pub endpoints: Endpoints,
    /// Its published ports.
    pub ports: Vec<Port>,
}

/// The veth pairs a starting container still needs (see [`Networks::reserve`]).
#[derive(Debug, Clone, Default)]
pub struct Plumbing {
    netns: PathBuf,
    links: Vec<Link>,
}

/// One veth pair to make.
#[derive(Debug, Clone)]
struct Link {
    network: Network,
    endpoint: Endpoint,
    default_route: bool,
}

/// A new endpoint of container `id` (named `name`) on `net` at `ip`, its veth's host
/// end named at random as docker names them.
fn endpoint(
    id: &str,
    name: &str,
    net: &Network,
    j: &Join,
    ip: Ipv4Addr,
    ifname: String,
) -> Endpoint {
    Endpoint {
        id: new_id(),
        container: id.into(),
        name: name.into(),
        network: net.id.clone(),
        aliases: j.aliases.clone(),
        ip,
        mac: ipam::mac_string(&j.mac.unwrap_or_else(|| ipam::mac_of(ip))),
        veth: format!("veth{}", &new_id()[..7]),
        ifname,
    }
}

impl Networks {
    /// Starts container `id`'s embedded DNS if it is on a user network.
    pub(crate) fn start_dns(&self, state: &State, id: &str) -> Result<()> {
        let Some(dns) = &self.dns else {
            return Ok(());
        };
        if !self.wants_dns(state, id) || dns.serves(id) {
            return Ok(());
        }
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let asked = state.resolvers.get(id).cloned().unwrap_or_default();
        let upstream = crate::dns::upstream(&asked, &host);
        dns.start(id, &self.netns_path(id), upstream)
            .map_err(|e| NetError::Dns(e.to_string()))
    }

    /// Whether container `id` gets an embedded DNS server: it is on a user network.
    fn wants_dns(&self, state: &State, id: &str) -> bool {
        self.dns.is_some()
            && state.container_endpoints(id).iter().any(|e| {
                state
                    .networks
                    .iter()
                    .any(|n| n.id == e.network && !n.predefined)
            })
    }

    /// Attaches starting container `id` (named `name`) to `joins` in a new namespace
    /// file, and publishes `ports` on the first network. Nothing is left on failure.
    pub fn attach(
        &self,
        id: &str,
        name: &str,
        joins: &[Join],
        ports: &[Wanted],
        dns_servers: &[String],
    ) -> Result<Attached> {
        let (attached, plumbing) = self.reserve(id, name, joins, ports, dns_servers)?;
        if let Err(e) = self.plumb(&plumbing) {
            self.detach(id).ok();
            return Err(e);
        }
        Ok(attached)
    }

    /// [`Networks::attach`] but for the veth pairs: the addresses, ports, namespace file
    /// (empty but for `lo`), bridges and rules are made and recorded; the links are left
    /// to [`Networks::plumb`], which may run while the container is being created (it
    /// must be done before the container's process begins). A failure of either is
    /// undone by [`Networks::detach`]; a failure here leaves nothing.
    pub fn reserve(
        &self,
        id: &str,
        name: &str,
        joins: &[Join],
        ports: &[Wanted],
        dns_servers: &[String],
    ) -> Result<(Attached, Plumbing)> {
        if joins.iter().any(|j| j.network == "bridge") {
            self.ensure_default()?;
        }
        let netns = self.netns_path(id);
        self.locked(|state| {
            self.release(state, id);
            if !dns_servers.is_empty() {
                state.resolvers.insert(id.into(), dns_servers.to_vec());
            }
            let r = self
                .attach_locked(state, id, name, joins, ports, &netns)
                .and_then(|(a, p)| {
                    if !self.wants_dns(state, id) {
                        return Ok((a, p));
                    }
                    // The embedded DNS serves inside the namespace: its links come first.
                    self.plumb(&p)?;
                    self.start_dns(state, id)?;
                    Ok((a, Plumbing::default()))
                });
            if r.is_err() {
                self.release(state, id);
            }
            r
        })
    }

    /// Makes the veth pairs [`Networks::reserve`] left.
    pub fn plumb(&self, p: &Plumbing) -> Result<()> {
        for link in &p.links {
            let ep = &link.endpoint;
            let mac = ipam::parse_mac(&ep.mac).unwrap_or_else(|| ipam::mac_of(ep.ip));
            self.host.attach(&Attachment {
                network: &link.network,
                veth: &ep.veth,
                ifname: &ep.ifname,
                netns: &p.netns,
                ip: ep.ip,
                mac,
                default_route: link.default_route && !link.network.internal,
            })?;
        }
        Ok(())
    }

    fn attach_locked(
        &self,
        state: &mut State,
        id: &str,
        name: &str,
        joins: &[Join],
        ports: &[Wanted],
        netns: &Path,
    ) -> Result<(Attached, Plumbing)> {
        let mut endpoints = Vec::new();
        for (i, j) in joins.iter().enumerate() {
            let (net, ep) = self.new_endpoint(state, id, name, j, format!("eth{i}"))?;
            state.endpoints.push(ep.clone());
            endpoints.push((net, ep));
        }
        let published = match endpoints.first() {
            Some((_, ep)) => self.pick_ports(state, id, name, ep.ip, ports)?,
            None => Vec::new(),
        };
        state.ports.extend(published.iter().cloned());
        self.host.make_netns(netns)?;
        // The default route goes through the first network that leads somewhere.
        let gateway = endpoints.iter().position(|(n, _)| !n.internal);
        let mut links = Vec::new();
        for (i, (net, ep)) in endpoints.iter().enumerate() {
            self.host.ensure_bridge(net)?;
            links.push(Link {
                network: net.clone(),
                endpoint: ep.clone(),
                default_route: Some(i) == gateway,
            });
        }
        self.publish(state, &published)?;
        let attached = Attached {
            netns: netns.into(),
            endpoints,
            ports: published,
        };
        let plumbing = Plumbing {
            netns: netns.into(),
            links,
        };
        Ok((attached, plumbing))
    }

    /// A new endpoint of container `id` on the network `j` names, its address
    /// allocated (not yet recorded in `state`'s endpoints).
    fn new_endpoint(
        &self,
        state: &mut State,
        id: &str,
        name: &str,
        j: &Join,
        ifname: String,
    ) -> Result<(Network, Endpoint)> {
        let net = state
            .network(&j.network)
            .cloned()
            .ok_or_else(|| NetError::NotFound(j.network.clone()))?;
        if net.predefined && j.ip.is_some() {
            return Err(NetError::IpOnDefault);
        }
        let ip = ipam::allocate(state, &net.id, j.ip)?;
        let ep = endpoint(id, name, &net, j, ip, ifname);
        Ok((net, ep))
    }

    /// Makes endpoint `ep` on the host: its network's bridge if missing, its veth pair
    /// into `netns`, its address (and the default route through it with `route`).
    fn plumb_one(&self, net: &Network, ep: &Endpoint, netns: &Path, route: bool) -> Result<()> {
        self.host.ensure_bridge(net)?;
        self.plumb(&Plumbing {
            netns: netns.into(),
            links: vec![Link {
                network: net.clone(),
                endpoint: ep.clone(),
                default_route: route,
            }],
        })
    }

    /// Publishes `ports`; if the rules are missing, writes them whole.
    fn publish(&self, state: &State, ports: &[Port]) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        let change = Change::Publish { state, ports };
        if self.host.firewall(&self.table, &change).is_err() {
            self.apply_rules(state)?;
        }
        Ok(())
    }

    /// Host ports for `wanted`: checked against other containers' and host processes'.
    fn pick_ports(
        &self,
        state: &State,
        id: &str,
        name: &str,
        ip: Ipv4Addr,
        wanted: &[Wanted],
    ) -> Result<Vec<Port>> {
        let mut out: Vec<Port> = Vec::new();
        for w in wanted {
            let port = self.pick_port(state, &out, name, w)?;
            out.push(Port {
                container: id.into(),
                proto: w.proto,
                host_ip: w.host_ip,
                host_port: port,
                container_ip: ip,
                container_port: w.container_port,
            });
        }
        Ok(out)
    }

    fn pick_port(&self, state: &State, mine: &[Port], name: &str, w: &Wanted) -> Result<u16> {
        let clash = |port: u16| {
            state.ports.iter().chain(mine).any(|p| {
                p.proto == w.proto
                    && p.host_port == port
                    && (p.host_ip.is_unspecified()
                        || w.host_ip.is_unspecified()
                        || p.host_ip == w.host_ip)
            })
        };
        let free = |port| self.host.port_free(w.proto, w.host_ip, port);
        let (first, last) = match w.host_ports {
            (0, 0) => ephemeral_range(),
            r => r,
        };
        if first == last {
            if clash(first) {
                return Err(NetError::PortAllocated {
                    ip: w.host_ip,
                    port: first,
                });
            }
            if !free(first) {
                return Err(NetError::PortBusy {
                    endpoint: name.into(),
                    proto: w.proto.as_str(),
                    ip: w.host_ip,
                    port: first,
                });
            }
            return Ok(first);
        }
        (first..=last)
            .find(|p| !clash(*p) && free(*p))
            .ok_or_else(|| {
                NetError::NoFreePort(format!("{}/{}", w.container_port, w.proto.as_str()))
            })
    }

    /// Removes container `id`'s endpoints, ports, links and namespace file from the
    /// host and the state (errors of the host steps are ignored: what is gone is gone).
    pub(crate) fn release(&self, state: &mut State, id: &str) {
        let ports: Vec<Port> = state
            .ports
            .iter()
            .filter(|p| p.container == id)
            .cloned()
            .collect();
        if !ports.is_empty() {
            state.ports.retain(|p| p.container != id);
            let change = Change::Unpublish {
                state,
                ports: &ports,
            };
            if self.host.firewall(&self.table, &change).is_err() {
                self.apply_rules(state).ok();
            }
        }
        let veths: Vec<String> = state
            .endpoints
            .iter()
            .filter(|e| e.container == id && !e.veth.is_empty())
            .map(|e| e.veth.clone())
            .collect();
        if !veths.is_empty() {
            self.host.delete_links_later(veths);
        }
        state.endpoints.retain(|e| e.container != id);
        state.resolvers.remove(id);
        if let Some(dns) = &self.dns {
            dns.stop(id);
        }
        self.host.remove_netns(&self.netns_path(id)).ok();
    }

    /// Connects running container `id` (named `name`) to one more network, in its
    /// namespace file.
    pub fn connect(&self, id: &str, name: &str, join: &Join) -> Result<Endpoint> {
        let netns = self.netns_path(id);
        self.locked(|state| {
            let on = state.container_endpoints(id);
            if let Some(net) = state.network(&join.network) {
                if on.iter().any(|e| e.network == net.id) {
                    return Err(NetError::Connected {
                        container: name.into(),
                        network: net.name.clone(),
                    });
                }
            }
            let taken: Vec<String> = on.iter().map(|e| e.ifname.clone()).collect();
            let routed = on.iter().any(|e| {
                state
                    .networks
                    .iter()
                    .any(|n| n.id == e.network && !n.internal)
            });
            let ifname = (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !taken.contains(n))
                .unwrap_or_default();
            let (net, ep) = self.new_endpoint(state, id, name, join, ifname)?;
            if let Err(e) = self.plumb_one(&net, &ep, &netns, !routed) {
                self.host.delete_link(&ep.veth).ok();
                return Err(e);
            }
            state.endpoints.push(ep.clone());
            self.start_dns(state, id)?;
            Ok(ep)
        })
    }

    /// Renames container `id`'s endpoints (the embedded DNS answers the new name).
    pub fn rename(&self, id: &str, name: &str) -> Result<()> {
        self.locked(|state| {
            for e in state.endpoints.iter_mut().filter(|e| e.container == id) {
                e.name = name.into();
            }
            Ok(())
        })
    }

    /// Disconnects running container `id` from network `network` (its link goes).
    pub fn disconnect(&self, id: &str, network: &str) -> Result<()> {
        self.locked(|state| {
            let net = state
                .network(network)
                .cloned()
                .ok_or_else(|| NetError::NotFound(network.into()))?;
            let Some(ep) = state
                .endpoints_of(&net.id)
                .find(|e| e.container == id)
                .cloned()
            else {
                return Ok(());
            };
            self.host.delete_link(&ep.veth)?;
            state.endpoints.retain(|e| e.id != ep.id);
            Ok(())
        })
    }

    /// Makes container `id`'s network namespace with no network in it but loopback
    /// (`--network none`), released by [`Networks::detach`] like any container's. Nothing
    /// but the container uses it, so it needs no file: this process holds it by a
    /// descriptor while the container starts, and the path returned is that descriptor's
    /// (`/proc/<pid>/fd/<n>`, valid until the detach). Binding it to a file would cost a
    /// mount at the start and, at the end, an unmount (which waits for an RCU grace
    /// period).
    pub fn sandbox(&self, id: &str) -> Result<PathBuf> {
        let ns = self.host.hold_netns()?;
        let path = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            std::os::fd::AsRawFd::as_raw_fd(&ns)
        ));
        let old = self.sandboxes_lock().insert(id.into(), ns);
        if let Some(old) = old {
            self.host.drop_netns(old);
        }
        Ok(path)
    }

    fn sandboxes_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, std::os::fd::OwnedFd>> {
        // A map of descriptors: a panic elsewhere leaves it consistent.
        self.sandboxes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Detaches container `id` (it stopped): its addresses go back to their networks.
    pub fn detach(&self, id: &str) -> Result<()> {
        let sandbox = self.sandboxes_lock().remove(id);
        if let Some(ns) = sandbox {
            // A `--network none` container has nothing else to release.
            self.host.drop_netns(ns);
            return Ok(());
        }
        self.locked(|state| {
            self.release(state, id);
            Ok(())
        })
    }

    /// Container `id`'s endpoints with their networks, and its ports.
    pub fn of_container(&self, id: &str) -> Result<(Endpoints, Vec<Port>)> {
        let state = self.read()?;
        let eps = state
            .container_endpoints(id)
            .into_iter()
            .filter_map(|e| {
                let n = state.networks.iter().find(|n| n.id == e.network)?;
                Some((n.clone(), e.clone()))
            })
            .collect();
        let ports = state
            .ports
            .iter()
            .filter(|p| p.container == id)
            .cloned()
            .collect();
        Ok((eps, ports))
    }
}

/// The host's ephemeral port range (docker picks published ports from it).
fn ephemeral_range() -> (u16, u16) {
    let text =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = text.split_whitespace().filter_map(|w| w.parse().ok());
    match (it.next(), it.next()) {
        (Some(a), Some(b)) if a <= b => (a, b),
        _ => (32768, 60999),
    }
}
