//! Container networking through berthd with `berth`: the default bridge (an address,
//! a route, published ports from the host's 127.0.0.1 and bridge address, `port`),
//! user networks (names and aliases over the embedded DNS, TCP and UDP, isolation from
//! other networks), `none` and `container:` modes, a berthd killed with ports in use,
//! docker's errors for bad input, and nothing of berth's left once all is removed.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use support::{wait_until, Root};

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends a line to `addr` and reads the reply.
fn talk(addr: &str) -> std::io::Result<String> {
    let addr = addr.parse().unwrap();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// A detached web server answering `hello` on port 80.
fn web(root: &Root, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "busybox:1.35",
        "sh",
        "-c",
        "echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp",
    ]);
    root.ok(&all).trim().to_string()
}

fn bridge_of(root: &Root) -> String {
    root.ok(&[
        "network",
        "inspect",
        "-f",
        "{{index .Options \"com.docker.network.bridge.name\"}}",
        "bridge",
    ])
    .trim()
    .to_string()
}

fn links() -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

fn table(bridge: &str) -> Option<String> {
    let out = Command::new("nft")
        .args(["list", "table", "ip", &format!("berth_{bridge}")])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The host ends of this daemon's veth pairs, from its state.
fn our_veths(root: &Root) -> Vec<String> {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("network/state.json")).unwrap())
            .unwrap();
    let mut v: Vec<String> = state["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["veth"].as_str().map(String::from))
        .collect();
    v.sort();
    v
}

#[test]
fn the_default_bridge_gives_an_address_a_route_and_published_ports() {
    let root = Root::with_busybox();
    let out = root.ok(&[
        "run",
        "--rm",
        "busybox:1.35",
        "sh",
        "-c",
        "ip -o -4 addr show eth0; ip route; echo sys: $(ls /sys/class/net)",
    ]);
    // Its own sysfs: the devices of its namespace, not the host's.
    assert!(out.contains("sys: eth0 lo\n"), "{out}");
    assert!(
        out.contains("eth0    inet 172.")
            || out.contains("eth0    inet 192.168.")
            || out.contains("eth0    inet 10."),
        "{out}"
    );
    assert!(out.contains("default via "), "{out}");
    let any = free_port();
    let local = free_port();
    let id = web(
        &root,
        &[
            "--name",
            "web",
            "-p",
            &format!("{any}:80"),
            "-p",
            &format!("127.0.0.1:{local}:80"),
        ],
    );
    let gateway = root
        .ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", &id])
        .trim()
        .to_string();
    let ip = root
        .ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &id])
        .trim()
        .to_string();
    assert!(!gateway.is_empty() && !ip.is_empty());
    assert!(wait_until(10, || talk(&format!("127.0.0.1:{any}"))
        .is_ok_and(|r| r.contains("hello"))));
    assert!(talk(&format!("{gateway}:{any}")).unwrap().contains("hello"));
    assert!(talk(&format!("127.0.0.1:{local}"))
        .unwrap()
        .contains("hello"));
    let ports = root.ok(&["port", "web"]);
    assert!(
        ports.contains(&format!("80/tcp -> 0.0.0.0:{any}")),
        "{ports}"
    );
    assert!(
        ports.contains(&format!("80/tcp -> 127.0.0.1:{local}")),
        "{ports}"
    );
    assert_eq!(root.ok(&["port", "web", "80"]).lines().count(), 2);
    let ps = root.ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("0.0.0.0:{any}->80/tcp")), "{ps}");
    // A neighbour reaches it by address and through the published port (hairpin).
    let hairpin = root.ok(&[
        "run",
        "--rm",
        "busybox:1.35",
        "sh",
        "-c",
        &format!("wget -qO- http://{ip}/index.html && wget -qO- http://{gateway}:{any}/index.html"),
    ]);
    assert_eq!(hairpin, "hello\nhello\n");
    // The port is taken: docker's error, and the container is left as created.
    let r = root.run(&[
        "run",
        "-d",
        "--name",
        "second",
        "-p",
        &format!("{any}:80"),
        "busybox:1.35",
        "true",
    ]);
    assert_eq!(r.code, 125, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "Bind for 0.0.0.0:{any} failed: port is already allocated"
        )),
        "{}",
        r.stderr
    );
    let state = root.ok(&["inspect", "-f", "{{.State.Status}}", "second"]);
    assert_eq!(state.trim(), "created");
    // -P publishes the exposed ports on free host ports.
    let all = web(&root, &["--name", "every", "-P", "--expose", "80"]);
    let mapped = root.ok(&["port", &all, "80/tcp"]);
    let host_port = mapped.trim().rsplit(':').next().unwrap().to_string();
    assert!(host_port.parse::<u16>().is_ok_and(|p| p > 0), "{mapped}");
    assert!(wait_until(10, || talk(&format!("127.0.0.1:{host_port}"))
        .is_ok_and(|r| r.contains("hello"))));
}

