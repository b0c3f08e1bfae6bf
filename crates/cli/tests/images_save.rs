//! `berth save` round trips, layer sharing on disk, and `system df` against `du -sb`.

mod support;

use support::{busybox_layer, docker_archive, docker_tar, oci_tar, RawTar, Root, BUSYBOX_ID};

#[test]
fn save_then_load_gives_the_same_image() {
    let src = Root::new("save");
    src.load(&oci_tar());
    src.run(&["tag", "busybox:1.35", "again:2"]).ok();
    let dir = src.dir.path();
    for name in ["x.tar", "x.tar.gz"] {
        let out = dir.join(name);
        src.run(&["save", "-o", out.to_str().unwrap(), "busybox:1.35"])
            .ok();
        let head = std::fs::read(&out).unwrap();
        assert_eq!(
            head.starts_with(&[0x1f, 0x8b]),
            name.ends_with(".gz"),
            "{name}"
        );
        let dst = Root::new("save-dst");
        assert_eq!(dst.load(&out), "Loaded image: busybox:1.35\n", "{name}");
        assert_eq!(dst.image_ids(), [BUSYBOX_ID], "{name}");
        let tags = dst
            .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .ok();
        assert_eq!(tags, "busybox:1.35\n", "only the tag asked for: {name}");
    }
}

#[test]
fn save_to_stdout_and_errors() {
    let src = Root::new("save-out");
    src.load(&docker_tar());
    let out = src.cmd(&["save", BUSYBOX_ID]).output().unwrap();
    assert!(out.status.success());
    let archive = src.dir.path().join("s.tar");
    std::fs::write(&archive, &out.stdout).unwrap();
    let dst = Root::new("save-out-dst");
    assert_eq!(
        dst.load(&archive),
        format!("Loaded image ID: {BUSYBOX_ID}\n")
    );
    let missing = src.run(&["save", "-o", "/var/tmp/never-written.tar", "nosuch"]);
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (
            1,
            "Error response from daemon: No such image: nosuch:latest\n"
        )
    );
    assert!(!std::path::Path::new("/var/tmp/never-written.tar").exists());
}

/// A small layer on top of busybox.
fn extra_layer(name: &str) -> Vec<u8> {
    RawTar::default()
        .dir("etc/")
        .file(&format!("etc/{name}"), name.as_bytes())
        .finish()
}

#[test]
fn images_sharing_a_base_layer_store_it_once() {
    let root = Root::new("share");
    let base = busybox_layer();
    let a = root.dir.path().join("a.tar");
    let b = root.dir.path().join("b.tar");
    std::fs::write(&a, docker_archive("a:1", std::slice::from_ref(&base))).unwrap();
    std::fs::write(&b, docker_archive("b:1", &[base.clone(), extra_layer("b")])).unwrap();
    root.load(&a);
    let after_a = root.du();
    root.load(&b);
    let after_b = root.du();
    assert_eq!(root.snapshot_count(), 2, "base once, plus b's own layer");
    // b's archive carries the whole base layer again; only its small layer lands on disk
    // (the base blob is the same blob, by digest).
    let grew = after_b - after_a;
    assert!(grew < 200_000, "second image grew the root by {grew} bytes");
    // An import of the same tar shares the unpacked layer too.
    root.run_stdin(&["import", "-", "c:1"], &base).ok();
    assert_eq!(root.snapshot_count(), 2);
}

#[test]
fn save_refuses_a_terminal() {
    let root = Root::new("save-tty");
    root.load(&docker_tar());
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let out = root
        .cmd(&["save", "busybox:1.35"])
        .stdout(std::process::Stdio::from(pty.slave))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "cowardly refusing to save to a terminal. Use the -o flag or redirect\n"
    );
}
