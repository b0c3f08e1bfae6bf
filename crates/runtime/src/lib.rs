//! berth's container runtime: turns an OCI runtime bundle (`config.json` plus a root
//! filesystem) into an isolated, limited process, and manages it through its life (create,
//! start, state, kill, exec, pause, resume, update, delete). The `berth-runtime` binary wraps
//! this library in runc's command line; the shim calls it in-process.

pub mod error;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod selfexe;

pub use error::{Error, Result};
pub mod console;
pub mod container;
pub mod devices;
pub mod exec;
pub mod hooks;
pub mod init;
pub mod log;
pub mod manage;
pub mod namespaces;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sync;
pub mod wait;