/// Answers one DNS query (A 1.2.3.4) on `ip`:53 in the network namespace of `pid`.
fn udp_answer_in(pid: i32, ip: Ipv4Addr) -> std::thread::JoinHandle<()> {
    let sock = std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            std::net::UdpSocket::bind((ip, 53)).unwrap()
        })
        .join()
        .unwrap()
    });
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        let mut answered = 0;
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let mut reply = buf[..n].to_vec();
            reply[2] |= 0x80;
            // The question's type is the two bytes before its class, at the end.
            let a_query = n >= 4 && buf[n - 4..n - 2] == [0, 1];
            if a_query {
                reply[7] = 1;
                reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4]);
            }
            sock.send_to(&reply, from).unwrap();
            answered += 1;
            sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        }
        assert!(answered > 0, "no query came over UDP");
    })
}

#[test]
fn containers_on_a_user_network_find_each_other_by_name_and_others_cannot() {
    let root = Root::with_busybox();
    root.ok(&["network", "create", "--subnet", "10.214.7.0/24", "front"]);
    root.ok(&["network", "create", "back"]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "server",
        "--network",
        "front",
        "--network-alias",
        "db",
        "busybox:1.35",
        "sh",
        "-c",
        "while true; do echo tcp-pong | nc -l -p 7000; done",
    ]);
    let tcp = root.ok(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox:1.35",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo hi | nc -w 2 server 7000 && exit 0; sleep 0.3; done; exit 1",
    ]);
    assert_eq!(tcp.trim(), "tcp-pong");
    let alias = root.ok(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox:1.35",
        "nslookup",
        "db",
    ]);
    assert!(alias.contains("10.214.7."), "{alias}");
    // UDP: a DNS server on the server's address (a socket this test opens in its
    // namespace), asked by name from another container with nslookup.
    let pid: i32 = root
        .ok(&["inspect", "-f", "{{.State.Pid}}", "server"])
        .trim()
        .parse()
        .unwrap();
    let server_ip: Ipv4Addr = root
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.front.IPAddress}}",
            "server",
        ])
        .trim()
        .parse()
        .unwrap();
    let udp = udp_answer_in(pid, server_ip);
    let asked = root.ok(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox:1.35",
        "nslookup",
        "anything.test",
        "server",
    ]);
    assert!(asked.contains("1.2.3.4"), "{asked}");
    udp.join().unwrap();
    let ip = root
        .ok(&[
            "inspect",
            "-f",
            "{{.NetworkSettings.Networks.front.IPAddress}}",
            "server",
        ])
        .trim()
        .to_string();
    assert!(ip.starts_with("10.214.7."), "{ip}");
    let other = root.run(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox:1.35",
        "sh",
        "-c",
        &format!("nslookup server; echo hi | nc -w 2 {ip} 7000"),
    ]);
    assert_ne!(
        other.code, 0,
        "another network reached {ip}: {}",
        other.stdout
    );
    assert!(!other.stdout.contains("tcp-pong"));
    let resolv = root.ok(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox:1.35",
        "cat",
        "/etc/resolv.conf",
    ]);
    assert!(resolv.starts_with("nameserver 127.0.0.11\n"), "{resolv}");
    // connect puts a running container on one more network, by name there too.
    root.ok(&["network", "connect", "--alias", "late", "back", "server"]);
    let late = root.ok(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox:1.35",
        "nslookup",
        "late",
    ]);
    assert!(late.contains("Address"), "{late}");
    root.ok(&["rename", "server", "renamed"]);
    let renamed = root.ok(&[
        "run",
        "--rm",
        "--network",
        "front",
        "busybox:1.35",
        "nslookup",
        "renamed",
    ]);
    assert!(renamed.contains("10.214.7."), "{renamed}");
    root.ok(&["rename", "renamed", "server"]);
    let r = root.run(&["network", "rm", "front"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("has active endpoints"), "{}", r.stderr);
    root.ok(&["network", "disconnect", "back", "server"]);
    root.ok(&["rm", "-f", "server"]);
    root.ok(&["network", "rm", "front", "back"]);
}

