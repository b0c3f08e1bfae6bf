//! Helpers of the shim tests: a busybox container prepared by the engine (snapshot,
//! mounted rootfs, docker's runtime spec) in a private data root, and the shim binary
//! run against it. Root needed (overlay mounts, namespaces, cgroups).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_engine::record::Config;
use berth_engine::spec::{self, Options};
use berth_engine::{rootfs, CreateRequest, Engine};
use berth_shim::args::{LogArgs, ShimCommand, StartArgs};
use berth_shim::launch::{self, Report};

/// The shim binary under test: `$BERTH_SHIM` (a release build, say), else this build's.
pub fn shim() -> PathBuf {
    match std::env::var_os("BERTH_SHIM").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_berth-shim")),
    }
}

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

/// A container ready for the shim: its directory is the bundle and the shim's state.
pub struct Bundle {
    /// The data root (removed on drop).
    pub root: tempfile::TempDir,
    /// The engine over it.
    pub engine: Engine,
    /// The container id.
    pub id: String,
    /// Its directory (bundle, shim state).
    pub dir: PathBuf,
}

impl Bundle {
    /// A busybox container running `cmd`, with a terminal if `tty`.
    pub fn new(cmd: &[&str], tty: bool) -> Bundle {
        let root = tempfile::Builder::new()
            .prefix(&format!("berth-shim-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        let engine = Engine::open(root.path()).unwrap();
        let tar = std::fs::File::open(images_dir().join("busybox-1.35.docker.tar")).unwrap();
        engine.images().load(tar).unwrap();
        let config = Config {
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            tty,
            ..Default::default()
        };
        let req = CreateRequest {
            image: "busybox:1.35".into(),
            name: None,
            config: config.clone(),
        };
        let c = engine.create(&req).unwrap();
        let dir = engine.containers().dir(&c.id);
        let rootfs = engine.containers().rootfs(&c.id);
        let init = engine.containers().init_layer(&c.id);
        rootfs::mount(
            engine.images().snapshotter(),
            &c.snapshot_key,
            &rootfs,
            &init,
        )
        .unwrap();
        let image = engine.images().db().resolve("busybox:1.35").unwrap();
        let image_config = engine.image_config(&image.id).unwrap();
        let opts = Options {
            id: c.id.clone(),
            cmd: config.cmd,
            tty,
            ..Default::default()
        };
        let spec = spec::container_spec(image_config.config().as_ref(), &rootfs, &opts).unwrap();
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
        Bundle {
            root,
            engine,
            id: c.id,
            dir,
        }
    }

    /// The log file the shim writes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.id))
    }

    /// `berth-shim start` arguments for this container.
    pub fn start_args(&self, stdin: bool) -> StartArgs {
        StartArgs {
            id: self.id.clone(),
            bundle: self.dir.clone(),
            runtime_root: self.engine.runtime().root.path().to_path_buf(),
            state: self.dir.clone(),
            tty: self.tty(),
            stdin,
            log: LogArgs {
                driver: "json-file".into(),
                path: Some(self.log_path()),
                opts: Default::default(),
            },
            exit_command: Vec::new(),
        }
    }

    fn tty(&self) -> bool {
        let raw = std::fs::read(self.dir.join("config.json")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        v["process"]["terminal"].as_bool().unwrap_or(false)
    }

    /// Runs the shim for this container and returns its report.
    pub fn spawn(&self, args: StartArgs) -> Report {
        launch::spawn(&shim(), &ShimCommand::Start(args)).unwrap()
    }

    /// The container's process spec, for an exec with other arguments.
    pub fn process_with(&self, args: &[&str], tty: bool) -> serde_json::Value {
        let raw = std::fs::read(self.dir.join("config.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        let mut p = v["process"].take();
        p["args"] = serde_json::json!(args);
        p["terminal"] = serde_json::json!(tty);
        p
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Kills whatever still runs; the shim then finishes and exits.
        self.engine.runtime().delete(&self.id, true).ok();
        wait_gone(
            &self.dir.join(berth_shim::PID_FILE),
            Duration::from_secs(10),
        );
        rootfs::unmount(&self.engine.containers().rootfs(&self.id)).ok();
    }
}

/// Waits until process `pid` has exited (or `timeout`); true if it did.
pub fn wait_exit(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while proc_state(pid).is_some_and(|(s, _)| s != 'Z') {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Waits until `path` no longer exists (or `timeout`); true if it went.
pub fn wait_gone(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while path.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The json-file log's lines as (stream, text).
pub fn log_lines(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["stream"].as_str().unwrap().to_string(),
                v["log"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The state letter of process `pid` and its parent, if it exists.
pub fn proc_state(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Zombie children of this process.
pub fn my_zombies() -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| proc_state(*pid) == Some(('Z', me)))
        .collect()
}

/// Private memory of process `pid` in KiB (Private_Clean + Private_Dirty), and its Rss.
pub fn private_kib(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        field("Private_Clean:") + field("Private_Dirty:"),
        field("Rss:"),
    )
}

/// Container `id`'s cgroup directories that exist now (`berth/<id>` in every hierarchy
/// under /sys/fs/cgroup, or in the unified tree at its root).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut tops = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        tops.extend(entries.flatten().map(|e| e.path()));
    }
    tops.into_iter()
        .map(|t| t.join("berth").join(id))
        .filter(|p| p.is_dir())
        .collect()
}
