//! The OCI distribution conformance workflows against `berth-registry`'s server, over
//! real HTTP: pull, push (monolithic, chunked, mount), content discovery (tags with
//! pagination, catalog, referrers) and content management (deletes), plus basic auth
//! and garbage collection.

mod support;

use berth_image::digest::Digest;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::TestRegistry;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn client() -> Client {
    berth_registry::client::RegistryConfig::default()
        .http_client("127.0.0.1")
        .unwrap()
}

/// Pushes `bytes` monolithically (POST then PUT); returns the digest.
fn push_blob(reg: &TestRegistry, name: &str, bytes: &[u8]) -> Digest {
    let c = client();
    let resp = c
        .post(reg.url(&format!("/v2/{name}/blobs/uploads/")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let digest = Digest::of(bytes);
    let resp = c
        .put(reg.url(&format!("{loc}?digest={digest}")))
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "{:?}", resp.text());
    digest
}

/// An image manifest over a config and layers already pushed.
fn manifest(config: &[u8], layers: &[&[u8]], subject: Option<(&Digest, usize)>) -> Vec<u8> {
    let desc = |media: &str, b: &[u8]| json!({"mediaType": media, "digest": Digest::of(b).to_string(), "size": b.len()});
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layers.iter().map(|l| desc("application/vnd.oci.image.layer.v1.tar", l)).collect::<Vec<_>>(),
    });
    if let Some((d, size)) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": size});
        m["artifactType"] = json!("application/vnd.example.sbom");
    }
    serde_json::to_vec(&m).unwrap()
}

fn put_manifest(
    reg: &TestRegistry,
    name: &str,
    reference: &str,
    body: &[u8],
) -> reqwest::blocking::Response {
    client()
        .put(reg.url(&format!("/v2/{name}/manifests/{reference}")))
        .header("content-type", OCI_MANIFEST)
        .body(body.to_vec())
        .send()
        .unwrap()
}

/// A small image pushed as `name:tag`; returns (manifest bytes, digest).
fn push_image(reg: &TestRegistry, name: &str, tag: &str, seed: &str) -> (Vec<u8>, Digest) {
    let config = format!("{{\"seed\":\"{seed}\"}}");
    let layer = format!("layer of {seed}");
    push_blob(reg, name, config.as_bytes());
    push_blob(reg, name, layer.as_bytes());
    let m = manifest(config.as_bytes(), &[layer.as_bytes()], None);
    let resp = put_manifest(reg, name, tag, &m);
    assert_eq!(resp.status(), StatusCode::CREATED);
    let digest = Digest::of(&m);
    assert_eq!(
        resp.headers()["docker-content-digest"],
        digest.to_string().as_str()
    );
    (m, digest)
}

fn error_code(resp: reqwest::blocking::Response) -> String {
    let v: Value = resp.json().unwrap();
    v["errors"][0]["code"].as_str().unwrap().to_string()
}

#[test]
fn base_endpoint_answers_with_api_version() {
    let reg = TestRegistry::start(None);
    let resp = client().get(reg.url("/v2/")).send().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
}

