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

/// Parses docker's human sizes (`6.67MB`).
fn parse_size(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (n, unit) = s.split_at(split);
    let mult = match unit {
        "B" => 1.0,
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        _ => panic!("unit {unit}"),
    };
    n.parse::<f64>().unwrap() * mult
}

#[test]
fn system_df_counts_what_du_counts() {
    let root = Root::new("df");
    root.load(&docker_tar());
    root.load(&oci_tar());
    root.run_stdin(&["import", "-", "c:1"], &extra_layer("c"))
        .ok();
    let out = root.run(&["system", "df"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    );
    assert!(
        lines[1].starts_with("Images          2         0         "),
        "{out}"
    );
    assert!(lines[1].ends_with("(100%)"), "{out}");
    assert_eq!(lines[2], "Containers      0         0         0B        0B");
    assert_eq!(lines[3], "Local Volumes   0         0         0B        0B");
    assert_eq!(lines[4], "Build Cache     0         0         0B        0B");
    let size = root.run(&["system", "df", "--format", "{{.Size}}"]).ok();
    let images = parse_size(size.lines().next().unwrap());
    let du = root.du() as f64;
    assert!(
        (images - du).abs() / du < 0.03,
        "system df {images} vs du -sb {du}"
    );
    let v = root.run(&["system", "df", "-v"]).ok();
    assert!(
        v.starts_with("Images space usage:\n\nREPOSITORY   TAG       IMAGE ID       CREATED"),
        "{v}"
    );
    assert!(
        v.contains("\nbusybox      1.35      0ebe78266dec   "),
        "{v}"
    );
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
