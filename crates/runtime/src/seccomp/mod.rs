//! Seccomp filters from `linux.seccomp`, compiled with libseccomp.

/// Errors while building or loading a seccomp filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {}
