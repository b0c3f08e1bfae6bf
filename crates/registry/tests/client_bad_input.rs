//! Pulls of broken images fail with a clear error, record no image, and keep only what
//! was verified: a layer whose bytes do not match its digest, a truncated layer, an
//! unknown layer media type, and a registry that fails (500) in the middle of a layer.
//! Once the registry is mended, the next pull succeeds and reuses the verified layers.
//! Needs root (overlay snapshots).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_image::digest::Digest;
use berth_image::reference::Reference;
use berth_image::store::ImageStore;
use berth_registry::client::pull::{pull, Inflight, PullError, PullRequest, Pulled};
use berth_registry::client::RegistryConfig;
use berth_registry::progress::Message;
use support::images::{plant, Layer};
use support::{tempdir, TestRegistry};

fn request(reg: &TestRegistry, name: &str) -> PullRequest {
    PullRequest {
        reference: Reference::parse(&format!("{}/{name}", reg.host())).unwrap(),
        platform: None,
        creds: None,
    }
}

fn try_pull(
    store: &ImageStore,
    req: &PullRequest,
    log: &Mutex<Vec<Message>>,
) -> Result<Pulled, PullError> {
    let sink = |m: Message| log.lock().unwrap().push(m);
    pull(
        store,
        &RegistryConfig::default(),
        req,
        &Inflight::default(),
        &sink,
    )
}

fn no_image(store: &ImageStore, req: &PullRequest) {
    assert!(
        store.db().resolve(&req.reference.to_string()).is_err(),
        "a broken pull recorded an image"
    );
    assert!(store.db().list().unwrap().is_empty());
}

#[test]
fn layer_digest_mismatch_then_mended() {
    let reg = TestRegistry::start(None);
    let layers = [Layer::gz(&[("hello.txt", "hello")])];
    plant(&reg.storage(), "bad/digest", "v1", &layers, |_, b| {
        let mut b = b.to_vec();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        b
    });
    let dir = tempdir("bad-digest");
    let store = ImageStore::open(dir.path()).unwrap();
    let req = request(&reg, "bad/digest:v1");
    let log = Mutex::new(Vec::new());
    let err = try_pull(&store, &req, &log).unwrap_err().to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    no_image(&store, &req);
    let blob = Digest::of(&layers[0].blob);
    assert!(
        !store.content().blob_path(&blob).exists(),
        "an unverified blob was kept"
    );
    // Mended: the pull succeeds.
    std::fs::write(reg.storage().blob_path(&blob), &layers[0].blob).unwrap();
    try_pull(&store, &req, &log).unwrap();
}

#[test]
fn truncated_layer_then_mended() {
    let reg = TestRegistry::start(None);
    let layers = [Layer::gz(&[("a.txt", &"x".repeat(50_000))])];
    plant(&reg.storage(), "bad/short", "v1", &layers, |_, b| {
        b[..b.len() - 10].to_vec()
    });
    let dir = tempdir("bad-short");
    let store = ImageStore::open(dir.path()).unwrap();
    let req = request(&reg, "bad/short:v1");
    let log = Mutex::new(Vec::new());
    let err = try_pull(&store, &req, &log).unwrap_err().to_string();
    assert!(
        err.contains("ended after") || err.contains("size mismatch"),
        "{err}"
    );
    no_image(&store, &req);
    let blob = Digest::of(&layers[0].blob);
    std::fs::write(reg.storage().blob_path(&blob), &layers[0].blob).unwrap();
    try_pull(&store, &req, &log).unwrap();
}

#[test]
fn unknown_layer_media_type() {
    let reg = TestRegistry::start(None);
    let mut layer = Layer::gz(&[("a", "b")]);
    layer.media_type = "application/vnd.example.mystery".into();
    plant(&reg.storage(), "bad/media", "v1", &[layer], |_, b| {
        b.to_vec()
    });
    let dir = tempdir("bad-media");
    let store = ImageStore::open(dir.path()).unwrap();
    let req = request(&reg, "bad/media:v1");
    let err = try_pull(&store, &req, &Mutex::new(Vec::new()))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unsupported media type \"application/vnd.example.mystery\""),
        "{err}"
    );
    no_image(&store, &req);
}

/// A body that sends `head`, then (once the client has it) breaks off.
fn cut_body(head: axum::body::Bytes) -> Body {
    use futures_util::StreamExt;
    let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) });
    let fail = futures_util::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        Err(std::io::Error::other("disk on fire"))
    });
    Body::from_stream(first.chain(fail))
}

