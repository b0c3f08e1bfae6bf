//! The container's root filesystem: mounts, /dev, pivot_root (or chroot), masked and
//! read-only paths.

/// Errors while setting up the root filesystem.
#[derive(Debug, thiserror::Error)]
pub enum Error {}
