//! `berth tag`, `rmi` and `image prune` through the real binary: untag versus delete,
//! refusals and their exit codes, images in use, and that removing everything and pruning
//! leaves the data root nearly empty.

mod support;

use support::{busybox_layer, docker_tar, Root, BUSYBOX_ID};

const LAYER_CHAIN: &str = "sha256:7ed10a59b17002d12804f2e5227ffe0a181c4e1b8a160acfa1a636e6a0f899c8";

#[test]
fn untag_versus_delete() {
    let root = Root::new("rmi");
    root.load(&docker_tar());
    root.run(&["tag", "busybox:1.35", "other/name:x"]).ok();
    root.run(&["image", "tag", "0ebe78266dec", "busybox:latest"])
        .ok();
    // By ID with names in several repositories: refused without -f.
    let refused = root.run(&["rmi", "0ebe78266dec"]);
    assert_eq!(refused.code, 1);
    assert_eq!(
        refused.stderr,
        "Error response from daemon: conflict: unable to delete 0ebe78266dec (must be forced) - image is referenced in multiple repositories\n"
    );
    // By name: only untags while other names remain.
    assert_eq!(
        root.run(&["rmi", "other/name:x"]).ok(),
        "Untagged: other/name:x\n"
    );
    assert_eq!(
        root.run(&["rmi", "busybox"]).ok(),
        "Untagged: busybox:latest\n"
    );
    assert_eq!(root.image_ids(), [BUSYBOX_ID]);
    // The last name deletes the image and its layer.
    let out = root.run(&["rmi", "busybox:1.35"]).ok();
    assert_eq!(
        out,
        format!("Untagged: busybox:1.35\nDeleted: {BUSYBOX_ID}\nDeleted: {LAYER_CHAIN}\n")
    );
    assert!(root.image_ids().is_empty());
    assert_eq!(root.snapshot_count(), 0);
}

#[test]
fn force_by_id_untags_all_and_deletes() {
    let root = Root::new("rmi-force");
    root.load(&docker_tar());
    root.run(&["tag", "busybox:1.35", "a:1"]).ok();
    let out = root.run(&["rmi", "-f", BUSYBOX_ID]).ok();
    assert!(
        out.contains("Untagged: a:1\n") && out.contains("Untagged: busybox:1.35\n"),
        "{out}"
    );
    assert!(out.contains(&format!("Deleted: {BUSYBOX_ID}\n")), "{out}");
    assert!(root.image_ids().is_empty());
}

#[test]
fn missing_images_and_bad_tags() {
    let root = Root::new("rmi-missing");
    root.load(&docker_tar());
    let r = root.run(&["rmi", "nosuch", "busybox:1.35", "gone:2"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "Error response from daemon: No such image: nosuch:latest\nError response from daemon: No such image: gone:2\n"
    );
    assert!(
        r.stdout.starts_with("Untagged: busybox:1.35\n"),
        "{}",
        r.stdout
    );
    let t = root.run(&["tag", "nosuch", "x:1"]);
    assert_eq!(
        (t.code, t.stderr.as_str()),
        (
            1,
            "Error response from daemon: No such image: nosuch:latest\n"
        )
    );
    root.load(&docker_tar());
    let bad = root.run(&["tag", "busybox:1.35", "Upper:1"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .starts_with("Error response from daemon: invalid reference format")
            && bad.stderr.contains("must be lowercase"),
        "{}",
        bad.stderr
    );
}

#[test]
fn image_in_use_is_refused_unless_forced() {
    let root = Root::new("rmi-used");
    root.load(&docker_tar());
    let db = berth_image::metadata::Db::open(&root.path().join("metadata.db")).unwrap();
    let id = berth_image::digest::Digest::parse(BUSYBOX_ID).unwrap();
    let ctr = "c0ffee000000111122223333444455556666777788889999aaaabbbbccccdddd";
    db.add_user(&id, ctr).unwrap();
    let by_name = root.run(&["rmi", "busybox:1.35"]);
    assert_eq!(by_name.code, 1);
    assert_eq!(
        by_name.stderr,
        "Error response from daemon: conflict: unable to remove repository reference \"busybox:1.35\" (must force) - container c0ffee000000 is using its referenced image 0ebe78266dec\n"
    );
    let by_id = root.run(&["rmi", "0ebe78266dec"]);
    assert_eq!(by_id.code, 1);
    assert!(
        by_id
            .stderr
            .contains("image is being used by stopped container c0ffee000000"),
        "{}",
        by_id.stderr
    );
    // prune -a keeps it too.
    root.run(&["image", "prune", "-a", "-f"]).ok();
    assert_eq!(root.image_ids(), [BUSYBOX_ID]);
    // Forced: deleted, but the container keeps holding the layer.
    root.run(&["rmi", "-f", "busybox:1.35"]).ok();
    assert!(root.image_ids().is_empty());
    assert_eq!(root.snapshot_count(), 1, "the container's layer stays");
    assert_eq!(db.remove_user(ctr).unwrap().len(), 1);
    root.run(&["image", "prune", "-f"]).ok();
    assert_eq!(root.snapshot_count(), 0);
}

#[test]
fn prune_dangling_then_all() {
    let root = Root::new("prune");
    root.load(&docker_tar());
    let layer = busybox_layer();
    root.run_stdin(&["import", "-", "mine:1"], &layer).ok();
    root.run_stdin(&["import", "-", "mine:1"], &layer).ok(); // the first one is now dangling
    assert_eq!(root.image_ids().len(), 3);
    let no = root.run_stdin(&["image", "prune"], b"n\n").ok();
    assert!(no.starts_with("WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "), "{no}");
    assert!(no.ends_with("Total reclaimed space: 0B\n"), "{no}");
    let out = root.run_stdin(&["image", "prune"], b"y\n").ok();
    let body = out.split_once("[y/N] ").unwrap().1;
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "Deleted Images:");
    assert!(lines[1].starts_with("deleted: sha256:"), "{out}");
    assert_eq!(lines[2], "");
    assert!(
        lines[3].starts_with("Total reclaimed space: ") && lines[3] != "Total reclaimed space: 0B",
        "{out}"
    );
    assert_eq!(root.image_ids().len(), 2);
    let all = root.run(&["image", "prune", "-a", "-f"]).ok();
    assert!(
        all.contains("untagged: busybox:1.35\n") && all.contains("untagged: mine:1\n"),
        "{all}"
    );
    assert!(root.image_ids().is_empty());
}

#[test]
fn removing_everything_leaves_the_root_nearly_empty() {
    let root = Root::new("empty");
    let empty = {
        root.run(&["images"]).ok();
        root.du()
    };
    root.load(&docker_tar());
    root.load(&support::oci_tar());
    root.run_stdin(&["import", "-", "mine:1"], &busybox_layer())
        .ok();
    let full = root.du();
    assert!(
        full > empty + 3_000_000,
        "images take space: {empty} -> {full}"
    );
    root.run(&["rmi", "busybox:1.35", "mine:1"]).ok();
    root.run(&["image", "prune", "-a", "-f"]).ok();
    let after = root.du();
    // Only empty directories and the small database remain.
    assert!(
        after < empty + 200_000,
        "left {after} bytes (empty root: {empty})"
    );
    let blobs = std::fs::read_dir(root.path().join("content/blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!((blobs, root.snapshot_count()), (0, 0));
}
