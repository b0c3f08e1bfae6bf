//! `berth cp` and the archive endpoints through berthd: both ways, running and stopped
//! containers, docker's naming rules, tar on STDIN/STDOUT, into a volume of a running
//! container, and a symlink in the container that points outside it, which must not
//! let a copy read or write host files.

mod support;

use std::path::Path;

use support::Root;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

#[test]
fn files_and_directories_both_ways() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "--name",
        "box",
        "busybox:1.35",
        "sh",
        "-c",
        "mkdir -p /d/sub && echo one > /d/f && echo two > /d/sub/g && ln -s f /d/link",
    ]);
    let host = root.dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    root.ok(&["cp", "box:/d/f", host.join("renamed").to_str().unwrap()]);
    assert_eq!(read(&host.join("renamed")), "one\n");
    root.ok(&["cp", "box:/d", host.to_str().unwrap()]);
    assert_eq!(read(&host.join("d/sub/g")), "two\n");
    assert_eq!(
        std::fs::read_link(host.join("d/link")).unwrap(),
        Path::new("f")
    );
    root.ok(&["cp", "box:/d/.", host.join("contents").to_str().unwrap()]);
    assert_eq!(read(&host.join("contents/f")), "one\n");
    let r = root.run(&["cp", "box:/nope", host.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Could not find the file /nope"),
        "{}",
        r.stderr
    );

    std::fs::write(host.join("up.txt"), "up\n").unwrap();
    root.ok(&["cp", host.join("up.txt").to_str().unwrap(), "box:/d/"]);
    root.ok(&[
        "cp",
        host.join("up.txt").to_str().unwrap(),
        "box:/d/new-name",
    ]);
    root.ok(&["cp", host.join("d").to_str().unwrap(), "box:/copied"]);
    let out = root.ok(&["cp", "box:/d/new-name", "-"]);
    assert!(out.contains("up\n"), "a tar on stdout");
    let r = root.run(&["cp", host.join("up.txt").to_str().unwrap(), "box:/d/f/x"]);
    assert_ne!(r.code, 0, "a file is no directory to copy into");
}

#[test]
fn a_running_container_and_its_volume() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "live",
        "-v",
        "cpvol:/data",
        "busybox:1.35",
        "sleep",
        "60",
    ]);
    let host = root.dir.path().join("f.txt");
    std::fs::write(&host, "into the volume\n").unwrap();
    root.ok(&["cp", host.to_str().unwrap(), "live:/data/f.txt"]);
    let out = root.ok(&["exec", "live", "cat", "/data/f.txt"]);
    assert_eq!(out, "into the volume\n");
    root.ok(&["exec", "live", "sh", "-c", "echo made > /data/back"]);
    let back = root.dir.path().join("back");
    root.ok(&["cp", "live:/data/back", back.to_str().unwrap()]);
    assert_eq!(read(&back), "made\n");
    root.ok(&["rm", "-f", "live"]);
}

#[test]
fn a_symlink_to_the_outside_stays_inside() {
    let root = Root::with_busybox();
    let secret = root.dir.path().join("host-secret");
    std::fs::write(&secret, "host only\n").unwrap();
    let target = root.dir.path().join("host-target");
    std::fs::create_dir(&target).unwrap();
    let links = format!(
        "ln -s {} /leak; ln -s {} /escape",
        secret.display(),
        target.display()
    );
    root.ok(&[
        "run",
        "-d",
        "--name",
        "sly",
        "busybox:1.35",
        "sh",
        "-c",
        &format!("{links}; sleep 60"),
    ]);
    support::wait_until(5, || {
        root.run(&["exec", "sly", "test", "-L", "/escape"]).code == 0
    });
    let out = root.dir.path().join("got");
    let r = root.run(&["cp", "sly:/leak/.", out.to_str().unwrap()]);
    assert_ne!(
        r.code, 0,
        "the link resolves inside the container, where nothing is"
    );
    assert!(!out.exists() || !read(&out).contains("host only"));
    let file = root.dir.path().join("payload");
    std::fs::write(&file, "x\n").unwrap();
    let r = root.run(&["cp", file.to_str().unwrap(), "sly:/escape/"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "nothing written outside"
    );
    root.ok(&["rm", "-f", "sly"]);
}
