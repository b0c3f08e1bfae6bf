//! The OS seam: what networking asks of the host (bridges, veth pairs, namespaces,
//! firewall batches, a port's availability), as a trait, so that the planning in
//! [`crate::manager`] is tested with a fake, and [`SystemHost`], which does it through
//! netlink, bind-mounted namespace files and `nft`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::firewall::{nft_batch, Backend, Change};
use crate::iptables;
use crate::netlink::{Netlink, NetlinkError, VethSpec};
use crate::state::{Network, Proto};

/// Errors of host operations.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A netlink request failed.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Making or removing a namespace failed.
    #[error("{op} network namespace {path}: {source}")]
    Netns {
        /// What was being done.
        op: &'static str,
        /// The namespace file.
        path: PathBuf,
        /// The OS error.
        source: nix::Error,
    },
    /// A link named as a network's bridge is something else.
    #[error("{0} is not a bridge: berth does not take over other links")]
    NotABridge(String),
    /// A helper thread panicked.
    #[error("{0}: the helper thread panicked")]
    Thread(&'static str),
    /// Neither `nft` nor `iptables-restore` is installed.
    #[error("bridge networking needs nftables (nft) or iptables on this host and {tool} was not found on the PATH: install nftables, or run containers with --network none or host")]
    NoFirewallTool {
        /// The tool looked for.
        tool: &'static str,
    },
    /// The firewall tool could not be run or refused the change.
    #[error("{tool}: {message}")]
    Firewall {
        /// `nft`, `iptables-restore` or `iptables`.
        tool: &'static str,
        /// What it said.
        message: String,
    },
}

/// One container end of a network to make.
#[derive(Debug, Clone)]
pub struct Attachment<'a> {
    /// The network.
    pub network: &'a Network,
    /// The host end's name.
    pub veth: &'a str,
    /// The name in the container.
    pub ifname: &'a str,
    /// The container's namespace file.
    pub netns: &'a Path,
    /// The address.
    pub ip: Ipv4Addr,
    /// The MAC address.
    pub mac: [u8; 6],
    /// Whether to route everything through this network's gateway.
    pub default_route: bool,
}

/// What networking needs from the host.
pub trait Host: Send + Sync {
    /// Makes the network's bridge (with its gateway address, up) if it is missing.
    fn ensure_bridge(&self, net: &Network) -> Result<(), HostError>;
    /// Removes link `name` (gone already is fine).
    fn delete_link(&self, name: &str) -> Result<(), HostError>;
    /// Removes links `names` without waiting (deleting a link waits for an RCU grace
    /// period, tens of milliseconds; a container's end need not).
    fn delete_links_later(&self, names: Vec<String>) {
        for n in names {
            self.delete_link(&n).ok();
        }
    }
    /// Makes a network namespace held by a file at `path`.
    fn make_netns(&self, path: &Path) -> Result<(), HostError>;
    /// Releases the namespace file at `path` (gone already is fine).
    fn remove_netns(&self, path: &Path) -> Result<(), HostError>;
    /// Makes a network namespace (loopback up) held only by the descriptor returned.
    fn hold_netns(&self) -> Result<OwnedFd, HostError>;
    /// Releases a namespace [`Host::hold_netns`] made.
    fn drop_netns(&self, ns: OwnedFd) {
        drop(ns);
    }
    /// Finishes whatever was left to do later (namespace files to unbind).
    fn settle(&self) {}
    /// Makes a veth pair into the container, with its address and route.
    fn attach(&self, a: &Attachment) -> Result<(), HostError>;
    /// Changes the firewall rules of the daemon whose nftables table is `table`.
    fn firewall(&self, table: &str, change: &Change) -> Result<(), HostError>;
    /// Whether a host process could bind `ip:port` (the port is free).
    fn port_free(&self, proto: Proto, ip: Ipv4Addr, port: u16) -> bool;
    /// The names of the links whose name starts with `prefix`.
    fn links(&self, prefix: &str) -> Result<Vec<String>, HostError>;
}

