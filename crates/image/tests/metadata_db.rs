//! The SQLite metadata database: tags and their moves, resolution by name and ID prefix,
//! deletion and the layers it frees, users, concurrent writers.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use berth_image::digest::Digest;
use berth_image::metadata::{Db, DbError, ImageRecord, LayerRecord};
use berth_image::reference::Reference;

/// An image whose config is `config` and whose layers have the given diff IDs.
fn image(config: &str, diffs: &[&str]) -> ImageRecord {
    let diff_ids: Vec<Digest> = diffs.iter().map(|d| Digest::of(d.as_bytes())).collect();
    let chains = Digest::chain_ids(&diff_ids);
    ImageRecord {
        id: Digest::of(config.as_bytes()),
        manifest_digest: Digest::of(format!("manifest of {config}").as_bytes()),
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        created: Some("2026-11-22T09:20:00Z".into()),
        size: 100,
        labels: BTreeMap::from([("k".to_string(), config.to_string())]),
        layers: diff_ids
            .iter()
            .zip(chains)
            .map(|(d, c)| LayerRecord {
                diff_id: d.clone(),
                chain_id: c,
                blob: Digest::of(format!("gz {d}").as_bytes()),
                blob_size: 10,
                media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            })
            .collect(),
    }
}

fn r(s: &str) -> Reference {
    Reference::parse(s).unwrap()
}

fn open() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("meta/berth.db")).unwrap();
    (dir, db)
}

#[test]
fn put_resolve_and_list() {
    let (_d, db) = open();
    let a = image("a", &["base", "top"]);
    let out = db
        .put_image(&a, &[r("busybox:1.35"), r("busybox")])
        .unwrap();
    assert!(out.created && out.moved.is_empty());
    // Again: nothing new.
    assert!(!db.put_image(&a, &[r("busybox:1.35")]).unwrap().created);

    let id = a.id.to_string();
    let hex = a.id.hex();
    for name in [
        "busybox",
        "busybox:latest",
        "busybox:1.35",
        "library/busybox:1.35",
        "docker.io/library/busybox:1.35",
        id.as_str(),
        hex,
        &hex[..12],
        &hex[..1],
        &format!("sha256:{}", &hex[..8]),
    ] {
        assert_eq!(db.resolve(name).unwrap(), a, "{name}");
    }
    assert!(matches!(db.resolve("nothere"), Err(DbError::NotFound(_))));
    assert_eq!(
        db.resolve("busybox:9").unwrap_err().to_string(),
        "No such image: busybox:9"
    );

    let list = db.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0]
            .tags
            .iter()
            .map(|t| t.familiar())
            .collect::<Vec<_>>(),
        vec!["busybox:1.35", "busybox:latest"]
    );
    assert_eq!(list[0].image, a);
}

#[test]
fn digest_references() {
    let (_d, db) = open();
    let a = image("a", &["base"]);
    let by_digest = r("busybox:1.35").with_digest(a.manifest_digest.clone());
    db.put_image(&a, &[r("busybox:1.35"), by_digest.clone()])
        .unwrap();
    assert_eq!(db.resolve(&by_digest.familiar()).unwrap().id, a.id);
    let list = db.list().unwrap();
    assert_eq!(list[0].digests, vec![by_digest]);
    assert_eq!(list[0].tags, vec![r("busybox:1.35")]);
    // name@digest also finds the image through its manifest digest and a tag of the name.
    let b = image("b", &["base"]);
    db.put_image(&b, &[r("other:1")]).unwrap();
    let q = format!("other@{}", b.manifest_digest);
    assert_eq!(db.resolve(&q).unwrap().id, b.id);
    assert!(db
        .resolve(&format!("busybox@{}", b.manifest_digest))
        .is_err());
}

#[test]
fn prefix_resolution_unique_and_ambiguous() {
    let (_d, db) = open();
    // Find two configs whose IDs share a first hex digit, and one that differs.
    let mut by_first: BTreeMap<char, Vec<ImageRecord>> = BTreeMap::new();
    for i in 0..40 {
        let img = image(&format!("cfg{i}"), &["l"]);
        by_first
            .entry(img.id.hex().chars().next().unwrap())
            .or_default()
            .push(img);
    }
    let pair = by_first.values().find(|v| v.len() >= 2).unwrap();
    for img in pair {
        db.put_image(img, &[]).unwrap();
    }
    let prefix = &pair[0].id.hex()[..1];
    let err = db.resolve(prefix).unwrap_err();
    assert!(matches!(err, DbError::Ambiguous(_)), "{err}");
    assert!(
        err.to_string().contains("multiple images match prefix"),
        "{err}"
    );
    // A longer prefix that tells them apart works.
    let (a, b) = (pair[0].id.hex(), pair[1].id.hex());
    let n = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count() + 1;
    assert_eq!(db.resolve(&a[..n]).unwrap().id, pair[0].id);
    assert_eq!(db.resolve(&b[..n]).unwrap().id, pair[1].id);
    assert!(matches!(db.resolve("zz"), Err(DbError::NotFound(_))));
}

