//! Cgroup v1: one directory per mounted hierarchy (`root/<controller>[,<controller>]`), plus,
//! on hybrid hosts, the unified (cgroup2) tree at `root/unified`, which the container also
//! joins so it can be killed with `cgroup.kill` and listed from one place.

pub(crate) mod apply;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::layout::Mount;
use crate::placeholder::Placeholder;
use crate::{fs, v2, Result};

/// One mounted v1 hierarchy and the container's directory in it.
#[derive(Debug, Clone)]
pub(crate) struct Hierarchy {
    /// Controllers bound to it (`cpu`, `cpuacct`, ... or `systemd` for `name=systemd`).
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted.
    pub mount: PathBuf,
    /// The container's cgroup directory in it.
    pub dir: PathBuf,
}

/// The v1 backend.
#[derive(Debug, Clone)]
pub(crate) struct V1 {
    hierarchies: Vec<Hierarchy>,
    /// The container's directory in the unified tree, when `root/unified` is cgroup2.
    unified: Option<PathBuf>,
}

impl V1 {
    /// The container's directory `rel` in each of `mounts` (and in `unified`, the
    /// unified tree's mount, on hybrid hosts).
    pub fn at(mounts: &[Mount], unified: Option<&Path>, rel: &Path) -> Self {
        let hierarchies = mounts
            .iter()
            .map(|m| Hierarchy {
                controllers: m.controllers.clone(),
                mount: m.path.clone(),
                dir: m.path.join(rel),
            })
            .collect();
        Self {
            hierarchies,
            unified: unified.map(|u| u.join(rel)),
        }
    }

