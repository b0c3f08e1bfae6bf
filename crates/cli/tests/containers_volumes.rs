//! Volumes, binds and tmpfs mounts through berthd with `berth`: named volumes outlive
//! their containers, `rm -v` and `--rm` take anonymous ones only, an empty volume gets
//! the image's files, binds are read-only when asked, `--volumes-from`, `volume
//! ls/inspect/rm/prune`, `system df`, and bad mounts refused with nothing left behind.

mod support;

use support::Root;

fn volumes(root: &Root) -> Vec<String> {
    root.ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_named_volume_keeps_its_files_after_its_container_is_removed() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "--name",
        "writer",
        "-v",
        "data:/data",
        "busybox:1.35",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let inspect = root.ok(&["inspect", "-f", "{{json .Mounts}}", "writer"]);
    let mounts: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(mounts[0]["Type"], "volume", "{mounts}");
    assert_eq!(mounts[0]["Name"], "data");
    assert_eq!(mounts[0]["Destination"], "/data");
    assert_eq!(mounts[0]["RW"], true);
    let r = root.run(&["volume", "rm", "data"]);
    assert_eq!(r.code, 1, "a volume in use is refused");
    assert!(r.stderr.contains("volume is in use"), "{}", r.stderr);
    root.ok(&["rm", "-v", "writer"]);
    assert_eq!(volumes(&root), ["data"], "rm -v keeps named volumes");
    let out = root.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/d",
        "busybox:1.35",
        "cat",
        "/d/f",
    ]);
    assert_eq!(out, "kept\n");
    let doc = root.ok(&["volume", "inspect", "data"]);
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v[0]["Driver"], "local");
    let mountpoint = v[0]["Mountpoint"].as_str().unwrap().to_string();
    assert!(std::path::Path::new(&mountpoint).join("f").is_file());
    root.ok(&["volume", "rm", "data"]);
    assert!(volumes(&root).is_empty());
    assert!(!std::path::Path::new(&mountpoint).exists());
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_with_run_rm() {
    let root = Root::with_busybox();
    root.ok(&[
        "create",
        "--name",
        "anon1",
        "-v",
        "/scratch",
        "busybox:1.35",
        "true",
    ]);
    let anon = volumes(&root);
    assert_eq!(anon.len(), 1);
    assert_eq!(anon[0].len(), 64, "an anonymous volume has a random name");
    root.ok(&["rm", "anon1"]);
    assert_eq!(volumes(&root), anon, "rm without -v keeps it");
    root.ok(&["volume", "prune", "-f"]);
    assert!(
        volumes(&root).is_empty(),
        "prune removes unused anonymous volumes"
    );
    root.ok(&[
        "create",
        "--name",
        "anon2",
        "-v",
        "/scratch",
        "busybox:1.35",
        "true",
    ]);
    root.ok(&["rm", "-v", "anon2"]);
    assert!(volumes(&root).is_empty(), "rm -v removes it");
    root.ok(&["run", "--rm", "-v", "/scratch", "busybox:1.35", "true"]);
    assert!(volumes(&root).is_empty(), "--rm removes it");
}

#[test]
fn an_empty_volume_gets_the_images_files_once() {
    let root = Root::with_busybox();
    let out = root.ok(&[
        "run",
        "--rm",
        "-v",
        "etc:/etc",
        "busybox:1.35",
        "cat",
        "/etc/group",
    ]);
    assert!(out.contains("root:x:0:"), "{out}");
    let out = root.ok(&["run", "--rm", "-v", "etc:/etc", "busybox:1.35", "hostname"]);
    assert_eq!(
        out.trim().len(),
        12,
        "the per-container files still sit on top: {out}"
    );
    let out = root.ok(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,source=bare,target=/etc,volume-nocopy",
        "busybox:1.35",
        "ls",
        "-A",
        "/etc",
    ]);
    for line in out.lines() {
        assert!(
            ["hostname", "hosts", "resolv.conf"].contains(&line),
            "nocopy: {out}"
        );
    }
}

