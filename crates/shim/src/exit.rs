//! `exit.json`: how the shim's process ended, written atomically once it has exited and
//! its output is drained, and read by whoever comes later (a restarted daemon, the
//! engine finishing a container whose shim is gone).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::EXIT_FILE;

/// Errors reading or writing `exit.json`.
#[derive(Debug, thiserror::Error)]
pub enum ExitError {
    /// The file could not be read, written or renamed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's answer.
        source: std::io::Error,
    },
    /// The file is not an exit status.
    #[error("parse {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's answer.
        source: serde_json::Error,
    },
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Its exit code; 128 + the signal number if a signal killed it.
    pub exit_code: i32,
    /// When it was seen to exit, RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
    /// Whether the OOM killer ended it.
    pub oom_killed: bool,
}

impl ExitStatus {
    /// The status of a process that exited with `code` at `when`.
    pub fn new(code: i32, when: SystemTime) -> ExitStatus {
        ExitStatus {
            exit_code: code,
            finished_at: berth_runtime::state::rfc3339(when),
            oom_killed: false,
        }
    }

    /// The status recorded in `state_dir`, if there is one.
    pub fn read(state_dir: &Path) -> Result<Option<ExitStatus>, ExitError> {
        let path = state_dir.join(EXIT_FILE);
        let raw = match std::fs::read(&path) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ExitError::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|source| ExitError::Parse { path, source })
    }

    /// Writes the status to `state_dir` atomically (temporary file, rename). Not synced:
    /// the file tells a restarted berthd how a run ended, which a power loss makes moot
    /// (every run ends with it), and a sync on a busy file system can hold up the exit
    /// for tens of milliseconds.
    pub fn write(&self, state_dir: &Path) -> Result<(), ExitError> {
        let path = state_dir.join(EXIT_FILE);
        let tmp = state_dir.join(crate::EXIT_TMP_FILE);
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| ExitError::Io { op, path, source }
        };
        // Plain data: serializing cannot fail.
        let data = serde_json::to_vec(self).unwrap_or_default();
        let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
        f.write_all(&data).map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename", &path))
    }

    /// Removes a status left by an earlier run, before a new one starts.
    pub fn clear(state_dir: &Path) -> Result<(), ExitError> {
        let path = state_dir.join(EXIT_FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ExitError::Io {
                op: "remove",
                path,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_status_reads_back_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ExitStatus::read(dir.path()).unwrap(), None);
        let st = ExitStatus::new(137, SystemTime::UNIX_EPOCH);
        st.write(dir.path()).unwrap();
        let raw = std::fs::read_to_string(dir.path().join(EXIT_FILE)).unwrap();
        assert_eq!(
            raw,
            r#"{"exit_code":137,"finished_at":"1970-01-01T00:00:00.000000000Z","oom_killed":false}"#
        );
        assert_eq!(ExitStatus::read(dir.path()).unwrap(), Some(st));
        ExitStatus::clear(dir.path()).unwrap();
        ExitStatus::clear(dir.path()).unwrap();
        assert_eq!(ExitStatus::read(dir.path()).unwrap(), None);
    }
}
