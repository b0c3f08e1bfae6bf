//! The real docker CLI (`docker`, v28 at /usr/local/bin/docker, or `$DOCKER_CLI`) against
//! berthd: version, info, load, images (formats, quiet, digests), inspect, history, tag,
//! rmi, save piped into load, image prune, import, and container records (create, ps,
//! inspect, rename, rm). A missing docker binary fails the test loudly.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::{busybox_tar, Daemon};

/// The docker CLI binary.
fn docker_bin() -> String {
    let bin = std::env::var("DOCKER_CLI").unwrap_or_else(|_| "/usr/local/bin/docker".into());
    assert!(
        std::path::Path::new(&bin).is_file(),
        "DOCKER CLI MISSING: {bin} not found (set DOCKER_CLI to the docker client binary)"
    );
    bin
}

struct Cli<'a> {
    d: &'a Daemon,
    bin: String,
}

impl Cli<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("DOCKER_HOST", self.d.host())
            .env("DOCKER_CONFIG", self.d.dir.path().join("cli"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}): {}\n--- berthd log ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.d.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and expects failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "docker {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn cli(d: &Daemon) -> Cli<'_> {
    Cli {
        d,
        bin: docker_bin(),
    }
}

#[test]
fn version_and_info() {
    let d = Daemon::start();
    let c = cli(&d);
    let v = c.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(v.trim(), "1.47 linux");
    let info = c.ok(&[
        "info",
        "--format",
        "{{.Containers}} {{.Images}} {{.OSType}} {{.CgroupDriver}}",
    ]);
    assert_eq!(info.trim(), "0 0 linux cgroupfs");
    assert!(c.ok(&["info"]).contains("Storage Driver:"));
}

#[test]
fn image_commands() {
    let d = Daemon::start();
    let c = cli(&d);
    let tar = busybox_tar();
    let out = c.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: busybox:1.35");
    let table = c.ok(&["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY"), "{table}");
    assert!(
        lines[1].starts_with("busybox") && lines[1].contains("1.35"),
        "{table}"
    );
    let id = c.ok(&["images", "-q"]).trim().to_string();
    assert_eq!(id.len(), 12);
    let f = c.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(f.trim(), format!("busybox:1.35 {id}"));
    assert!(c
        .ok(&["images", "--digests"])
        .lines()
        .next()
        .unwrap()
        .contains("DIGEST"));
    let full = c.ok(&["image", "inspect", "-f", "{{.Id}} {{.Os}}", "busybox:1.35"]);
    assert!(full.starts_with(&format!("sha256:{id}")) && full.trim().ends_with("linux"));
    let history = c.ok(&["history", "busybox:1.35"]);
    assert!(
        history.lines().nth(1).unwrap().starts_with(&id),
        "{history}"
    );
    c.ok(&["tag", "busybox:1.35", "mine/box:v2"]);
    assert!(c.ok(&["images", "mine/box"]).contains("v2"));
    let rmi = c.ok(&["rmi", "mine/box:v2"]);
    assert_eq!(rmi.trim(), "Untagged: mine/box:v2");
    let err = c.fails(&["rmi", "nothere"]);
    assert!(err.contains("No such image: nothere:latest"), "{err}");
    let err = c.fails(&["image", "inspect", "nothere"]);
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn save_into_load_prune_and_import() {
    let d = Daemon::start();
    let c = cli(&d);
    c.ok(&["load", "-i", busybox_tar().to_str().unwrap()]);
    let saved = c.cmd(&["save", "busybox:1.35"]).output().unwrap();
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let rmi = c.ok(&["rmi", "busybox:1.35"]);
    assert!(
        rmi.contains("Untagged: busybox:1.35") && rmi.contains("Deleted: sha256:"),
        "{rmi}"
    );
    let mut load = c
        .cmd(&["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    load.stdin.take().unwrap().write_all(&saved.stdout).unwrap();
    let out = load.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Loaded image: busybox:1.35"
    );
    let layer = d.dir.path().join("layer.tar");
    let st = Command::new("tar")
        .args([
            "-cf",
            layer.to_str().unwrap(),
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "Cargo.toml",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let imported = c.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-m",
        "hi",
        layer.to_str().unwrap(),
        "imp:1",
    ]);
    assert!(imported.trim().starts_with("sha256:"), "{imported}");
    let cmd = c.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Cmd}} {{.Comment}}",
        "imp:1",
    ]);
    assert_eq!(cmd.trim(), r#"["sh"] hi"#);
    let pruned = c.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        pruned.contains("untagged: imp:1") && pruned.contains("Total reclaimed space"),
        "{pruned}"
    );
    assert_eq!(c.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn container_records() {
    let d = Daemon::start();
    let c = cli(&d);
    c.ok(&["load", "-i", busybox_tar().to_str().unwrap()]);
    let id = c.ok(&[
        "create",
        "--name",
        "web",
        "-l",
        "app=1",
        "-e",
        "A=b",
        "busybox:1.35",
        "echo",
        "hi",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = c.ok(&["ps", "-a"]);
    let row = ps.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with(&id[..12])
            && row.contains("\"echo hi\"")
            && row.contains("Created")
            && row.ends_with("web"),
        "{ps}"
    );
    assert_eq!(c.ok(&["ps", "-q"]).trim(), "");
    assert_eq!(
        c.ok(&["ps", "-aq", "--filter", "label=app=1"]).trim(),
        &id[..12]
    );
    let f = c.ok(&[
        "inspect",
        "-f",
        "{{.Name}} {{.State.Status}} {{.Config.Image}} {{index .Config.Labels \"app\"}}",
        "web",
    ]);
    assert_eq!(f.trim(), "/web created busybox:1.35 1");
    c.ok(&["rename", "web", "api"]);
    assert_eq!(c.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "api");
    let err = c.fails(&["rename", "api", "api"]);
    assert!(err.contains("same name"), "{err}");
    let err = c.fails(&["rmi", "busybox:1.35"]);
    assert!(
        err.contains("conflict") || err.contains("container"),
        "{err}"
    );
    assert_eq!(c.ok(&["rm", "api"]).trim(), "api");
    let err = c.fails(&["rm", "api"]);
    assert!(err.contains("No such container: api"), "{err}");
    let err = c.fails(&["inspect", "nothing"]);
    assert!(err.contains("No such object: nothing"), "{err}");
}
