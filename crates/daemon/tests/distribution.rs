//! berthd's registry endpoints against a registry served in this test (`berth-registry`'s
//! server on a loopback port, behind htpasswd): `/auth` with wrong and right
//! credentials, push and pull with `X-Registry-Auth`, `/distribution/{name}/json`,
//! `/images/search`, and the statuses of failures before and during a stream.

mod support;

use std::sync::Arc;

use berth_registry::auth::Credentials;
use berth_registry::server::{self, Htpasswd, Registry, Storage};
use serde_json::Value;
use support::Daemon;

/// A registry restricted to alice:s3cret; returns its address and what keeps it alive.
fn registry() -> (String, tempfile::TempDir, tokio::runtime::Runtime) {
    let dir = tempfile::Builder::new()
        .prefix(&format!("berth-daemon-reg-{}-", std::process::id()))
        .tempdir()
        .unwrap();
    let file = dir.path().join("htpasswd");
    std::fs::write(
        &file,
        format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap()),
    )
    .unwrap();
    let reg = Arc::new(Registry {
        storage: Storage::open(&dir.path().join("data")).unwrap(),
        users: Some(Htpasswd::load(&file).unwrap()),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(server::serve(listener, server::app(reg), None));
    (addr, dir, rt)
}

/// The JSON lines of a progress stream.
fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn auth(user: &str, pass: &str) -> String {
    Credentials {
        username: user.into(),
        password: pass.into(),
        ..Default::default()
    }
    .to_header()
}

#[test]
fn login_push_pull_inspect_and_search() {
    let (reg, _dir, _rt) = registry();
    let d = Daemon::start();
    d.load_busybox();
    let login = |user: &str, pass: &str| {
        let body = serde_json::json!({"username": user, "password": pass, "serveraddress": reg});
        d.post("/auth", &body.to_string())
    };
    let wrong = login("alice", "wrong");
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    assert!(
        wrong.message().contains("401 Unauthorized"),
        "{}",
        wrong.text()
    );
    let right = login("alice", "s3cret");
    assert_eq!(right.json()["Status"], "Login Succeeded");

    let repo = format!("{reg}/d/busybox");
    let tagged = d.post(&format!("/images/busybox:1.35/tag?repo={repo}&tag=1"), "");
    assert_eq!(tagged.status, 201);
    // Without credentials the push fails in its stream (it had started).
    let denied = d.post(&format!("/images/{repo}/push?tag=1"), "");
    assert_eq!(denied.status, 200);
    let last = lines(&denied.text()).pop().unwrap();
    assert!(
        last["error"].as_str().unwrap().contains("unauthorized"),
        "{last}"
    );

    let good = auth("alice", "s3cret");
    let headers = [("X-Registry-Auth", good.as_str())];
    let pushed = d.request_with("POST", &format!("/images/{repo}/push?tag=1"), &headers, b"");
    let msgs = lines(&pushed.text());
    assert!(msgs.iter().all(|m| m.get("error").is_none()), "{msgs:?}");
    let digest = msgs
        .iter()
        .find_map(|m| m["aux"]["Digest"].as_str())
        .unwrap()
        .to_string();

    let dist = d.request_with(
        "GET",
        &format!("/distribution/{repo}:1/json"),
        &headers,
        b"",
    );
    assert_eq!(dist.json()["Descriptor"]["digest"], digest.as_str());

    assert_eq!(
        d.request("DELETE", &format!("/images/{repo}:1"), b"")
            .status,
        200
    );
    let path = format!("/images/create?fromImage={repo}&tag=1");
    let pulled = d.request_with("POST", &path, &headers, b"");
    let msgs = lines(&pulled.text());
    assert!(
        msgs.iter()
            .any(|m| m["status"] == format!("Digest: {digest}")),
        "{msgs:?}"
    );
    let inspect = d.get(&format!("/images/{repo}:1/json")).json();
    assert!(inspect["RepoDigests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str() == Some(&format!("{repo}@{digest}"))));

    // By digest, as the docker CLI asks for it (the digest in `tag`).
    assert_eq!(
        d.request("DELETE", &format!("/images/{repo}:1"), b"")
            .status,
        200
    );
    let path = format!("/images/create?fromImage={repo}&tag={digest}");
    let by_digest = d.request_with("POST", &path, &headers, b"");
    assert!(
        by_digest
            .text()
            .contains(&format!("Status: Image is up to date for {repo}@{digest}")),
        "{}",
        by_digest.text()
    );
    assert_eq!(d.get(&format!("/images/{repo}@{digest}/json")).status, 200);

    let found = d.request_with(
        "GET",
        &format!("/images/search?term={reg}/busy"),
        &headers,
        b"",
    );
    assert_eq!(found.json()[0]["name"], "d/busybox");

    let missing = d.request_with(
        "POST",
        &format!("/images/create?fromImage={repo}&tag=nope"),
        &headers,
        b"",
    );
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert_eq!(
        missing.message(),
        format!("manifest for {repo}:nope not found: manifest unknown: manifest unknown")
    );
}
