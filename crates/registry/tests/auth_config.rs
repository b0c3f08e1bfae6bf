//! Credentials without a network: `WWW-Authenticate` challenges, the `X-Registry-Auth`
//! header, the docker CLI's `config.json` (auths written, read and erased; a credential
//! helper program consulted), and docker's progress bar and sizes.

use std::os::unix::fs::PermissionsExt;

use berth_registry::auth::{Challenge, Credentials, DockerConfig, DOCKER_HUB_KEY};
use berth_registry::progress::{bar, human};

#[test]
fn challenges_parse() {
    assert_eq!(
        Challenge::parse("Basic realm=\"registry\""),
        Some(Challenge::Basic)
    );
    assert_eq!(
        Challenge::parse(
            "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\""
        ),
        Some(Challenge::Bearer {
            realm: "https://auth.docker.io/token".into(),
            service: Some("registry.docker.io".into()),
        })
    );
    assert_eq!(
        Challenge::parse("bearer realm=http://h/t, service=s"),
        Some(Challenge::Bearer {
            realm: "http://h/t".into(),
            service: Some("s".into())
        })
    );
    assert_eq!(Challenge::parse("Negotiate"), None);
    assert_eq!(Challenge::parse("Bearer service=\"no realm\""), None);
}

#[test]
fn registry_auth_header_round_trips() {
    let c = Credentials {
        username: "alice".into(),
        password: "p@ss:word".into(),
        serveraddress: "localhost:5000".into(),
        ..Default::default()
    };
    assert_eq!(Credentials::from_header(&c.to_header()), Some(c));
    // docker-py and the docker CLI send `{}` (e30=) when they have nothing.
    assert_eq!(Credentials::from_header("e30="), None);
    assert_eq!(Credentials::from_header(""), None);
    assert_eq!(Credentials::from_header("!!not base64"), None);
}

#[test]
fn config_json_store_read_erase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, r#"{"psFormat": "table {{.ID}}", "auths": {"https://index.docker.io/v1/": {"auth": "aHViOmh1YnB3"}}}"#).unwrap();
    let mut cfg = DockerConfig::load(&path).unwrap();
    let hub = cfg.credentials(DOCKER_HUB_KEY).unwrap().unwrap();
    assert_eq!(
        (hub.username.as_str(), hub.password.as_str()),
        ("hub", "hubpw")
    );
    assert_eq!(cfg.credentials("localhost:5000").unwrap(), None);
    let creds = Credentials {
        username: "u".into(),
        password: "p".into(),
        ..Default::default()
    };
    cfg.store("localhost:5000", &creds).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("psFormat"), "other keys are kept: {text}");
    let again = DockerConfig::load(&path).unwrap();
    assert_eq!(
        again
            .credentials("localhost:5000")
            .unwrap()
            .unwrap()
            .password,
        "p"
    );
    // `http://localhost:5000` names the same registry.
    assert_eq!(
        again
            .credentials("http://localhost:5000")
            .unwrap()
            .unwrap()
            .username,
        "u"
    );
    let mut again = again;
    assert!(again.erase("localhost:5000").unwrap());
    assert!(!again.erase("localhost:5000").unwrap());
    assert_eq!(
        DockerConfig::load(&path)
            .unwrap()
            .credentials("localhost:5000")
            .unwrap(),
        None
    );
    assert!(DockerConfig::load(&dir.path().join("absent.json"))
        .unwrap()
        .credentials(DOCKER_HUB_KEY)
        .unwrap()
        .is_none());
}

#[test]
fn credential_helper_is_consulted() {
    let dir = tempfile::tempdir().unwrap();
    let helper = dir.path().join("docker-credential-berthtest");
    std::fs::write(
        &helper,
        "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = reg.example:5000 ]; then\n  echo '{\"ServerURL\":\"reg.example:5000\",\"Username\":\"helped\",\"Secret\":\"s\"}'\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        r#"{"credHelpers": {"reg.example:5000": "berthtest"}}"#,
    )
    .unwrap();
    // The helper is found on PATH, as docker finds it (no other test here runs programs).
    let old = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("{}:{old}", dir.path().display()));
    let cfg = DockerConfig::load(&path).unwrap();
    let creds = cfg.credentials("reg.example:5000").unwrap().unwrap();
    assert_eq!(
        (creds.username.as_str(), creds.password.as_str()),
        ("helped", "s")
    );
    assert_eq!(cfg.credentials("other.example").unwrap(), None);
}

#[test]
fn progress_bar_as_docker_draws_it() {
    assert_eq!(human(897), "897B");
    assert_eq!(human(2_140_160), "2.14MB");
    assert_eq!(human(12_345_678), "12.35MB");
    assert_eq!(human(123_456_789), "123.5MB");
    assert_eq!(human(1_000), "1kB");
    let b = bar(1_070_080, 2_140_160);
    assert_eq!(
        b,
        format!("[{}>{}]   1.07MB/2.14MB", "=".repeat(25), " ".repeat(25))
    );
    assert!(bar(5, 5).starts_with(&format!("[{}>]", "=".repeat(50))));
}
