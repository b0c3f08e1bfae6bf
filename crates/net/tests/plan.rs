//! Networking's planning without root: IPAM, port specs, the nftables batch, and the
//! manager's steps on a fake host (what it asks of the host, what it keeps in its state
//! across instances, what it refuses and leaves behind).

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_net::firewall::{self, Change};
use berth_net::host::{Attachment, Host, HostError};
use berth_net::ipam::{self, IpamError};
use berth_net::ports::{self, Binding, Bindings, Wanted};
use berth_net::{nft, Config, CreateRequest, Join, NetError, Networks, Proto, State};

/// A host that records what it is asked and holds a set of busy ports.
#[derive(Clone, Default)]
struct Fake {
    calls: Arc<Mutex<Vec<String>>>,
    busy: Arc<Mutex<Vec<u16>>>,
}

impl Fake {
    fn log(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn clear(&self) {
        self.calls.lock().unwrap().clear();
    }
}

impl Host for Fake {
    fn ensure_bridge(&self, net: &berth_net::Network) -> Result<(), HostError> {
        self.log(format!("bridge {} {}", net.bridge, net.subnet));
        Ok(())
    }
    fn delete_link(&self, name: &str) -> Result<(), HostError> {
        self.log(format!("delete {name}"));
        Ok(())
    }
    fn make_netns(&self, path: &Path) -> Result<(), HostError> {
        self.log(format!("netns {}", path.display()));
        Ok(())
    }
    fn remove_netns(&self, path: &Path) -> Result<(), HostError> {
        self.log(format!("rmnetns {}", path.display()));
        Ok(())
    }
    fn hold_netns(&self) -> Result<std::os::fd::OwnedFd, HostError> {
        self.log("holdnetns".into());
        Ok(std::fs::File::open("/dev/null").unwrap().into())
    }
    fn attach(&self, a: &Attachment) -> Result<(), HostError> {
        self.log(format!("attach {} {} {}", a.veth, a.ifname, a.ip));
        Ok(())
    }
    fn firewall(&self, table: &str, change: &Change) -> Result<(), HostError> {
        self.log(format!("nft {}", firewall::nft_batch(table, change)));
        Ok(())
    }
    fn port_free(&self, _: Proto, _: Ipv4Addr, port: u16) -> bool {
        !self.busy.lock().unwrap().contains(&port)
    }
    fn links(&self, _: &str) -> Result<Vec<String>, HostError> {
        Ok(Vec::new())
    }
}

fn networks(dir: &Path, fake: &Fake) -> Networks {
    let mut c = Config::new(dir, "btest0");
    c.host_lock = dir.join("host.lock");
    c.claims = dir.join("claims");
    c.bip = Some("10.99.0.1/24".parse().unwrap());
    c.pools = vec![
        "10.98.0.0/24".parse().unwrap(),
        "10.97.0.0/24".parse().unwrap(),
    ];
    Networks::new(c, Box::new(fake.clone()))
}

fn join(net: &str) -> Join {
    Join {
        network: net.into(),
        ..Default::default()
    }
}

#[test]
fn addresses_are_handed_out_in_turn_and_never_twice() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    let a = n.attach("a", "a", &[join("bridge")], &[], &[]).unwrap();
    let b = n.attach("b", "b", &[join("bridge")], &[], &[]).unwrap();
    assert_eq!(a.endpoints[0].1.ip, Ipv4Addr::new(10, 99, 0, 2));
    assert_eq!(b.endpoints[0].1.ip, Ipv4Addr::new(10, 99, 0, 3));
    assert_eq!(a.endpoints[0].1.mac, "02:42:0a:63:00:02");
    n.detach("a").unwrap();
    // A freed address is not reused at once, and a new instance (a restarted daemon)
    // knows what is taken.
    let again = networks(dir.path(), &fake);
    let c = again.attach("c", "c", &[join("bridge")], &[], &[]).unwrap();
    assert_eq!(c.endpoints[0].1.ip, Ipv4Addr::new(10, 99, 0, 4));
    let state = again.read().unwrap();
    let mut ips: Vec<Ipv4Addr> = state.endpoints.iter().map(|e| e.ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), state.endpoints.len());
}