#[test]
fn pull_workflow_by_tag_digest_and_range() {
    let reg = TestRegistry::start(None);
    let (m, digest) = push_image(&reg, "pull/test", "v1", "pull");
    let c = client();
    for reference in ["v1".to_string(), digest.to_string()] {
        let resp = c
            .get(reg.url(&format!("/v2/pull/test/manifests/{reference}")))
            .send()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(resp.bytes().unwrap().as_ref(), m.as_slice());
        let head = c
            .head(reg.url(&format!("/v2/pull/test/manifests/{reference}")))
            .send()
            .unwrap();
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(
            head.headers()["content-length"],
            m.len().to_string().as_str()
        );
    }
    let layer = b"layer of pull";
    let blob = Digest::of(layer);
    let resp = c
        .get(reg.url(&format!("/v2/pull/test/blobs/{blob}")))
        .send()
        .unwrap();
    assert_eq!(resp.bytes().unwrap().as_ref(), layer);
    let resp = c
        .get(reg.url(&format!("/v2/pull/test/blobs/{blob}")))
        .header("range", "bytes=3-7")
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().unwrap().as_ref(), &layer[3..8]);
    let missing = Digest::of(b"nothing");
    let resp = c
        .get(reg.url(&format!("/v2/pull/test/manifests/{missing}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp), "MANIFEST_UNKNOWN");
    let resp = c
        .get(reg.url(&format!("/v2/pull/test/blobs/{missing}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(resp), "BLOB_UNKNOWN");
    // A blob is only visible in the repositories it was pushed to or mounted into.
    let resp = c
        .head(reg.url(&format!("/v2/other/blobs/{blob}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[test]
fn push_chunked_checks_ranges_and_digests() {
    let reg = TestRegistry::start(None);
    let c = client();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::of(&data);
    let resp = c.post(reg.url("/v2/chunks/blobs/uploads/")).send().unwrap();
    let mut loc = resp.headers()["location"].to_str().unwrap().to_string();
    let mut sent = 0;
    for chunk in data.chunks(100_000) {
        let range = format!("{}-{}", sent, sent + chunk.len() - 1);
        let resp = c
            .patch(reg.url(&loc))
            .header("content-type", "application/octet-stream")
            .header("content-range", &range)
            .body(chunk.to_vec())
            .send()
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        assert_eq!(
            resp.headers()["range"],
            format!("0-{}", sent + chunk.len() - 1).as_str()
        );
        loc = resp.headers()["location"].to_str().unwrap().to_string();
        sent += chunk.len();
    }
    // A chunk out of order is refused with the range received so far.
    let resp = c
        .patch(reg.url(&loc))
        .header("content-range", "5-9")
        .body(vec![0u8; 5])
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let status = c.get(reg.url(&loc)).send().unwrap();
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(status.headers()["range"], "0-299999");
    let resp = c
        .put(reg.url(&format!("{loc}?digest={digest}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let got = c
        .get(reg.url(&format!("/v2/chunks/blobs/{digest}")))
        .send()
        .unwrap();
    assert_eq!(got.bytes().unwrap().as_ref(), data.as_slice());

    // A wrong digest stores nothing and ends the session.
    let resp = c.post(reg.url("/v2/chunks/blobs/uploads/")).send().unwrap();
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let wrong = Digest::of(b"something else");
    let resp = c
        .put(reg.url(&format!("{loc}?digest={wrong}")))
        .body(b"payload".to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(resp), "DIGEST_INVALID");
    assert!(!reg
        .dir
        .path()
        .join("blobs/sha256")
        .join(wrong.hex())
        .exists());
    assert!(!reg
        .dir
        .path()
        .join("blobs/sha256")
        .join(Digest::of(b"payload").hex())
        .exists());
    let resp = c.get(reg.url(&loc)).send().unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[test]
fn push_monolithic_post_and_mount() {
    let reg = TestRegistry::start(None);
    let c = client();
    let data = b"monolithic blob";
    let digest = Digest::of(data);
    let resp = c
        .post(reg.url(&format!("/v2/one/blobs/uploads/?digest={digest}")))
        .header("content-type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        resp.headers()["location"],
        format!("/v2/one/blobs/{digest}").as_str()
    );
    let resp = c
        .post(reg.url(&format!("/v2/two/blobs/uploads/?mount={digest}&from=one")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = c
        .head(reg.url(&format!("/v2/two/blobs/{digest}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // A `from` that is not a repository name is no mount source.
    let resp = c
        .post(reg.url(&format!(
            "/v2/four/blobs/uploads/?mount={digest}&from=../one"
        )))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    // Mounting from a repository without the blob opens an upload session instead.
    let resp = c
        .post(reg.url(&format!(
            "/v2/three/blobs/uploads/?mount={digest}&from=nowhere"
        )))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
}

#[test]
fn manifest_push_is_checked() {
    let reg = TestRegistry::start(None);
    let m = manifest(b"{}", &[b"never pushed"], None);
    let resp = put_manifest(&reg, "checked", "v1", &m);
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(resp), "MANIFEST_BLOB_UNKNOWN");
    let resp = put_manifest(&reg, "checked", "v1", b"not json");
    assert_eq!(error_code(resp), "MANIFEST_INVALID");
    let (m, _) = push_image(&reg, "checked", "v1", "c");
    let wrong = Digest::of(b"x");
    let resp = put_manifest(&reg, "checked", &wrong.to_string(), &m);
    assert_eq!(error_code(resp), "DIGEST_INVALID");
}

#[test]
fn content_discovery_tags_catalog_referrers() {
    let reg = TestRegistry::start(None);
    let mut digest = None;
    for tag in ["a", "b", "c", "d", "e"] {
        digest = Some(push_image(&reg, "disc/repo", tag, "same").1);
    }
    push_image(&reg, "another", "latest", "other");
    let c = client();
    let all: Value = c
        .get(reg.url("/v2/disc/repo/tags/list"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        all,
        json!({"name": "disc/repo", "tags": ["a", "b", "c", "d", "e"]})
    );
    let resp = c
        .get(reg.url("/v2/disc/repo/tags/list?n=2"))
        .send()
        .unwrap();
    let link = resp.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(link, "</v2/disc/repo/tags/list?n=2&last=b>; rel=\"next\"");
    let page: Value = resp.json().unwrap();
    assert_eq!(page["tags"], json!(["a", "b"]));
    let page: Value = c
        .get(reg.url("/v2/disc/repo/tags/list?n=2&last=d"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page["tags"], json!(["e"]));
    let none: Value = c
        .get(reg.url("/v2/disc/repo/tags/list?n=0"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(none["tags"], json!([]));
    let resp = c.get(reg.url("/v2/unknown/tags/list")).send().unwrap();
    assert_eq!(error_code(resp), "NAME_UNKNOWN");
    let cat: Value = c
        .get(reg.url("/v2/_catalog"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cat["repositories"], json!(["another", "disc/repo"]));
    let cat: Value = c
        .get(reg.url("/v2/_catalog?n=1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cat["repositories"], json!(["another"]));

    // A manifest with a subject is listed as a referrer, filtered by artifact type.
    let subject = digest.unwrap();
    let config = b"{\"sbom\":true}";
    push_blob(&reg, "disc/repo", config);
    let art = manifest(config, &[], Some((&subject, 10)));
    let art_digest = Digest::of(&art);
    let resp = put_manifest(&reg, "disc/repo", &art_digest.to_string(), &art);
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["oci-subject"], subject.to_string().as_str());
    let idx: Value = c
        .get(reg.url(&format!("/v2/disc/repo/referrers/{subject}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(idx["manifests"][0]["digest"], art_digest.to_string());
    assert_eq!(
        idx["manifests"][0]["artifactType"],
        "application/vnd.example.sbom"
    );
    let resp = c
        .get(reg.url(&format!(
            "/v2/disc/repo/referrers/{subject}?artifactType=other/type"
        )))
        .send()
        .unwrap();
    assert_eq!(resp.headers()["oci-filters-applied"], "artifactType");
    let idx: Value = resp.json().unwrap();
    assert_eq!(idx["manifests"], json!([]));
    let empty: Value = c
        .get(reg.url(&format!("/v2/disc/repo/referrers/{}", Digest::of(b"none"))))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(empty["manifests"], json!([]));
}

#[test]
fn content_management_deletes_and_gc() {
    let reg = TestRegistry::start(None);
    let (_, digest) = push_image(&reg, "manage", "keep", "keep");
    let (_, gone) = push_image(&reg, "manage", "drop", "drop");
    let c = client();
    let resp = c
        .delete(reg.url("/v2/manage/manifests/keep"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = c.get(reg.url("/v2/manage/manifests/keep")).send().unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = c
        .get(reg.url(&format!("/v2/manage/manifests/{digest}")))
        .send()
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "deleting a tag keeps the manifest"
    );
    let resp = c
        .delete(reg.url(&format!("/v2/manage/manifests/{gone}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = c.get(reg.url("/v2/manage/manifests/drop")).send().unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NOT_FOUND,
        "the manifest's tags go with it"
    );
    let resp = c
        .delete(reg.url(&format!("/v2/manage/manifests/{gone}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let layer = Digest::of(b"layer of keep");
    let resp = c
        .delete(reg.url(&format!("/v2/manage/blobs/{layer}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let resp = c
        .head(reg.url(&format!("/v2/manage/blobs/{layer}")))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    let storage = berth_registry::server::Storage::open(reg.dir.path()).unwrap();
    let collected = berth_registry::server::gc::collect(&storage, false).unwrap();
    let dropped_layer = Digest::of(b"layer of drop");
    assert!(collected.removed.contains(&gone));
    assert!(collected.removed.contains(&dropped_layer));
    assert!(!collected.removed.contains(&digest));
    assert!(reg
        .dir
        .path()
        .join("blobs/sha256")
        .join(digest.hex())
        .exists());
    assert!(!reg
        .dir
        .path()
        .join("blobs/sha256")
        .join(dropped_layer.hex())
        .exists());
}

#[test]
fn basic_auth_from_htpasswd() {
    let dir = support::tempdir("htpasswd");
    let file = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    std::fs::write(&file, format!("alice:{hash}\n")).unwrap();
    let reg = TestRegistry::start(Some(&file));
    let c = client();
    let resp = c.get(reg.url("/v2/")).send().unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic realm="));
    let resp = c
        .get(reg.url("/v2/"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = c
        .get(reg.url("/v2/"))
        .basic_auth("alice", Some("s3cret"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn v1_search_over_the_catalog() {
    let reg = TestRegistry::start(None);
    for name in ["tools/busybox", "lib/busybox", "other/thing"] {
        push_image(&reg, name, "1", name);
    }
    let v: Value = client()
        .get(reg.url("/v1/search?q=busy&n=1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    let (registry, words) =
        berth_registry::client::search::split_term(&format!("{}/busy", reg.host()));
    assert_eq!(
        (registry.as_str(), words.as_str()),
        (reg.host().as_str(), "busy")
    );
    let config = berth_registry::client::RegistryConfig::default();
    let found =
        berth_registry::client::search::search(&config, &registry, &words, 25, None).unwrap();
    let names: Vec<&str> = found.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["lib/busybox", "tools/busybox"]);
    assert_eq!(
        berth_registry::client::search::split_term("busybox"),
        ("docker.io".to_string(), "busybox".to_string())
    );
}

#[test]
fn inconsistent_chunks_and_media_types_are_refused() {
    let reg = TestRegistry::start(None);
    let c = client();
    let resp = c.post(reg.url("/v2/strict/blobs/uploads/")).send().unwrap();
    let loc = resp.headers()["location"].to_str().unwrap().to_string();
    let resp = c
        .patch(reg.url(&loc))
        .header("content-range", "0-9")
        .body(vec![1u8; 5])
        .send()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let (m, _) = push_image(&reg, "strict", "v1", "s");
    let resp = client()
        .put(reg.url("/v2/strict/manifests/v2"))
        .header(
            "content-type",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .body(m)
        .send()
        .unwrap();
    assert_eq!(error_code(resp), "MANIFEST_INVALID");
}
