//! A container's persisted state: one directory per container under the runtime root,
//! holding `state.json` (a versioned [`Saved`] record), a copy of the bundle's config and,
//! until the container is started, the `exec.fifo` its init waits on.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Errors about a container's state directory.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The id is not usable as a container id.
    #[error("invalid container id {0:?}: use letters, digits, '_', '+', '-' and '.'")]
    BadId(String),
    /// A container with this id exists already.
    #[error("container with id {0:?} already exists")]
    Exists(String),
    /// No container with this id.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// A state file could not be read, written or removed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// state.json is damaged.
    #[error("parse {path}: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        source: serde_json::Error,
    },
}

type Result<T> = std::result::Result<T, StateError>;

/// The layout version of [`Saved`].
pub const STATE_VERSION: u32 = 1;
/// The saved state's file name in a container's directory.
pub const STATE_FILE: &str = "state.json";
const CONFIG_FILE: &str = "config.json";
/// The fifo the container init blocks on until `start`.
pub const EXEC_FIFO: &str = "exec.fifo";

/// What the runtime remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// Layout version of this record.
    pub version: u32,
    /// The container id.
    pub id: String,
    /// Host pid of the container's init (0 while creating).
    pub pid: i32,
    /// Start time of the init in clock ticks since boot, to tell a reused pid apart.
    pub pid_start: u64,
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The resolved root filesystem.
    pub rootfs: PathBuf,
    /// When the container was created (RFC 3339).
    pub created: String,
    /// Uid of the user that created it.
    pub owner: u32,
    /// The cgroup filesystem root.
    pub cgroup_root: PathBuf,
    /// The container's cgroup path under that root.
    pub cgroup_path: PathBuf,
    /// Whether `start` has run, recorded only when it could not remove the exec fifo: a
    /// live init whose fifo is gone is running either way.
    pub started: bool,
    /// Whether the config is the bundle's `config.json`, read from there again, instead
    /// of a copy in the state directory (see `CreateOptions::config_in_bundle`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub config_in_bundle: bool,
}

/// The runtime root directory: one subdirectory per container.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

/// Checks a container id: non-empty, no path separators, only safe characters.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::BadId(id.to_string()))
    }
}

impl Root {
    /// Uses `dir` (created on demand) as the runtime root.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The state directory of container `id`.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Creates the state directory for a new container, failing if it exists.
    pub fn claim(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { op, path, source }
        };
        let dir = self.container_dir(id);
        // The root is nearly always there: one mkdir.
        let made = match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o711)
                    .create(&self.dir)
                    .map_err(io("create runtime root", &self.dir))?;
                fs::DirBuilder::new().mode(0o711).create(&dir)
            }
            r => r,
        };
        match made {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists(id.to_string()))
            }
            Err(e) => Err(io("create state directory", &dir)(e)),
        }
    }

    /// Loads the state of container `id`.
    pub fn load(&self, id: &str) -> Result<Saved> {
        check_id(id)?;
        let path = self.container_dir(id).join(STATE_FILE);
        let raw = match fs::read(&path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            Err(source) => {
                return Err(StateError::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        serde_json::from_slice(&raw).map_err(|source| StateError::Corrupt { path, source })
    }

    /// Reads the config.json saved at create time.
    pub fn load_config(&self, id: &str) -> Result<Vec<u8>> {
        self.load_config_of(&self.load(id)?)
    }

    /// Where the config of the container `saved` describes is kept.
    pub fn config_path(&self, saved: &Saved) -> PathBuf {
        if saved.config_in_bundle {
            return saved.bundle.join(CONFIG_FILE);
        }
        self.container_dir(&saved.id).join(CONFIG_FILE)
    }

    /// Reads the config of the container `saved` describes (saved at create time, or
    /// the bundle's).
    pub fn load_config_of(&self, saved: &Saved) -> Result<Vec<u8>> {
        let path = self.config_path(saved);
        fs::read(&path).map_err(|source| StateError::Io {
            op: "read",
            path,
            source,
        })
    }

    /// Writes the saved config.json of container `id`.
    pub fn save_config(&self, id: &str, raw: &[u8]) -> Result<()> {
        write_atomic(&self.container_dir(id).join(CONFIG_FILE), raw)
    }

    /// Writes state.json of a container atomically.
    pub fn save(&self, saved: &Saved) -> Result<()> {
        let raw = serde_json::to_vec(saved).map_err(|source| StateError::Corrupt {
            path: self.container_dir(&saved.id).join(STATE_FILE),
            source,
        })?;
        write_atomic(&self.container_dir(&saved.id).join(STATE_FILE), &raw)
    }

    /// Removes the state directory of container `id`.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.container_dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io {
                op: "remove",
                path: dir,
                source,
            }),
        }
    }

    /// Ids of every container under the root, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Io {
                    op: "list",
                    path: self.dir.clone(),
                    source,
                })
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(STATE_FILE).exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Writes `data` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let io = |op, p: &Path| {
        let path = p.to_path_buf();
        move |source| StateError::Io { op, path, source }
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    f.write_all(data).map_err(io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io("rename", path))
}

/// Formats a time as RFC 3339 with nanoseconds, as runc prints `created`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_nanos(t).to_string()
}

/// The start time (field 22 of /proc/<pid>/stat) of a live, non-zombie process.
pub fn process_start(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("abc-1.2_x+y").is_ok());
        for bad in ["", "..", "a/b", "a b", "x\0"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claim_refuses_a_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        root.claim("c1").unwrap();
        assert!(matches!(root.claim("c1"), Err(StateError::Exists(_))));
        root.remove("c1").unwrap();
        assert!(root.list().unwrap().is_empty());
    }

    #[test]
    fn start_time_of_self_is_known() {
        assert!(process_start(std::process::id() as i32).is_some());
        assert!(process_start(i32::MAX).is_none());
    }
}
