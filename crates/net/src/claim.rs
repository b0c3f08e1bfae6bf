//! Which daemon owns which bridges, host-wide: a running daemon holds a lock on
//! `<dir>/<default bridge>.lock`, which lists its bridges. A lock nobody holds is a
//! daemon that died (`kill -9`, a crash); a daemon starting reaps what such a daemon
//! left that nothing uses (its bridges with no ports, then its nftables table): its own
//! restart would make them again from its state.

use std::io::Write;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::firewall::Change;
use crate::host::Host;
use crate::nft;

/// Errors of claiming a bridge name.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another running daemon uses the bridge name.
    #[error("bridge {0} is in use by another berthd (choose another with --bridge)")]
    Taken(String),
    /// The lock file could not be made or locked.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The lock file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A daemon's hold on its bridge name, released when dropped (or the daemon dies).
#[derive(Debug)]
pub struct Claim {
    _lock: Flock<std::fs::File>,
}

fn lock_path(dir: &Path, bridge: &str) -> PathBuf {
    dir.join(format!("{bridge}.lock"))
}

/// Takes the claim on `bridge` in `dir`, then reaps what dead daemons left (see
/// [`reap`]); both under a lock on `dir`, so that a daemon reaping never takes a claim
/// file another is making for its own.
pub fn claim(dir: &Path, bridge: &str, host: &dyn Host) -> Result<Claim, ClaimError> {
    let guard_path = dir.join(".guard");
    let io = |op| {
        let path = guard_path.clone();
        move |source| ClaimError::Io { op, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("create"))?;
    let f = std::fs::File::create(&guard_path).map_err(io("create"))?;
    let _guard = Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| io("lock")(e.into()))?;
    let claim = take(dir, bridge)?;
    reap(dir, bridge, host);
    Ok(claim)
}

/// Takes the claim on `bridge` in `dir`.
fn take(dir: &Path, bridge: &str) -> Result<Claim, ClaimError> {
    let path = lock_path(dir, bridge);
    let io = |op| {
        let path = path.clone();
        move |source| ClaimError::Io { op, path, source }
    };
    std::fs::create_dir_all(dir).map_err(io("create"))?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io("open"))?;
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Claim { _lock: lock }),
        Err((_, nix::Error::EWOULDBLOCK)) => Err(ClaimError::Taken(bridge.into())),
        Err((_, e)) => Err(io("lock")(e.into())),
    }
}

/// Records that the daemon of `bridge` has `bridges` (written over the lock file).
pub fn record(dir: &Path, bridge: &str, bridges: &[String]) {
    let path = lock_path(dir, bridge);
    let text: String = bridges.iter().map(|b| format!("{b}\n")).collect();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
    {
        f.write_all(text.as_bytes()).ok();
    }
}

/// Forgets the claim file of `bridge` (its daemon has nothing left).
pub fn forget(dir: &Path, bridge: &str) {
    std::fs::remove_file(lock_path(dir, bridge)).ok();
}

/// Whether bridge `name` has ports (veths) attached; a missing one has none.
fn has_ports(name: &str) -> bool {
    std::fs::read_dir(format!("/sys/class/net/{name}/brif"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

/// Reaps what dead daemons left in `dir` (all but `mine`): their bridges without ports,
/// and, when none is left, their table and claim file. Returns the bridges removed.
fn reap(dir: &Path, mine: &str, host: &dyn Host) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".lock"))
            .map(String::from)
        else {
            continue;
        };
        if stem == mine {
            continue;
        }
        removed.extend(reap_one(&path, &stem, host));
    }
    removed
}

fn reap_one(path: &Path, default_bridge: &str, host: &dyn Host) -> Vec<String> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    // A lock that is held: its daemon runs.
    let Ok(_lock) = Flock::lock(f, FlockArg::LockExclusiveNonblock) else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut bridges: Vec<String> = text.lines().map(String::from).collect();
    if !bridges.iter().any(|b| b == default_bridge) {
        bridges.push(default_bridge.into());
    }
    let mut removed = Vec::new();
    let mut busy = false;
    for b in &bridges {
        if has_ports(b) {
            busy = true;
        } else if host.delete_link(b).is_ok() {
            removed.push(b.clone());
        }
    }
    if !busy {
        let table = nft::table_name(default_bridge);
        host.firewall(&table, &Change::Delete).ok();
        std::fs::remove_file(path).ok();
    }
    removed
}
