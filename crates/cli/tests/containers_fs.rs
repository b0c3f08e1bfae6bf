//! A container's files and the daemon's disk use through berthd: `diff`, `export`,
//! `system df` (which must agree with `du`), and the create settings that reach the
//! container (hostname, read-only root, stop signal).

mod support;

use std::io::Read;

use support::{docker_tar, oci_tar, Root};

/// The changes of containers_commit.rs.
const CHANGES: &str = "echo new > /added; echo more >> /etc/profile 2>/dev/null; \
    echo changed >> /etc/hostname; rm /bin/vi; mkdir -p /home/dir; \
    ln -s /added /home/dir/link; ln /added /home/hard; \
    rm -rf /usr/sbin && mkdir /usr/sbin && echo x > /usr/sbin/new; \
    echo y >> /root/.ash_history_new";

#[test]
fn diff_lists_a_containers_changes() {
    let root = Root::with_busybox();
    let r = root.berth(&["run", "--name", "src", "busybox:1.35", "sh", "-c", CHANGES]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let diff = root.ok(&["diff", "src"]);
    for want in [
        "A /added",
        "C /bin",
        "D /bin/vi",
        "C /usr/sbin",
        "A /usr/sbin/new",
        "D /usr/sbin/chroot",
        "D /usr/sbin/brctl",
        "C /home",
        "A /home/dir",
        "A /home/dir/link",
        "A /home/hard",
        "C /root",
        "A /root/.ash_history_new",
    ] {
        assert!(
            diff.lines().any(|l| l == want),
            "{want:?} missing from:\n{diff}"
        );
    }
    let paths: Vec<&str> = diff.lines().map(|l| &l[2..]).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "diff is sorted by path");
}

#[test]
fn export_streams_the_merged_filesystem() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "--name",
        "xp",
        "busybox:1.35",
        "sh",
        "-c",
        "echo hi > /hello; ln /hello /zlink; rm /bin/vi; mkfifo /fifo",
    ]);
    let out = root.dir.path().join("x.tar");
    root.ok(&["export", "-o", out.to_str().unwrap(), "xp"]);
    let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let mut names = Vec::new();
    let (mut links, mut symlinks, mut fifo, mut hello) = (0, 0, false, String::new());
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        match e.header().entry_type() {
            tar::EntryType::Link => {
                assert_eq!(name, "zlink");
                assert_eq!(e.link_name().unwrap().unwrap().to_str(), Some("hello"));
                links += 1;
            }
            tar::EntryType::Symlink => symlinks += 1,
            tar::EntryType::Fifo => fifo = true,
            _ => {}
        }
        if name == "hello" {
            e.read_to_string(&mut hello).unwrap();
        }
        names.push(name);
    }
    for want in ["bin/busybox", "bin/sh", "etc/passwd", "hello"] {
        assert!(
            names.iter().any(|n| n.trim_end_matches('/') == want),
            "{want} missing"
        );
    }
    assert!(!names.iter().any(|n| n == "bin/vi"));
    assert_eq!(hello, "hi\n");
    assert!(fifo, "the fifo is kept");
    assert_eq!(links, 1, "the hard link is kept as a link");
    assert!(symlinks > 200, "busybox's applets are symlinks: {symlinks}");
    assert!(!root.has_mounts(), "export unmounts what it mounted");
}

/// A small layer on top of busybox.
fn extra_layer(name: &str) -> Vec<u8> {
    support::RawTar::default()
        .dir("etc/")
        .file(&format!("etc/{name}"), name.as_bytes())
        .finish()
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
fn hostname_and_read_only_reach_the_container() {
    let root = Root::with_busybox();
    let out = root.ok(&[
        "run",
        "--rm",
        "-h",
        "myhost",
        "--read-only",
        "busybox:1.35",
        "sh",
        "-c",
        "hostname; touch /x 2>/dev/null || echo ro",
    ]);
    assert_eq!(out, "myhost\nro\n");
}

#[test]
fn stop_sends_the_containers_stop_signal() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "sig",
        "--stop-signal",
        "USR1",
        "busybox:1.35",
        "sh",
        "-c",
        "trap 'exit 11' USR1; trap 'exit 12' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    root.wait_log("sig", "ready", 1);
    root.ok(&["stop", "sig"]);
    assert_eq!(root.ok(&["wait", "sig"]), "11\n");
}
