//! berthd's library: the Docker Engine API (v1.47) served over unix and TCP sockets. The
//! binary (`main.rs`) reads the flags and `daemon.json`, takes the data root's lock, binds
//! the listeners and serves [`router::app`]. Handlers are thin: each parses its request
//! into a typed operation, runs it against the engine on a blocking thread and serializes
//! docker's JSON; every error becomes docker's status code and `{"message": ...}` in
//! [`error`] only.

pub mod api;
pub mod build;
pub mod config;
pub mod detach;
pub mod error;
pub mod events;
pub mod execs;
pub mod health;
pub mod hijack;
pub mod listen;
pub mod lock;
pub mod monitor;
pub mod netconfig;
pub mod pending;
pub mod query;
pub mod restarts;
pub mod router;
pub mod runs;
pub mod shimio;
pub mod state;
pub mod version;

/// berth's version, as `/version` and the `Server` header report it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The newest API version served.
pub const API_VERSION: &str = "1.47";

/// The oldest API version served.
pub const MIN_API_VERSION: &str = "1.24";
