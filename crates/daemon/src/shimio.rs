//! Async talk with a shim's control socket (its protocol is in the `berth_shim` crate
//! doc): the one long-lived request berthd keeps per running container or exec, `wait`,
//! without a thread for each. Short requests (start, attach, resize) use the blocking
//! `ShimClient` on the blocking pool.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_shim::proto::{Reply, Request};
use berth_shim::ExitStatus;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// The longest socket path connected to directly (sun_path holds 108 bytes).
const MAX_SOCKET_PATH: usize = 100;

/// How a watched run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The shim recorded this status.
    Exited(ExitStatus),
    /// The shim is gone and recorded nothing (it was killed).
    Lost,
}

/// Connects to the shim of `state_dir`. A path too long for a socket address is reached
/// through the directory's descriptor (`/proc/self/fd/N/shim.sock`).
pub async fn connect(state_dir: &Path) -> std::io::Result<UnixStream> {
    let direct = state_dir.join(berth_shim::SOCKET);
    if direct.as_os_str().len() <= MAX_SOCKET_PATH {
        return UnixStream::connect(&direct).await;
    }
    let dir: OwnedFd = open(
        state_dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let path = PathBuf::from(format!(
        "/proc/self/fd/{}/{}",
        dir.as_raw_fd(),
        berth_shim::SOCKET
    ));
    let r = UnixStream::connect(&path).await;
    drop(dir);
    r
}

/// Waits for the process the shim of `state_dir` (process `shim_pid`) serves to end. A
/// shim that does not answer (it is ending, or gone) is answered from its `exit.json`,
/// which it writes once its process's output is drained and its socket is gone: while
/// the shim still lives that is waited for (up to [`ENDING`]); none from a shim that is
/// gone is [`End::Lost`].
pub async fn wait(state_dir: &Path, shim_pid: Option<i32>) -> End {
    // The grace period runs from the first time the shim does not answer (a run may
    // last any time before that).
    let mut deadline = None;
    loop {
        if let Some(status) = ask_wait(state_dir).await {
            return End::Exited(status);
        }
        let lives = shim_pid.is_some_and(lives);
        let until = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + ENDING);
        match ExitStatus::read(state_dir) {
            Ok(Some(status)) => return End::Exited(status),
            // Not written yet (or being replaced) while the shim still ends.
            Ok(None) | Err(_) if lives && tokio::time::Instant::now() < until => {
                tokio::time::sleep(RETRY).await;
            }
            // Gone: what it wrote just before it went still counts.
            Ok(None) | Err(_) => return last_look(state_dir),
        }
    }
}

/// The longest a shim takes from its process's exit to `exit.json` (its drain, 2 s,
/// and some).
const ENDING: std::time::Duration = std::time::Duration::from_secs(5);
/// How often an ending shim is asked again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// Blocks until the shim of `state_dir` (process `shim_pid`), which is ending, has
/// recorded its exit (up to [`ENDING`]); for a caller on a blocking thread.
pub fn ended(state_dir: &Path, shim_pid: Option<i32>) -> End {
    let deadline = std::time::Instant::now() + ENDING;
    loop {
        let lives = shim_pid.is_some_and(lives);
        match ExitStatus::read(state_dir) {
            Ok(Some(status)) => return End::Exited(status),
            Ok(None) | Err(_) if lives && std::time::Instant::now() < deadline => {
                std::thread::sleep(RETRY);
            }
            Ok(None) | Err(_) => return last_look(state_dir),
        }
    }
}

/// The end a shim that is gone recorded in `state_dir`, if it recorded one.
fn last_look(state_dir: &Path) -> End {
    match ExitStatus::read(state_dir) {
        Ok(Some(status)) => End::Exited(status),
        _ => End::Lost,
    }
}

/// The pid in the shim's pid file in `state_dir` (there while it serves).
pub fn shim_pid(state_dir: &Path) -> Option<i32> {
    std::fs::read_to_string(state_dir.join(berth_shim::PID_FILE))
        .ok()
        .and_then(|p| p.trim().parse().ok())
}

/// Whether process `pid` exists and is not a zombie.
fn lives(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
    }
}

/// The status a `wait` request answers; None when there is no answer.
async fn ask_wait(state_dir: &Path) -> Option<ExitStatus> {
    let mut sock = connect(state_dir).await.ok()?;
    // A unit variant always serializes.
    let mut hello = serde_json::to_vec(&Request::Wait).unwrap_or_default();
    hello.push(b'\n');
    sock.write_all(&hello).await.ok()?;
    read_status(sock).await
}

/// The status the shim answers on `waiter`, a connection that sent its wait request
/// already; None when there is no answer.
pub async fn answer(waiter: std::os::unix::net::UnixStream) -> Option<ExitStatus> {
    waiter.set_nonblocking(true).ok()?;
    read_status(UnixStream::from_std(waiter).ok()?).await
}

/// Reads a wait's reply line from `sock`.
async fn read_status(sock: UnixStream) -> Option<ExitStatus> {
    let mut line = String::new();
    BufReader::new(sock).read_line(&mut line).await.ok()?;
    let reply: Reply = serde_json::from_str(line.trim_end()).ok()?;
    Some(ExitStatus {
        exit_code: reply.exit_code?,
        finished_at: reply.finished_at?,
        oom_killed: reply.oom_killed.unwrap_or(false),
    })
}