#[test]
fn none_has_only_loopback_and_container_mode_shares_a_namespace() {
    let root = Root::with_busybox();
    let out = root.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox:1.35",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("lo:"), "{out}");
    root.ok(&[
        "run",
        "-d",
        "--name",
        "owner",
        "busybox:1.35",
        "sleep",
        "60",
    ]);
    let mine = root.ok(&["exec", "owner", "readlink", "/proc/self/ns/net"]);
    let shared = root.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox:1.35",
        "readlink",
        "/proc/self/ns/net",
    ]);
    assert_eq!(mine, shared);
    let ip = root.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox:1.35",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(ip.contains("inet "), "{ip}");
    // The namespace's owner's names too, as docker gives them.
    let owner_name = root.ok(&["exec", "owner", "hostname"]);
    let joined = root.ok(&[
        "run",
        "--rm",
        "--network",
        "container:owner",
        "busybox:1.35",
        "sh",
        "-c",
        "hostname; tail -n1 /etc/hosts",
    ]);
    assert!(joined.starts_with(&owner_name), "{joined} vs {owner_name}");
    assert!(joined.contains(owner_name.trim()), "{joined}");
    let hosts = root.ok(&[
        "run",
        "--rm",
        "--add-host",
        "db.local:10.1.2.3",
        "--dns",
        "9.9.9.9",
        "--dns-search",
        "example.org",
        "--dns-option",
        "ndots:3",
        "busybox:1.35",
        "sh",
        "-c",
        "cat /etc/hosts /etc/resolv.conf",
    ]);
    assert!(hosts.contains("10.1.2.3\tdb.local"), "{hosts}");
    assert!(
        hosts.contains("nameserver 9.9.9.9") && hosts.contains("search example.org"),
        "{hosts}"
    );
    assert!(hosts.contains("options ndots:3"), "{hosts}");
}

