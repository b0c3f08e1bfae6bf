//! The engine: what turns an image into a container the way docker does, and what a
//! container's life is without a daemon. It writes the runtime spec docker would give the
//! container (default capabilities, masked paths, mounts, the image's command,
//! environment, user and working directory), keeps containers (records, writable
//! snapshots, rootfs mounts), runs them through the runtime library, and exports, diffs
//! and commits them. The CLI uses it now and berthd later.

pub mod archive;
pub mod build;
pub mod change;
pub mod commit;
pub mod engine;
pub mod error;
pub mod exec;
pub mod export;
pub mod health;
pub mod lifecycle;
pub mod mounts;
pub mod names;
pub mod networks;
pub mod options;
pub mod record;
pub mod rename;
pub mod rootfs;
mod shimpool;
mod spares;
pub mod spec;
pub mod store;
pub mod trash;
pub mod user;
pub mod volumes;

pub use commit::CommitRequest;
pub use engine::{CreateRequest, Engine};
pub use error::{EngineError, StartKind};
