//! `login`, `push`, `pull`, `search`, `logout` and the implicit pull of `run`, through a
//! berthd, against a registry served in this test (`berth-registry`'s server behind
//! htpasswd), with the credentials in a `config.json` of the test's own.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use berth_registry::server::{self, Htpasswd, Registry, Storage};
use support::{Root, Run, BUSYBOX_ID};

/// A registry restricted to alice:s3cret in `dir`; returns its address.
fn registry(dir: &Path, rt: &tokio::runtime::Runtime) -> String {
    let file = dir.join("htpasswd");
    std::fs::write(
        &file,
        format!("alice:{}\n", bcrypt::hash("s3cret", 4).unwrap()),
    )
    .unwrap();
    let reg = Arc::new(Registry {
        storage: Storage::open(&dir.join("data")).unwrap(),
        users: Some(Htpasswd::load(&file).unwrap()),
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    rt.spawn(server::serve(listener, server::app(reg), None));
    addr
}

/// Runs `berth args...` with `DOCKER_CONFIG` pointing into the root's directory.
fn berth(root: &Root, args: &[&str], stdin: &str) -> Run {
    let mut child = root
        .cmd(args)
        .env("DOCKER_CONFIG", root.dir.path().join("cli"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).ok();
    Run::from(child.wait_with_output().unwrap())
}

#[test]
fn login_push_pull_search_logout_and_run() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = Root::with_busybox();
    let reg = registry(root.dir.path(), &rt);
    let image = format!("{reg}/cli/busybox:1");
    root.ok(&["tag", "busybox:1.35", &image]);

    let wrong = berth(&root, &["login", "-u", "alice", "-p", "nope", &reg], "");
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stderr.contains("401 Unauthorized"),
        "{}",
        wrong.stderr
    );
    let push = berth(&root, &["push", &image], "");
    assert_ne!(push.code, 0, "pushed without logging in");

    let login = berth(
        &root,
        &["login", "-u", "alice", "--password-stdin", &reg],
        "s3cret\n",
    );
    assert_eq!(login.stdout, "Login Succeeded\n", "{}", login.stderr);
    let config = std::fs::read_to_string(root.dir.path().join("cli/config.json")).unwrap();
    assert!(config.contains(&reg), "{config}");

    let push = berth(&root, &["push", &image], "");
    assert_eq!(push.code, 0, "{}", push.stderr);
    assert!(push.stdout.starts_with(&format!(
        "The push refers to repository [{reg}/cli/busybox]\n"
    )));
    let digest_line = push
        .stdout
        .lines()
        .find(|l| l.starts_with("1: digest: sha256:"))
        .unwrap();
    let digest = digest_line.split_whitespace().nth(2).unwrap().to_string();

    root.ok(&["rmi", &image]);
    let pull = berth(&root, &["pull", &image], "");
    assert_eq!(pull.code, 0, "{}", pull.stderr);
    assert!(
        pull.stdout.contains(&format!("Digest: {digest}\n")),
        "{}",
        pull.stdout
    );
    assert!(
        pull.stdout.ends_with(&format!("{image}\n")),
        "{}",
        pull.stdout
    );
    let digests = root.ok(&[
        "images",
        "--digests",
        "--format",
        "{{.Digest}}",
        &format!("{reg}/cli/busybox"),
    ]);
    assert_eq!(digests.trim(), digest);

    let search = berth(
        &root,
        &["search", "--format", "{{.Name}}", &format!("{reg}/cli")],
        "",
    );
    assert_eq!(search.stdout, "cli/busybox\n", "{}", search.stderr);

    // `run` of a missing image pulls it first.
    root.ok(&["rmi", &image]);
    let run = berth(&root, &["run", "--rm", &image, "echo", "ran"], "");
    assert_eq!(run.stdout, "ran\n", "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("Unable to find image '{image}' locally")),
        "{}",
        run.stderr
    );
    let ids = root.ok(&["images", "-q", "--no-trunc", &format!("{reg}/cli/busybox")]);
    assert_eq!(ids.trim(), BUSYBOX_ID);

    let logout = berth(&root, &["logout", &reg], "");
    assert_eq!(
        logout.stdout,
        format!("Removing login credentials for {reg}\n")
    );
    root.ok(&["rmi", &image]);
    let denied = berth(&root, &["pull", &image], "");
    assert_eq!(denied.code, 1);
    assert!(
        denied.stderr.contains("pull access denied"),
        "{}",
        denied.stderr
    );
}
