//! The caller's side of starting a shim: run it with `std::process::Command` (never a
//! bare fork: the daemon is multi-threaded), read its one-line report, reap the short-lived
//! process it started as (the real shim has detached from it by then).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::args::ShimCommand;

/// Errors starting a shim.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The shim binary could not be run.
    #[error("run the shim {path}: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The system's answer.
        source: std::io::Error,
    },
    /// Its report could not be read.
    #[error("read the shim's report: {0}")]
    Read(#[source] std::io::Error),
    /// It exited without reporting (see `shim.log` in its state directory).
    #[error("the shim exited without reporting (exit status {status}); see {log}")]
    NoReport {
        /// How the process the caller started ended.
        status: std::process::ExitStatus,
        /// The shim's own log.
        log: PathBuf,
    },
    /// The report is not what the shim writes.
    #[error("the shim's report {line:?}: {source}")]
    BadReport {
        /// The line read.
        line: String,
        /// The parser's answer.
        source: serde_json::Error,
    },
    /// The shim could not create the container (or set up the exec); its message.
    #[error("{0}")]
    Failed(String),
}

/// What a shim reports once it is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// The container init's host pid (0 for an exec: it begins when started).
    pub pid: i32,
    /// The shim's pid.
    pub shim_pid: i32,
}

#[derive(Deserialize)]
struct RawReport {
    pid: Option<i32>,
    shim_pid: Option<i32>,
    error: Option<String>,
}

/// Runs the shim at `shim` with `cmd` and waits for its report.
pub fn spawn(shim: &Path, cmd: &ShimCommand) -> Result<Report, LaunchError> {
    // argv[0] is the shim's name even when it is started from a descriptor's path.
    let mut child = Command::new(shim)
        .arg0("berth-shim")
        .args(cmd.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| LaunchError::Spawn {
            path: shim.into(),
            source,
        })?;
    let mut line = String::new();
    let read = match child.stdout.take() {
        Some(out) => BufReader::new(out).read_line(&mut line),
        None => Ok(0),
    };
    // The first process exits as soon as it has forked the real shim.
    let status = child.wait().map_err(LaunchError::Read)?;
    read.map_err(LaunchError::Read)?;
    if line.is_empty() {
        return Err(LaunchError::NoReport {
            status,
            log: cmd.state().join(crate::LOG_FILE),
        });
    }
    parse_report(&line)
}

fn parse_report(line: &str) -> Result<Report, LaunchError> {
    let raw: RawReport =
        serde_json::from_str(line.trim_end()).map_err(|source| LaunchError::BadReport {
            line: line.into(),
            source,
        })?;
    if let Some(message) = raw.error {
        return Err(LaunchError::Failed(message));
    }
    match (raw.pid, raw.shim_pid) {
        (Some(pid), Some(shim_pid)) => Ok(Report { pid, shim_pid }),
        _ => Err(LaunchError::BadReport {
            line: line.into(),
            source: serde::de::Error::missing_field("pid"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_parse() {
        assert_eq!(
            parse_report("{\"pid\":12,\"shim_pid\":11}\n").unwrap(),
            Report {
                pid: 12,
                shim_pid: 11
            }
        );
        assert!(matches!(
            parse_report("{\"error\":\"no such image\"}\n"),
            Err(LaunchError::Failed(m)) if m == "no such image"
        ));
        assert!(matches!(
            parse_report("{}"),
            Err(LaunchError::BadReport { .. })
        ));
    }
}
