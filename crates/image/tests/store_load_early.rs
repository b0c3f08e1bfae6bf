//! Loading with layers unpacked while the archive is read (the overlay snapshotter's early
//! unpack): the layer directories equal those of the ordinary, sequential unpack; archives
//! in any entry order, a layer used twice in one image, gzip layers in an OCI archive,
//! concurrent loads sharing layers, and refused or truncated input leaving nothing behind.

mod layer_util;

use std::collections::BTreeMap;
use std::path::Path;

use berth_image::digest::Digest;
use berth_image::layer;
use berth_image::snapshot::{Overlay, Snapshotter};
use berth_image::store::ImageStore;
use layer_util::{listing, tempdir, Entry};
use tar::{EntryType, Header};

/// One tar entry with full metadata.
struct E<'a> {
    name: &'a str,
    kind: EntryType,
    mode: u32,
    uid: u64,
    mtime: u64,
    data: &'a [u8],
    link: &'a str,
}

fn e<'a>(name: &'a str, kind: EntryType, data: &'a [u8]) -> E<'a> {
    let mode = if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    };
    E {
        name,
        kind,
        mode,
        uid: 0,
        mtime: 1_600_000_000,
        data,
        link: "",
    }
}

fn layer_tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for en in entries {
        let mut h = Header::new_gnu();
        h.set_entry_type(en.kind);
        h.set_mode(en.mode);
        h.set_uid(en.uid);
        h.set_gid(en.uid);
        h.set_mtime(en.mtime);
        h.set_size(en.data.len() as u64);
        if en.kind == EntryType::Symlink || en.kind == EntryType::Link {
            h.set_link_name(en.link).unwrap();
        }
        b.append_data(&mut h, en.name, en.data).unwrap();
    }
    b.into_inner().unwrap()
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> E<'a> {
    e(name, EntryType::Regular, data)
}

fn dir(name: &str) -> E<'_> {
    e(name, EntryType::Directory, b"")
}

/// The image config for `layers` (uncompressed tars) and its bytes.
fn config(layers: &[Vec<u8>]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
        "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn add(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(EntryType::Regular);
    b.append_data(&mut h, name, data).unwrap();
}

/// Where `manifest.json` and the config go among the layer files.
#[derive(Clone, Copy)]
enum Order {
    /// Config first, layers, manifest last (as the storage benchmark writes).
    ConfigFirst,
    /// Manifest and config first, then the layers last to first.
    ManifestFirstReversed,
    /// Layers first, then config, then manifest.
    LayersFirst,
}

/// A legacy `docker save` archive of one image named `tag` whose layers are `layers`
/// (each stored once, even if used twice).
fn docker_archive(tag: &str, layers: &[Vec<u8>], order: Order) -> Vec<u8> {
    let cfg = config(layers);
    let cfg_name = format!("{}.json", Digest::of(&cfg).hex());
    let names: Vec<String> = layers
        .iter()
        .map(|l| format!("{}/layer.tar", Digest::of(l).hex()))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": cfg_name, "RepoTags": [tag], "Layers": names}
    ]))
    .unwrap();
    let mut unique: Vec<(String, &Vec<u8>)> = Vec::new();
    for (n, l) in names.iter().zip(layers) {
        if !unique.iter().any(|(u, _)| u == n) {
            unique.push((n.clone(), l));
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    let add_layers = |b: &mut tar::Builder<Vec<u8>>, rev: bool| {
        let mut list = unique.clone();
        if rev {
            list.reverse();
        }
        for (n, l) in list {
            add(b, &n, l);
        }
    };
    match order {
        Order::ConfigFirst => {
            add(&mut b, &cfg_name, &cfg);
            add_layers(&mut b, false);
            add(&mut b, "manifest.json", &manifest);
        }
        Order::ManifestFirstReversed => {
            add(&mut b, "manifest.json", &manifest);
            add(&mut b, &cfg_name, &cfg);
            add_layers(&mut b, true);
        }
        Order::LayersFirst => {
            add_layers(&mut b, false);
            add(&mut b, &cfg_name, &cfg);
            add(&mut b, "manifest.json", &manifest);
        }
    }
    b.into_inner().unwrap()
}

/// The two test layers: the second writes below directories it does not carry (one the
/// first has, with its own owner, mode and time; one nobody has), deletes a file, makes a
/// directory opaque, and has a hardlink and a symlink.
fn two_layers() -> Vec<Vec<u8>> {
    let mut etc = dir("etc");
    (etc.mode, etc.uid, etc.mtime) = (0o750, 1000, 1_500_000_000);
    let l0 = layer_tar(&[
        etc,
        file("etc/passwd", b"root:x:0:0"),
        file("etc/gone", b"to be deleted"),
        dir("var"),
        dir("var/lib"),
        file("var/lib/old", b"hidden by the opaque dir"),
        E {
            link: "/etc/passwd",
            ..e("pw", EntryType::Symlink, b"")
        },
    ]);
    let l1 = layer_tar(&[
        file("etc/app/conf", b"key=value"),
        file("etc/.wh.gone", b""),
        dir("var/lib"),
        file("var/lib/.wh..wh..opq", b""),
        file("var/lib/new", b"fresh"),
        E {
            link: "var/lib/new",
            ..e("var/lib/again", EntryType::Link, b"")
        },
        E {
            link: "../conf",
            ..e("etc/app/sub/up", EntryType::Symlink, b"")
        },
    ]);
    vec![l0, l1]
}

fn open_store(root: &Path) -> ImageStore {
    let store = ImageStore::open(root).unwrap();
    assert_eq!(
        store.snapshotter().driver_name(),
        "overlay2",
        "these tests need the overlay snapshotter (early unpack)"
    );
    store
}

/// The layer directory of `chain` in `snap`.
fn layer_listing(snap: &dyn Snapshotter, chain: &Digest) -> BTreeMap<String, Entry> {
    listing(&snap.layer_dirs(&chain.to_string()).unwrap().upper)
}

/// Chain IDs of `layers`, bottom first.
fn chains(layers: &[Vec<u8>]) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::new();
    for l in layers {
        out.push(layer::chain_id(out.last(), &Digest::of(l)));
    }
    out
}

