//! `berth images` through the real binary: table, -q, --digests, --no-trunc, --format,
//! filters; both busybox archives give one image.

mod support;

use support::{busybox_layer, docker_tar, oci_tar, Root, BUSYBOX_ID};

/// A root with busybox loaded from both archives, plus two imports (one labelled).
fn populated() -> Root {
    let root = Root::new("list");
    assert_eq!(root.load(&docker_tar()), "Loaded image: busybox:1.35\n");
    assert_eq!(root.load(&oci_tar()), "Loaded image: busybox:1.35\n");
    let layer = busybox_layer();
    root.run_stdin(
        &["import", "-c", "LABEL team=core tier=base", "-", "lab:1"],
        &layer,
    )
    .ok();
    root.run_stdin(&["import", "-", "plain:2"], &layer).ok();
    root
}

#[test]
fn both_archives_give_one_image() {
    let root = Root::new("list-one");
    root.load(&docker_tar());
    root.load(&oci_tar());
    assert_eq!(root.image_ids(), [BUSYBOX_ID]);
}

#[test]
fn default_table_is_dockers() {
    let root = populated();
    let out = root.run(&["images"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    // The CREATED column is as wide as its longest age ("Less than a second ago" or
    // "1 second ago", depending on timing).
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED    ")
            && lines[0].ends_with("   SIZE"),
        "{out}"
    );
    assert_eq!(lines.len(), 4, "{out}");
    // Newest first: the two imports (made within the same second: either order), then
    // busybox (created hours ago).
    let mut imports = [&lines[1][..23], &lines[2][..23]];
    imports.sort();
    assert_eq!(
        imports,
        ["lab          1         ", "plain        2         "],
        "{out}"
    );
    assert!(
        lines[3].starts_with("busybox      1.35      0ebe78266dec   "),
        "{out}"
    );
    // Sizes are the layer's files, as docker counts them (1985581 bytes), whatever the
    // archive form or a gzip import stored.
    assert!(
        lines.iter().skip(1).all(|l| l.ends_with("   1.99MB")),
        "{out}"
    );
    // The same table under the other names (ages may have moved on meanwhile).
    let same = |text: &str| without_ages(text) == without_ages(&out);
    assert!(same(&root.run(&["image", "ls"]).ok()), "image ls differs");
    assert!(
        same(&root.run(&["image", "list"]).ok()),
        "image list differs"
    );
}

/// The table with sub-minute ages blanked and spacing collapsed, for comparing two
/// listings taken a moment apart.
fn without_ages(text: &str) -> String {
    let mut t = text.replace("Less than a second ago", "AGE");
    for n in (1..60).rev() {
        t = t.replace(&format!("{n} seconds ago"), "AGE");
    }
    t = t.replace("1 second ago", "AGE");
    t.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn quiet_no_trunc_digests_and_formats() {
    let root = populated();
    let q = root.run(&["images", "-q"]).ok();
    assert_eq!(q.lines().count(), 3);
    assert!(q.lines().all(|l| l.len() == 12), "{q}");
    let full = root.run(&["images", "--no-trunc", "busybox"]).ok();
    assert!(full.contains(BUSYBOX_ID), "{full}");
    let d = root.run(&["images", "--digests", "busybox"]).ok();
    assert!(
        d.starts_with("REPOSITORY   TAG       DIGEST    IMAGE ID"),
        "{d}"
    );
    assert!(d.lines().nth(1).unwrap().contains("<none>"), "{d}");
    let t = root
        .run(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
            "busybox",
        ])
        .ok();
    assert_eq!(t, "busybox:1.35 0ebe78266dec\n");
    let tt = root
        .run(&[
            "images",
            "--format",
            "table {{.Repository}}\\t{{.Size}}",
            "busybox",
        ])
        .ok();
    assert_eq!(tt, "REPOSITORY   SIZE\nbusybox      1.99MB\n");
    let j = root.run(&["images", "--format", "json", "busybox"]).ok();
    let v: serde_json::Value = serde_json::from_str(j.trim()).expect("one JSON line");
    assert_eq!(v["ID"], "0ebe78266dec");
    assert_eq!(v["Repository"], "busybox");
    assert_eq!(v["Tag"], "1.35");
}

fn repos(root: &Root, filter: &[&str]) -> Vec<String> {
    let mut args = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
    for f in filter {
        args.extend(["-f", f]);
    }
    let mut out: Vec<String> = root.run(&args).ok().lines().map(String::from).collect();
    out.sort();
    out
}

#[test]
fn filters() {
    let root = populated();
    assert_eq!(repos(&root, &["reference=busy*"]), ["busybox:1.35"]);
    assert_eq!(repos(&root, &["reference=*:1*"]), ["busybox:1.35", "lab:1"]);
    assert_eq!(repos(&root, &["label=team"]), ["lab:1"]);
    assert_eq!(repos(&root, &["label=tier=base"]), ["lab:1"]);
    assert!(repos(&root, &["label=tier=top"]).is_empty());
    assert_eq!(repos(&root, &["before=lab:1"]), ["busybox:1.35"]);
    assert_eq!(repos(&root, &["since=busybox:1.35"]), ["lab:1", "plain:2"]);
    assert!(repos(&root, &["dangling=true"]).is_empty());
    assert_eq!(repos(&root, &["dangling=false"]).len(), 3);
    // Moving a tag leaves its old image dangling: listed as <none> <none>.
    root.run(&["tag", "busybox:1.35", "plain:2"]).ok();
    assert_eq!(repos(&root, &["dangling=true"]), ["<none>:<none>"]);
    let bad = root.run(&["images", "-f", "colour=red"]);
    assert_eq!(bad.code, 1);
    assert_eq!(
        bad.stderr,
        "Error response from daemon: invalid filter 'colour'\n"
    );
}
