//! The last steps before the container process runs: user and groups, capabilities,
//! rlimits, no_new_privs, scheduler, I/O priority, personality, sysctls, labels and file
//! descriptors.

/// Errors while preparing the container process.
#[derive(Debug, thiserror::Error)]
pub enum Error {}