/// The real host.
#[derive(Debug, Clone, Default)]
pub struct SystemHost {
    /// The MTU of bridges and veths (1500 when 0).
    pub mtu: u32,
    /// The firewall tool (found on the PATH when None: nft, else iptables).
    pub backend: Option<Backend>,
    /// Network namespaces made ahead (each made when needed when None or empty).
    pub netns_pool: Option<std::sync::Arc<crate::netns_pool::NetnsPool>>,
}

impl SystemHost {
    fn mtu(&self) -> u32 {
        if self.mtu == 0 {
            1500
        } else {
            self.mtu
        }
    }
}

/// Writes `value` to a sysctl file under /proc/sys unless it holds it already.
fn sysctl(path: &str, value: &str) -> Result<(), HostError> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(path, value).map_err(|source| HostError::Io {
        op: "write",
        path: path.into(),
        source,
    })
}

impl Host for SystemHost {
    fn ensure_bridge(&self, net: &Network) -> Result<(), HostError> {
        let sys = PathBuf::from(format!("/sys/class/net/{}", net.bridge));
        if sys.exists() && !sys.join("bridge").exists() {
            return Err(HostError::NotABridge(net.bridge.clone()));
        }
        let mut nl = Netlink::open()?;
        let index = nl.ensure_bridge(&net.bridge, self.mtu())?;
        nl.add_address(index, net.gateway, net.subnet.prefix_len())?;
        nl.set_up(index)?;
        // Published ports answer on 127.0.0.1: DNAT'ed loopback traffic leaves by the
        // bridge (and is masqueraded there).
        sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
            "1",
        )?;
        sysctl("/proc/sys/net/ipv4/ip_forward", "1")
    }

    fn delete_link(&self, name: &str) -> Result<(), HostError> {
        Ok(Netlink::open()?.delete_link(name)?)
    }

    fn delete_links_later(&self, names: Vec<String>) {
        // The namespace's end deletes the pair too; this makes sure of it when another
        // container still holds the namespace.
        if let Some(pool) = &self.netns_pool {
            return pool.delete_links_later(names);
        }
        std::thread::spawn(move || crate::netns_pool::delete_links(&names));
    }

    fn make_netns(&self, path: &Path) -> Result<(), HostError> {
        if let Some(pool) = &self.netns_pool {
            // The file of the same container's last run may still be bound.
            pool.settle(path)?;
        }
        bind_netns(path, &self.hold_netns()?)
    }

    fn settle(&self) {
        if let Some(pool) = &self.netns_pool {
            pool.settle_all();
        }
    }

    fn hold_netns(&self) -> Result<OwnedFd, HostError> {
        match self.netns_pool.as_ref().and_then(|p| p.take()) {
            Some(made) => Ok(made),
            None => std::thread::scope(|s| s.spawn(crate::netns_pool::make_here).join())
                .unwrap_or(Err(HostError::Thread("make a network namespace"))),
        }
    }

    fn drop_netns(&self, ns: OwnedFd) {
        match &self.netns_pool {
            Some(pool) => pool.bury(ns),
            None => drop(ns),
        }
    }

    fn remove_netns(&self, path: &Path) -> Result<(), HostError> {
        // With a pool, the namespace's last reference goes to it, to be freed with others.
        let last = self.netns_pool.as_ref().and_then(|pool| {
            let fd = nix::fcntl::open(
                path,
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            );
            Some((pool, fd.ok()?))
        });
        match last {
            Some((pool, fd)) => {
                // The unmount waits for an RCU grace period: the pool's thread does it.
                pool.unbind_later(path.into())?;
                pool.bury(fd);
                Ok(())
            }
            None => crate::netns_pool::unbind(path),
        }
    }

    fn attach(&self, a: &Attachment) -> Result<(), HostError> {
        let mut nl = Netlink::open()?;
        nl.add_veth(&VethSpec {
            host: a.veth,
            bridge: &a.network.bridge,
            peer: a.ifname,
            netns: a.netns,
            mac: a.mac,
            mtu: self.mtu(),
        })?;
        // Every namespace berth makes has its loopback device up already (see
        // netns_pool::make_here).
        let mut inside = Netlink::open_in(a.netns)?;
        let index = inside
            .index(a.ifname)?
            .ok_or_else(|| NetlinkError::Refused {
                op: "find link",
                name: a.ifname.into(),
                source: std::io::Error::from_raw_os_error(libc::ENODEV),
            })?;
        inside.add_address(index, a.ip, a.network.subnet.prefix_len())?;
        inside.set_up(index)?;
        if a.default_route {
            inside.add_default_route(index, a.network.gateway)?;
        }
        Ok(())
    }

    fn firewall(&self, table: &str, change: &Change) -> Result<(), HostError> {
        match self.backend.unwrap_or_else(Backend::detect) {
            Backend::Nft => run("nft", &["-f", "-"], &nft_batch(table, change)),
            Backend::Iptables => iptables_change(&iptables::prefix(table), change),
        }
    }

    fn port_free(&self, proto: Proto, ip: Ipv4Addr, port: u16) -> bool {
        let addr = SocketAddrV4::new(ip, port);
        match proto {
            Proto::Tcp => std::net::TcpListener::bind(addr).is_ok(),
            Proto::Udp => std::net::UdpSocket::bind(addr).is_ok(),
        }
    }

    fn links(&self, prefix: &str) -> Result<Vec<String>, HostError> {
        Ok(Netlink::open()?.links_with_prefix(prefix)?)
    }
}

