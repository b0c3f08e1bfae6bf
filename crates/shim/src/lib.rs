//! berth-shim, the per-container monitor, and the library its callers use to talk to it.
//!
//! One `berth-shim` process runs per container (or per `exec`). It creates the container
//! in-process with the runtime library, owns its stdio pipes or its terminal's master,
//! writes the json-file log, serves attach streams, reaps the init, records its exit in
//! `exit.json` and deletes the container's runtime state. It is single-threaded (one epoll
//! loop) and outlives whoever started it: killing the daemon stops nothing.
//!
//! # Starting one
//!
//! The caller runs `berth-shim start ...` or `berth-shim exec ...` ([`args::ShimCommand`]
//! builds and parses those command lines) and reads ONE JSON line from its stdout:
//! `{"pid":N,"shim_pid":M}` once the container is created (its init waits for `start`;
//! `pid` is 0 for an exec, which only begins when started) or `{"error":"..."}`.
//! [`launch::spawn`] does exactly that. The shim detaches itself (the process the caller
//! started forks the real shim and exits at once, so the caller never gets a zombie) and,
//! after the report, has /dev/null as stdio; its own later errors go to `<state>/shim.log`.
//!
//! A long-lived caller may start shims ahead of time instead: `berth-shim --wait-command`
//! forks and detaches at once, says `{"idle_pid":N}` and reads the command from its stdin
//! ([`launch::Prepared`]); it is named `berth-shim-idle` until the command comes, and
//! exits quietly if its stdin closes first. While it waits it does what does not depend
//! on the command: it finds the host's cgroup hierarchies, opens /dev/null, makes the
//! output pipes and installs the signal handling an idle process can have.
//!
//! # Files in the state directory
//!
//! - `shim.pid`: the shim's pid, written before the report, removed at the end.
//! - `shim.sock`: the control socket below, bound before the report, removed at the end.
//! - `exit.json`: `{"exit_code":N,"finished_at":"<RFC 3339, ns>","oom_killed":false}`,
//!   written atomically once the process has exited and its output is drained
//!   ([`exit::ExitStatus`]); 128 + the signal number for a process killed by a signal.
//!   Waiters are told first, then it is written, then (for a container) the cgroup is
//!   deleted and the runtime state moved here as `runtime.ended` (it goes with this
//!   directory, or at the next run's end), then the socket and pid file removed, so a
//!   new shim may start in the same directory while the old one lets its last clients
//!   read (up to 2 s).
//! - `shim.log`: the shim's own errors, appended.
//!
//! # The control socket
//!
//! A unix stream socket at `<state>/shim.sock`. Every connection starts with one JSON
//! line from the client, its *hello* ([`proto::Request`]):
//!
//! | hello | reply | then |
//! |---|---|---|
//! | `{"op":"start"}` | `{"ok":true,"pid":N}` or `{"error":"..."}` | closed |
//! | `{"op":"attach","stdin":B,"stdout":B,"stderr":B}` | `{"ok":true}` | frames both ways |
//! | `{"op":"resize","rows":R,"cols":C}` | `{"ok":true}` or `{"error":"..."}` | closed |
//! | `{"op":"wait"}` | the exit status, once there is one | closed |
//! | `{"op":"close_stdin"}` | `{"ok":true}` | closed |
//!
//! `start` starts the container (or runs the exec): a client attaches first, then starts,
//! and sees all the output. After an attach reply, bytes from the shim are Docker's
//! multiplexed frames ([`proto::frame`]): an 8-byte header (stream 1 stdout or 2 stderr,
//! three zero bytes, the payload length as a big-endian u32) and the payload; with a
//! terminal all output is stream 1. Bytes from the client are frames too: stream 0 is
//! stdin, and an empty stdin frame closes the container's stdin (so `cat` sees EOF). A
//! client that stops reading never slows the container: each client has a bounded
//! buffer, and frames that do not fit are dropped (and counted in `shim.log`). When the
//! process has exited and its output is drained, waiters get the status and attach
//! streams get EOF.
//!
//! A restarted daemon finds a live shim by its socket (and `shim.pid`), or reads
//! `exit.json` when the shim is gone.

pub mod args;
pub mod client;
pub mod exit;
pub mod launch;
pub mod proto;

pub use client::{AttachStream, ShimClient};
pub use exit::ExitStatus;

/// The control socket's name in the state directory.
pub const SOCKET: &str = "shim.sock";
/// The shim's pid file in the state directory.
pub const PID_FILE: &str = "shim.pid";
/// The exit status file in the state directory.
pub const EXIT_FILE: &str = "exit.json";
/// What the exit status is written to before it is renamed to [`EXIT_FILE`].
pub const EXIT_TMP_FILE: &str = ".exit.json.tmp";
/// The shim's own error log in the state directory.
pub const LOG_FILE: &str = "shim.log";
/// The console socket the runtime sends a terminal's master to (removed once received).
pub const CONSOLE_SOCKET: &str = "console.sock";
