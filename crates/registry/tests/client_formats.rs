//! Pulls of the formats a registry serves: gzip, zstd and plain layers in one image; an
//! index, from which the host's platform is picked by default and another with
//! `platform`; and two pulls of one image at once, which fetch each layer once. Needs
//! root (overlay snapshots).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use berth_image::digest::Digest;
use berth_image::formats::Platform;
use berth_image::reference::Reference;
use berth_image::store::ImageStore;
use berth_registry::client::pull::{pull, Inflight, PullRequest};
use berth_registry::client::RegistryConfig;
use support::images::{host_arch, plant, plant_for, plant_index, Layer};
use support::{tempdir, TestRegistry};

fn request(reg: &TestRegistry, name: &str, platform: Option<Platform>) -> PullRequest {
    PullRequest {
        reference: Reference::parse(&format!("{}/{name}", reg.host())).unwrap(),
        platform,
        creds: None,
    }
}

#[test]
fn gzip_zstd_and_plain_layers() {
    let reg = TestRegistry::start(None);
    let layers = [
        Layer::gz(&[("one.txt", "1")]),
        Layer::zst(&[("two.txt", "2")]),
        Layer::plain(&[("three.txt", "3")]),
    ];
    let (_, config) = plant(&reg.storage(), "formats/mixed", "v1", &layers, |_, b| {
        b.to_vec()
    });
    let dir = tempdir("formats");
    let store = ImageStore::open(dir.path()).unwrap();
    let req = request(&reg, "formats/mixed:v1", None);
    let pulled = pull(
        &store,
        &RegistryConfig::default(),
        &req,
        &Inflight::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(pulled.id, config);
    let rec = store.db().get(&pulled.id).unwrap();
    for (layer, file) in rec.layers.iter().zip(["one.txt", "two.txt", "three.txt"]) {
        let dirs = store
            .snapshotter()
            .layer_dirs(&layer.chain_id.to_string())
            .unwrap();
        assert!(dirs.upper.join(file).exists(), "{file} missing");
    }
    let media: Vec<&str> = rec.layers.iter().map(|l| l.media_type.as_str()).collect();
    assert_eq!(
        media,
        [
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd",
            "application/vnd.oci.image.layer.v1.tar"
        ]
    );
}

#[test]
fn index_picks_the_host_platform_or_the_one_asked_for() {
    let reg = TestRegistry::start(None);
    let storage = reg.storage();
    let other = if host_arch() == "amd64" {
        "arm64"
    } else {
        "amd64"
    };
    let here = plant_for(
        &storage,
        "multi/arch",
        None,
        &[Layer::gz(&[("arch", "host")])],
        |_, b| b.to_vec(),
        &host_arch(),
    );
    let there = plant_for(
        &storage,
        "multi/arch",
        None,
        &[Layer::gz(&[("arch", "other")])],
        |_, b| b.to_vec(),
        other,
    );
    let index = plant_index(
        &storage,
        "multi/arch",
        "v1",
        &[(there.0.clone(), other), (here.0.clone(), &host_arch())],
    );
    let config = RegistryConfig::default();

    let dir = tempdir("index-host");
    let store = ImageStore::open(dir.path()).unwrap();
    let pulled = pull(
        &store,
        &config,
        &request(&reg, "multi/arch:v1", None),
        &Inflight::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(pulled.id, here.1);
    assert_eq!(pulled.digest, index, "the repo digest is the index's");

    let dir = tempdir("index-other");
    let store = ImageStore::open(dir.path()).unwrap();
    let req = request(
        &reg,
        "multi/arch:v1",
        Some(Platform::new("linux", other, "")),
    );
    let pulled = pull(&store, &config, &req, &Inflight::default(), &|_| {}).unwrap();
    assert_eq!(pulled.id, there.1);

    let req = request(
        &reg,
        "multi/arch:v1",
        Some(Platform::new("linux", "s390x", "")),
    );
    let err = pull(&store, &config, &req, &Inflight::default(), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("no match for platform linux/s390x"), "{err}");
}

#[test]
fn concurrent_pulls_fetch_each_layer_once() {
    let big: String = (0..400_000u32)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let layers = [
        Layer::gz(&[("big.txt", &big)]),
        Layer::gz(&[("small.txt", "s")]),
    ];
    let watched: Vec<Digest> = layers.iter().map(|l| Digest::of(&l.blob)).collect();
    let gets = Arc::new(AtomicUsize::new(0));
    let counter = gets.clone();
    let reg = TestRegistry::start_with(None, move |app| {
        let count = axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let path = req.uri().path().to_string();
                if req.method() == axum::http::Method::GET
                    && watched.iter().any(|d| path.ends_with(&d.to_string()))
                {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                async move {
                    // Slow enough that the two pulls overlap.
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    next.run(req).await
                }
            },
        );
        app.layer(count)
    });
    plant(&reg.storage(), "twice/pulled", "v1", &layers, |_, b| {
        b.to_vec()
    });
    let dir = tempdir("concurrent");
    let store = ImageStore::open(dir.path()).unwrap();
    let inflight = Inflight::default();
    let config = RegistryConfig::default();
    let req = request(&reg, "twice/pulled:v1", None);
    let ids: Vec<Digest> = std::thread::scope(|s| {
        let a = s.spawn(|| pull(&store, &config, &req, &inflight, &|_| {}).unwrap().id);
        let b = s.spawn(|| pull(&store, &config, &req, &inflight, &|_| {}).unwrap().id);
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    assert_eq!(ids[0], ids[1]);
    assert_eq!(
        gets.load(Ordering::SeqCst),
        2,
        "each layer blob is fetched once"
    );
    assert_eq!(store.db().list().unwrap().len(), 1);
}