/// Runs `tool args` with `input` on its stdin.
fn run(tool: &'static str, args: &[&str], input: &str) -> Result<(), HostError> {
    let fail = |message: String| HostError::Firewall { tool, message };
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => HostError::NoFirewallTool { tool },
            _ => fail(format!("run: {e}")),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| fail(format!("write: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("wait: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(fail(
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    ))
}

/// Applies `change` to the iptables chains named with `prefix`.
fn iptables_change(prefix: &str, change: &Change) -> Result<(), HostError> {
    match change {
        Change::Replace(state) => {
            run(
                "iptables-restore",
                &["--noflush"],
                &iptables::restore_input(prefix, state),
            )?;
            hook(prefix)
        }
        Change::Publish { state, .. } | Change::Unpublish { state, .. } => run(
            "iptables-restore",
            &["--noflush"],
            &iptables::restore_input(prefix, state),
        ),
        Change::Delete => {
            for (table, builtin, suffix) in iptables::JUMPS {
                let chain = format!("{prefix}-{suffix}");
                while iptables(&["-t", table, "-D", builtin, "-j", &chain]).is_ok() {}
            }
            run(
                "iptables-restore",
                &["--noflush"],
                &iptables::flush_input(prefix),
            )
            .ok();
            for (table, _, suffix) in iptables::JUMPS {
                iptables(&["-t", table, "-X", &format!("{prefix}-{suffix}")]).ok();
            }
            Ok(())
        }
    }
}

/// Jumps from the built-in chains to the daemon's, once each.
fn hook(prefix: &str) -> Result<(), HostError> {
    for (table, builtin, suffix) in iptables::JUMPS {
        let chain = format!("{prefix}-{suffix}");
        if iptables(&["-t", table, "-C", builtin, "-j", &chain]).is_err() {
            iptables(&["-t", table, "-I", builtin, "-j", &chain])?;
        }
    }
    Ok(())
}

/// Runs `iptables -w args`.
fn iptables(args: &[&str]) -> Result<(), HostError> {
    let mut all = vec!["-w"];
    all.extend_from_slice(args);
    run("iptables", &all, "")
}

/// Holds the namespace `made` (a descriptor of it) by a bind mount on a new file at
/// `path`.
fn bind_netns(path: &Path, made: &std::os::fd::OwnedFd) -> Result<(), HostError> {
    let io = |op| {
        move |source| HostError::Io {
            op,
            path: path.into(),
            source,
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create"))?;
    }
    std::fs::File::create(path).map_err(io("create"))?;
    let from = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(made));
    let bound = nix::mount::mount(
        Some(from.as_str()),
        path,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    );
    bound.map_err(|source| {
        std::fs::remove_file(path).ok();
        HostError::Netns {
            op: "bind",
            path: path.into(),
            source,
        }
    })
}