#[test]
fn tag_moves_leave_the_old_image_dangling() {
    let (_d, db) = open();
    let (a, b) = (image("a", &["x"]), image("b", &["y"]));
    db.put_image(&a, &[r("app:1")]).unwrap();
    let out = db.put_image(&b, &[r("app:1")]).unwrap();
    assert_eq!(out.moved, vec![(r("app:1"), a.id.clone())]);
    assert_eq!(db.resolve("app:1").unwrap().id, b.id);
    assert_eq!(db.dangling().unwrap(), vec![a.id.clone()]);
    // tag/untag.
    assert_eq!(db.tag(&a.id, &r("app:old")).unwrap(), None);
    assert_eq!(db.tag(&a.id, &r("app:1")).unwrap(), Some(b.id.clone()));
    assert_eq!(db.dangling().unwrap(), vec![b.id.clone()]);
    let u = db.untag(&r("app:old")).unwrap();
    assert_eq!((u.image_id, u.remaining), (a.id.clone(), 1));
    let u = db.untag(&r("app:1")).unwrap();
    assert_eq!(u.remaining, 0);
    assert!(matches!(db.untag(&r("app:1")), Err(DbError::NotFound(_))));
    let usage = db.usage().unwrap();
    assert_eq!((usage.images, usage.dangling, usage.layers), (2, 2, 2));
}

#[test]
fn delete_frees_layers_only_when_the_last_user_goes() {
    let (_d, db) = open();
    let a = image("a", &["base", "mid", "a-top"]);
    let b = image("b", &["base", "mid", "b-top"]);
    db.put_image(&a, &[r("a")]).unwrap();
    db.put_image(&b, &[r("b")]).unwrap();
    let base = a.layers[0].chain_id.clone();
    assert_eq!(db.layer_refcount(&base).unwrap(), 2);

    let da = db.delete_image(&a.id, false).unwrap();
    assert_eq!(da.untagged, vec![r("a")]);
    assert_eq!(
        da.unreferenced_chain_ids,
        vec![a.layers[2].chain_id.clone()]
    );
    let mut want_blobs = vec![
        a.id.clone(),
        a.manifest_digest.clone(),
        a.layers[2].blob.clone(),
    ];
    want_blobs.sort();
    let mut got = da.unreferenced_blobs.clone();
    got.sort();
    assert_eq!(got, want_blobs);
    assert_eq!(db.layer_refcount(&base).unwrap(), 1);
    assert!(matches!(db.resolve("a"), Err(DbError::NotFound(_))));

    let dbb = db.delete_image(&b.id, false).unwrap();
    let want: Vec<_> = b.layers.iter().map(|l| l.chain_id.clone()).collect();
    assert_eq!(dbb.unreferenced_chain_ids, want);
    assert_eq!(dbb.unreferenced_blobs.len(), 5);
    assert!(db.referenced_blobs().unwrap().is_empty());
    assert_eq!(db.usage().unwrap(), Default::default());
}

#[test]
fn users_block_deletion_unless_forced_and_then_hold_the_layers() {
    let (_d, db) = open();
    let a = image("a", &["base", "top"]);
    db.put_image(&a, &[r("a")]).unwrap();
    db.add_user(&a.id, "container1").unwrap();
    let err = db.delete_image(&a.id, false).unwrap_err();
    assert!(matches!(err, DbError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("container1"), "{err}");
    assert_eq!(db.resolve("a").unwrap().id, a.id);

    let d = db.delete_image(&a.id, true).unwrap();
    assert!(
        d.unreferenced_chain_ids.is_empty(),
        "the container still holds them"
    );
    assert_eq!(d.unreferenced_blobs.len(), 4);
    assert_eq!(db.layer_refcount(&a.layers[1].chain_id).unwrap(), 1);
    let freed = db.remove_user("container1").unwrap();
    assert_eq!(freed.len(), 2);
    assert_eq!(db.layer_refcount(&a.layers[1].chain_id).unwrap(), 0);
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    let a = image("a", &["x"]);
    Db::open(&path)
        .unwrap()
        .put_image(&a, &[r("keep:1")])
        .unwrap();
    let db = Db::open(&path).unwrap();
    assert_eq!(db.resolve("keep:1").unwrap(), a);
}

const CHILD_ENV: &str = "BERTH_METADATA_TEST_WRITER";

/// Runs only as a child of `concurrent_writers_do_not_corrupt`: puts 30 images.
#[test]
fn concurrent_writer_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (path, who) = spec.split_once('|').unwrap();
    let db = Db::open(std::path::Path::new(path)).unwrap();
    for i in 0..30 {
        let img = image(
            &format!("{who}-{i}"),
            &["shared-base", &format!("{who}-{i}")],
        );
        db.put_image(&img, &[r(&format!("{who}:{i}")), r("contended:latest")])
            .unwrap();
    }
}

#[test]
fn concurrent_writers_do_not_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.db");
    Db::open(&path).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["p1", "p2"]
        .iter()
        .map(|who| {
            Command::new(&exe)
                .args(["--exact", "concurrent_writer_child", "--nocapture"])
                .env(CHILD_ENV, format!("{}|{who}", path.display()))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Two threads of this process write at the same time, each with its own connection.
    std::thread::scope(|s| {
        for who in ["t1", "t2"] {
            let path = &path;
            s.spawn(move || {
                let db = Db::open(path).unwrap();
                for i in 0..30 {
                    let img = image(
                        &format!("{who}-{i}"),
                        &["shared-base", &format!("{who}-{i}")],
                    );
                    db.put_image(&img, &[r(&format!("{who}:{i}")), r("contended:latest")])
                        .unwrap();
                }
            });
        }
    });
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer process failed");
    }
    let db = Db::open(&path).unwrap();
    let list = db.list().unwrap();
    assert_eq!(list.len(), 120);
    for img in &list {
        assert_eq!(img.image.layers.len(), 2);
    }
    let base = Digest::of(b"shared-base");
    assert_eq!(db.layer_refcount(&base).unwrap(), 120);
    assert_eq!(db.dangling().unwrap().len(), 0);
    assert!(db.resolve("contended").is_ok());
    let total_tags: usize = list.iter().map(|s| s.tags.len()).sum();
    assert_eq!(total_tags, 121);
}