    /// The container's directory in the hierarchy that has `controller`, if mounted.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.hierarchy(controller).map(|h| h.dir.as_path())
    }

    /// [`V1::dir`] as the owned path it is.
    pub(crate) fn dir_buf(&self, controller: &str) -> Option<&PathBuf> {
        self.hierarchy(controller).map(|h| &h.dir)
    }

    fn hierarchy(&self, controller: &str) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }

    /// Creates the cgroup in every hierarchy; cpuset levels are seeded from their parents.
    pub fn create(&self) -> Result<()> {
        for h in &self.hierarchies {
            create_in(h)?;
        }
        self.create_unified()
    }

    /// [`V1::create`], renaming the placeholder's directory in each hierarchy where it has
    /// one in the same parent (made there before, seeded); made as usual where the rename
    /// is refused (a cgroup of that name left by a run that ended abruptly, say).
    pub fn create_from(&self, placeholder: &Placeholder) -> Result<()> {
        for h in &self.hierarchies {
            let renamed = placeholder
                .dir_in(&h.mount)
                .filter(|from| from.parent() == h.dir.parent())
                .is_some_and(|from| std::fs::rename(from, &h.dir).is_ok());
            if !renamed {
                create_in(h)?;
            }
        }
        self.create_unified()
    }

    fn create_unified(&self) -> Result<()> {
        if let Some(u) = &self.unified {
            fs::make_cgroup(u)?;
        }
        Ok(())
    }

    /// Each hierarchy's mount point and the cgroup's directory in it.
    pub fn mounts_and_dirs(&self) -> Vec<(PathBuf, PathBuf)> {
        let pair = |h: &Hierarchy| (h.mount.clone(), h.dir.clone());
        self.hierarchies.iter().map(pair).collect()
    }

    /// The cgroup's directory in the hierarchy mounted at `mount`.
    pub(crate) fn dir_in(&self, mount: &Path) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.mount == mount)
            .map(|h| h.dir.as_path())
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for dir in self.dirs() {
            fs::write_op("add process", &dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup in every v1 hierarchy (not the unified tree).
    pub fn add_process_v1_only(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for h in &self.hierarchies {
            fs::write_op("add process", &h.dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    /// The container's directory in the unified tree, when there is one.
    pub fn unified_dir(&self) -> Option<&Path> {
        self.unified.as_deref()
    }

    /// Writes the limits in `res`, after checking that every needed controller is mounted.
    pub fn apply(&self, res: &LinuxResources) -> Result<()> {
        let plan = apply::plan(self, res)?;
        plan.execute()
    }

    /// Checks that every controller `res` needs is mounted, without writing anything.
    pub fn check(&self, res: &LinuxResources) -> Result<()> {
        apply::check(self, res)
    }

    /// Freezes with the v1 freezer, or the unified tree's `cgroup.freeze` if that is all there is.
    pub fn set_frozen(&self, frozen: bool) -> Result<()> {
        match (self.dir("freezer"), &self.unified) {
            (Some(dir), _) => freezer_set(dir, frozen),
            (None, Some(u)) => v2::set_frozen(u, frozen),
            (None, None) => Err(no_freezer()),
        }
    }

    /// Whether the freezer reports the cgroup fully frozen.
    pub fn is_frozen(&self) -> Result<bool> {
        match (self.dir("freezer"), &self.unified) {
            (Some(dir), _) => Ok(freezer_state(dir)? == "FROZEN"),
            (None, Some(u)) => v2::is_frozen(u),
            (None, None) => Err(no_freezer()),
        }
    }

    /// Every process in the cgroup and its descendants (read from the unified tree if joined).
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = match &self.unified {
            Some(u) => u.as_path(),
            None => self.pid_source().ok_or(crate::Error::NotAvailable {
                op: "list processes",
                reason: "no cgroup v1 hierarchy is mounted",
            })?,
        };
        let mut out = Vec::new();
        fs::pids_recursive(dir, &mut out)?;
        Ok(out)
    }

    /// A hierarchy every member is in; prefers the controllers the runtime always joins.
    fn pid_source(&self) -> Option<&Path> {
        ["pids", "freezer", "devices", "memory"]
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.hierarchies.first().map(|h| h.dir.as_path()))
    }

    /// The unified directory's `cgroup.kill`, when the kernel offers it.
    pub fn kill_file(&self) -> Option<PathBuf> {
        let kill = self.unified.as_ref()?.join("cgroup.kill");
        kill.exists().then_some(kill)
    }

    /// Whether any freezer is available.
    pub fn can_freeze(&self) -> bool {
        self.dir("freezer").is_some() || self.unified.is_some()
    }

    /// Whether the container's cgroup exists in any hierarchy.
    pub fn exists(&self) -> bool {
        self.dirs().any(Path::is_dir)
    }

    /// Removes the cgroup from every hierarchy; reports the first failure after trying all.
    pub fn destroy(&self) -> Result<()> {
        let mut first = Ok(());
        for dir in self.dirs() {
            let r = fs::remove_cgroup(dir);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// The container's directory in each hierarchy, then the unified one.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs().map(Path::to_path_buf).collect()
    }

    fn dirs(&self) -> impl Iterator<Item = &Path> {
        let dirs = self.hierarchies.iter().map(|h| h.dir.as_path());
        dirs.chain(self.unified.as_deref())
    }

    /// Where the hierarchy with `controller` is mounted.
    pub fn mount(&self, controller: &str) -> Option<&Path> {
        self.hierarchy(controller).map(|h| h.mount.as_path())
    }
}

/// Creates the cgroup in one hierarchy, seeding cpuset levels from their parents.
fn create_in(h: &Hierarchy) -> Result<()> {
    let made = fs::make_cgroup(&h.dir)?;
    match (h.controllers.iter().any(|c| c == "cpuset"), made) {
        (true, true) => init_cpuset(&h.mount, &h.dir),
        // There before (left by a run that ended abruptly): checked level by level.
        (true, false) => init_cpuset_levels(&h.mount, &h.dir),
        (false, _) => Ok(()),
    }
}

fn no_freezer() -> crate::Error {
    crate::Error::NotAvailable {
        op: "freeze",
        reason: "neither the v1 freezer nor a unified cgroup2 tree is mounted",
    }
}

/// Seeds the new cgroup `dir` (below `mount`) with its parent's `cpuset.cpus` and
/// `cpuset.mems`: the kernel refuses tasks in a cpuset cgroup with no cpus or mems. A new
/// v1 cpuset cgroup starts empty (or with its parent's values, under `clone_children`), so
/// the parent's values are written without reading the child's. A parent that is empty
/// itself (made by someone else and never seeded) sends this to [`init_cpuset_levels`].
fn init_cpuset(mount: &Path, dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent().filter(|p| p.starts_with(mount)) else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let theirs = fs::read(&parent.join(file))?;
        if theirs.trim().is_empty() {
            return init_cpuset_levels(mount, dir);
        }
        fs::write_op("initialise cpuset", &dir.join(file), theirs.trim())?;
    }
    Ok(())
}

/// Copies `cpuset.cpus` and `cpuset.mems` from parent to child at every level below `mount`
/// that has them empty.
fn init_cpuset_levels(mount: &Path, dir: &Path) -> Result<()> {
    let Ok(rel) = dir.strip_prefix(mount) else {
        return Ok(());
    };
    let mut parent = mount.to_path_buf();
    for comp in rel.components() {
        let child = parent.join(comp);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = fs::read(&child.join(file))?;
            if mine.trim().is_empty() {
                let theirs = fs::read(&parent.join(file))?;
                fs::write_op("initialise cpuset", &child.join(file), theirs.trim())?;
            }
        }
        parent = child;
    }
    Ok(())
}

fn freezer_state(dir: &Path) -> Result<String> {
    Ok(fs::read(&dir.join("freezer.state"))?.trim().to_string())
}

/// Writes `FROZEN`/`THAWED` and waits until `freezer.state` reads it back.
fn freezer_set(dir: &Path, frozen: bool) -> Result<()> {
    let want = if frozen { "FROZEN" } else { "THAWED" };
    let file = dir.join("freezer.state");
    fs::write_op("set freezer.state", &file, want)?;
    let op = if frozen { "freeze" } else { "thaw" };
    let waited = fs::wait_until(op, &file, || {
        let state = freezer_state(dir)?;
        if state != want {
            // A freeze can stall in FREEZING while a task sleeps uninterruptibly: ask again.
            fs::write_op("set freezer.state", &file, want)?;
        }
        Ok(state == want)
    });
    if waited.is_err() && frozen {
        fs::write_op("set freezer.state", &file, "THAWED")?;
    }
    waited
}
