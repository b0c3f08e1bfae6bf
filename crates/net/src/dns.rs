//! The embedded DNS server of user networks, as docker's: every container on a user
//! network gets sockets on 127.0.0.11:53 (UDP and TCP) inside its namespace, opened by
//! the daemon, which answers for the names on the networks the container shares (its
//! name, short id and aliases; several holders are answered in a shuffled order, a round
//! robin) and forwards other names to the container's `--dns` servers, else the host's.
//! One thread per container serves its sockets; [`Dns::stop`] ends it.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use simple_dns::rdata::{RData, A};
use simple_dns::{Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};

use crate::state::State;

/// The address the embedded server listens on inside containers.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// How long a forwarded query waits for its upstream.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// Errors of starting a server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The namespace could not be joined, or a socket not opened there.
    #[error("embedded DNS in {path}: {op}: {source}")]
    Open {
        /// The namespace file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

struct Server {
    stop: OwnedFd,
    thread: std::thread::JoinHandle<()>,
}

/// The daemon's embedded DNS servers, one per container on a user network.
pub struct Dns {
    state: PathBuf,
    servers: Mutex<HashMap<String, Server>>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns").field("state", &self.state).finish()
    }
}

impl Dns {
    /// Servers answering from the networking state file at `state`.
    pub fn new(state: &Path) -> Dns {
        Dns {
            state: state.into(),
            servers: Mutex::new(HashMap::new()),
        }
    }

    /// Serves container `id` in namespace `netns`, forwarding to `upstream` (a server
    /// running for it already is replaced).
    pub fn start(&self, id: &str, netns: &Path, upstream: Vec<SocketAddr>) -> Result<(), DnsError> {
        self.stop(id);
        let (udp, tcp) = open_in(netns)?;
        let (stop_r, stop_w) = nix::unistd::pipe().map_err(|e| DnsError::Open {
            path: netns.into(),
            op: "pipe",
            source: e.into(),
        })?;
        let ctx = Context {
            state: self.state.clone(),
            id: id.into(),
            upstream,
        };
        let thread = std::thread::Builder::new()
            .name(format!("dns-{}", &id[..12.min(id.len())]))
            .spawn(move || serve(&ctx, &udp, &tcp, &stop_r))
            .map_err(|source| DnsError::Open {
                path: netns.into(),
                op: "spawn",
                source,
            })?;
        let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        servers.insert(
            id.into(),
            Server {
                stop: stop_w,
                thread,
            },
        );
        Ok(())
    }

    /// Stops container `id`'s server, if any.
    pub fn stop(&self, id: &str) {
        let server = {
            let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
            servers.remove(id)
        };
        if let Some(s) = server {
            drop(s.stop);
            s.thread.join().ok();
        }
    }

    /// Whether container `id` has a server.
    pub fn serves(&self, id: &str) -> bool {
        let servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        servers.contains_key(id)
    }
}

/// Opens the server's sockets inside the namespace at `netns` (a short-lived thread
/// joins it; sockets stay in the namespace they were made in).
fn open_in(netns: &Path) -> Result<(UdpSocket, TcpListener), DnsError> {
    let err = |op| {
        move |source| DnsError::Open {
            path: netns.into(),
            op,
            source,
        }
    };
    let file = std::fs::File::open(netns).map_err(err("open"))?;
    let r = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| err("setns")(e.into()))?;
            let addr = SocketAddr::from((ADDRESS, 53));
            let udp = UdpSocket::bind(addr).map_err(err("bind udp"))?;
            let tcp = TcpListener::bind(addr).map_err(err("bind tcp"))?;
            Ok((udp, tcp))
        })
        .join()
    });
    r.unwrap_or_else(|_| Err(err("thread")(std::io::Error::other("panicked"))))
}

struct Context {
    state: PathBuf,
    id: String,
    upstream: Vec<SocketAddr>,
}

