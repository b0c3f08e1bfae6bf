//! Network namespaces made ahead: real namespaces, held by descriptors and bound to
//! files by `SystemHost::make_netns`.

use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_net::host::{Host, SystemHost};
use berth_net::netns_pool::NetnsPool;

fn wait_ready(pool: &NetnsPool, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.ready() < n {
        assert!(Instant::now() < deadline, "the pool never had {n} ready");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A pool of `n` (filled) and a host that takes its namespaces from it.
fn pooled(n: usize) -> (Arc<NetnsPool>, SystemHost) {
    let pool = Arc::new(NetnsPool::start(n));
    wait_ready(&pool, n);
    let host = SystemHost {
        netns_pool: Some(pool.clone()),
        ..Default::default()
    };
    (pool, host)
}

fn ns_inode(path: &str) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn the_pool_hands_out_distinct_new_namespaces_and_refills() {
    let pool = NetnsPool::start(2);
    wait_ready(&pool, 2);
    let a = pool.take().unwrap();
    let b = pool.take().unwrap();
    let ino = |fd: &std::os::fd::OwnedFd| nix::sys::stat::fstat(fd).unwrap().st_ino;
    let ours = ns_inode("/proc/self/ns/net");
    assert_ne!(ino(&a), ours);
    assert_ne!(ino(&b), ours);
    assert_ne!(ino(&a), ino(&b));
    // Taken ones are made again in the background.
    wait_ready(&pool, 2);
    // The calling thread's namespace is never touched.
    assert_eq!(ns_inode("/proc/thread-self/ns/net"), ours);
}

#[test]
fn make_netns_binds_a_namespace_from_the_pool_and_remove_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, host) = pooled(1);
    let path = dir.path().join("netns/c1");
    host.make_netns(&path).unwrap();
    assert_eq!(pool.taken(), 1, "the ready one was used");
    let bound = std::fs::metadata(&path).unwrap();
    assert_ne!(bound.ino(), ns_inode("/proc/self/ns/net"));
    assert_eq!(
        bound.dev(),
        std::fs::metadata("/proc/self/ns/net").unwrap().dev()
    );
    // An empty pool falls back to making one there and then.
    let other = dir.path().join("netns/c2");
    let empty = SystemHost {
        netns_pool: Some(Arc::new(NetnsPool::start(0))),
        ..Default::default()
    };
    empty.make_netns(&other).unwrap();
    assert_ne!(std::fs::metadata(&other).unwrap().ino(), bound.ino());
    for p in [&path, &other] {
        host.remove_netns(p).unwrap();
    }
    // The pool's thread unbinds them (settle_all waits for that).
    pool.settle_all();
    for p in [&path, &other] {
        assert!(!p.exists());
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(dir.path().to_str().unwrap()), "{mounts}");
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn buried_namespaces_are_freed_after_a_while_or_as_a_full_batch() {
    use berth_net::netns_pool::{BURY_BATCH, BURY_LINGER};
    let pool = NetnsPool::start(1);
    wait_ready(&pool, 1);
    let started = Instant::now();
    pool.bury(pool.take().unwrap());
    assert_eq!(pool.buried(), 1);
    wait_until("freeing a lone namespace", BURY_LINGER * 20, || {
        pool.buried() == 0
    });
    assert!(started.elapsed() >= BURY_LINGER, "freed before its linger");
    for _ in 0..BURY_BATCH {
        wait_ready(&pool, 1);
        pool.bury(pool.take().unwrap());
    }
    wait_until("freeing a full batch", BURY_LINGER * 20, || {
        pool.buried() == 0
    });
}

#[test]
fn remove_netns_hands_the_namespace_to_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, host) = pooled(2);
    let path = dir.path().join("netns/c1");
    host.make_netns(&path).unwrap();
    let first = ns_inode(path.to_str().unwrap());
    host.remove_netns(&path).unwrap();
    assert_eq!(pool.buried(), 1);
    // The same container starting again at once gets a new namespace on the same file,
    // with the old one's unbind finished first (not after, which would unbind the new).
    host.make_netns(&path).unwrap();
    let second = ns_inode(path.to_str().unwrap());
    assert_ne!(first, second);
    std::thread::sleep(Duration::from_millis(50));
    pool.settle_all();
    assert_eq!(ns_inode(path.to_str().unwrap()), second, "still bound");
    host.remove_netns(&path).unwrap();
    pool.settle_all();
    assert!(!path.exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(dir.path().to_str().unwrap()), "{mounts}");
    // Dropping the pool frees what it holds.
    drop(host);
    drop(pool);
}

#[test]
fn a_sandbox_is_held_by_descriptor_and_detach_buries_it() {
    let dir = tempfile::tempdir().unwrap();
    let (pool, host) = pooled(1);
    let c = berth_net::Config::new(dir.path(), "btsandbox");
    let net = berth_net::Networks::new(c, Box::new(host));
    let path = net.sandbox("c1").unwrap();
    let shown = path.display().to_string();
    assert!(
        shown.starts_with(&format!("/proc/{}/fd/", std::process::id())),
        "{shown}"
    );
    // The path opens the namespace (as the runtime's setns does), not ours.
    assert_ne!(ns_inode(&shown), ns_inode("/proc/self/ns/net"));
    assert_eq!(pool.taken(), 1);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no file made for it"
    );
    net.detach("c1").unwrap();
    assert_eq!(pool.buried(), 1, "the pool frees it, with others");
    // A second detach (the end recorded twice) finds nothing to do.
    net.detach("c1").unwrap();
}

#[test]
fn a_socket_opened_in_a_namespace_leaves_the_thread_where_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let host = SystemHost::default();
    let path = dir.path().join("netns/c1");
    host.make_netns(&path).unwrap();
    let before = ns_inode("/proc/thread-self/ns/net");
    let mut inside = berth_net::netlink::Netlink::open_in(&path).unwrap();
    assert_eq!(ns_inode("/proc/thread-self/ns/net"), before);
    // The socket sees the namespace's links (loopback only), not the host's.
    assert!(inside.index("lo").unwrap().is_some());
    assert!(inside.index("eth0").unwrap().is_none());
    let missing = dir.path().join("netns/none");
    assert!(berth_net::netlink::Netlink::open_in(&missing).is_err());
    assert_eq!(ns_inode("/proc/thread-self/ns/net"), before);
    host.remove_netns(&path).unwrap();
}

#[test]
fn the_pool_deletes_links_later_and_settle_waits_for_it() {
    let pool = NetnsPool::start(0);
    let name = format!("bpl{:x}", std::process::id() % 0xfffff);
    let made = std::process::Command::new("ip")
        .args(["link", "add", &name, "type", "veth", "peer", "name"])
        .arg(format!("{name}p"))
        .status()
        .unwrap();
    assert!(made.success());
    let exists = |n: &str| std::path::Path::new(&format!("/sys/class/net/{n}")).exists();
    assert!(exists(&name));
    pool.delete_links_later(vec![name.clone(), "bpl-missing".into()]);
    pool.settle_all();
    assert_eq!(pool.links(), 0);
    assert!(
        !exists(&name) && !exists(&format!("{name}p")),
        "both ends gone"
    );
}
