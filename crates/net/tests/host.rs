//! Networking on the real host (root): bridges, veth pairs into namespace files, the
//! nftables table, published ports and the embedded DNS, with sockets opened inside the
//! namespaces the manager made. Every test uses its own bridge names, subnets from
//! 10.213.0.0/16 and table, and checks that it leaves nothing behind.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use berth_net::host::{Host, SystemHost};
use berth_net::ports::Wanted;
use berth_net::{Config, CreateRequest, Join, Networks, Proto};

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "ROOT REQUIRED: these tests make bridges, namespaces and nftables tables"
    );
    let nft = Command::new("nft").arg("--version").output();
    assert!(
        nft.is_ok_and(|o| o.status.success()),
        "NFT MISSING: install nftables"
    );
}

/// A manager on a fresh directory with a bridge named for this test.
struct Setup {
    dir: tempfile::TempDir,
    bridge: String,
    net: Networks,
}

fn setup(tag: &str) -> Setup {
    setup_with(tag, SystemHost::default())
}

fn setup_with(tag: &str, host: SystemHost) -> Setup {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let bridge = format!("bt{tag}{:x}", std::process::id() % 0xfffff);
    let mut c = Config::new(dir.path(), &bridge);
    c.claims = dir.path().join("claims");
    c.pools = "10.213.0.0/16"
        .parse::<berth_net::ipnet::Ipv4Net>()
        .unwrap()
        .subnets(24)
        .unwrap()
        .collect();
    let dns = Arc::new(berth_net::dns::Dns::new(
        &dir.path().join("network/state.json"),
    ));
    let net = Networks::new(c, Box::new(host)).with_dns(dns);
    Setup { dir, bridge, net }
}

/// Runs `f` on a thread inside the network namespace at `path`.
fn inside<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(path).unwrap();
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

fn join(net: &str) -> Join {
    Join {
        network: net.into(),
        ..Default::default()
    }
}

/// Echoes one TCP connection and one UDP datagram on `port`, from a socket opened in
/// `netns`.
fn echo_in(netns: &Path, port: u16) -> (std::thread::JoinHandle<()>, std::thread::JoinHandle<()>) {
    let (tcp, udp) = inside(netns, || {
        (
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap(),
            UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap(),
        )
    });
    let t = std::thread::spawn(move || {
        while let Ok((mut s, _)) = tcp.accept() {
            let mut buf = [0u8; 5];
            if s.read_exact(&mut buf).is_ok() {
                s.write_all(&buf).ok();
            }
            if &buf == b"close" {
                return;
            }
        }
    });
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let u = std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        if let Ok((n, from)) = udp.recv_from(&mut buf) {
            udp.send_to(&buf[..n], from).ok();
        }
    });
    (t, u)
}

fn tcp_talk(to: SocketAddr, msg: &[u8; 5]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(msg)?;
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf)?;
    Ok(buf.to_vec())
}

fn udp_talk(to: SocketAddr) -> std::io::Result<Vec<u8>> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.send_to(b"ping", to)?;
    let mut buf = [0u8; 16];
    let n = s.recv(&mut buf)?;
    Ok(buf[..n].to_vec())
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn links() -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

fn table_exists(name: &str) -> bool {
    Command::new("nft")
        .args(["list", "table", "ip", name])
        .output()
        .unwrap()
        .status
        .success()
}

/// Everything of this setup's gone: links, namespace files, table, state entries.
fn assert_clean(s: &Setup, veths: &[String], netns: &[PathBuf], bridges: &[String]) {
    // Links of ended containers go in the background (and with their namespace).
    let gone = |now: &[String]| !veths.iter().chain(bridges).any(|l| now.contains(l));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !gone(&links()) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let now = links();
    for l in veths.iter().chain(bridges) {
        assert!(!now.contains(l), "link {l} left: {now:?}");
    }
    for p in netns {
        assert!(!p.exists(), "namespace file {} left", p.display());
    }
    assert!(!table_exists(s.net.table()), "table {} left", s.net.table());
    let state = s.net.read().unwrap();
    assert!(state.endpoints.is_empty() && state.ports.is_empty() && state.networks.is_empty());
}