#[test]
fn a_full_network_says_so_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    let tiny = n
        .create(&CreateRequest {
            name: "tiny".into(),
            subnet: Some("10.96.0.0/30".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
    n.attach("a", "a", &[join("tiny")], &[], &[]).unwrap();
    let err = n.attach("b", "b", &[join("tiny")], &[], &[]).unwrap_err();
    assert!(
        matches!(err, NetError::Ipam(IpamError::Exhausted { .. })),
        "{err}"
    );
    let state = n.read().unwrap();
    assert!(state.container_endpoints("b").is_empty());
    assert_eq!(state.endpoints_of(&tiny.id).count(), 1);
}

#[test]
fn bad_network_requests_are_refused_with_dockers_words() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    let made = n
        .create(&CreateRequest {
            name: "one".into(),
            subnet: Some("10.95.0.0/16".parse().unwrap()),
            ..Default::default()
        })
        .unwrap();
    let overlap = n
        .create(&CreateRequest {
            name: "two".into(),
            subnet: Some("10.95.3.0/24".parse().unwrap()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(
        overlap.to_string(),
        "invalid pool request: Pool overlaps with other one on this address space"
    );
    let dup = n
        .create(&CreateRequest {
            name: "one".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(dup.to_string(), "network with name one already exists");
    let gw = n
        .create(&CreateRequest {
            name: "three".into(),
            subnet: Some("10.94.0.0/24".parse().unwrap()),
            gateway: Some(Ipv4Addr::new(10, 1, 1, 1)),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(gw, NetError::Ipam(IpamError::Gateway { .. })),
        "{gw}"
    );
    let outside = n
        .attach(
            "x",
            "x",
            &[Join {
                network: "one".into(),
                ip: Some(Ipv4Addr::new(10, 1, 2, 3)),
                ..Default::default()
            }],
            &[],
            &[],
        )
        .unwrap_err();
    assert!(outside
        .to_string()
        .contains("no configured subnet or ip-range contain the IP address 10.1.2.3"));
    let on_default = n
        .attach(
            "x",
            "x",
            &[Join {
                network: "bridge".into(),
                ip: Some(Ipv4Addr::new(10, 99, 0, 9)),
                ..Default::default()
            }],
            &[],
            &[],
        )
        .unwrap_err();
    assert!(matches!(on_default, NetError::IpOnDefault));
    n.attach("y", "y", &[join("one")], &[], &[]).unwrap();
    let in_use = n.remove("one").unwrap_err();
    assert_eq!(
        in_use.to_string(),
        format!(
            "error while removing network: network one id {} has active endpoints",
            made.id
        )
    );
    assert!(matches!(
        n.remove("bridge").unwrap_err(),
        NetError::Predefined(_)
    ));
    assert!(matches!(
        n.remove("nope").unwrap_err(),
        NetError::NotFound(_)
    ));
    n.detach("y").unwrap();
    n.remove("one").unwrap();
    assert!(n.read().unwrap().endpoints.is_empty());
}

#[test]
fn a_port_is_published_once_and_a_busy_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    let want = |port| Wanted {
        proto: Proto::Tcp,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_ports: (port, port),
        container_port: 80,
    };
    let a = n
        .attach("a", "a", &[join("bridge")], &[want(8080)], &[])
        .unwrap();
    assert_eq!(a.ports[0].host_port, 8080);
    assert!(
        fake.calls().iter().any(
            |c| c.contains("add element ip berth_btest0 ports { tcp . 8080 : 10.99.0.2 . 80 }")
        ),
        "{:?}",
        fake.calls()
    );
    let err = n
        .attach("b", "b", &[join("bridge")], &[want(8080)], &[])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Bind for 0.0.0.0:8080 failed: port is already allocated"
    );
    assert!(
        n.read().unwrap().container_endpoints("b").is_empty(),
        "nothing half-made"
    );
    fake.busy.lock().unwrap().push(9090);
    let err = n
        .attach("c", "c", &[join("bridge")], &[want(9090)], &[])
        .unwrap_err();
    assert!(err.to_string().contains("address already in use"), "{err}");
    // A range takes the first free port.
    let ranged = Wanted {
        host_ports: (8080, 8082),
        ..want(0)
    };
    let d = n
        .attach("d", "d", &[join("bridge")], &[ranged], &[])
        .unwrap();
    assert_eq!(d.ports[0].host_port, 8081);
    fake.clear();
    n.detach("a").unwrap();
    assert!(fake
        .calls()
        .iter()
        .any(|c| c.contains("delete element ip berth_btest0 ports")));
    assert!(n.read().unwrap().ports.iter().all(|p| p.container != "a"));
}

#[test]
fn restore_forgets_dead_containers_and_rewrites_the_table_once() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    let want = Wanted {
        proto: Proto::Udp,
        host_ip: Ipv4Addr::LOCALHOST,
        host_ports: (5353, 5353),
        container_port: 53,
    };
    n.attach("live", "live", &[join("bridge")], &[want], &[])
        .unwrap();
    n.attach("dead", "dead", &[join("bridge")], &[], &[])
        .unwrap();
    fake.clear();
    let again = networks(dir.path(), &fake);
    again.restore(&|id| id == "live").unwrap();
    let calls = fake.calls();
    let tables: Vec<&String> = calls
        .iter()
        .filter(|c| c.contains("delete table"))
        .collect();
    assert_eq!(tables.len(), 1, "{calls:?}");
    assert!(tables[0].contains("127.0.0.1 . udp . 5353 : 10.99.0.2 . 53"));
    assert!(
        calls.iter().any(|c| c.starts_with("delete veth")),
        "{calls:?}"
    );
    let state = again.read().unwrap();
    assert_eq!(state.endpoints.len(), 1);
    assert_eq!(state.endpoints[0].container, "live");
}

#[test]
fn shutdown_leaves_nothing_when_nothing_is_attached() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    n.attach("a", "a", &[join("bridge")], &[], &[]).unwrap();
    n.shutdown().unwrap();
    assert_eq!(
        n.read().unwrap().networks.len(),
        1,
        "a container keeps the bridge"
    );
    n.detach("a").unwrap();
    fake.clear();
    n.shutdown().unwrap();
    let calls = fake.calls();
    assert!(calls.contains(&"delete btest0".to_string()), "{calls:?}");
    assert!(calls
        .iter()
        .any(|c| c.contains("delete table ip berth_btest0")));
    assert_eq!(n.read().unwrap(), State::default());
}

#[test]
fn subnets_avoid_networks_and_host_routes() {
    let pools: Vec<_> = ["172.17.0.0/16", "172.18.0.0/16", "172.19.0.0/16"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let routes = vec![
        "172.17.5.0/24".parse().unwrap(),
        "0.0.0.0/0".parse().unwrap(),
    ];
    let s = ipam::pick_subnet(&pools, &State::default(), &routes).unwrap();
    assert_eq!(s.to_string(), "172.18.0.0/16");
    assert_eq!(ipam::default_pools()[0].to_string(), "172.17.0.0/16");
    assert_eq!(
        ipam::parse_mac("02:42:ac:11:00:02"),
        Some([2, 0x42, 0xac, 0x11, 0, 2])
    );
    assert_eq!(ipam::parse_mac("02:42:ac:11:00"), None);
}

#[test]
fn port_specs_parse_as_docker_reads_them() {
    let mut b = Bindings::new();
    ports::parse_publish("8080:80", &mut b).unwrap();
    ports::parse_publish("127.0.0.1:9000-9001:90-91/udp", &mut b).unwrap();
    ports::parse_publish("443", &mut b).unwrap();
    let bind = |ip: &str, port: &str| Binding {
        host_ip: ip.into(),
        host_port: port.into(),
    };
    assert_eq!(b["80/tcp"], [bind("", "8080")]);
    assert_eq!(b["90/udp"], [bind("127.0.0.1", "9000")]);
    assert_eq!(b["91/udp"], [bind("127.0.0.1", "9001")]);
    assert_eq!(b["443/tcp"], [bind("", "")]);
    for bad in ["x:80", "80/sctpx", "1-3:1-2", "300.1.1.1:80:80", "0"] {
        assert!(
            ports::parse_publish(bad, &mut Bindings::new()).is_err(),
            "{bad}"
        );
    }
    assert_eq!(
        ports::parse_expose("7000-7001/udp").unwrap(),
        ["7000/udp", "7001/udp"]
    );
    let w = ports::wanted(&b, &["53/udp".into(), "80/tcp".into()], true).unwrap();
    assert!(w
        .iter()
        .any(|w| w.container_port == 53 && w.host_ports == (0, 0)));
    assert_eq!(w.iter().filter(|w| w.container_port == 80).count(), 1);
}

#[test]
fn the_table_masquerades_isolates_and_maps_ports() {
    let mut state = State::default();
    let net = |name: &str, bridge: &str, subnet: &str, internal| berth_net::Network {
        id: format!("{name:0>64}"),
        name: name.into(),
        driver: "bridge".into(),
        bridge: bridge.into(),
        subnet: subnet.parse().unwrap(),
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        ip_range: None,
        internal,
        labels: Default::default(),
        options: Default::default(),
        created: String::new(),
        predefined: false,
        attachable: false,
        last: None,
    };
    state.networks.push(net("a", "br-a", "10.1.0.0/16", false));
    state.networks.push(net("b", "br-b", "10.2.0.0/16", true));
    let mut quiet = net("q", "br-q", "10.3.0.0/16", false);
    quiet.options.insert(
        "com.docker.network.bridge.enable_ip_masquerade".into(),
        "false".into(),
    );
    state.networks.push(quiet);
    state.ports.push(berth_net::Port {
        container: "c".into(),
        proto: Proto::Tcp,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: 8080,
        container_ip: Ipv4Addr::new(10, 1, 0, 2),
        container_port: 80,
    });
    let text = nft::ruleset("t", &state);
    assert!(text.starts_with("table ip t {}\ndelete table ip t\n"));
    assert!(text.contains("ip saddr 10.1.0.0/16 oifname != \"br-a\" masquerade"));
    assert!(!text.contains("ip saddr 10.2.0.0/16 oifname != \"br-b\" masquerade"));
    assert!(!text.contains("ip saddr 10.3.0.0/16 oifname != \"br-q\" masquerade"));
    let ipt = berth_net::iptables::restore_input("P", &state);
    assert!(
        ipt.contains("-A P-POST -s 10.1.0.0/16 ! -o br-a -j MASQUERADE"),
        "{ipt}"
    );
    assert!(!ipt.contains("-s 10.3.0.0/16 ! -o br-q"), "{ipt}");
    assert!(ipt.contains("-A P-PRE -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80"), "{ipt}");
    assert!(text.contains("iifname \"br-a\" oifname @bridges oifname != \"br-a\" drop"));
    assert!(text.contains("iifname \"br-b\" oifname != \"br-b\" drop"));
    assert!(text.contains("elements = { tcp . 8080 : 10.1.0.2 . 80 }"));
    assert_eq!(nft::table_name("berth0"), "berth_berth0");
}

#[test]
fn an_ip_range_narrows_where_addresses_come_from() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    n.create(&CreateRequest {
        name: "ranged".into(),
        subnet: Some("10.93.0.0/24".parse().unwrap()),
        ip_range: Some("10.93.0.128/30".parse().unwrap()),
        ..Default::default()
    })
    .unwrap();
    let ips: Vec<Ipv4Addr> = ["a", "b", "c", "d"]
        .iter()
        .map(|c| {
            n.attach(c, c, &[join("ranged")], &[], &[])
                .unwrap()
                .endpoints[0]
                .1
                .ip
        })
        .collect();
    assert_eq!(ips[0], Ipv4Addr::new(10, 93, 0, 128));
    assert!(
        ips.iter()
            .all(|ip| ip.octets()[3] >= 128 && ip.octets()[3] <= 131),
        "{ips:?}"
    );
    assert!(
        n.attach("e", "e", &[join("ranged")], &[], &[]).is_err(),
        "the range is full"
    );
    let bad = n.create(&CreateRequest {
        name: "bad".into(),
        subnet: Some("10.92.0.0/24".parse().unwrap()),
        ip_range: Some("10.91.0.0/28".parse().unwrap()),
        ..Default::default()
    });
    assert!(matches!(bad, Err(NetError::Ipam(IpamError::Range { .. }))));
}

#[test]
fn the_embedded_dns_answers_names_aliases_and_shared_aliases_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    n.create(&CreateRequest {
        name: "app".into(),
        subnet: Some("10.90.0.0/24".parse().unwrap()),
        ..Default::default()
    })
    .unwrap();
    let with_alias = |alias: &str| Join {
        network: "app".into(),
        aliases: vec![alias.into()],
        ..Default::default()
    };
    n.attach("c1", "web1", &[with_alias("web")], &[], &[])
        .unwrap();
    n.attach("c2", "web2", &[with_alias("web")], &[], &[])
        .unwrap();
    n.attach("c3", "client", &[join("app")], &[], &[]).unwrap();
    n.attach("c4", "outsider", &[join("bridge")], &[], &[])
        .unwrap();
    let state = n.read().unwrap();
    let lookup = |who: &str, name: &str| berth_net::dns::lookup(&state, who, name);
    assert_eq!(lookup("c3", "web1"), [Ipv4Addr::new(10, 90, 0, 2)]);
    assert_eq!(lookup("c3", "WEB2"), [Ipv4Addr::new(10, 90, 0, 3)]);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        let both = lookup("c3", "web");
        assert_eq!(both.len(), 2);
        seen.insert(both[0]);
    }
    assert_eq!(seen.len(), 2, "both holders come first in turn");
    assert!(
        lookup("c4", "web1").is_empty(),
        "the default network has no names"
    );
    assert!(lookup("c3", "outsider").is_empty());
    assert!(lookup("c3", "nosuch").is_empty());
}

#[test]
fn a_bridge_name_a_link_has_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Fake::default();
    let n = networks(dir.path(), &fake);
    let named = |b: &str| CreateRequest {
        name: format!("n{}", b.len()),
        options: [("com.docker.network.bridge.name".to_string(), b.to_string())].into(),
        ..Default::default()
    };
    assert!(n.create(&named("a/b")).is_err());
    assert!(n.create(&named("much-too-long-name")).is_err());
    let ok = n.create(&named("brmine")).unwrap();
    assert_eq!(ok.bridge, "brmine");
}
