//! The networks of one daemon: the state document under a lock (a file lock, so every
//! engine instance of the daemon and a restarted daemon agree), networks made and
//! removed, containers attached when they start (a namespace file, a veth pair per
//! network, an address, published ports as map elements) and detached when they stop,
//! and the host rebuilt from the state when the daemon starts.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use nix::fcntl::{Flock, FlockArg};

use crate::host::{Attachment, Host, HostError};
use crate::ipam::{self, IpamError};
use crate::nft;
use crate::ports::{PortError, Wanted};
use crate::state::{Endpoint, Network, Port, State, STATE_VERSION};

/// Networking errors, in docker's words where docker has them.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No such network.
    #[error("network {0} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("network with name {0} already exists")]
    Exists(String),
    /// Containers are attached.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse {
        /// The network's name.
        name: String,
        /// Its id.
        id: String,
    },
    /// The default network cannot be removed.
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    /// A driver berth does not have.
    #[error("plugin \"{0}\" not found")]
    Driver(String),
    /// `--ip` on the default network.
    #[error("user specified IP address is supported on user defined networks only")]
    IpOnDefault,
    /// An address problem.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// A port spec problem.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Another container publishes the port.
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    PortAllocated {
        /// The host address.
        ip: Ipv4Addr,
        /// The host port.
        port: u16,
    },
    /// A host process holds the port.
    #[error("driver failed programming external connectivity on endpoint {endpoint}: listen {proto} {ip}:{port}: bind: address already in use")]
    PortBusy {
        /// The container's name.
        endpoint: String,
        /// tcp or udp.
        proto: &'static str,
        /// The host address.
        ip: Ipv4Addr,
        /// The host port.
        port: u16,
    },
    /// No free host port in the range asked for.
    #[error("no free host port for {0}")]
    NoFreePort(String),
    /// A bad subnet or address given.
    #[error("invalid {what} {value:?}")]
    Invalid {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// The container is on the network already.
    #[error("endpoint with name {container} already exists in network {network}")]
    Connected {
        /// The container's name.
        container: String,
        /// The network's name.
        network: String,
    },
    /// The container is not on the network.
    #[error("container {container} is not connected to network {network}")]
    NotConnected {
        /// The container's name.
        container: String,
        /// The network's name.
        network: String,
    },
    /// A host operation failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The embedded DNS server could not start.
    #[error("{0}")]
    Dns(String),
    /// The state file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state file does not parse.
    #[error("network state {path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}

type Result<T> = std::result::Result<T, NetError>;

/// How a daemon's networking is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the state lives.
    pub dir: PathBuf,
    /// Where containers' namespace files go.
    pub netns_dir: PathBuf,
    /// The default network's bridge.
    pub bridge: String,
    /// The default bridge's address and prefix (`bip`); chosen from the pools if None.
    pub bip: Option<Ipv4Net>,
    /// Where subnets of new networks come from.
    pub pools: Vec<Ipv4Net>,
    /// A host-wide lock taken while a subnet is chosen and its bridge made, so that
    /// daemons side by side never pick the same one.
    pub host_lock: PathBuf,
    /// Where daemons claim their bridge names (see [`crate::claim`]).
    pub claims: PathBuf,
}

impl Config {
    /// The defaults under `data_root` with bridge `bridge`.
    pub fn new(data_root: &Path, bridge: &str) -> Config {
        Config {
            dir: data_root.join("network"),
            netns_dir: data_root.join("netns"),
            bridge: bridge.into(),
            bip: None,
            pools: ipam::default_pools(),
            host_lock: PathBuf::from("/run/berth-networks.lock"),
            claims: PathBuf::from("/run/berth-networks"),
        }
    }
}

