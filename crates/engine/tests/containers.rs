//! The engine's container store on a real data root: create and remove undo each other,
//! lookups by id, prefix and name, and the time a container root takes to prepare and
//! mount (printed, not asserted). Needs root (overlay mounts).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_engine::record::Config;
use berth_engine::{rootfs, CreateRequest, Engine, EngineError};

fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TEST_IMAGES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("shared/images"))
        .find(|d| d.join("busybox-1.35.docker.tar").is_file())
        .unwrap_or_else(|| {
            panic!("TEST IMAGES MISSING: no shared/images/busybox-1.35.docker.tar above {here:?}; set BERTH_TEST_IMAGES")
        })
}

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
        mounts.push(rootfs::mount(snap, &key, &target).unwrap());
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
