//! The networks of one daemon: the state document under a lock (a file lock, so every
//! engine instance of the daemon and a restarted daemon agree), networks made and
//! removed, and the host rebuilt from the state when the daemon starts. Containers on
//! networks are [`crate::containers`]'.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use nix::fcntl::{Flock, FlockArg};

use crate::error::NetError;
use crate::firewall::Change;
use crate::host::Host;
use crate::ipam::{self, IpamError};
use crate::nft;
use crate::state::{Network, State, STATE_VERSION};

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

/// A daemon's networks.
pub struct Networks {
    pub(crate) config: Config,
    pub(crate) host: Box<dyn Host>,
    pub(crate) table: String,
    pub(crate) dns: Option<std::sync::Arc<crate::dns::Dns>>,
    /// The state file's bytes when last read, with what they parsed to: a read of an
    /// unchanged file (every container list reads it) compares instead of parsing.
    last_read: std::sync::Mutex<Option<(Vec<u8>, std::sync::Arc<State>)>>,
    /// The namespaces of `--network none` containers, held by descriptor (see
    /// [`Networks::sandbox`]).
    pub(crate) sandboxes: std::sync::Mutex<std::collections::HashMap<String, std::os::fd::OwnedFd>>,
}

/// A random 64-hex id.
pub(crate) fn new_id() -> String {
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
            last_read: Default::default(),
            sandboxes: Default::default(),
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
        Ok(State::clone(&*self.read_shared()?))
    }

    /// [`Networks::read`] without a copy: the same parse while the file is unchanged.
    pub fn read_shared(&self) -> Result<std::sync::Arc<State>> {
        let path = self.state_path();
        let raw = match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(Self::io("read", &path)(e)),
            Ok(raw) => raw,
        };
        let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, state)) = last.as_ref().filter(|(bytes, _)| *bytes == raw) {
            return Ok(state.clone());
        }
        let state: std::sync::Arc<State> = serde_json::from_slice::<State>(&raw)
            .map_err(|source| NetError::State {
                path: path.clone(),
                source,
            })?
            .into();
        *last = Some((raw, state.clone()));
        Ok(state)
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
    pub(crate) fn locked<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
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
    pub(crate) fn apply_rules(&self, state: &State) -> Result<()> {
        let bridges: Vec<String> = state.networks.iter().map(|n| n.bridge.clone()).collect();
        crate::claim::record(&self.config.claims, &self.config.bridge, &bridges);
        Ok(self.host.firewall(&self.table, &Change::Replace(state))?)
    }

    /// Claims this daemon's bridge name host-wide (held until the claim is dropped),
    /// then reaps what dead daemons left unused. Returns the claim.
    pub fn claim(&self) -> std::result::Result<crate::claim::Claim, crate::claim::ClaimError> {
        crate::claim::claim(&self.config.claims, &self.config.bridge, self.host.as_ref())
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

    /// Records `net`, makes its bridge and rewrites the rules; undone on failure (a
    /// link that was there before is never removed).
    fn add_network(&self, state: &mut State, net: Network) -> Result<Network> {
        let existed = self.host.links(&net.bridge)?.contains(&net.bridge);
        state.networks.push(net.clone());
        let made = self
            .host
            .ensure_bridge(&net)
            .map_err(NetError::from)
            .and_then(|_| self.apply_rules(state));
        if let Err(e) = made {
            state.networks.retain(|n| n.id != net.id);
            if !existed {
                self.host.delete_link(&net.bridge).ok();
            }
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
            let net = self.plan(state, req)?;
            self.add_network(state, net)
        })
    }

    /// The network `req` asks for: its subnet (checked, or picked from the pools), its
    /// gateway and range inside it, its bridge's name (one that no link has).
    fn plan(&self, state: &State, req: &CreateRequest) -> Result<Network> {
        let subnet = match req.subnet {
            Some(s) if s.prefix_len() > 30 => {
                return Err(NetError::Invalid {
                    what: "subnet (too small for a gateway and a container)",
                    value: s.to_string(),
                })
            }
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
        let bridge = match req.options.get("com.docker.network.bridge.name") {
            Some(b) => self.free_bridge_name(b)?,
            None => format!("br-{}", &id[..12]),
        };
        Ok(Network {
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
        })
    }

    /// `name` if it is a valid interface name no link has (a network never takes over
    /// a link it did not make: removing the network removes its bridge).
    fn free_bridge_name(&self, name: &str) -> Result<String> {
        let invalid = name.is_empty() || name.len() > 15 || name.contains(['/', ' ', ':']);
        if invalid {
            return Err(NetError::Invalid {
                what: "bridge name",
                value: name.into(),
            });
        }
        if self.host.links(name)?.iter().any(|l| l == name) {
            return Err(NetError::Invalid {
                what: "bridge name (a link has it already)",
                value: name.into(),
            });
        }
        Ok(name.into())
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

    /// Finishes what was left to do later (namespace files to unbind), then removes the
    /// default bridge and the firewall table when nothing uses them (a daemon shutting
    /// down with no container attached and no network of the user's).
    pub fn shutdown(&self) -> Result<()> {
        self.host.settle();
        self.locked(|state| {
            if !state.endpoints.is_empty() || state.networks.iter().any(|n| !n.predefined) {
                return Ok(());
            }
            for n in state.networks.drain(..) {
                self.host.delete_link(&n.bridge)?;
            }
            self.host.firewall(&self.table, &Change::Delete)?;
            crate::claim::forget(&self.config.claims, &self.config.bridge);
            Ok(())
        })
    }
}