/// What a network is created with (`docker network create`).
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// Its name.
    pub name: String,
    /// `bridge` (or empty).
    pub driver: String,
    /// The subnet (chosen from the pools if None).
    pub subnet: Option<Ipv4Net>,
    /// The gateway (the subnet's first address if None).
    pub gateway: Option<Ipv4Addr>,
    /// Where container addresses come from.
    pub ip_range: Option<Ipv4Net>,
    /// No outside access.
    pub internal: bool,
    /// Attachable by `network connect`.
    pub attachable: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options (`com.docker.network.bridge.name` names the bridge).
    pub options: BTreeMap<String, String>,
}

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

/// A daemon's networks.
pub struct Networks {
    config: Config,
    host: Box<dyn Host>,
    table: String,
    dns: Option<std::sync::Arc<crate::dns::Dns>>,
}

/// A random 64-hex id.
fn new_id() -> String {
    (0..4)
        .map(|_| format!("{:016x}", fastrand::u64(..)))
        .collect()
}

/// Now, RFC 3339.
fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

/// A UTC time as RFC 3339 with nanoseconds.
fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Networks {
    /// The networks described by `config`, on `host`.
    pub fn new(config: Config, host: Box<dyn Host>) -> Networks {
        let table = nft::table_name(&config.bridge);
        Networks {
            config,
            host,
            table,
            dns: None,
        }
    }

    /// Serves the embedded DNS of user networks with `dns`.
    pub fn with_dns(mut self, dns: std::sync::Arc<crate::dns::Dns>) -> Networks {
        self.dns = Some(dns);
        self
    }

    /// The state file (what the embedded DNS reads).
    pub fn state_file(&self) -> PathBuf {
        self.state_path()
    }

    /// Starts container `id`'s embedded DNS if it is on a user network.
    fn start_dns(&self, state: &State, id: &str) -> Result<()> {
        let Some(dns) = &self.dns else {
            return Ok(());
        };
        let on_user = state.container_endpoints(id).iter().any(|e| {
            state
                .networks
                .iter()
                .any(|n| n.id == e.network && !n.predefined)
        });
        if !on_user || dns.serves(id) {
            return Ok(());
        }
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let asked = state.resolvers.get(id).cloned().unwrap_or_default();
        let upstream = crate::dns::upstream(&asked, &host);
        dns.start(id, &self.netns_path(id), upstream)
            .map_err(|e| NetError::Dns(e.to_string()))
    }

    /// The nftables table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The namespace file of container `id`.
    pub fn netns_path(&self, id: &str) -> PathBuf {
        self.config.netns_dir.join(id)
    }

    fn state_path(&self) -> PathBuf {
        self.config.dir.join("state.json")
    }

    fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> NetError {
        let path = path.to_path_buf();
        move |source| NetError::Io { op, path, source }
    }

    /// Takes the state lock.
    fn lock(&self) -> Result<Flock<std::fs::File>> {
        let path = self.config.dir.join("lock");
        std::fs::create_dir_all(&self.config.dir).map_err(Self::io("create", &self.config.dir))?;
        let f = std::fs::File::create(&path).map_err(Self::io("create", &path))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| NetError::Io {
            op: "lock",
            path,
            source: e.into(),
        })
    }

    /// The state as saved.
    pub fn read(&self) -> Result<State> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Self::io("read", &path)(e)),
            Ok(raw) => serde_json::from_slice(&raw).map_err(|source| NetError::State {
                path: path.clone(),
                source,
            }),
        }
    }

    fn write(&self, state: &State) -> Result<()> {
        let path = self.state_path();
        let tmp = path.with_extension("tmp");
        let raw = serde_json::to_vec_pretty(state).map_err(|source| NetError::State {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&tmp, raw).map_err(Self::io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(Self::io("rename", &path))
    }

    /// Runs `f` on the state under the lock and saves what it leaves (also when it
    /// fails: `f` undoes its own half-done changes before it returns an error).
    fn locked<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let mut state = self.read()?;
        let before = state.clone();
        let r = f(&mut state);
        state.version = STATE_VERSION;
        if state != before {
            self.write(&state)?;
        }
        r
    }

    /// Replaces the firewall table with what `state` needs, and records the bridges
    /// in the daemon's claim.
    fn apply_rules(&self, state: &State) -> Result<()> {
        let bridges: Vec<String> = state.networks.iter().map(|n| n.bridge.clone()).collect();
        crate::claim::record(&self.config.claims, &self.config.bridge, &bridges);
        Ok(self.host.nft(&nft::ruleset(&self.table, state))?)
    }

    /// Claims this daemon's bridge name host-wide (held until the claim is dropped),
    /// then reaps what dead daemons left unused. Returns the claim.
    pub fn claim(&self) -> std::result::Result<crate::claim::Claim, crate::claim::ClaimError> {
        let claim = crate::claim::take(&self.config.claims, &self.config.bridge)?;
        crate::claim::reap(&self.config.claims, &self.config.bridge, self.host.as_ref());
        Ok(claim)
    }

    /// Takes the host-wide lock for choosing a subnet.
    fn host_lock(&self) -> Result<Flock<std::fs::File>> {
        let path = &self.config.host_lock;
        let f = std::fs::File::create(path).map_err(Self::io("create", path))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| NetError::Io {
            op: "lock",
            path: path.clone(),
            source: e.into(),
        })
    }

    /// The default network (`bridge`), made (record, bridge, rules) if missing.
    pub fn ensure_default(&self) -> Result<Network> {
        if let Some(n) = self.read()?.networks.into_iter().find(|n| n.predefined) {
            return Ok(n);
        }
        let _host = self.host_lock()?;
        self.locked(|state| {
            if let Some(n) = state.networks.iter().find(|n| n.predefined) {
                return Ok(n.clone());
            }
            let (subnet, gateway) = match self.config.bip {
                Some(bip) => (bip.trunc(), bip.addr()),
                None => {
                    let s = ipam::pick_subnet(&self.config.pools, state, &ipam::host_routes())?;
                    (s, ipam::gateway(&s, None)?)
                }
            };
            let net = Network {
                id: new_id(),
                name: "bridge".into(),
                driver: "bridge".into(),
                bridge: self.config.bridge.clone(),
                subnet,
                gateway,
                ip_range: None,
                internal: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                created: now(),
                predefined: true,
                attachable: false,
                last: None,
            };
            self.add_network(state, net)
        })
    }

    /// Records `net`, makes its bridge and rewrites the rules; undone on failure.
    fn add_network(&self, state: &mut State, net: Network) -> Result<Network> {
        state.networks.push(net.clone());
        let made = self
            .host
            .ensure_bridge(&net)
            .map_err(NetError::from)
            .and_then(|_| self.apply_rules(state));
        if let Err(e) = made {
            state.networks.retain(|n| n.id != net.id);
            self.host.delete_link(&net.bridge).ok();
            return Err(e);
        }
        Ok(net)
    }

    /// Creates a network (`docker network create`).
    pub fn create(&self, req: &CreateRequest) -> Result<Network> {
        if !matches!(req.driver.as_str(), "" | "bridge") {
            return Err(NetError::Driver(req.driver.clone()));
        }
        if matches!(req.name.as_str(), "bridge" | "host" | "none") {
            return Err(NetError::Exists(req.name.clone()));
        }
        self.ensure_default()?;
        let _host = self.host_lock()?;
        self.locked(|state| {
            if state.networks.iter().any(|n| n.name == req.name) {
                return Err(NetError::Exists(req.name.clone()));
            }
            let subnet = match req.subnet {
                Some(s) => {
                    ipam::check_subnet(&s, state)?;
                    s.trunc()
                }
                None => ipam::pick_subnet(&self.config.pools, state, &ipam::host_routes())?,
            };
            let gateway = ipam::gateway(&subnet, req.gateway)?;
            if let Some(r) = req.ip_range.filter(|r| !subnet.contains(r)) {
                return Err(IpamError::Range { range: r, subnet }.into());
            }
            let id = new_id();
            let bridge = req
                .options
                .get("com.docker.network.bridge.name")
                .cloned()
                .unwrap_or_else(|| format!("br-{}", &id[..12]));
            let net = Network {
                id,
                name: req.name.clone(),
                driver: "bridge".into(),
                bridge,
                subnet,
                gateway,
                ip_range: req.ip_range,
                internal: req.internal,
                labels: req.labels.clone(),
                options: req.options.clone(),
                created: now(),
                predefined: false,
                attachable: req.attachable,
                last: None,
            };
            self.add_network(state, net)
        })
    }

    /// Every network (the default one made if missing).
    pub fn list(&self) -> Result<Vec<Network>> {
        self.ensure_default()?;
        Ok(self.read()?.networks)
    }

    /// The network named `s` (or with that id or unique id prefix).
    pub fn get(&self, s: &str) -> Result<Network> {
        if s == "bridge" {
            return self.ensure_default();
        }
        self.read()?
            .network(s)
            .cloned()
            .ok_or_else(|| NetError::NotFound(s.into()))
    }

    /// Removes a network nobody is attached to: its bridge, its rules, its record.
    pub fn remove(&self, s: &str) -> Result<()> {
        self.locked(|state| {
            let net = state
                .network(s)
                .cloned()
                .ok_or_else(|| NetError::NotFound(s.into()))?;
            if net.predefined {
                return Err(NetError::Predefined(net.name));
            }
            if state.endpoints_of(&net.id).next().is_some() {
                return Err(NetError::InUse {
                    name: net.name,
                    id: net.id,
                });
            }
            state.networks.retain(|n| n.id != net.id);
            self.apply_rules(state)?;
            self.host.delete_link(&net.bridge)?;
            Ok(())
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
                .and_then(|a| self.start_dns(state, id).map(|_| a));
            if r.is_err() {
                self.release(state, id);
            }
            r
        })
    }

    fn attach_locked(
        &self,
        state: &mut State,
        id: &str,
        name: &str,
        joins: &[Join],
        ports: &[Wanted],
        netns: &Path,
    ) -> Result<Attached> {
        let mut endpoints = Vec::new();
        for (i, j) in joins.iter().enumerate() {
            let net = state
                .network(&j.network)
                .cloned()
                .ok_or_else(|| NetError::NotFound(j.network.clone()))?;
            if net.predefined && j.ip.is_some() {
                return Err(NetError::IpOnDefault);
            }
            let ip = ipam::allocate(state, &net.id, j.ip)?;
            let ep = Endpoint {
                id: new_id(),
                container: id.into(),
                name: name.into(),
                network: net.id.clone(),
                aliases: j.aliases.clone(),
                ip,
                mac: ipam::mac_string(&j.mac.unwrap_or_else(|| ipam::mac_of(ip))),
                veth: format!("veth{}", &new_id()[..7]),
                ifname: format!("eth{i}"),
            };
            state.endpoints.push(ep.clone());
            endpoints.push((net, ep));
        }
        let published = match endpoints.first() {
            Some((_, ep)) => self.pick_ports(state, id, name, ep.ip, ports)?,
            None => Vec::new(),
        };
        state.ports.extend(published.iter().cloned());
        self.host.make_netns(netns)?;
        for (i, (net, ep)) in endpoints.iter().enumerate() {
            self.host.ensure_bridge(net)?;
            let mac = ipam::parse_mac(&ep.mac).unwrap_or_else(|| ipam::mac_of(ep.ip));
            self.host.attach(&Attachment {
                network: net,
                veth: &ep.veth,
                ifname: &ep.ifname,
                netns,
                ip: ep.ip,
                mac,
                default_route: i == 0,
            })?;
        }
        self.publish(state, &published)?;
        Ok(Attached {
            netns: netns.into(),
            endpoints,
            ports: published,
        })
    }

    /// Adds `ports`' map elements; if the table is missing, writes it whole.
    fn publish(&self, state: &State, ports: &[Port]) -> Result<()> {
        if ports.is_empty() {
            return Ok(());
        }
        let batch = nft::port_elements(&self.table, ports, true);
        if self.host.nft(&batch).is_err() {
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
    fn release(&self, state: &mut State, id: &str) {
        let ports: Vec<Port> = state
            .ports
            .iter()
            .filter(|p| p.container == id)
            .cloned()
            .collect();
        if !ports.is_empty() {
            state.ports.retain(|p| p.container != id);
            let batch = nft::port_elements(&self.table, &ports, false);
            if self.host.nft(&batch).is_err() {
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
            let net = state
                .network(&join.network)
                .cloned()
                .ok_or_else(|| NetError::NotFound(join.network.clone()))?;
            if state.endpoints_of(&net.id).any(|e| e.container == id) {
                return Err(NetError::Connected {
                    container: name.into(),
                    network: net.name,
                });
            }
            if net.predefined && join.ip.is_some() {
                return Err(NetError::IpOnDefault);
            }
            let ip = ipam::allocate(state, &net.id, join.ip)?;
            let taken: Vec<String> = state
                .container_endpoints(id)
                .iter()
                .map(|e| e.ifname.clone())
                .collect();
            let ifname = (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !taken.contains(n))
                .unwrap_or_default();
            let ep = Endpoint {
                id: new_id(),
                container: id.into(),
                name: name.into(),
                network: net.id.clone(),
                aliases: join.aliases.clone(),
                ip,
                mac: ipam::mac_string(&join.mac.unwrap_or_else(|| ipam::mac_of(ip))),
                veth: format!("veth{}", &new_id()[..7]),
                ifname,
            };
            self.host.ensure_bridge(&net)?;
            let mac = ipam::parse_mac(&ep.mac).unwrap_or_else(|| ipam::mac_of(ip));
            let attached = self.host.attach(&Attachment {
                network: &net,
                veth: &ep.veth,
                ifname: &ep.ifname,
                netns: &netns,
                ip,
                mac,
                default_route: taken.is_empty(),
            });
            if let Err(e) = attached {
                self.host.delete_link(&ep.veth).ok();
                return Err(e.into());
            }
            state.endpoints.push(ep.clone());
            self.start_dns(state, id)?;
            Ok(ep)
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

    /// Detaches container `id` (it stopped): its addresses go back to their networks.
    pub fn detach(&self, id: &str) -> Result<()> {
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

    /// Rebuilds the host from the state when the daemon starts: containers that are not
    /// `alive` any more are detached, every network's bridge is made again if missing,
    /// and the firewall table is replaced whole (so a crash leaves no stale rule).
    pub fn restore(&self, alive: &dyn Fn(&str) -> bool) -> Result<()> {
        self.locked(|state| {
            let dead: Vec<String> = state
                .endpoints
                .iter()
                .map(|e| e.container.clone())
                .chain(state.ports.iter().map(|p| p.container.clone()))
                .filter(|c| !alive(c))
                .collect();
            for c in dead {
                self.release(state, &c);
            }
            for n in &state.networks {
                self.host.ensure_bridge(n)?;
            }
            let live: std::collections::BTreeSet<String> = state
                .endpoints
                .iter()
                .map(|e| e.container.clone())
                .collect();
            for c in live {
                self.start_dns(state, &c)?;
            }
            if !state.networks.is_empty() {
                self.apply_rules(state)?;
            }
            Ok(())
        })
    }

    /// Removes the default bridge and the firewall table when nothing uses them (a
    /// daemon shutting down with no container attached and no network of the user's).
    pub fn shutdown(&self) -> Result<()> {
        self.locked(|state| {
            if !state.endpoints.is_empty() || state.networks.iter().any(|n| !n.predefined) {
                return Ok(());
            }
            for n in state.networks.drain(..) {
                self.host.delete_link(&n.bridge)?;
            }
            self.host.nft(&nft::delete(&self.table))?;
            crate::claim::forget(&self.config.claims, &self.config.bridge);
            Ok(())
        })
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