#[test]
fn containers_on_a_network_talk_and_other_networks_cannot_reach_them() {
    let s = setup("a");
    let one = s
        .net
        .create(&CreateRequest {
            name: "one".into(),
            ..Default::default()
        })
        .unwrap();
    let two = s
        .net
        .create(&CreateRequest {
            name: "two".into(),
            ..Default::default()
        })
        .unwrap();
    let a = s.net.attach("ca", "ca", &[join("one")], &[], &[]).unwrap();
    let b = s.net.attach("cb", "cb", &[join("one")], &[], &[]).unwrap();
    let c = s.net.attach("cc", "cc", &[join("two")], &[], &[]).unwrap();
    let a_ip = a.endpoints[0].1.ip;
    let (t, u) = echo_in(&a.netns, 7000);
    let to = SocketAddr::from((a_ip, 7000));
    assert_eq!(
        inside(&b.netns, || tcp_talk(to, b"hello")).unwrap(),
        b"hello"
    );
    assert_eq!(inside(&b.netns, || udp_talk(to)).unwrap(), b"ping");
    let blocked = inside(&c.netns, || tcp_talk(to, b"close"));
    assert!(blocked.is_err(), "another network reached {to}");
    // The embedded DNS answers b's name to a, not to c.
    let dns = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 11), 53));
    let ask = |netns: &Path| inside(netns, || resolve(dns, "cb"));
    assert_eq!(ask(&a.netns), Some(b.endpoints[0].1.ip));
    assert_eq!(ask(&c.netns), None);
    inside(&b.netns, || tcp_talk(to, b"close")).unwrap();
    t.join().unwrap();
    u.join().unwrap();
    let veths: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|x| x.endpoints[0].1.veth.clone())
        .collect();
    let netns: Vec<PathBuf> = [&a, &b, &c].iter().map(|x| x.netns.clone()).collect();
    for id in ["ca", "cb", "cc"] {
        s.net.detach(id).unwrap();
    }
    s.net.remove("one").unwrap();
    s.net.remove("two").unwrap();
    s.net.shutdown().unwrap();
    assert_clean(
        &s,
        &veths,
        &netns,
        &[s.bridge.clone(), one.bridge, two.bridge],
    );
}

/// Asks `server` for the A record of `name` over UDP.
fn resolve(server: SocketAddr, name: &str) -> Option<Ipv4Addr> {
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.send_to(&q, server).ok()?;
    let mut buf = [0u8; 512];
    let n = s.recv(&mut buf).ok()?;
    let answers = u16::from_be_bytes([buf[6], buf[7]]);
    (answers > 0 && n >= 4).then(|| Ipv4Addr::new(buf[n - 4], buf[n - 3], buf[n - 2], buf[n - 1]))
}

#[test]
fn published_ports_answer_on_localhost_the_bridge_and_to_neighbours() {
    let s = setup("p");
    let any = free_port();
    let local = free_port();
    let want = |host_ip, port| Wanted {
        proto: Proto::Tcp,
        host_ip,
        host_ports: (port, port),
        container_port: 80,
    };
    let a = s
        .net
        .attach(
            "pa",
            "pa",
            &[join("bridge")],
            &[
                want(Ipv4Addr::UNSPECIFIED, any),
                want(Ipv4Addr::LOCALHOST, local),
            ],
            &[],
        )
        .unwrap();
    let b = s
        .net
        .attach("pb", "pb", &[join("bridge")], &[], &[])
        .unwrap();
    let gateway = a.endpoints[0].0.gateway;
    let (t, _u) = echo_in(&a.netns, 80);
    assert_eq!(
        tcp_talk((Ipv4Addr::LOCALHOST, any).into(), b"one..").unwrap(),
        b"one.."
    );
    assert_eq!(tcp_talk((gateway, any).into(), b"two..").unwrap(), b"two..");
    assert_eq!(
        tcp_talk((Ipv4Addr::LOCALHOST, local).into(), b"three").unwrap(),
        b"three"
    );
    let hairpin = inside(&b.netns, || tcp_talk((gateway, any).into(), b"four."));
    assert_eq!(hairpin.unwrap(), b"four.");
    assert!(
        tcp_talk((gateway, local).into(), b"five.").is_err(),
        "a port published on 127.0.0.1 answers on the bridge"
    );
    // A port another container holds is refused before anything is made.
    let taken = s.net.attach(
        "pc",
        "pc",
        &[join("bridge")],
        &[want(Ipv4Addr::UNSPECIFIED, any)],
        &[],
    );
    assert_eq!(
        taken.unwrap_err().to_string(),
        format!("Bind for 0.0.0.0:{any} failed: port is already allocated")
    );
    assert!(!s.net.netns_path("pc").exists());
    tcp_talk((Ipv4Addr::LOCALHOST, any).into(), b"close").unwrap();
    t.join().unwrap();
    let veths = vec![a.endpoints[0].1.veth.clone(), b.endpoints[0].1.veth.clone()];
    s.net.detach("pa").unwrap();
    s.net.detach("pb").unwrap();
    assert!(tcp_talk((Ipv4Addr::LOCALHOST, any).into(), b"gone.").is_err());
    s.net.shutdown().unwrap();
    assert_clean(
        &s,
        &veths,
        &[a.netns, b.netns],
        std::slice::from_ref(&s.bridge),
    );
}