/// Everything a load may leave that it should not: extract snapshots, temporary
/// directories, temporary blobs, lock files of working names.
fn leftovers(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root.join("snapshots/overlay/locks")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("early-") {
            out.push(format!("locks/{name}"));
        }
    }
    for d in [
        "snapshots/overlay/snapshots",
        "snapshots/overlay/tmp",
        "content/ingest",
    ] {
        for e in std::fs::read_dir(root.join(d)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if !name.starts_with("sha256") {
                out.push(format!("{d}/{name}"));
            }
        }
    }
    out
}

#[test]
fn early_unpack_makes_the_layers_the_sequential_unpack_makes() {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let layers = two_layers();
    let dir = tempdir("early-same");
    let store = open_store(&dir.path().join("store"));
    let loaded = store
        .load(docker_archive("t:1", &layers, Order::ConfigFirst).as_slice())
        .unwrap();
    assert_eq!(loaded[0].unpacked_layers, 2);

    let seq_root = dir.path().join("seq");
    std::fs::create_dir(&seq_root).unwrap();
    let seq = Overlay::new(&seq_root).unwrap();
    let chains = chains(&layers);
    for (i, l) in layers.iter().enumerate() {
        let parent = i.checked_sub(1).map(|p| &chains[p]);
        layer::unpack(&seq, &chains[i], parent, l.as_slice(), &Digest::of(l)).unwrap();
    }
    for (i, chain) in chains.iter().enumerate() {
        let mut early = layer_listing(store.snapshotter(), chain);
        let mut sequential = layer_listing(&seq, chain);
        // Entries the layer gives no time (whiteouts, directories made for a path) take
        // the time they were made, which can differ by a second between the two unpacks.
        for listing in [&mut early, &mut sequential] {
            for entry in listing.values_mut() {
                if entry.mtime >= started {
                    entry.mtime = started;
                }
            }
        }
        // The sequential unpack copies the parents' times onto a directory it makes, then
        // adding entries changes them; the early one sets them once the entries are in.
        for (path, entry) in sequential.iter_mut() {
            if entry.kind == "dir"
                && i == 1
                && ["etc", "etc/app", "etc/app/sub", "var"].contains(&path.as_str())
            {
                entry.mtime = early[path].mtime;
            }
        }
        assert_eq!(early, sequential, "layer {i}");
    }
    let top = layer_listing(store.snapshotter(), &chains[1]);
    let etc = &top["etc"];
    assert_eq!(
        (etc.mode, etc.uid, etc.mtime),
        (0o750, 1000, 1_500_000_000),
        "a directory the layer does not carry takes its parent layer's metadata"
    );
    assert_eq!((top["etc/app"].mode, top["etc/app"].uid), (0o755, 0));
    assert_eq!(top["etc/gone"].kind, "char", "whiteout");
    assert_eq!(top["var/lib/again"].nlink, 2, "hardlink");
    let record = store.db().resolve("t:1").unwrap();
    let seq_size: u64 = [0, 1].iter().map(|&i| store.layer_size(&chains[i])).sum();
    assert_eq!(record.size, seq_size);
    assert!(leftovers(&dir.path().join("store")).is_empty());
}

