//! berthd's trash: a removed container (`DELETE`, and AutoRemove at its exit) is gone
//! from the data root's live directories at once, its name free, and its files deleted
//! after the answer; what a killed berthd left in the trash is deleted when the next one
//! starts. Root needed.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::Daemon;

/// The entries in `dir`, sorted.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

/// Creates a busybox container named `name` running `cmd`, with host config `host`.
fn create_named(d: &Daemon, name: &str, cmd: &str, host: &str) -> String {
    let body = format!(r#"{{"Image":"busybox:1.35","Cmd":{cmd},"HostConfig":{host}}}"#);
    let r = d.post(&format!("/containers/create?name={name}"), &body);
    assert_eq!(r.status, 201, "create: {}", r.text());
    r.json()["Id"].as_str().unwrap().to_string()
}

/// Waits (up to 20 s) until `dir` is empty.
fn wait_empty(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !entries(dir).is_empty() {
        assert!(Instant::now() < deadline, "left: {:?}", entries(dir));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn removed_containers_go_at_once_and_their_files_after() {
    let d = Daemon::start();
    d.load_busybox();
    let data = d.dir.path().join("data");
    let id = create_named(&d, "trashy", r#"["sleep","60"]"#, "{}");
    let r = d.post(&format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "{}", r.text());
    let r = d.request("DELETE", &format!("/containers/{id}?force=1"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(!data.join("containers").join(&id).exists());
    assert!(!data.join("snapshots/overlay/snapshots").join(&id).exists());
    assert_eq!(d.get(&format!("/containers/{id}/json")).status, 404);
    // The name is free at once.
    let again = create_named(&d, "trashy", r#"["true"]"#, r#"{"AutoRemove":true}"#);
    let r = d.post(&format!("/containers/{again}/start"), "");
    assert_eq!(r.status, 204, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(20);
    while d.get(&format!("/containers/{again}/json")).status != 404 {
        assert!(Instant::now() < deadline, "never auto-removed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!data.join("containers").join(&again).exists());
    wait_empty(&data.join("trash"));
    // Besides the names, only spare directories for future containers (some of them
    // the removed containers' own, emptied).
    let kept: Vec<PathBuf> = entries(&data.join("containers"))
        .into_iter()
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".spare-")
        })
        .collect();
    assert_eq!(kept, [data.join("containers/names")]);
    assert_eq!(
        entries(&data.join("containers/names")),
        Vec::<PathBuf>::new()
    );
}

#[test]
fn a_killed_daemons_trash_is_swept_at_the_next_start() {
    let mut d = Daemon::start();
    d.signal_and_wait(libc::SIGKILL);
    let trash = d.dir.path().join("data/trash");
    let left = trash.join("container-abc-0000000000000001");
    std::fs::create_dir_all(left.join("rootfs/deep/er")).unwrap();
    std::fs::write(left.join("rootfs/deep/er/f"), "x".repeat(4096)).unwrap();
    std::fs::write(left.join("container.json"), "{}").unwrap();
    d.restart();
    wait_empty(&trash);
    assert_eq!(d.get("/_ping").status, 200);
}
