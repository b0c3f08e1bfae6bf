//! Links, addresses and routes through rtnetlink, synchronously: one request, one
//! acknowledgement. A socket works in the network namespace it was opened in, so a
//! container's namespace is configured through a socket opened there (by a short-lived
//! thread that joins it; the calling thread never changes namespace).

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Errors of netlink requests.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The socket could not be made or used.
    #[error("netlink socket ({op}): {source}")]
    Socket {
        /// What was being done.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel refused a request.
    #[error("{op} {name}: {source}")]
    Refused {
        /// The request.
        op: &'static str,
        /// The link (or address) it was about.
        name: String,
        /// The kernel's error.
        source: std::io::Error,
    },
    /// A reply that does not parse.
    #[error("netlink reply to {op}: {reason}")]
    Reply {
        /// The request.
        op: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Joining the namespace to open a socket there failed.
    #[error("join network namespace {path}: {source}")]
    Namespace {
        /// The namespace file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, NetlinkError>;

/// An rtnetlink socket in one network namespace.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

/// What one veth pair between the host and a container is.
#[derive(Debug, Clone)]
pub struct VethSpec<'a> {
    /// The host end's name.
    pub host: &'a str,
    /// The bridge the host end joins.
    pub bridge: &'a str,
    /// The container end's name in its namespace (`eth0`).
    pub peer: &'a str,
    /// The container's network namespace file.
    pub netns: &'a Path,
    /// The container end's MAC address.
    pub mac: [u8; 6],
    /// Both ends' MTU.
    pub mtu: u32,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Netlink> {
        let sock_err = |op| move |source| NetlinkError::Socket { op, source };
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(sock_err("create"))?;
        socket.bind_auto().map_err(sock_err("bind"))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(sock_err("connect"))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// A socket in the network namespace at `path`: the calling thread joins it to open
    /// the socket (a socket stays in the namespace it was made in) and goes back to its
    /// own namespace before returning, whatever happened.
    pub fn open_in(path: &Path) -> Result<Netlink> {
        let ns_err = |source| NetlinkError::Namespace {
            path: path.into(),
            source,
        };
        let target = std::fs::File::open(path).map_err(ns_err)?;
        let home = std::fs::File::open("/proc/thread-self/ns/net").map_err(ns_err)?;
        let net = nix::sched::CloneFlags::CLONE_NEWNET;
        nix::sched::setns(target.as_fd(), net).map_err(|e| ns_err(e.into()))?;
        let opened = Netlink::open();
        // Leaving the namespace again cannot fail for a thread that could enter it (the
        // same privilege); were it to, the thread must not go on in the wrong one.
        if let Err(e) = nix::sched::setns(home.as_fd(), net) {
            panic!("could not go back to this thread's network namespace: {e}");
        }
        opened
    }

    /// Sends `msg` with `flags` and waits for the kernel's answer: Ok(Some(reply)) for a
    /// request that returns a message, Ok(None) for an acknowledgement.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &'static str,
        name: &str,
    ) -> Result<Option<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .map_err(|source| NetlinkError::Socket { op: "send", source })?;
        self.answer(op, name)
    }

    /// Reads replies until the one to the last request.
    fn answer(&mut self, op: &'static str, name: &str) -> Result<Option<RouteNetlinkMessage>> {
        loop {
            let (data, _) = self
                .socket
                .recv_from_full()
                .map_err(|source| NetlinkError::Socket { op: "recv", source })?;
            let mut offset = 0;
            while offset < data.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| NetlinkError::Reply {
                        op,
                        reason: e.to_string(),
                    })?;
                let len = msg.header.length as usize;
                if len == 0 {
                    break;
                }
                offset += (len + 3) & !3;
                if msg.header.sequence_number != self.seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(None),
                            Some(code) => Err(NetlinkError::Refused {
                                op,
                                name: name.into(),
                                source: std::io::Error::from_raw_os_error(-code.get()),
                            }),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => return Ok(Some(m)),
                    _ => {}
                }
            }
        }
    }

    /// The index of link `name`, None if there is none.
    pub fn index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(RouteNetlinkMessage::GetLink(m), 0, "get link", name) {
            Ok(Some(RouteNetlinkMessage::NewLink(l))) => Ok(Some(l.header.index)),
            Ok(_) => Err(NetlinkError::Reply {
                op: "get link",
                reason: "no link message".into(),
            }),
            Err(NetlinkError::Refused { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The index of link `name`, which must exist.
    fn must_index(&mut self, name: &str) -> Result<u32> {
        self.index(name)?.ok_or_else(|| NetlinkError::Refused {
            op: "find link",
            name: name.into(),
            source: std::io::Error::from_raw_os_error(libc::ENODEV),
        })
    }

    /// Creates bridge `name` with `mtu` unless it exists; returns its index.
    pub fn ensure_bridge(&mut self, name: &str, mtu: u32) -> Result<u32> {
        if let Some(i) = self.index(name)? {
            return Ok(i);
        }
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::Mtu(mtu));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        match self.request(RouteNetlinkMessage::NewLink(m), flags, "add bridge", name) {
            Err(NetlinkError::Refused { source, .. })
                if source.raw_os_error() == Some(libc::EEXIST) => {}
            r => {
                r?;
            }
        }
        self.must_index(name)
    }

    /// Adds `addr/prefix` to link `index` (an address there already is no error).
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(IpAddr::V4(addr)));
        m.attributes
            .push(AddressAttribute::Address(IpAddr::V4(addr)));
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        let name = format!("{addr}/{prefix}");
        match self.request(
            RouteNetlinkMessage::NewAddress(m),
            flags,
            "add address",
            &name,
        ) {
            Err(NetlinkError::Refused { source, .. })
                if source.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(())
            }
            r => r.map(drop),
        }
    }

    /// Sets link `index` up.
    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(
            RouteNetlinkMessage::SetLink(m),
            NLM_F_ACK,
            "set up",
            &index.to_string(),
        )
        .map(drop)
    }

    /// Creates a veth pair: the host end joins the bridge and goes up, the peer is made
    /// in the container's namespace with its MAC address. Returns the host end's index.
    pub fn add_veth(&mut self, spec: &VethSpec) -> Result<u32> {
        let bridge = self.must_index(spec.bridge)?;
        let ns = std::fs::File::open(spec.netns).map_err(|source| NetlinkError::Namespace {
            path: spec.netns.into(),
            source,
        })?;
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(spec.peer.into()));
        peer.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        peer.attributes
            .push(LinkAttribute::Address(spec.mac.to_vec()));
        peer.attributes.push(LinkAttribute::Mtu(spec.mtu));
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(spec.host.into()));
        m.attributes.push(LinkAttribute::Mtu(spec.mtu));
        m.attributes.push(LinkAttribute::Controller(bridge));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.request(
            RouteNetlinkMessage::NewLink(m),
            flags,
            "add veth",
            spec.host,
        )?;
        drop(ns);
        let index = self.must_index(spec.host)?;
        self.set_hairpin(index, spec.host)?;
        self.set_up(index)?;
        Ok(index)
    }

    /// Turns on hairpin mode on bridge port `index`: a container reaches itself
    /// through a published port.
    fn set_hairpin(&mut self, index: u32, name: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                true,
            )])),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_ACK,
            "set hairpin",
            name,
        )
        .map(drop)
    }

    /// Deletes link `name`; one already gone is no error.
    pub fn delete_link(&mut self, name: &str) -> Result<()> {
        let Some(index) = self.index(name)? else {
            return Ok(());
        };
        let mut m = LinkMessage::default();
        m.header.index = index;
        match self.request(
            RouteNetlinkMessage::DelLink(m),
            NLM_F_ACK,
            "delete link",
            name,
        ) {
            Err(NetlinkError::Refused { source, .. })
                if source.raw_os_error() == Some(libc::ENODEV) =>
            {
                Ok(())
            }
            r => r.map(drop),
        }
    }

    /// Adds the default route via `gateway` on link `index`.
    pub fn add_default_route(&mut self, index: u32, gateway: Ipv4Addr) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        m.attributes.push(RouteAttribute::Oif(index));
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            flags,
            "add default route via",
            &gateway.to_string(),
        )
        .map(drop)
    }

    /// The names of every link whose name starts with `prefix` (a dump).
    pub fn links_with_prefix(&mut self, prefix: &str) -> Result<Vec<String>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | netlink_packet_core::NLM_F_DUMP;
        header.sequence_number = self.seq;
        let msg = RouteNetlinkMessage::GetLink(LinkMessage::default());
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket
            .send(&buf, 0)
            .map_err(|source| NetlinkError::Socket { op: "send", source })?;
        let mut names = Vec::new();
        while !self.dump_part(&mut names)? {}
        Ok(names
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect())
    }

    /// Reads one datagram of a link dump into `names`; true at its end.
    fn dump_part(&mut self, names: &mut Vec<String>) -> Result<bool> {
        let (data, _) = self
            .socket
            .recv_from_full()
            .map_err(|source| NetlinkError::Socket { op: "recv", source })?;
        let mut offset = 0;
        while offset < data.len() {
            let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..]).map_err(
                |e| NetlinkError::Reply {
                    op: "dump links",
                    reason: e.to_string(),
                },
            )?;
            let len = msg.header.length as usize;
            if len == 0 {
                return Ok(true);
            }
            offset += (len + 3) & !3;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(true),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(NetlinkError::Reply {
                        op: "dump links",
                        reason: format!("error {:?}", e.code),
                    })
                }
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) => {
                    names.extend(l.attributes.into_iter().filter_map(|a| match a {
                        LinkAttribute::IfName(n) => Some(n),
                        _ => None,
                    }));
                }
                _ => {}
            }
        }
        Ok(false)
    }
}