/// A registry that, while `broken`, sends part of `blob` and then breaks the
/// connection, and answers any request for the rest with a 500.
fn breaking(blob: Digest, broken: Arc<AtomicBool>) -> impl FnOnce(axum::Router) -> axum::Router {
    move |app| {
        let layer = axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let hit = broken.load(Ordering::SeqCst)
                    && req.method() == axum::http::Method::GET
                    && req.uri().path().ends_with(&format!("/blobs/{blob}"));
                let resumed = req.headers().contains_key("range");
                async move {
                    if !hit {
                        return next.run(req).await;
                    }
                    if resumed {
                        return (StatusCode::INTERNAL_SERVER_ERROR, "storage failed")
                            .into_response();
                    }
                    let full = next.run(req).await;
                    let (parts, body) = full.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                    Response::from_parts(parts, cut_body(bytes.slice(..bytes.len() / 2)))
                }
            },
        );
        app.layer(layer)
    }
}

#[test]
fn server_error_mid_layer_then_resumed_pull_reuses_verified_layers() {
    let layers = [
        Layer::gz(&[("bottom.txt", "bottom")]),
        Layer::gz(&[("top.txt", &"t".repeat(200_000))]),
    ];
    let broken = Arc::new(AtomicBool::new(true));
    let reg = TestRegistry::start_with(None, breaking(Digest::of(&layers[1].blob), broken.clone()));
    plant(&reg.storage(), "bad/mid", "v1", &layers, |_, b| b.to_vec());
    let dir = tempdir("bad-mid");
    let store = ImageStore::open(dir.path()).unwrap();
    let req = request(&reg, "bad/mid:v1");
    let log = Mutex::new(Vec::new());
    let err = try_pull(&store, &req, &log).unwrap_err().to_string();
    assert!(err.contains("500"), "{err}");
    no_image(&store, &req);
    let bottom = Digest::of(&layers[0].blob);
    assert!(
        store.content().blob_path(&bottom).exists(),
        "the verified layer was not kept"
    );
    assert!(!store
        .content()
        .blob_path(&Digest::of(&layers[1].blob))
        .exists());

    broken.store(false, Ordering::SeqCst);
    log.lock().unwrap().clear();
    let pulled = try_pull(&store, &req, &log).unwrap();
    let lines: Vec<(String, String)> = log
        .lock()
        .unwrap()
        .iter()
        .map(|m| (m.id.clone().unwrap_or_default(), m.status.clone()))
        .collect();
    let short = |d: &Digest| d.hex()[..12].to_string();
    assert!(
        lines.contains(&(short(&bottom), "Already exists".into())),
        "{lines:?}"
    );
    assert!(
        !lines.contains(&(short(&bottom), "Downloading".into())),
        "{lines:?}"
    );
    let rec = store.db().get(&pulled.id).unwrap();
    let top = store
        .snapshotter()
        .layer_dirs(&rec.layers[1].chain_id.to_string())
        .unwrap();
    let bottom_dir = store
        .snapshotter()
        .layer_dirs(&rec.layers[0].chain_id.to_string())
        .unwrap();
    assert!(top.upper.join("top.txt").exists());
    assert!(bottom_dir.upper.join("bottom.txt").exists());
}

#[test]
fn resumes_a_broken_download_with_range() {
    // Broken once: the body breaks off, the Range request gets the rest.
    let layers = [Layer::gz(&[("big.txt", &"r".repeat(300_000))])];
    let blob = Digest::of(&layers[0].blob);
    let cut = Arc::new(AtomicBool::new(true));
    let flag = cut.clone();
    let reg = TestRegistry::start_with(None, move |app| {
        let layer = axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let hit = req.uri().path().ends_with(&format!("/blobs/{blob}"))
                    && !req.headers().contains_key("range")
                    && flag.swap(false, Ordering::SeqCst);
                async move {
                    let full = next.run(req).await;
                    if !hit {
                        return full;
                    }
                    let (parts, body) = full.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                    Response::from_parts(parts, cut_body(bytes.slice(..1000)))
                }
            },
        );
        app.layer(layer)
    });
    plant(&reg.storage(), "resume/me", "v1", &layers, |_, b| {
        b.to_vec()
    });
    let dir = tempdir("resume");
    let store = ImageStore::open(dir.path()).unwrap();
    let req = request(&reg, "resume/me:v1");
    try_pull(&store, &req, &Mutex::new(Vec::new())).unwrap();
    assert!(!cut.load(Ordering::SeqCst), "the download was not cut");
}
