//! The engine's container store on a real data root: create and remove undo each other,
//! lookups by id, prefix and name, and the time a container root takes to prepare and
//! mount (printed, not asserted). Needs root (overlay mounts).

use std::time::{Duration, Instant};

use berth_engine::record::Config;
use berth_engine::{rootfs, CreateRequest, Engine, EngineError};

mod support;
use support::{images_dir, shim_path};

fn engine_with_busybox() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("berth-engine-{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let engine = Engine::open(dir.path()).unwrap();
    let tar = std::fs::File::open(images_dir().join("busybox-1.35.docker.tar")).unwrap();
    engine.images().load(tar).unwrap();
    (dir, engine)
}

fn request(name: Option<&str>) -> CreateRequest {
    CreateRequest {
        image: "busybox:1.35".into(),
        name: name.map(String::from),
        config: Config {
            cmd: vec!["true".into()],
            ..Default::default()
        },
    }
}

#[test]
fn create_and_remove_undo_each_other() {
    let (_dir, engine) = engine_with_busybox();
    let c = engine.create(&request(Some("one"))).unwrap();
    assert_eq!(c.id.len(), 64);
    assert_eq!(c.command, ["true"]);
    let snap = engine.images().snapshotter();
    assert!(snap.stat(&c.id).is_ok());
    let image = engine.images().db().resolve_id("busybox:1.35").unwrap();
    assert_eq!(
        engine.images().db().users(&image).unwrap(),
        vec![c.id.clone()]
    );
    for key in [&c.id[..], &c.id[..5], "one", "/one"] {
        assert_eq!(engine.find(key).unwrap().id, c.id, "{key}");
    }
    assert!(matches!(
        engine.create(&request(Some("one"))),
        Err(EngineError::NameInUse { .. })
    ));
    assert!(matches!(
        engine.create(&request(Some("-bad"))),
        Err(EngineError::BadName(_))
    ));
    engine.remove(&c, false).unwrap();
    assert!(snap.stat(&c.id).is_err());
    assert!(engine.images().db().users(&image).unwrap().is_empty());
    assert!(matches!(
        engine.find("one"),
        Err(EngineError::NoSuchContainer(_))
    ));
    // The name is free again; an unknown image leaves nothing behind.
    let again = engine.create(&request(Some("one"))).unwrap();
    engine.remove(&again, false).unwrap();
    let mut bad = request(Some("two"));
    bad.image = "nothing-here".into();
    assert!(engine.create(&bad).is_err());
    assert!(engine.list().unwrap().is_empty());
    assert!(engine.find("two").is_err());
}

#[test]
fn a_container_root_is_prepared_and_mounted_quickly() {
    let (dir, engine) = engine_with_busybox();
    let snap = engine.images().snapshotter();
    let top = engine.images().db().resolve("busybox:1.35").unwrap();
    let parent = top.layers.last().unwrap().chain_id.to_string();
    let target = dir.path().join("mnt");
    let (mut times, mut mounts): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for i in 0..30 {
        let key = format!("timing-{}-{i}", std::process::id());
        let begin = Instant::now();
        snap.prepare(&key, Some(&parent)).unwrap();
        mounts.push(rootfs::mount(snap, &key, &target, &dir.path().join("init")).unwrap());
        times.push(begin.elapsed());
        assert!(target.join("bin/busybox").exists());
        assert!(rootfs::is_mounted(&target).unwrap());
        rootfs::unmount(&target).unwrap();
        assert!(!rootfs::is_mounted(&target).unwrap());
        snap.remove(&key).unwrap();
    }
    times.sort();
    mounts.sort();
    println!(
        "container root prepare + overlay mount (busybox, 1 layer): median {:?} (mount alone {:?}), min {:?}, max {:?} over {} runs",
        times[times.len() / 2],
        mounts[mounts.len() / 2],
        times[0],
        times[times.len() - 1],
        times.len()
    );
}

