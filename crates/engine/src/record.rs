//! A container as recorded on disk: `<data-root>/containers/<id>/container.json`, a
//! versioned JSON document written atomically (temporary file, fsync, rename).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::options::HostOptions;

/// The record format this code writes.
pub const RECORD_VERSION: u32 = 1;

/// What the user asked the container to run, beyond its image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Replaces the image's Cmd when not empty.
    pub cmd: Vec<String>,
    /// Replaces the image's Entrypoint when set.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=value` added to the image's environment.
    pub env: Vec<String>,
    /// Replaces the image's User when set.
    pub user: Option<String>,
    /// Replaces the image's WorkingDir when set.
    pub workdir: Option<String>,
    /// Allocate a terminal.
    pub tty: bool,
    /// Remove the container when it exits (`run --rm`).
    pub auto_remove: bool,
    /// The container's hostname (default: the first 12 characters of its id).
    #[serde(default)]
    pub hostname: Option<String>,
    /// The container's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The signal `stop` sends first (`--stop-signal`; none: the image's, else SIGTERM).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (`--stop-timeout`; none: 10).
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    /// Keep stdin open (`-i`).
    #[serde(default)]
    pub open_stdin: bool,
    /// Close stdin after the first attach ends.
    #[serde(default)]
    pub stdin_once: bool,
    /// Resources, security, logging and network settings.
    #[serde(default)]
    pub host: HostOptions,
    /// Volumes, binds and tmpfs mounts as asked for.
    #[serde(default)]
    pub mounts: crate::mounts::MountRequests,
    /// The healthcheck (the user's merged with the image's at create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::health::HealthConfig>,
}

/// A container's life stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made, never started.
    Created,
    /// Its process runs.
    Running,
    /// Its process has exited.
    Exited,
}

/// The running state of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Created, running or exited.
    pub status: Status,
    /// Host pid of the container's process while it runs.
    pub pid: i32,
    /// The process waiting for it (it records the exit), and its start time.
    pub monitor_pid: i32,
    /// Start time of the monitor (field 22 of /proc/<pid>/stat), to tell pid reuse.
    pub monitor_start: u64,
    /// The exit code, once exited.
    pub exit_code: Option<i32>,
    /// When it last started (RFC 3339).
    pub started_at: Option<String>,
    /// When it last exited (RFC 3339).
    pub finished_at: Option<String>,
    /// Why its last start failed (empty when it did not).
    #[serde(default)]
    pub error: String,
    /// Its processes are frozen (`pause`).
    #[serde(default)]
    pub paused: bool,
    /// Restarts by its restart policy since the user last started it.
    #[serde(default)]
    pub restart_count: u32,
    /// The user stopped or killed it: its restart policy waits for a start by the user.
    #[serde(default)]
    pub manually_stopped: bool,
    /// It exited and waits to be restarted by its policy.
    #[serde(default)]
    pub restarting: bool,
    /// The OOM killer ended a process of its last run.
    #[serde(default)]
    pub oom_killed: bool,
    /// What its healthcheck's probes found (none without a healthcheck).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
}

/// A container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// The record format.
    pub version: u32,
    /// 64 hex characters.
    pub id: String,
    /// Unique name, without the leading `/` docker shows in places.
    pub name: String,
    /// The image id (`sha256:...`).
    pub image_id: String,
    /// The image as the user named it.
    pub image_name: String,
    /// When the container was made (RFC 3339).
    pub created: String,
    /// The snapshot holding its writable layer (the container id).
    pub snapshot_key: String,
    /// The command it runs (entrypoint and cmd resolved against the image), for listings.
    pub command: Vec<String>,
    /// What the user asked for.
    pub config: Config,
    /// Its running state.
    pub state: State,
    /// Its mounts, resolved at create.
    #[serde(default)]
    pub mounts: Vec<crate::mounts::MountPoint>,
}

impl State {
    /// The state of a new container.
    pub fn created() -> State {
        State {
            status: Status::Created,
            pid: 0,
            monitor_pid: 0,
            monitor_start: 0,
            exit_code: None,
            started_at: None,
            finished_at: None,
            error: String::new(),
            paused: false,
            restart_count: 0,
            manually_stopped: false,
            restarting: false,
            oom_killed: false,
            health: None,
        }
    }
}

/// Now, as records write times.
pub fn now() -> String {
    berth_runtime::state::rfc3339(SystemTime::now())
}

/// Parses a time a record wrote.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(s).ok()
}

impl Container {
    /// Reads the record at `path`.
    pub fn load(path: &Path) -> Result<Container> {
        let file = std::fs::File::open(path).map_err(EngineError::io("open", path))?;
        Self::read_from(file, path)
    }

    /// Reads a record from `file` (opened at `path`).
    pub fn read_from(mut file: std::fs::File, path: &Path) -> Result<Container> {
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut raw).map_err(EngineError::io("read", path))?;
        let record: Container =
            serde_json::from_slice(&raw).map_err(|source| EngineError::Record {
                path: path.into(),
                source,
            })?;
        if record.version > RECORD_VERSION {
            return Err(EngineError::Version {
                path: path.into(),
                found: record.version,
                supported: RECORD_VERSION,
            });
        }
        Ok(record)
    }

    /// Writes the record to `path` atomically.
    pub fn save(&self, path: &Path, sync: bool) -> Result<()> {
        let data = serde_json::to_vec_pretty(self).map_err(|source| EngineError::Record {
            path: path.into(),
            source,
        })?;
        let tmp = save_tmp(path);
        let mut f = std::fs::File::create(&tmp).map_err(EngineError::io("create", &tmp))?;
        f.write_all(&data).map_err(EngineError::io("write", &tmp))?;
        if sync {
            f.sync_all().map_err(EngineError::io("sync", &tmp))?;
        }
        exchange_into(&tmp, path)
    }

    /// The first 12 characters of the id, as tables show it.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// The file a record at `path` is written to before it takes the record's place (one
/// per process: two never write the same).
pub(crate) fn save_tmp(path: &Path) -> std::path::PathBuf {
    path.with_extension(format!("tmp{}", std::process::id()))
}

/// Puts the file `tmp` at `path` atomically. The earlier file at `path` is swapped to
/// `tmp`, not freed, and the next save writes over it: saving a record again makes and
/// frees no inode (on ext4 without a journal, freeing inodes makes later allocations
/// slower: each recently freed one is skipped in turn). Without an earlier file, or on a
/// file system that cannot swap, it is a rename.
pub(crate) fn exchange_into(tmp: &Path, path: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::INVAL) => {
            std::fs::rename(tmp, path).map_err(EngineError::io("rename", path))
        }
        Err(e) => Err(EngineError::io("rename", path)(e.into())),
    }
}
