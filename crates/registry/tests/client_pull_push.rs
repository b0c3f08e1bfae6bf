//! The client against `berth-registry`'s server: an image loaded into one store is
//! pushed (monolithic, then chunked to another repository, then mounted), pulled into a
//! fresh store with the same IDs and digests, and pulled again with nothing to fetch.
//! Needs root (overlay snapshots).

mod support;

use std::sync::Mutex;

use berth_image::reference::Reference;
use berth_image::store::ImageStore;
use berth_registry::client::pull::{pull, Inflight, PullRequest};
use berth_registry::client::push::{push, PushRequest};
use berth_registry::client::RegistryConfig;
use berth_registry::progress::Message;
use support::{images_dir, tempdir, TestRegistry};

fn loaded_store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempdir("reg-src");
    let store = ImageStore::open(dir.path()).unwrap();
    let tar = std::fs::File::open(images_dir().join("busybox-1.35.docker.tar")).unwrap();
    store.load(tar).unwrap();
    (dir, store)
}

fn retag(store: &ImageStore, from: &str, to: &Reference) {
    let id = store.db().resolve_id(from).unwrap();
    store.db().tag(&id, to).unwrap();
}

/// Collects progress messages.
struct Log(Mutex<Vec<Message>>);

impl Log {
    fn new() -> Self {
        Log(Mutex::new(Vec::new()))
    }
    fn statuses(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.status.clone())
            .collect()
    }
}

#[test]
fn push_then_pull_round_trip() {
    let reg = TestRegistry::start(None);
    let (_src_dir, src) = loaded_store();
    let config = RegistryConfig::default();
    let target = Reference::parse(&format!("{}/test/busybox:1.35", reg.host())).unwrap();
    retag(&src, "busybox:1.35", &target);
    let log = Log::new();
    let sink = |m: Message| log.0.lock().unwrap().push(m);
    let req = PushRequest {
        reference: target.clone(),
        creds: None,
        chunk_size: None,
    };
    let pushed = push(&src, &config, &req, &sink).unwrap();
    let statuses = log.statuses();
    assert!(statuses.contains(&"Pushed".to_string()), "{statuses:?}");
    assert!(statuses.contains(&"Pushing".to_string()), "{statuses:?}");
    let (record, manifest) = src.manifest_of("busybox:1.35").unwrap();
    assert_eq!(pushed.digest, record.manifest_digest);
    assert_eq!(pushed.size, manifest.len());

    // Again: every blob is there already.
    log.0.lock().unwrap().clear();
    push(&src, &config, &req, &sink).unwrap();
    assert!(log.statuses().contains(&"Layer already exists".to_string()));

    // A second repository of the same registry: its layers are mounted.
    let other = Reference::parse(&format!("{}/other/busybox:x", reg.host())).unwrap();
    retag(&src, "busybox:1.35", &other);
    log.0.lock().unwrap().clear();
    let req2 = PushRequest {
        reference: other.clone(),
        creds: None,
        chunk_size: None,
    };
    push(&src, &config, &req2, &sink).unwrap();
    let statuses = log.statuses();
    assert!(
        statuses.iter().any(|s| s.starts_with("Mounted from")),
        "{statuses:?}"
    );

    // Chunked upload into a third repository (no tag of the image names it there yet
    // except this one, so mounts from the others apply: delete them from the source's
    // view by pushing under a registry-less name first is not possible; use chunks on
    // a fresh registry instead).
    let reg2 = TestRegistry::start(None);
    let chunked = Reference::parse(&format!("{}/chunked/busybox:c", reg2.host())).unwrap();
    retag(&src, "busybox:1.35", &chunked);
    let req3 = PushRequest {
        reference: chunked.clone(),
        creds: None,
        chunk_size: Some(100_000),
    };
    let pushed3 = push(&src, &config, &req3, &sink).unwrap();
    assert_eq!(pushed3.digest, record.manifest_digest);

    // Pull into a fresh store: same image ID, the manifest digest recorded.
    for (from, name) in [(&reg, &target), (&reg2, &chunked)] {
        let _ = from;
        let dst_dir = tempdir("reg-dst");
        let dst = ImageStore::open(dst_dir.path()).unwrap();
        log.0.lock().unwrap().clear();
        let req = PullRequest {
            reference: name.clone(),
            platform: None,
            creds: None,
        };
        let inflight = Inflight::default();
        let pulled = pull(&dst, &config, &req, &inflight, &sink).unwrap();
        assert_eq!(pulled.id, record.id);
        assert!(pulled.fresh);
        assert_eq!(pulled.digest, record.manifest_digest);
        let statuses = log.statuses();
        assert!(
            statuses.contains(&"Pull complete".to_string()),
            "{statuses:?}"
        );
        let got = dst.db().resolve(&name.to_string()).unwrap();
        assert_eq!(got.id, record.id);
        let summary = dst.summary(&got.id).unwrap();
        assert_eq!(summary.digests.len(), 1);
        assert_eq!(
            summary.digests[0].digest.as_ref(),
            Some(&record.manifest_digest)
        );
        // The layer is unpacked: busybox's /bin/sh is in the snapshot.
        let chain = &got.layers.last().unwrap().chain_id;
        let dirs = dst.snapshotter().layer_dirs(&chain.to_string()).unwrap();
        assert!(dirs.upper.join("bin/busybox").exists());

        // Again: up to date, nothing fetched.
        log.0.lock().unwrap().clear();
        let again = pull(&dst, &config, &req, &inflight, &sink).unwrap();
        assert!(!again.fresh);
        let statuses = log.statuses();
        assert!(
            statuses.contains(&"Already exists".to_string()),
            "{statuses:?}"
        );
        assert!(!statuses.contains(&"Downloading".to_string()));
    }
}

#[test]
fn pull_of_missing_tag_says_manifest_unknown() {
    let reg = TestRegistry::start(None);
    let dst_dir = tempdir("reg-missing");
    let dst = ImageStore::open(dst_dir.path()).unwrap();
    let name = Reference::parse(&format!("{}/nothing/here:v1", reg.host())).unwrap();
    let req = PullRequest {
        reference: name,
        platform: None,
        creds: None,
    };
    let err = pull(
        &dst,
        &RegistryConfig::default(),
        &req,
        &Inflight::default(),
        &|_| {},
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "manifest for {}/nothing/here:v1 not found: manifest unknown",
            reg.host()
        )),
        "{text}"
    );
}
