//! Shared helpers for berth-runtime's integration tests: the runtime and probe binaries,
//! busybox bundles with a mutable `config.json`, a runtime driver with its own `--root`,
//! and checks that a deleted container left nothing behind.
//!
//! Every test file that says `mod common;` gets all of it; helpers a file does not use
//! are expected, hence the `dead_code` allowance below.
//!
//! Environment:
//! - `BERTH_TEST_RUNTIME`: runtime binary to drive instead of berth-runtime (e.g.
//!   `/usr/sbin/runc`), to check a test against a reference runtime.
//! - `BERTH_TEST_IMAGES`: directory holding `busybox-1.35.docker.tar` (default: the first
//!   `shared/images` found beside the repository or one of its parents).
//! - `BERTH_TEST_PROBE`: a prebuilt static berth-probe to use instead of building one.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The busybox image archive the bundles are made from.
const BUSYBOX_ARCHIVE: &str = "busybox-1.35.docker.tar";

/// The runtime under test: `$BERTH_TEST_RUNTIME` if set, else this crate's berth-runtime.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("BERTH_TEST_RUNTIME") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_berth-runtime")),
    }
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A static berth-probe, built once per test process (`cargo probe-static`, see
/// `.cargo/config.toml`), or `$BERTH_TEST_PROBE` if set.
pub fn probe_bin() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE
        .get_or_init(|| match std::env::var_os("BERTH_TEST_PROBE") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => build_probe(),
        })
        .clone()
}

fn build_probe() -> PathBuf {
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let out = Command::new(env!("CARGO"))
        .current_dir(repo_root())
        .args([
            "rustc",
            "-p",
            "berth-probe",
            "--bin",
            "berth-probe",
            "--release",
        ])
        .args([
            "--target",
            &target,
            "--message-format=json-render-diagnostics",
        ])
        .args(["--", "-C", "target-feature=+crt-static"])
        .stderr(Stdio::inherit())
        .output()
        .expect("spawn cargo to build berth-probe");
    assert!(
        out.status.success(),
        "building the static berth-probe failed"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| {
            msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "berth-probe"
        })
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no berth-probe executable")
}

/// The directory with the test images: `$BERTH_TEST_IMAGES`, else the first
/// `shared/images` holding the busybox archive beside the repository or a parent of it.
pub fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TEST_IMAGES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let root = fs::canonicalize(repo_root()).expect("canonicalize the repository root");
    root.ancestors()
        .map(|dir| dir.join("shared/images"))
        .find(|dir| dir.join(BUSYBOX_ARCHIVE).is_file())
        .unwrap_or_else(|| {
            panic!("TEST IMAGES MISSING: no shared/images/{BUSYBOX_ARCHIVE} beside {root:?} or its parents; set BERTH_TEST_IMAGES")
        })
}

/// Runs a helper command to completion, panicking with its stderr if it fails.
fn must(cmd: &mut Command, what: &str) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: spawn: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Extracts the single layer of a `docker save` archive into `dest`.
fn extract_docker_layer(archive: &Path, dest: &Path) {
    let manifest = must(
        Command::new("tar")
            .arg("-xOf")
            .arg(archive)
            .arg("manifest.json"),
        "read manifest.json",
    );
    let manifest: Value = serde_json::from_slice(&manifest).expect("manifest.json is JSON");
    let layer = manifest[0]["Layers"][0]
        .as_str()
        .expect("manifest names a layer");
    let mut reader = Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg(layer)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tar to read the layer");
    let layer_tar = reader.stdout.take().expect("piped stdout");
    must(
        Command::new("tar")
            .arg("-xf")
            .arg("-")
            .arg("-C")
            .arg(dest)
            .stdin(layer_tar),
        "unpack the layer",
    );
    assert!(
        reader.wait().expect("wait for tar").success(),
        "reading {layer} from {archive:?} failed"
    );
}

/// The spec `runc spec` writes (runc 1.1), with `process.terminal` false.
pub fn default_spec() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let masked = [
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/sys/firmware",
        "/proc/scsi",
    ];
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": { "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "runc",
        "mounts": default_mounts(),
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [{ "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" }],
            "maskedPaths": masked,
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

