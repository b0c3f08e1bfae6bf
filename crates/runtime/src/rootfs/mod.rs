//! The container's root filesystem: mounts, /dev, pivot_root (or chroot), masked and
//! read-only paths.

use std::path::Path;

/// Errors while setting up the root filesystem.
#[derive(Debug, thiserror::Error)]
pub enum Error {}

/// What the root filesystem setup needs to know.
pub struct Options<'a> {
    /// Absolute path of the container's root.
    pub rootfs: &'a Path,
    /// The container's spec.
    pub spec: &'a oci_spec::runtime::Spec,
    /// Use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// A user namespace is in use.
    pub in_userns: bool,
    /// The container has its own network namespace.
    pub new_netns: bool,
    /// A cgroup namespace is in use.
    pub cgroup_ns: bool,
}

/// Mounts everything before the root changes.
pub fn prepare(_opts: &Options) -> Result<(), Error> {
    Ok(())
}
/// Changes the root.
pub fn enter(_opts: &Options) -> Result<(), Error> {
    Ok(())
}
/// Masked and read-only paths, read-only root.
pub fn finalize(_opts: &Options) -> Result<(), Error> {
    Ok(())
}
/// Binds the pty slave onto /dev/console.
pub fn bind_console(_slave_path: &Path) -> Result<(), Error> {
    Ok(())
}