#[test]
fn archives_in_any_entry_order_load_the_same_image() {
    let layers = two_layers();
    let mut ids = Vec::new();
    for order in [
        Order::ConfigFirst,
        Order::ManifestFirstReversed,
        Order::LayersFirst,
    ] {
        let dir = tempdir("early-order");
        let store = open_store(dir.path());
        let loaded = store
            .load(docker_archive("o:1", &layers, order).as_slice())
            .unwrap();
        assert_eq!(loaded[0].unpacked_layers, 2);
        let top = layer_listing(store.snapshotter(), &chains(&layers)[1]);
        assert_eq!(top["etc"].uid, 1000);
        assert!(top.contains_key("etc/app/conf"));
        ids.push(loaded[0].id.clone());
        assert!(leftovers(dir.path()).is_empty());
    }
    assert!(ids.iter().all(|id| *id == ids[0]));
}

#[test]
fn a_layer_used_twice_in_one_image_is_unpacked_for_each_place() {
    let a = layer_tar(&[dir("a"), file("a/one", b"1")]);
    let b = layer_tar(&[dir("b"), file("b/two", b"2"), file("a/.wh.one", b"")]);
    let layers = vec![a.clone(), b, a];
    let dir = tempdir("early-twice");
    let store = open_store(dir.path());
    let loaded = store
        .load(docker_archive("twice:1", &layers, Order::ConfigFirst).as_slice())
        .unwrap();
    assert_eq!(loaded[0].unpacked_layers, 3);
    let chains = chains(&layers);
    for (i, chain) in chains.iter().enumerate() {
        let info = store.snapshotter().stat(&chain.to_string()).unwrap();
        let parent = i.checked_sub(1).map(|p| chains[p].to_string());
        assert_eq!(info.parent, parent, "layer {i}");
    }
    let top = layer_listing(store.snapshotter(), &chains[2]);
    assert_eq!(top["a/one"].kind, "file");
    assert!(leftovers(dir.path()).is_empty());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An OCI layout archive of one image with gzip-compressed `layers`.
fn oci_gzip_archive(tag: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let cfg = config(layers);
    let blobs: Vec<Vec<u8>> = layers.iter().map(|l| gzip(l)).collect();
    let desc = |media: &str, data: &[u8]| serde_json::json!({"mediaType": media, "digest": Digest::of(data).to_string(), "size": data.len()});
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", &cfg),
        "layers": blobs.iter().map(|b| desc("application/vnd.oci.image.layer.v1.tar+gzip", b)).collect::<Vec<_>>(),
    }))
    .unwrap();
    let mut mdesc = desc("application/vnd.oci.image.manifest.v1+json", &manifest);
    mdesc["annotations"] = serde_json::json!({
        "io.containerd.image.name": format!("docker.io/library/{tag}"),
        "org.opencontainers.image.ref.name": tag.split(':').nth(1).unwrap(),
    });
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [mdesc],
    }))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    add(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    for blob in blobs.iter().chain([&cfg, &manifest]) {
        add(
            &mut b,
            &format!("blobs/sha256/{}", Digest::of(blob).hex()),
            blob,
        );
    }
    add(&mut b, "index.json", &index);
    b.into_inner().unwrap()
}

#[test]
fn gzip_layers_of_an_oci_archive_unpack_early_to_the_docker_archive_image() {
    let layers = two_layers();
    let dir = tempdir("early-gzip");
    let store = open_store(&dir.path().join("a"));
    let oci = store
        .load(oci_gzip_archive("g:1", &layers).as_slice())
        .unwrap();
    assert_eq!(oci[0].unpacked_layers, 2);
    let chains = chains(&layers);
    let top = layer_listing(store.snapshotter(), &chains[1]);
    assert_eq!(top["etc"].uid, 1000);
    assert!(leftovers(&dir.path().join("a")).is_empty());
    // The same layers from a docker archive: the same image, nothing unpacked again.
    let docker = store
        .load(docker_archive("g:1", &layers, Order::LayersFirst).as_slice())
        .unwrap();
    assert_eq!(docker[0].id, oci[0].id);
    assert_eq!(docker[0].unpacked_layers, 0);
    assert!(leftovers(&dir.path().join("a")).is_empty());
}