/// Answers queries on `udp` and `tcp` until `stop`'s other end closes.
fn serve(ctx: &Context, udp: &UdpSocket, tcp: &TcpListener, stop: &OwnedFd) {
    let mut buf = vec![0u8; 4096];
    loop {
        let mut fds = [
            PollFd::new(udp.as_fd(), PollFlags::POLLIN),
            PollFd::new(tcp.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        if ready(2) {
            return;
        }
        if ready(0) {
            if let Ok((n, from)) = udp.recv_from(&mut buf) {
                if let Some(reply) = handle(ctx, &buf[..n]) {
                    udp.send_to(&reply, from).ok();
                }
            }
        }
        if ready(1) {
            if let Ok((stream, _)) = tcp.accept() {
                serve_tcp(ctx, stream).ok();
            }
        }
    }
}

/// One query over TCP (two length bytes, then the message).
fn serve_tcp(ctx: &Context, mut s: TcpStream) -> std::io::Result<()> {
    s.set_read_timeout(Some(FORWARD_TIMEOUT))?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut msg)?;
    if let Some(reply) = handle(ctx, &msg) {
        let n = u16::try_from(reply.len()).unwrap_or(u16::MAX);
        s.write_all(&n.to_be_bytes())?;
        s.write_all(&reply[..usize::from(n)])?;
    }
    Ok(())
}

/// The reply to query `msg`: local names answered, others forwarded.
fn handle(ctx: &Context, msg: &[u8]) -> Option<Vec<u8>> {
    let query = Packet::parse(msg).ok()?;
    let q = query.questions.first()?;
    let name = q
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let state: State = std::fs::read(&ctx.state)
        .ok()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .unwrap_or_default();
    let ips = lookup(&state, &ctx.id, &name);
    if ips.is_empty() {
        return forward(&ctx.upstream, msg);
    }
    let mut reply = query.clone().into_reply();
    reply.set_flags(PacketFlag::RECURSION_AVAILABLE);
    if query.has_flags(PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    *reply.rcode_mut() = RCODE::NoError;
    if q.qtype == QTYPE::TYPE(TYPE::A) {
        for ip in ips {
            let rdata = RData::A(A {
                address: u32::from(ip),
            });
            reply
                .answers
                .push(ResourceRecord::new(q.qname.clone(), CLASS::IN, 600, rdata));
        }
    }
    reply.build_bytes_vec_compressed().ok()
}

/// The addresses `name` has for container `id`: the endpoints so named (container
/// name, short id or alias) on the user networks `id` is on, shuffled.
pub fn lookup(state: &State, id: &str, name: &str) -> Vec<Ipv4Addr> {
    let mine: Vec<&str> = state
        .endpoints
        .iter()
        .filter(|e| e.container == id)
        .map(|e| e.network.as_str())
        .filter(|n| state.networks.iter().any(|x| x.id == *n && !x.predefined))
        .collect();
    let mut ips: Vec<Ipv4Addr> = state
        .endpoints
        .iter()
        .filter(|e| mine.contains(&e.network.as_str()))
        .filter(|e| {
            e.name.eq_ignore_ascii_case(name)
                || (name.len() == 12 && e.container.starts_with(name))
                || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
        .map(|e| e.ip)
        .collect();
    ips.dedup();
    fastrand::shuffle(&mut ips);
    ips
}

/// Sends `msg` to each upstream server in turn and returns the first answer.
fn forward(upstream: &[SocketAddr], msg: &[u8]) -> Option<Vec<u8>> {
    for server in upstream {
        let Ok(sock) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
            continue;
        };
        sock.set_read_timeout(Some(FORWARD_TIMEOUT)).ok();
        if sock.connect(server).and_then(|_| sock.send(msg)).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(n) = sock.recv(&mut buf) {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

/// The servers the embedded DNS forwards to: the container's `--dns`, else the host's
/// resolv.conf name servers.
pub fn upstream(dns: &[String], host_resolv_conf: &str) -> Vec<SocketAddr> {
    let from_host: Vec<String> = host_resolv_conf
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .collect();
    let list = if dns.is_empty() { &from_host } else { dns };
    list.iter()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}
