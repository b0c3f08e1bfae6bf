//! A dropped pool of network namespaces stops its thread (alone in its test binary: it
//! counts the process's pool threads).

use std::time::{Duration, Instant};

use berth_net::netns_pool::NetnsPool;

#[test]
fn a_dropped_pool_stops_its_thread() {
    let threads = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter(|t| {
                let comm = t.as_ref().unwrap().path().join("comm");
                std::fs::read_to_string(comm).is_ok_and(|c| c.trim() == "netns-pool")
            })
            .count()
    };
    let before = threads();
    let pool = NetnsPool::start(1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.ready() < 1 {
        assert!(Instant::now() < deadline, "the pool never filled");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(threads(), before + 1);
    drop(pool);
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads() != before {
        assert!(
            Instant::now() < deadline,
            "the pool's thread is still there"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