#[test]
fn concurrent_loads_sharing_layers_commit_each_layer_once() {
    let base = layer_tar(&[dir("base"), file("base/big", &vec![7u8; 8 << 20])]);
    let dir = tempdir("early-concurrent");
    for round in 0..3 {
        let root = dir.path().join(format!("r{round}"));
        open_store(&root);
        let unpacked: usize = std::thread::scope(|s| {
            let loads: Vec<_> = ["x", "y"]
                .iter()
                .map(|name| {
                    let layers = vec![
                        base.clone(),
                        layer_tar(&[file(&format!("{name}-own"), name.as_bytes())]),
                    ];
                    let root = &root;
                    s.spawn(move || {
                        let store = ImageStore::open(root).unwrap();
                        let archive =
                            docker_archive(&format!("{name}:1"), &layers, Order::ConfigFirst);
                        store.load(archive.as_slice()).unwrap()[0].unpacked_layers
                    })
                })
                .collect();
            loads.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(unpacked, 3, "the shared base is committed once");
        let store = open_store(&root);
        assert_eq!(store.snapshotter().list().unwrap().len(), 3);
        assert!(leftovers(&root).is_empty());
    }
}

/// Loads `archive`, which must fail with an error containing `message` and leave no
/// image, layer or temporary file.
fn refused(what: &str, archive: &[u8], message: &str) {
    let dir = tempdir("early-refused");
    let store = open_store(dir.path());
    let err = store.load(archive).unwrap_err().to_string();
    assert!(err.contains(message), "{what}: {err}");
    assert!(store.db().list().unwrap().is_empty(), "{what}: an image");
    assert!(
        store.snapshotter().list().unwrap().is_empty(),
        "{what}: a snapshot is left"
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "{what}: {:?}",
        leftovers(dir.path())
    );
}

#[test]
fn refused_and_broken_layers_leave_nothing() {
    let mut raw = layer_util::TarBuilder::new();
    let dotdot = raw.file("../../escape", b"x").finish();
    let ok = layer_tar(&[dir("d"), file("d/f", b"data")]);
    refused(
        "dotdot",
        &docker_archive("r:1", &[ok.clone(), dotdot], Order::ConfigFirst),
        "refused",
    );
    // The parent layer has a symlink where the layer needs a directory it does not carry.
    let link = layer_tar(&[E {
        link: "/tmp",
        ..e("lnk", EntryType::Symlink, b"")
    }]);
    let through = layer_tar(&[file("lnk/x", b"x")]);
    refused(
        "through a lower symlink",
        &docker_archive("r:2", &[link, through], Order::ConfigFirst),
        "symlink",
    );
    // A digest that does not match the config, and an archive cut inside a layer (while
    // it is being unpacked early).
    let big_layer = layer_tar(&[dir("big"), file("big/data", &[3u8; 2 << 20])]);
    let good = docker_archive("r:3", &[ok.clone(), big_layer], Order::ConfigFirst);
    let mut wrong = good.clone();
    let at = good.len() - 3000;
    wrong[at] ^= 0x55;
    refused("wrong digest", &wrong, "digest");
    refused("truncated", &good[..good.len() / 2], "read archive");
}

#[test]
fn a_path_twice_in_the_archive_does_not_mix_layers_up() {
    // `x/layer.tar` twice (A, then B), then A again as `y/layer.tar`; the image is A, named
    // through `y`. Each early unpack must stay paired with its own blob.
    let a = layer_tar(&[dir("a"), file("a/mine", b"A")]);
    let b = layer_tar(&[dir("b"), file("b/other", b"B")]);
    let cfg = config(std::slice::from_ref(&a));
    let cfg_name = format!("{}.json", Digest::of(&cfg).hex());
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": cfg_name, "RepoTags": ["dup:1"], "Layers": ["y/layer.tar"]}
    ]))
    .unwrap();
    let mut t = tar::Builder::new(Vec::new());
    add(&mut t, &cfg_name, &cfg);
    add(&mut t, "x/layer.tar", &a);
    add(&mut t, "x/layer.tar", &b);
    add(&mut t, "y/layer.tar", &a);
    add(&mut t, "manifest.json", &manifest);
    let archive = t.into_inner().unwrap();
    let dir = tempdir("early-dup");
    let store = open_store(dir.path());
    store.load(archive.as_slice()).unwrap();
    let top = layer_listing(store.snapshotter(), &chains(&[a])[0]);
    assert!(top.contains_key("a/mine"), "{top:?}");
    assert!(!top.contains_key("b"), "{top:?}");
    assert!(leftovers(dir.path()).is_empty());
}