fn default_mounts() -> Value {
    let nse = ["nosuid", "noexec", "nodev"];
    json!([
        { "destination": "/proc", "type": "proc", "source": "proc" },
        { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
        { "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
        { "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": [nse[0], nse[1], nse[2], "mode=1777", "size=65536k"] },
        { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": nse },
        { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [nse[0], nse[1], nse[2], "ro"] },
        { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": [nse[0], nse[1], nse[2], "relatime", "ro"] }
    ])
}

/// An OCI bundle in a temporary directory: `rootfs/` (busybox plus `/probe`) and
/// `config.json` written from [`Bundle::spec_mut`] by [`Bundle::save`].
pub struct Bundle {
    dir: TempDir,
    spec: Value,
    runs: std::cell::Cell<u32>,
}

impl Bundle {
    /// A busybox bundle with the static probe at `/probe` and the default spec saved.
    pub fn busybox() -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .expect("bundle tempdir");
        let rootfs = dir.path().join("rootfs");
        fs::create_dir(&rootfs).expect("create rootfs dir");
        extract_docker_layer(&images_dir().join(BUSYBOX_ARCHIVE), &rootfs);
        fs::copy(probe_bin(), rootfs.join("probe")).expect("copy berth-probe into the rootfs");
        let bundle = Bundle {
            dir,
            spec: default_spec(),
            runs: 0.into(),
        };
        bundle.save();
        bundle
    }

    /// The bundle directory (what `--bundle` takes).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The root filesystem directory.
    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    /// A container id unique to this bundle (its directory name).
    pub fn id(&self) -> String {
        self.path()
            .file_name()
            .expect("tempdir has a name")
            .to_string_lossy()
            .into_owned()
    }

    /// A fresh id for each call, for repeated runs of the same bundle.
    pub fn next_id(&self) -> String {
        let n = self.runs.get();
        self.runs.set(n + 1);
        format!("{}-{n}", self.id())
    }

    /// The spec, to change before [`Bundle::save`].
    pub fn spec_mut(&mut self) -> &mut Value {
        &mut self.spec
    }

    /// The spec as it stands.
    pub fn spec(&self) -> &Value {
        &self.spec
    }

    /// Sets `process.args` (call [`Bundle::save`] afterwards).
    pub fn set_args(&mut self, args: &[&str]) {
        self.spec["process"]["args"] = json!(args);
    }

    /// Writes the spec to `config.json`.
    pub fn save(&self) {
        let text = serde_json::to_vec_pretty(&self.spec).expect("serialize spec");
        fs::write(self.path().join("config.json"), text).expect("write config.json");
    }

    /// Where a container created by [`Runtime::create`] writes its stdout or stderr
    /// (`stream` is "stdout" or "stderr").
    pub fn stdio_path(&self, id: &str, stream: &str) -> PathBuf {
        self.path().join(format!("{id}.{stream}"))
    }

    /// What a container created by [`Runtime::create`] has written to stdout so far.
    pub fn stdout_of(&self, id: &str) -> String {
        fs::read_to_string(self.stdio_path(id, "stdout")).unwrap_or_default()
    }
}

/// Panics with the command's output unless it succeeded; returns it otherwise.
pub fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A runtime binary driven with its own state directory (`--root`).
pub struct Runtime {
    bin: PathBuf,
    root: TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    /// The runtime under test ([`runtime_bin`]) with a fresh state directory.
    pub fn new() -> Runtime {
        Runtime::with_bin(runtime_bin())
    }

    /// A given runtime binary with a fresh state directory.
    pub fn with_bin(bin: PathBuf) -> Runtime {
        let root = tempfile::Builder::new()
            .prefix("berth-root-")
            .tempdir()
            .expect("runtime root tempdir");
        Runtime { bin, root }
    }

    /// The runtime binary.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The state directory passed as `--root`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `<bin> --root <root>`, ready for more arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(self.root()).stdin(Stdio::null());
        cmd
    }

    /// Runs the runtime with `args` and collects its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.bin))
    }

    /// `create --bundle <bundle> <id>`. The container keeps the runtime's stdio, so it goes
    /// to files in the bundle (see [`Bundle::stdio_path`]); the returned output holds what
    /// was written there while `create` ran (the runtime's own messages).
    pub fn create(&self, id: &str, bundle: &Bundle) -> Output {
        let open =
            |stream| fs::File::create(bundle.stdio_path(id, stream)).expect("create stdio file");
        let mut cmd = self.command();
        cmd.arg("create").arg("--bundle").arg(bundle.path()).arg(id);
        let status = cmd
            .stdout(open("stdout"))
            .stderr(open("stderr"))
            .status()
            .expect("spawn create");
        let read = |stream| fs::read(bundle.stdio_path(id, stream)).unwrap_or_default();
        Output {
            status,
            stdout: read("stdout"),
            stderr: read("stderr"),
        }
    }

    /// `start <id>`.
    pub fn start(&self, id: &str) -> Output {
        self.run(&["start", id])
    }

    /// `state <id>` parsed; panics if the runtime fails or prints no JSON.
    pub fn state(&self, id: &str) -> Value {
        let out = check(self.run(&["state", id]), &format!("state {id}"));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("state {id}: not JSON ({e})"))
    }

    /// Polls `state <id>` until its status is `status`; panics after `timeout`.
    pub fn wait_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let state = self.state(id);
            if state["status"] == status {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "{id} not {status} after {timeout:?}: {state}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `kill <id> <signal>`.
    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.run(&["kill", id, signal])
    }

    /// `delete [--force] <id>`.
    pub fn delete(&self, id: &str, force: bool) -> Output {
        let args: &[&str] = if force {
            &["delete", "--force", id]
        } else {
            &["delete", id]
        };
        self.run(args)
    }

    /// Runs `/probe <args>` in the bundle (`run --bundle`, a fresh id) and returns the
    /// runtime's output; the container's stdout is the probe's JSON.
    pub fn run_probe_output(&self, bundle: &mut Bundle, args: &[&str]) -> Output {
        let mut argv = vec!["/probe"];
        argv.extend_from_slice(args);
        bundle.set_args(&argv);
        bundle.save();
        let id = bundle.next_id();
        let mut cmd = self.command();
        cmd.arg("run").arg("--bundle").arg(bundle.path()).arg(&id);
        cmd.output()
            .unwrap_or_else(|e| panic!("spawn {:?} run: {e}", self.bin))
    }

    /// Runs `/probe <args>` in the bundle and parses its JSON report; panics if the
    /// container fails or prints anything else.
    pub fn run_probe(&self, bundle: &mut Bundle, args: &[&str]) -> Value {
        let out = check(
            self.run_probe_output(bundle, args),
            &format!("run probe {args:?}"),
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "probe {args:?}: stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

impl Drop for Runtime {
    /// Force-deletes whatever containers a (failed) test left in this state directory.
    fn drop(&mut self) {
        let Ok(entries) = fs::read_dir(self.root()) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(id) = entry.file_name().to_str() {
                // Best effort: the test itself reports what went wrong first.
                let _ = self.command().args(["delete", "--force", id]).output();
            }
        }
    }
}

/// The cgroup of this process in each mounted hierarchy, keyed by the directory name
/// under /sys/fs/cgroup (`memory`, `systemd` for name=systemd, `unified` for v2).
fn own_cgroups() -> Vec<(String, String)> {
    let text = fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    let mut out = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            out.push(("unified".to_owned(), path.to_owned()));
        }
        for c in controllers.split(',').filter(|c| !c.is_empty()) {
            out.push((c.trim_start_matches("name=").to_owned(), path.to_owned()));
        }
    }
    out
}

