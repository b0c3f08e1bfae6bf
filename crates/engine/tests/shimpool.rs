//! The engine's pool of prepared shims (`Engine::keep_prepared_shims`): a start takes
//! the idle shim, the pool refills, a dead idle shim makes the start fall back to a
//! spawned one, setting the shim binary remakes the pool, and dropping the engine ends the
//! idle shims. Needs root (overlay mounts, containers).

use std::time::{Duration, Instant};

use berth_engine::record::{Config, Status};
use berth_engine::{CreateRequest, Engine};

mod support;
use support::{images_dir, shim_path};

/// Polls `f` until it gives Some (or 10 s pass, a failure).
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The process name of `pid` (empty once it is gone; a zombie keeps its name).
fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// Whether `pid` has exited (gone, or a zombie waiting for its reaper).
fn exited(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rfind(')')
            .is_some_and(|i| s[i + 2..].starts_with(['Z', 'X']))
    })
}

/// The one idle shim of `engine`, once there is one other than `not`.
fn idle(engine: &Engine, not: i32) -> i32 {
    wait_for("an idle shim", || match engine.prepared_shim_pids()[..] {
        [pid] if pid != not => Some(pid),
        _ => None,
    })
}

/// Creates and starts a busybox `true`; returns its shim's pid once it has exited.
fn run_true(engine: &Engine) -> i32 {
    let req = CreateRequest {
        image: "busybox:1.35".into(),
        name: None,
        config: Config {
            cmd: vec!["true".into()],
            ..Default::default()
        },
    };
    let c = engine.create(&req).unwrap();
    let started = engine.start_with(&c, &mut |_| {}).unwrap().unwrap();
    wait_for("the container's end", || {
        let c = engine.find(&c.id).unwrap();
        (c.state.status != Status::Running).then_some(())
    });
    assert_eq!(engine.find(&c.id).unwrap().state.exit_code, Some(0));
    engine.remove(&engine.find(&c.id).unwrap(), true).unwrap();
    started.shim_pid
}

#[test]
fn starts_take_prepared_shims_and_the_pool_refills() {
    let dir = tempfile::Builder::new()
        .prefix(&format!("berth-pool-{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let mut engine = Engine::open(dir.path()).unwrap();
    let tar = std::fs::File::open(images_dir().join("busybox-1.35.docker.tar")).unwrap();
    engine.images().load(tar).unwrap();
    engine.set_shim_path(shim_path());
    assert!(engine.prepared_shim_pids().is_empty(), "none unless asked");
    engine.keep_prepared_shims(1);
    let first = idle(&engine, 0);
    assert_eq!(comm(first), "berth-shim-idle");
    // A start takes it; another takes the one made meanwhile.
    assert_eq!(run_true(&engine), first);
    let second = idle(&engine, first);
    assert_eq!(run_true(&engine), second);
    // An idle shim killed: the start spawns a shim the usual way.
    let third = idle(&engine, second);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(third),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("the killed shim's end", || exited(third).then_some(()));
    let spawned = run_true(&engine);
    assert_ne!(spawned, third);
    // The shim binary set (again): the pool is made anew from it, the old idle shim ends.
    let fourth = idle(&engine, third);
    engine.set_shim_path(shim_path());
    wait_for("the old idle shim's end", || exited(fourth).then_some(()));
    let fifth = idle(&engine, fourth);
    // The engine gone, so are its idle shims.
    drop(engine);
    wait_for("the idle shim's end", || exited(fifth).then_some(()));
}