/// Waits until container `id` is no longer running; returns its record.
fn wait_exited(engine: &Engine, id: &str) -> berth_engine::record::Container {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let c = engine.find(id).unwrap();
        if c.state.status != berth_engine::record::Status::Running {
            return c;
        }
        assert!(Instant::now() < deadline, "still running: {c:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_detached_container_runs_under_its_shim_and_ends_with_its_exit_code() {
    let (_dir, mut engine) = engine_with_busybox();
    engine.set_shim_path(shim_path());
    let mut req = request(Some("shimmed"));
    req.config.cmd = ["sh", "-c", "echo hi; echo oh >&2; exit 4"]
        .map(String::from)
        .to_vec();
    let c = engine.create(&req).unwrap();
    engine.start_detached(&c).unwrap();
    let running = engine.containers().load(&c.id).unwrap();
    assert_ne!(running.state.monitor_pid, std::process::id() as i32);
    let done = wait_exited(&engine, &c.id);
    assert_eq!(done.state.exit_code, Some(4));
    let recorded = berth_shim::ExitStatus::read(&engine.containers().dir(&c.id))
        .unwrap()
        .unwrap();
    assert_eq!(done.state.finished_at, Some(recorded.finished_at));
    let log = engine
        .containers()
        .dir(&c.id)
        .join(format!("{}-json.log", c.id));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(
        log.contains(r#"{"log":"hi\n","stream":"stdout","time":"#),
        "{log}"
    );
    assert!(
        log.contains(r#"{"log":"oh\n","stream":"stderr","time":"#),
        "{log}"
    );
    assert!(!rootfs::is_mounted(&engine.containers().rootfs(&c.id)).unwrap());
    // A second run of the stopped container ends as the first did (the first run's
    // runtime state, moved into the container's directory, gives way to the second's).
    engine.start_detached(&done).unwrap();
    let again = wait_exited(&engine, &c.id);
    assert_eq!(again.state.exit_code, Some(4));
    assert_ne!(again.state.finished_at, done.state.finished_at);
    // A command that is not there fails the start with docker's 127, and the record
    // stays as it was.
    let mut bad = request(Some("missing"));
    bad.config.cmd = vec!["no-such-command".into()];
    let b = engine.create(&bad).unwrap();
    let err = engine.start_detached(&b).unwrap_err();
    assert_eq!(err.exit_code(), 127, "{err}");
    assert_eq!(
        engine.find(&b.id).unwrap().state.status,
        berth_engine::record::Status::Created
    );
    // The log config is the shim's: `none` keeps nothing; a driver berth lacks fails.
    let mut quiet = request(Some("quiet"));
    quiet.config.cmd = ["echo", "unseen"].map(String::from).to_vec();
    quiet.config.host.log_config.driver = "none".into();
    let q = engine.create(&quiet).unwrap();
    engine.start_detached(&q).unwrap();
    assert_eq!(wait_exited(&engine, &q.id).state.exit_code, Some(0));
    let qlog = engine
        .containers()
        .dir(&q.id)
        .join(format!("{}-json.log", q.id));
    assert!(!qlog.exists());
    let mut odd = request(Some("odd"));
    odd.config.host.log_config.driver = "syslog".into();
    let o = engine.create(&odd).unwrap();
    let err = engine.start_detached(&o).unwrap_err();
    assert!(err.to_string().contains("syslog"), "{err}");
    for c in [&c, &b, &q, &o] {
        engine.remove(c, false).unwrap();
    }
}

#[test]
fn a_run_whose_shim_vanished_is_finished_from_its_exit_file_or_as_lost() {
    let (_dir, mut engine) = engine_with_busybox();
    engine.set_shim_path(shim_path());
    let mut req = request(Some("lost"));
    req.config.cmd = ["sleep", "100"].map(String::from).to_vec();
    let c = engine.create(&req).unwrap();
    engine.start_detached(&c).unwrap();
    let running = engine.containers().load(&c.id).unwrap();
    // kill -9 of the shim: the container runs on, unwatched; nothing recorded an exit.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.state.monitor_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let done = wait_exited(&engine, &c.id);
    assert_eq!(done.state.exit_code, Some(255));
    assert!(!engine.runtime().root.path().join(&c.id).exists());
    // A shim that recorded the exit: its code is taken.
    engine.start_detached(&c).unwrap();
    let running = engine.containers().load(&c.id).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(running.state.monitor_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let dir = engine.containers().dir(&c.id);
    berth_shim::ExitStatus::new(42, std::time::SystemTime::now())
        .write(&dir)
        .unwrap();
    assert_eq!(wait_exited(&engine, &c.id).state.exit_code, Some(42));
    engine.remove(&c, true).unwrap();
}

#[test]
fn image_users_are_reconciled_with_the_containers() {
    let (_dir, engine) = engine_with_busybox();
    let c = engine.create(&request(Some("held"))).unwrap();
    let image = berth_image::digest::Digest::parse(&c.image_id).unwrap();
    let db = engine.images().db();
    assert_eq!(db.users(&image).unwrap(), vec![c.id.clone()]);
    // A lost add (power failure) and a lost remove of a container that is gone.
    db.remove_user(&c.id).unwrap();
    db.add_user(&image, &"f".repeat(64)).unwrap();
    engine.reconcile_users().unwrap();
    assert_eq!(db.users(&image).unwrap(), vec![c.id.clone()]);
    engine.remove(&c, false).unwrap();
    assert!(db.users(&image).unwrap().is_empty());
}
