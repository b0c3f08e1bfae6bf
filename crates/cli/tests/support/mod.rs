//! Helpers of the `berth` tests: a real berthd on a temporary data root and socket, the
//! real `berth` binary run against it, the busybox test archives, raw tar and archive
//! building, disk measurements.
#![allow(dead_code)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_image::digest::Digest;

/// The busybox test image's ID.
pub const BUSYBOX_ID: &str =
    "sha256:0ebe78266dec858d1daf51807eac28e2d90220e2f14088001a597919ab02955b";

/// `$BERTH_TEST_IMAGES`, else the first `shared/images` beside the repository or a parent.
pub fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TEST_IMAGES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("shared/images"))
        .find(|d| d.join("busybox-1.35.docker.tar").is_file())
        .unwrap_or_else(|| {
            panic!("TEST IMAGES MISSING: no shared/images/busybox-1.35.docker.tar above {here:?}; set BERTH_TEST_IMAGES")
        })
}

/// The docker-save busybox archive.
pub fn docker_tar() -> PathBuf {
    images_dir().join("busybox-1.35.docker.tar")
}

/// The OCI-layout busybox archive.
pub fn oci_tar() -> PathBuf {
    images_dir().join("busybox-1.35.oci.tar")
}

/// The berthd binary: `$BERTH_TEST_BERTHD`, else `berthd` beside the test's target
/// directory (built by `cargo build --workspace`).
pub fn berthd_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_TEST_BERTHD").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable");
    // target/debug/deps/<test> -> target/debug/berthd
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("berthd"))
        .expect("target directory");
    assert!(
        bin.is_file(),
        "BERTHD MISSING: {} not found; run `cargo build --workspace` (or set BERTH_TEST_BERTHD)",
        bin.display()
    );
    bin
}

/// A running berthd on a fresh temporary directory on the real disk (overlay works
/// there): data root `root/`, exec root `exec/`, socket `berth.sock`, log `berthd.log`.
/// On drop its containers are removed and it is stopped.
pub struct Root {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

/// What a `berth` run gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "berth failed: {}{}", self.stdout, self.stderr);
        self.stdout
    }
}

impl Root {
    /// A new berthd on an empty data root.
    pub fn new(what: &str) -> Root {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-cli-{what}-{}-", std::process::id()))
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let mut root = Root { dir, child: None };
        root.start();
        root
    }

    /// A new berthd with busybox:1.35 loaded.
    pub fn with_busybox() -> Root {
        let root = Root::new("ctr");
        root.load(&docker_tar());
        root
    }

    /// Starts berthd (again) on this directory and waits until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "berthd already runs");
        let d = self.dir.path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("berthd.log"))
            .expect("berthd log");
        let child = Command::new(berthd_bin())
            .arg("--data-root")
            .arg(self.path())
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("-H")
            .arg(self.host())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("berthd exited ({st}) before serving:\n{}", self.log());
            }
            if UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("berthd did not listen within 20s:\n{}", self.log());
    }

    /// Stops berthd with `sig` and waits for it.
    pub fn stop(&mut self, sig: i32) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
            unsafe { libc::kill(c.id() as i32, sig) };
            c.wait().ok();
        }
    }

    /// The data root.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }

    /// `unix://<socket>`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// berthd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// A `berth` command talking to this berthd.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.arg("-H").arg(self.host()).args(args);
        c.env_remove("BERTH_HOST").env_remove("DOCKER_HOST");
        c
    }

    /// Runs `berth args...` with empty stdin.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self
            .cmd(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth");
        Run::from(out)
    }

    /// Same as [`Root::run`].
    pub fn berth(&self, args: &[&str]) -> Run {
        self.run(args)
    }

    /// Runs `berth args...`, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code,
            0,
            "berth {args:?}: {}{}\n--- berthd log ---\n{}",
            r.stdout,
            r.stderr,
            self.log()
        );
        r.stdout
    }

    /// Runs `berth args...` with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Run {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn berth");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        // A command that fails early may close its stdin: a write error is then expected.
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("wait berth");
        writer.join().ok();
        Run::from(out)
    }

    /// Loads the archive at `path`.
    /// Waits until container `name`'s log holds `text` at least `times`
    /// times (up to 20 s): how a test knows a script has installed its traps,
    /// since pid 1 ignores a signal it has no handler for yet.
    pub fn wait_log(&self, name: &str, text: &str, times: usize) {
        let mut log = String::new();
        let seen = wait_until(20, || {
            log = self.run(&["logs", name]).stdout;
            log.matches(text).count() >= times
        });
        assert!(seen, "{name} never logged {text:?} {times} times: {log:?}");
    }

    pub fn load(&self, path: &Path) -> String {
        self.ok(&["load", "-i", path.to_str().expect("utf-8 path")])
    }

    /// The committed layer snapshots.
    pub fn snapshot_count(&self) -> usize {
        let base = self.path().join("snapshots");
        ["overlay/snapshots", "vfs/snapshots"]
            .iter()
            .filter_map(|d| std::fs::read_dir(base.join(d)).ok())
            .flat_map(|rd| rd.flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with("sha256"))
            .count()
    }

    /// `du -sb` of the data root, once berthd's trash (what removals left it to delete)
    /// is empty.
    pub fn du(&self) -> u64 {
        self.wait_trash_empty();
        du_sb(&self.path())
    }

    /// Waits until nothing is left in berthd's trash (removed containers' directories are
    /// deleted after the removal's answer).
    pub fn wait_trash_empty(&self) {
        let trash = self.path().join("trash");
        let empty = || std::fs::read_dir(&trash).map_or(true, |mut d| d.next().is_none());
        assert!(wait_until(20, empty), "{} never emptied", trash.display());
    }

    /// Image IDs `images -q --no-trunc` lists.
    pub fn image_ids(&self) -> Vec<String> {
        self.run(&["images", "-q", "--no-trunc"])
            .ok()
            .lines()
            .map(String::from)
            .collect()
    }

    /// Whether anything under the data root is mounted.
    pub fn has_mounts(&self) -> bool {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.dir.path().to_str().unwrap().to_string();
        info.lines().any(|l| l.contains(&root))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.run(&["ps", "-aq", "--no-trunc"]).stdout;
            for id in ids.lines() {
                self.run(&["rm", "-f", id]);
            }
            self.run(&["network", "prune", "-f"]);
        }
        self.stop(libc::SIGTERM);
    }
}

