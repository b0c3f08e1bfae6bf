//! Authentication against real servers: a registry behind basic auth (htpasswd), and one
//! behind a bearer token service (a small token server in this test that checks basic
//! credentials and hands out a token the registry then requires). Login, push and pull
//! work with the right credentials; wrong ones fail with docker's wording. Needs root.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use berth_image::reference::Reference;
use berth_image::store::ImageStore;
use berth_registry::auth::Credentials;
use berth_registry::client::pull::{pull, Inflight, PullRequest};
use berth_registry::client::push::{push, PushRequest};
use berth_registry::client::{RegistryConfig, Session};
use support::{images_dir, tempdir, TestRegistry};

const TOKEN: &str = "tok-3f9a";
const REFRESH: &str = "refresh-77c1";

fn creds(user: &str, pass: &str) -> Option<Credentials> {
    Some(Credentials {
        username: user.into(),
        password: pass.into(),
        ..Default::default()
    })
}

/// Guards the registry with bearer tokens from `/token` on the same port (which wants
/// `alice:s3cret`); counts tokens issued.
fn bearer(issued: Arc<AtomicUsize>) -> impl FnOnce(axum::Router) -> axum::Router {
    move |app| {
        let guard = axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let issued = issued.clone();
                async move {
                    let host = req.headers()[header::HOST].to_str().unwrap().to_string();
                    if req.uri().path() == "/token" && req.method() == axum::http::Method::POST {
                        // The OAuth form: a refresh token from an earlier login.
                        let body = axum::body::to_bytes(req.into_body(), 1 << 16)
                            .await
                            .unwrap();
                        let form: Vec<(String, String)> =
                            form_urlencoded::parse(&body).into_owned().collect();
                        let has = |k: &str, v: &str| form.iter().any(|(a, b)| a == k && b == v);
                        if has("grant_type", "refresh_token") && has("refresh_token", REFRESH) {
                            issued.fetch_add(1, Ordering::SeqCst);
                            return axum::Json(serde_json::json!({"access_token": TOKEN}))
                                .into_response();
                        }
                        return (StatusCode::UNAUTHORIZED, "{}").into_response();
                    }
                    if req.uri().path() == "/token" {
                        let want = Credentials {
                            username: "alice".into(),
                            password: "s3cret".into(),
                            ..Default::default()
                        }
                        .basic();
                        let scope = req.uri().query().unwrap_or_default().to_string();
                        if req
                            .headers()
                            .get(header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok())
                            != Some(&want)
                        {
                            let body =
                                serde_json::json!({"details": "incorrect username or password"});
                            return (StatusCode::UNAUTHORIZED, body.to_string()).into_response();
                        }
                        assert!(scope.contains("service=test-registry"), "{scope}");
                        issued.fetch_add(1, Ordering::SeqCst);
                        return axum::Json(serde_json::json!({"token": TOKEN})).into_response();
                    }
                    let ok = req
                        .headers()
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        == Some(&format!("Bearer {TOKEN}"));
                    if ok {
                        return next.run(req).await;
                    }
                    let challenge =
                        format!("Bearer realm=\"http://{host}/token\",service=\"test-registry\"");
                    let mut resp = (StatusCode::UNAUTHORIZED, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}").into_response();
                    resp.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_str(&challenge).unwrap(),
                    );
                    resp
                }
            },
        );
        app.layer(guard)
    }
}

fn loaded(reg: &TestRegistry) -> (tempfile::TempDir, ImageStore, Reference) {
    let dir = tempdir("auth-src");
    let store = ImageStore::open(dir.path()).unwrap();
    store
        .load(std::fs::File::open(images_dir().join("busybox-1.35.docker.tar")).unwrap())
        .unwrap();
    let target = Reference::parse(&format!("{}/secure/busybox:1", reg.host())).unwrap();
    let id = store.db().resolve_id("busybox:1.35").unwrap();
    store.db().tag(&id, &target).unwrap();
    (dir, store, target)
}

fn round_trip(reg: &TestRegistry, good: Option<Credentials>) {
    let config = RegistryConfig::default();
    let (_dir, store, target) = loaded(reg);
    let req = PushRequest {
        reference: target.clone(),
        creds: good.clone(),
        chunk_size: None,
    };
    push(&store, &config, &req, &|_| {}).unwrap();
    let dst_dir = tempdir("auth-dst");
    let dst = ImageStore::open(dst_dir.path()).unwrap();
    let req = PullRequest {
        reference: target.clone(),
        platform: None,
        creds: good,
    };
    pull(&dst, &config, &req, &Inflight::default(), &|_| {}).unwrap();
    // Without credentials: refused, with docker's words.
    let req = PullRequest {
        reference: target,
        platform: None,
        creds: None,
    };
    let err = pull(&dst, &config, &req, &Inflight::default(), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("pull access denied for"), "{err}");
}

#[test]
fn basic_auth_registry_login_push_pull() {
    let dir = tempdir("auth-basic");
    let file = dir.path().join("htpasswd");
    std::fs::write(
        &file,
        format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap()),
    )
    .unwrap();
    let reg = TestRegistry::start(Some(&file));
    let config = RegistryConfig::default();
    let host = reg.host();
    Session::connect(&config, &host, creds("alice", "s3cret"), false)
        .unwrap()
        .login()
        .unwrap();
    let err = Session::connect(&config, &host, creds("alice", "wrong"), false)
        .unwrap()
        .login()
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
        )),
        "{err}"
    );
    round_trip(&reg, creds("alice", "s3cret"));
}

#[test]
fn bearer_token_registry_login_push_pull() {
    let issued = Arc::new(AtomicUsize::new(0));
    let reg = TestRegistry::start_with(None, bearer(issued.clone()));
    let config = RegistryConfig::default();
    let host = reg.host();
    Session::connect(&config, &host, creds("alice", "s3cret"), false)
        .unwrap()
        .login()
        .unwrap();
    let err = Session::connect(&config, &host, creds("alice", "wrong"), false)
        .unwrap()
        .login()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unauthorized: incorrect username or password"),
        "{err}"
    );
    round_trip(&reg, creds("alice", "s3cret"));
    assert!(issued.load(Ordering::SeqCst) >= 2);
    // An identity token (OAuth refresh token) instead of the password.
    let refresh = Some(Credentials {
        identitytoken: REFRESH.into(),
        ..Default::default()
    });
    Session::connect(&config, &host, refresh.clone(), false)
        .unwrap()
        .login()
        .unwrap();
    round_trip(&reg, refresh);
}
