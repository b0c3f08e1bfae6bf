//! Reaching registries: TLS with a per-registry CA from a `certs.d` directory (and no
//! plain-HTTP fallback that could hide a refused certificate), and mirrors, tried first
//! and skipped when they lack the image. Needs root (overlay snapshots) and openssl.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use berth_image::reference::Reference;
use berth_image::store::ImageStore;
use berth_registry::client::pull::{pull, Inflight, PullRequest};
use berth_registry::client::RegistryConfig;
use support::images::{plant, Layer};
use support::{tempdir, TestRegistry};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output();
    let out = out.expect("OPENSSL MISSING: the TLS test needs the openssl command");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it: `ca.crt`, `srv.crt`, `srv.key`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=berth-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.crt",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn request(host: &str, name: &str) -> PullRequest {
    PullRequest {
        reference: Reference::parse(&format!("{host}/{name}")).unwrap(),
        platform: None,
        creds: None,
    }
}

#[test]
fn tls_with_a_ca_from_certs_d() {
    let certs = tempdir("certs");
    certificates(certs.path());
    let reg = TestRegistry::start_tls(&certs.path().join("srv.crt"), &certs.path().join("srv.key"));
    plant(
        &reg.storage(),
        "tls/image",
        "v1",
        &[Layer::gz(&[("f", "tls")])],
        |_, b| b.to_vec(),
    );
    let dir = tempdir("tls-store");
    let store = ImageStore::open(dir.path()).unwrap();
    let req = request(&reg.host(), "tls/image:v1");

    let certs_d = tempdir("certs-d");
    let without = RegistryConfig {
        certs_dir: certs_d.path().to_path_buf(),
        ..Default::default()
    };
    let err = pull(&store, &without, &req, &Inflight::default(), &|_| {}).unwrap_err();
    assert!(
        store.db().list().unwrap().is_empty(),
        "pulled without trusting the CA: {err}"
    );

    let host_dir = certs_d.path().join(reg.host());
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::copy(certs.path().join("ca.crt"), host_dir.join("ca.crt")).unwrap();
    let with = RegistryConfig {
        certs_dir: certs_d.path().to_path_buf(),
        ..Default::default()
    };
    pull(&store, &with, &req, &Inflight::default(), &|_| {}).unwrap();
}

#[test]
fn mirrors_first_then_the_registry() {
    let mirror = TestRegistry::start(None);
    let empty_mirror = TestRegistry::start(None);
    let upstream = TestRegistry::start(None);
    let (_, id) = plant(
        &mirror.storage(),
        "lib/img",
        "v1",
        &[Layer::gz(&[("m", "mirror")])],
        |_, b| b.to_vec(),
    );
    let (_, up_id) = plant(
        &upstream.storage(),
        "lib/img",
        "v1",
        &[Layer::gz(&[("u", "up")])],
        |_, b| b.to_vec(),
    );

    // A registry nobody listens on, served by its mirror.
    let dead = "127.0.0.1:9";
    let config = RegistryConfig {
        mirrors: HashMap::from([(dead.to_string(), vec![mirror.url("")])]),
        ..Default::default()
    };
    let dir = tempdir("mirror");
    let store = ImageStore::open(dir.path()).unwrap();
    let pulled = pull(
        &store,
        &config,
        &request(dead, "lib/img:v1"),
        &Inflight::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(pulled.id, id);

    // A mirror without the image is skipped.
    let config = RegistryConfig {
        mirrors: HashMap::from([(upstream.host(), vec![empty_mirror.url("")])]),
        ..Default::default()
    };
    let pulled = pull(
        &store,
        &config,
        &request(&upstream.host(), "lib/img:v1"),
        &Inflight::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(pulled.id, up_id);
}