/// Cgroup directories a container at `rel` could have: `rel` under each hierarchy's root
/// and under this process's own cgroup there (runtimes differ in which one they use).
pub fn cgroup_candidates(rel: &str) -> BTreeSet<PathBuf> {
    let rel = rel.trim_start_matches('/');
    assert!(
        !rel.is_empty(),
        "a container's cgroup path cannot be a hierarchy root"
    );
    let base = Path::new("/sys/fs/cgroup");
    let mut out = BTreeSet::new();
    for entry in fs::read_dir(base).expect("read /sys/fs/cgroup").flatten() {
        out.insert(entry.path().join(rel));
    }
    for (hier, own) in own_cgroups() {
        out.insert(base.join(hier).join(own.trim_start_matches('/')).join(rel));
    }
    out
}

/// Asserts that container `id` left nothing behind: no state directory under
/// `runtime_root`, no cgroup directory `cgroup_rel_path` in any hierarchy (see
/// [`cgroup_candidates`]), and no mount in /proc/self/mountinfo under `bundle`.
pub fn assert_no_leftovers(runtime_root: &Path, id: &str, cgroup_rel_path: &str, bundle: &Path) {
    let state = runtime_root.join(id);
    assert!(!state.exists(), "state directory {state:?} left behind");
    let cgroups: Vec<_> = cgroup_candidates(cgroup_rel_path)
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    assert!(
        cgroups.is_empty(),
        "cgroup directories left behind: {cgroups:?}"
    );
    let bundle = bundle.to_string_lossy();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    let mounts: Vec<&str> = mountinfo
        .lines()
        .filter(|l| l.contains(bundle.as_ref()))
        .collect();
    assert!(
        mounts.is_empty(),
        "mounts under the bundle left behind: {mounts:#?}"
    );
}
