//! daemon.json's registry keys: `registry-mirrors` as docker's list (Docker Hub's
//! mirrors) or as berth's per-registry map, `insecure-registries`, and their flags.

use std::collections::BTreeMap;

use berth_daemon::config::{Flags, Settings};
use clap::Parser;

fn load(json: &str, args: &[&str]) -> Settings {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("daemon.json");
    std::fs::write(&file, json).unwrap();
    let mut all = vec!["berthd", "--config-file", file.to_str().unwrap()];
    all.extend_from_slice(args);
    Settings::load(&Flags::parse_from(all)).unwrap()
}

#[test]
fn mirrors_as_a_list_are_docker_hubs() {
    let s = load(
        r#"{"registry-mirrors": ["https://mirror.example"], "insecure-registries": ["10.0.0.0/8", "reg.local:5000"]}"#,
        &[],
    );
    assert_eq!(
        s.registry_mirrors,
        BTreeMap::from([(
            "docker.io".to_string(),
            vec!["https://mirror.example".to_string()]
        )])
    );
    assert_eq!(s.insecure_registries, ["10.0.0.0/8", "reg.local:5000"]);
}

#[test]
fn mirrors_per_registry() {
    let s = load(
        r#"{"registry-mirrors": {"docker.io": ["https://a.example"], "quay.io": ["https://b.example", "https://c.example"]}}"#,
        &[],
    );
    assert_eq!(s.registry_mirrors["quay.io"].len(), 2);
    assert_eq!(s.registry_mirrors["docker.io"], ["https://a.example"]);
}

#[test]
fn flags_give_mirrors_and_insecure_registries() {
    let s = load(
        "{}",
        &[
            "--registry-mirror",
            "https://m.example",
            "--insecure-registry",
            "r.local:5000",
        ],
    );
    assert_eq!(s.registry_mirrors["docker.io"], ["https://m.example"]);
    assert_eq!(s.insecure_registries, ["r.local:5000"]);
    assert!(load("{}", &[]).registry_mirrors.is_empty());
}

#[test]
fn a_mirror_that_is_not_a_list_or_map_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("daemon.json");
    std::fs::write(&file, r#"{"registry-mirrors": 5}"#).unwrap();
    let flags = Flags::parse_from(["berthd", "--config-file", file.to_str().unwrap()]);
    let err = Settings::load(&flags).unwrap_err().to_string();
    assert!(
        err.starts_with("unable to configure the daemon with file"),
        "{err}"
    );
}