#[test]
fn binds_tmpfs_and_volumes_from() {
    let root = Root::with_busybox();
    let host = root.dir.path().join("host-dir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let ro = format!("{}:/h:ro", host.display());
    let r = root.run(&[
        "run",
        "--rm",
        "-v",
        &ro,
        "busybox:1.35",
        "sh",
        "-c",
        "cat /h/in; touch /h/x",
    ]);
    assert_eq!(r.stdout, "from host\n");
    assert_ne!(r.code, 0, "a read-only bind refuses writes");
    assert!(!host.join("x").exists());
    let rw = format!("type=bind,source={},target=/h", host.display());
    root.ok(&[
        "run",
        "--rm",
        "--mount",
        &rw,
        "busybox:1.35",
        "touch",
        "/h/made",
    ]);
    assert!(host.join("made").exists());
    let missing = root.dir.path().join("made-by-v");
    let v = format!("{}:/m", missing.display());
    root.ok(&["run", "--rm", "-v", &v, "busybox:1.35", "true"]);
    assert!(missing.is_dir(), "-v makes a missing host directory");
    let out = root.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/run:size=1m",
        "busybox:1.35",
        "sh",
        "-c",
        "grep ' /run ' /proc/mounts",
    ]);
    assert!(
        out.starts_with("tmpfs /run tmpfs") && out.contains("noexec"),
        "{out}"
    );
    assert!(out.contains("size=1024k"), "{out}");
    root.ok(&[
        "create",
        "--name",
        "src",
        "-v",
        "shared:/s",
        "busybox:1.35",
        "true",
    ]);
    root.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox:1.35",
        "touch",
        "/s/x",
    ]);
    let r = root.run(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox:1.35",
        "touch",
        "/s/y",
    ]);
    assert_ne!(r.code, 0, "--volumes-from src:ro mounts read-only");
}

#[test]
fn bad_mounts_are_refused_and_leave_nothing() {
    let root = Root::with_busybox();
    let before = root.du();
    let cases: [(&[&str], &str); 4] = [
        (
            &["-v", "a/b:/x"],
            "includes invalid characters for a local volume name",
        ),
        (
            &[
                "--mount",
                "type=bind,source=/nonexistent-berth-bind,target=/x",
            ],
            "bind source path does not exist",
        ),
        (
            &["-v", "vol1:/d", "-v", "vol2:/d"],
            "Duplicate mount point: /d",
        ),
        (&["-v", "/x:rel:ro"], "mount path must be absolute"),
    ];
    for (flags, want) in cases {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend(["busybox:1.35", "true"]);
        let r = root.run(&args);
        assert_eq!(r.code, 125, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    assert!(root.ok(&["ps", "-aq"]).is_empty(), "no container was left");
    assert!(volumes(&root).is_empty(), "no volume was left");
    assert!(!std::path::Path::new("/nonexistent-berth-bind").exists());
    let r = root.run(&["volume", "create", "bad/name"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("invalid characters"), "{}", r.stderr);
    assert!(root.du() <= before + 64 * 1024, "nothing written");
}

#[test]
fn system_df_counts_volumes() {
    let root = Root::with_busybox();
    root.ok(&["volume", "create", "--label", "k=v", "big"]);
    root.ok(&[
        "run",
        "--rm",
        "-v",
        "big:/b",
        "busybox:1.35",
        "dd",
        "if=/dev/zero",
        "of=/b/f",
        "bs=1024",
        "count=2048",
    ]);
    let out = root.ok(&["system", "df"]);
    let line = out
        .lines()
        .find(|l| l.starts_with("Local Volumes"))
        .unwrap_or_default();
    assert!(line.contains("2.097MB") || line.contains("2.1MB"), "{out}");
    let ls = root.ok(&[
        "volume",
        "ls",
        "--filter",
        "label=k=v",
        "--format",
        "{{.Name}} {{.Labels}}",
    ]);
    assert_eq!(ls, "big k=v\n");
    root.ok(&["volume", "rm", "big"]);
}

#[test]
fn pruning_everything_leaves_the_data_root_nearly_empty() {
    let root = Root::with_busybox();
    let empty = root.du();
    root.ok(&[
        "run",
        "--name",
        "p1",
        "-v",
        "/anon",
        "busybox:1.35",
        "sh",
        "-c",
        "dd if=/dev/zero of=/big bs=1024 count=1024",
    ]);
    root.ok(&[
        "create",
        "--name",
        "p2",
        "-v",
        "named:/n",
        "busybox:1.35",
        "true",
    ]);
    root.ok(&[
        "run",
        "--rm",
        "-v",
        "named:/n",
        "busybox:1.35",
        "dd",
        "if=/dev/zero",
        "of=/n/f",
        "bs=1024",
        "count=512",
    ]);
    let out = root.ok(&["system", "prune", "-a", "-f", "--volumes"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Deleted Images:"), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(root.ok(&["ps", "-aq"]).is_empty());
    assert!(root.ok(&["images", "-q"]).is_empty());
    assert_eq!(
        volumes(&root),
        ["named"],
        "named volumes stay without volume prune -a"
    );
    root.ok(&["volume", "prune", "-a", "-f"]);
    assert!(volumes(&root).is_empty());
    let left = root.du();
    assert!(
        left < 512 * 1024,
        "{left} bytes left under the data root (busybox loaded: {empty})"
    );
}
