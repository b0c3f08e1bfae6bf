//! Container cgroups made ahead of time. An idle prepared shim makes its future container's
//! v1 cgroup under a placeholder name, `<parent>/berth-idle-<pid>`, in every hierarchy (the
//! cpuset seeded); when its command comes, [`crate::Manager::create_from`] renames each to
//! the container's name (cgroup v1 renames a cgroup within its parent): one rename instead of
//! a mkdir and the cpuset copies per hierarchy, at the time that counts. A cgroup2 directory
//! cannot be renamed: the unified tree's is made as before.
//!
//! Placeholders must not outlive their shim: it removes what it did not take
//! ([`Placeholder::remove`]), and [`sweep`] removes those of shims that ended abruptly.

use std::path::Path;

use crate::layout::Kind;
use crate::v1::V1;
use crate::{fs, relative, Error, Hierarchies, Result};

/// The name of a placeholder cgroup is this followed by its process's pid.
pub const PLACEHOLDER_PREFIX: &str = "berth-idle-";

/// Process names (`/proc/<pid>/comm`) of shims, idle or serving: their placeholders are
/// alive (a shim that just got its command renames its placeholder as it creates).
const SHIM_NAMES: [&str; 2] = ["berth-shim-idle", "berth-shim"];

/// A container cgroup made ahead under a placeholder name in every v1 hierarchy.
#[derive(Debug, Clone)]
pub struct Placeholder {
    v1: V1,
}

impl Placeholder {
    /// Makes `<parent>/berth-idle-<pid>` in every v1 hierarchy of `h` (and `parent` if
    /// missing), cpuset seeded. On cgroup v2 there is nothing to make ahead (an error);
    /// when a step fails, what was made is removed.
    pub fn make(h: &Hierarchies, parent: &Path, pid: u32) -> Result<Self> {
        let Kind::V1 { mounts, .. } = h.kind() else {
            return Err(Error::NotAvailable {
                op: "make a placeholder cgroup",
                reason: "cgroup v2 directories cannot be renamed",
            });
        };
        let rel = relative(&parent.join(format!("{PLACEHOLDER_PREFIX}{pid}")))?;
        let v1 = V1::at(mounts, None, &rel);
        if let Err(e) = v1.create() {
            let _ = v1.destroy();
            return Err(e);
        }
        Ok(Self { v1 })
    }

    /// Removes the placeholder directories not taken by a container (those renamed are
    /// gone already).
    pub fn remove(&self) -> Result<()> {
        self.v1.destroy()
    }

    /// The placeholder's directory in the hierarchy mounted at `mount`.
    pub(crate) fn dir_in(&self, mount: &Path) -> Option<&Path> {
        self.v1.dir_in(mount)
    }
}

/// Removes the placeholders under `parent` (in every v1 hierarchy of `h`) whose process
/// is gone or is no berth shim: left by a shim that was killed. They are looked for in the
/// first hierarchy (a placeholder has a directory in each). Best effort: what cannot be
/// listed or removed is left for the next sweep.
pub fn sweep(h: &Hierarchies, parent: &Path) {
    let (Kind::V1 { mounts, .. }, Ok(rel)) = (h.kind(), relative(parent)) else {
        return;
    };
    let Some(first) = mounts.first() else {
        return;
    };
    let Ok(children) = fs::child_dirs(&first.path.join(&rel)) else {
        return;
    };
    for name in children.iter().filter_map(|d| stale_name(d)) {
        for mount in mounts {
            let _ = fs::remove_cgroup(&mount.path.join(&rel).join(name));
        }
    }
}

/// The name of `dir` if it is a placeholder whose shim is gone.
fn stale_name(dir: &Path) -> Option<&std::ffi::OsStr> {
    let name = dir.file_name()?;
    let pid: u32 = name
        .to_str()?
        .strip_prefix(PLACEHOLDER_PREFIX)?
        .parse()
        .ok()?;
    let stale = match std::fs::read_to_string(format!("/proc/{pid}/comm")) {
        Ok(comm) => !SHIM_NAMES.contains(&comm.trim_end()),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    stale.then_some(name)
}