/// Waits until `cond` holds (checked every 20 ms), for at most `secs` seconds.
pub fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// `du -sb PATH` in bytes.
pub fn du_sb(path: &Path) -> u64 {
    let out = Command::new("du")
        .arg("-sb")
        .arg(path)
        .output()
        .expect("du");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("du -sb {path:?}: {text}"))
}

/// The busybox layer: the uncompressed rootfs tar inside the docker archive.
pub fn busybox_layer() -> Vec<u8> {
    let mut a = tar::Archive::new(std::fs::File::open(docker_tar()).expect("open archive"));
    for e in a.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.path_bytes().ends_with(b"layer.tar") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut out).expect("read layer");
            return out;
        }
    }
    panic!("no layer.tar in {:?}", docker_tar());
}

/// Builds tars entry by entry with raw names (which the tar crate's setters refuse).
#[derive(Default)]
pub struct RawTar {
    pub out: Vec<u8>,
}

impl RawTar {
    fn entry(mut self, name: &str, kind: tar::EntryType, data: &[u8], link: &str) -> Self {
        let mut h = tar::Header::new_ustar();
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn dir(self, name: &str) -> Self {
        self.entry(name, tar::EntryType::Directory, &[], "")
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name, tar::EntryType::Regular, data, "")
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.entry(name, tar::EntryType::Symlink, &[], target)
    }

    pub fn hardlink(self, name: &str, target: &str) -> Self {
        self.entry(name, tar::EntryType::Link, &[], target)
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend(std::iter::repeat_n(0u8, 1024));
        self.out
    }
}

/// A `docker save` archive of one image made of `layers` (uncompressed tars), tagged
/// `tag`, whose container config is `{"Cmd": ["sh"]}`.
#[allow(dead_code)]
pub fn docker_archive(tag: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    docker_archive_with(tag, layers, serde_json::json!({ "Cmd": ["sh"] }))
}

/// [`docker_archive`] with `container_config` as the config's `config`.
pub fn docker_archive_with(
    tag: &str,
    layers: &[Vec<u8>],
    container_config: serde_json::Value,
) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": container_config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    });
    let config = serde_json::to_vec(&config).expect("config json");
    let config_name = format!("{}.json", Digest::of(&config).hex());
    let layer_names: Vec<String> = diff_ids
        .iter()
        .map(|d| format!("{}/layer.tar", d.trim_start_matches("sha256:")))
        .collect();
    let manifest =
        serde_json::json!([{ "Config": config_name, "RepoTags": [tag], "Layers": layer_names }]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).expect("append");
    };
    add(&config_name, &config);
    for (name, data) in layer_names.iter().zip(layers) {
        add(name, data);
    }
    add(
        "manifest.json",
        &serde_json::to_vec(&manifest).expect("manifest"),
    );
    b.into_inner().expect("finish archive")
}

/// What a command run on a pseudo-terminal printed, and its exit code.
pub struct PtyRun {
    pub output: String,
    pub code: i32,
}

/// Runs `cmd` with a pseudo-terminal (33 rows, 101 columns) as its stdin, stdout and
/// stderr; each step waits, then types its bytes. Gives up after `secs` seconds.
pub fn run_pty(mut cmd: Command, steps: &[(u64, &[u8])], secs: u64) -> PtyRun {
    use std::io::Read;
    use std::os::fd::OwnedFd;
    let ws = nix::pty::Winsize {
        ws_row: 33,
        ws_col: 101,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = nix::pty::openpty(Some(&ws), None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    let mut child = cmd.spawn().expect("spawn on the pty");
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    let mut reader = master.try_clone().unwrap();
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = out.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    for (ms, bytes) in steps {
        std::thread::sleep(Duration::from_millis(*ms));
        master.write_all(bytes).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(100));
    let output = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    PtyRun { output, code }
}