#[test]
fn bad_network_input_gets_dockers_errors_and_leaves_nothing() {
    let root = Root::with_busybox();
    root.ok(&["network", "create", "--subnet", "10.214.8.0/24", "taken"]);
    let r = root.run(&["network", "create", "--subnet", "10.214.8.128/25", "over"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("Pool overlaps with other one on this address space"),
        "{}",
        r.stderr
    );
    let r = root.run(&["network", "create", "taken"]);
    assert!(
        r.stderr.contains("network with name taken already exists"),
        "{}",
        r.stderr
    );
    let r = root.run(&[
        "run",
        "--rm",
        "--network",
        "taken",
        "--ip",
        "10.9.9.9",
        "busybox:1.35",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(
        r.stderr
            .contains("no configured subnet or ip-range contain the IP address 10.9.9.9"),
        "{}",
        r.stderr
    );
    let r = root.run(&["run", "--rm", "--ip", "172.17.0.9", "busybox:1.35", "true"]);
    assert!(
        r.stderr
            .contains("user specified IP address is supported on user defined networks only"),
        "{}",
        r.stderr
    );
    let r = root.run(&["run", "--rm", "--network", "nosuch", "busybox:1.35", "true"]);
    assert!(
        r.stderr.contains("network nosuch not found"),
        "{}",
        r.stderr
    );
    let r = root.run(&["run", "--rm", "-p", "notaport", "busybox:1.35", "true"]);
    assert_ne!(r.code, 0);
    let fixed = root.ok(&[
        "run",
        "--rm",
        "--network",
        "taken",
        "--ip",
        "10.214.8.77",
        "busybox:1.35",
        "ip",
        "-o",
        "-4",
        "addr",
        "show",
        "eth0",
    ]);
    assert!(fixed.contains("10.214.8.77/24"), "{fixed}");
    // A port a host process holds.
    let held = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let r = root.run(&[
        "run",
        "--rm",
        "-p",
        &format!("{port}:80"),
        "busybox:1.35",
        "true",
    ]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("address already in use"), "{}", r.stderr);
    assert_eq!(root.ok(&["ps", "-aq"]), "", "--rm containers are gone");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("network/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["endpoints"], serde_json::json!([]), "{state}");
    assert_eq!(state["ports"], serde_json::json!([]), "{state}");
    root.ok(&["network", "rm", "taken"]);
}

#[test]
fn a_killed_berthd_keeps_ports_working_and_everything_goes_at_the_end() {
    let mut root = Root::with_busybox();
    let port = free_port();
    root.ok(&["network", "create", "mine"]);
    let id = web(&root, &["--name", "kept", "-p", &format!("{port}:80")]);
    root.ok(&[
        "run",
        "-d",
        "--name",
        "other",
        "--network",
        "mine",
        "busybox:1.35",
        "sleep",
        "60",
    ]);
    let bridge = bridge_of(&root);
    assert!(wait_until(10, || talk(&format!("127.0.0.1:{port}")).is_ok()));
    let veths_before = our_veths(&root);
    assert_eq!(veths_before.len(), 2, "{veths_before:?}");
    root.stop(libc::SIGKILL);
    assert!(
        talk(&format!("127.0.0.1:{port}"))
            .unwrap()
            .contains("hello"),
        "ports work while berthd is down"
    );
    root.start();
    assert!(talk(&format!("127.0.0.1:{port}"))
        .unwrap()
        .contains("hello"));
    let rules = table(&bridge).expect("the table is there");
    assert_eq!(
        rules.matches(&format!("tcp . {port} :")).count(),
        1,
        "{rules}"
    );
    assert_eq!(
        our_veths(&root),
        veths_before,
        "the same links after the restart"
    );
    let host_veths = links()
        .into_iter()
        .filter(|l| veths_before.contains(l))
        .count();
    assert_eq!(host_veths, 2, "each link once on the host");
    assert_eq!(
        root.ok(&["port", &id, "80"]).trim(),
        format!("0.0.0.0:{port}")
    );
    // The embedded DNS answers again for the containers that ran on.
    let dns = root.ok(&[
        "run",
        "--rm",
        "--network",
        "mine",
        "busybox:1.35",
        "nslookup",
        "other",
    ]);
    assert!(dns.contains("Name:\tother"), "{dns}");
    let user_bridge = root
        .ok(&["network", "inspect", "-f", "{{.Id}}", "mine"])
        .trim()
        .chars()
        .take(12)
        .collect::<String>();
    let ours: Vec<String> = root
        .ok(&["ps", "-q", "--no-trunc"])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(ours.len(), 2);
    root.ok(&["rm", "-f", "kept", "other"]);
    root.ok(&["network", "rm", "mine"]);
    assert!(talk(&format!("127.0.0.1:{port}")).is_err());
    root.stop(libc::SIGTERM);
    // Links of ended containers go in the background (and with their namespaces).
    wait_until(10, || !links().iter().any(|l| veths_before.contains(l)));
    let now = links();
    assert!(!now.contains(&bridge), "bridge {bridge} left");
    assert!(
        !now.iter().any(|l| l == &format!("br-{user_bridge}")),
        "user bridge left"
    );
    for v in &veths_before {
        assert!(!now.contains(v), "veth {v} left");
    }
    assert!(table(&bridge).is_none(), "nft table left");
    let netns = std::fs::read_dir(root.path().join("netns"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(netns, 0, "namespace files left");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.path().join("network/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["networks"], serde_json::json!([]), "{state}");
    assert_eq!(state["endpoints"], serde_json::json!([]), "{state}");
}