#[test]
fn a_restarted_manager_rebuilds_the_table_without_duplicates() {
    let s = setup("r");
    let port = free_port();
    let a = s
        .net
        .attach(
            "ra",
            "ra",
            &[join("bridge")],
            &[Wanted {
                proto: Proto::Tcp,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_ports: (port, port),
                container_port: 80,
            }],
            &[],
        )
        .unwrap();
    let dead = s
        .net
        .attach("rb", "rb", &[join("bridge")], &[], &[])
        .unwrap();
    // A crash: the table is lost (as after a reboot of the firewall), a new manager
    // restores from the state; the dead container's link goes.
    SystemHost::default()
        .firewall(s.net.table(), &berth_net::firewall::Change::Delete)
        .unwrap();
    let mut c = s.net.config().clone();
    c.pools.truncate(1);
    let again = Networks::new(c, Box::new(SystemHost::default()));
    again.restore(&|id| id == "ra").unwrap();
    again.restore(&|id| id == "ra").unwrap();
    let table = Command::new("nft")
        .args(["list", "table", "ip", again.table()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(
        text.matches(&format!("tcp . {port} :")).count(),
        1,
        "{text}"
    );
    assert_eq!(text.matches("masquerade").count(), 3, "{text}");
    let veth_gone = || !links().contains(&dead.endpoints[0].1.veth);
    for _ in 0..500 {
        if veth_gone() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(veth_gone());
    assert!(links().contains(&a.endpoints[0].1.veth));
    let (t, _u) = echo_in(&a.netns, 80);
    assert_eq!(
        tcp_talk((Ipv4Addr::LOCALHOST, port).into(), b"close").unwrap(),
        b"close"
    );
    t.join().unwrap();
    again.detach("ra").unwrap();
    again.shutdown().unwrap();
    assert_clean(
        &s,
        &[
            a.endpoints[0].1.veth.clone(),
            dead.endpoints[0].1.veth.clone(),
        ],
        &[a.netns, dead.netns],
        std::slice::from_ref(&s.bridge),
    );
    drop(s.dir);
}

#[test]
fn a_dead_daemons_unused_bridges_and_table_are_reaped_by_the_next_one() {
    let s = setup("d");
    let claim = s.net.claim().unwrap();
    let again = s.net.claim();
    assert!(
        matches!(again, Err(berth_net::claim::ClaimError::Taken(_))),
        "a bridge name is one daemon's"
    );
    let user = s
        .net
        .create(&CreateRequest {
            name: "left".into(),
            ..Default::default()
        })
        .unwrap();
    let a = s
        .net
        .attach("da", "da", &[join("bridge")], &[], &[])
        .unwrap();
    s.net.detach("da").unwrap();
    assert!(links().contains(&s.bridge) && links().contains(&user.bridge));
    // The daemon dies: its claim goes with it, its bridges and table stay.
    drop(claim);
    let mut c = s.net.config().clone();
    c.bridge = format!("{}x", s.bridge);
    let next = Networks::new(c, Box::new(SystemHost::default()));
    let next_claim = next.claim().unwrap();
    let now = links();
    assert!(!now.contains(&s.bridge), "{now:?}");
    assert!(!now.contains(&user.bridge), "{now:?}");
    assert!(!table_exists(s.net.table()));
    assert!(!a.netns.exists());
    drop(next_claim);
    // Its own restart makes them again from its state.
    let claim = s.net.claim().unwrap();
    s.net.restore(&|_| false).unwrap();
    assert!(links().contains(&s.bridge) && links().contains(&user.bridge));
    s.net.remove("left").unwrap();
    s.net.shutdown().unwrap();
    drop(claim);
    assert_clean(&s, &[], &[], &[s.bridge.clone(), user.bridge]);
    assert!(!s
        .dir
        .path()
        .join("claims")
        .join(format!("{}.lock", s.bridge))
        .exists());
}

#[test]
fn without_nftables_iptables_chains_do_the_same_and_go_at_the_end() {
    let host = SystemHost {
        mtu: 0,
        backend: Some(berth_net::firewall::Backend::Iptables),
        netns_pool: None,
    };
    let tables_before = nft_tables();
    let s = setup_with("i", host);
    let prefix = berth_net::iptables::prefix(s.net.table());
    let port = free_port();
    s.net
        .create(&CreateRequest {
            name: "other".into(),
            ..Default::default()
        })
        .unwrap();
    let a = s
        .net
        .attach(
            "ia",
            "ia",
            &[join("bridge")],
            &[Wanted {
                proto: Proto::Tcp,
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_ports: (port, port),
                container_port: 80,
            }],
            &[],
        )
        .unwrap();
    let c = s
        .net
        .attach("ic", "ic", &[join("other")], &[], &[])
        .unwrap();
    let gateway = a.endpoints[0].0.gateway;
    let (t, _u) = echo_in(&a.netns, 80);
    assert_eq!(
        tcp_talk((Ipv4Addr::LOCALHOST, port).into(), b"one..").unwrap(),
        b"one.."
    );
    assert_eq!(
        tcp_talk((gateway, port).into(), b"two..").unwrap(),
        b"two.."
    );
    let to = SocketAddr::from((a.endpoints[0].1.ip, 80));
    assert!(
        inside(&c.netns, || tcp_talk(to, b"three")).is_err(),
        "networks are isolated"
    );
    tcp_talk((Ipv4Addr::LOCALHOST, port).into(), b"close").unwrap();
    t.join().unwrap();
    s.net.detach("ia").unwrap();
    s.net.detach("ic").unwrap();
    s.net.remove("other").unwrap();
    s.net.shutdown().unwrap();
    for table in ["nat", "filter"] {
        let out = Command::new("iptables")
            .args(["-w", "-t", table, "-S"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains(&prefix), "{table}: {text}");
    }
    // iptables makes its built-in tables where there were none: this test's to remove.
    for t in ["nat", "filter"] {
        if !tables_before.contains(&format!("table ip {t}")) {
            Command::new("nft")
                .args(["delete", "table", "ip", t])
                .status()
                .ok();
        }
    }
}

fn nft_tables() -> String {
    let out = Command::new("nft")
        .args(["list", "tables"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_network_never_takes_over_a_link_it_did_not_make() {
    let s = setup("l");
    let taken = s.net.create(&CreateRequest {
        name: "lo-net".into(),
        options: [(
            "com.docker.network.bridge.name".to_string(),
            "lo".to_string(),
        )]
        .into(),
        ..Default::default()
    });
    assert!(taken.is_err(), "a network was made on lo");
    assert!(links().contains(&"lo".to_string()));
    let mut c = s.net.config().clone();
    c.bridge = "lo".into();
    c.dir = s.dir.path().join("on-lo");
    let on_lo = Networks::new(c, Box::new(SystemHost::default()));
    let err = on_lo.ensure_default().unwrap_err();
    assert!(err.to_string().contains("lo is not a bridge"), "{err}");
    assert!(
        on_lo.read().unwrap().networks.is_empty(),
        "nothing recorded"
    );
    assert!(links().contains(&"lo".to_string()));
    s.net.shutdown().unwrap();
    assert_clean(&s, &[], &[], std::slice::from_ref(&s.bridge));
}
