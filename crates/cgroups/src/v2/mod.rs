//! Cgroup v2: one directory in the unified tree. Controllers are enabled in
//! `cgroup.subtree_control` from the root down for the ones a resource needs; devices are
//! governed by an eBPF program ([`devices`]).

mod apply;
mod bpf;
pub(crate) mod devices;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::{fs, Error, Result};

/// The v2 backend.
#[derive(Debug, Clone)]
pub(crate) struct V2 {
    root: PathBuf,
    rel: PathBuf,
    dir: PathBuf,
}

impl V2 {
    /// The cgroup `rel` under the unified tree mounted at `root`.
    pub fn new(root: &Path, rel: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            rel: rel.to_path_buf(),
            dir: root.join(rel),
        }
    }

    /// The container's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// [`V2::dir`] as the owned path it is.
    pub(crate) fn dir_buf(&self) -> &PathBuf {
        &self.dir
    }

    /// Creates the directory (and any missing ancestors).
    pub fn create(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(Error::io("create cgroup", &self.dir))
    }

    /// Moves `pid` into the cgroup.
    pub fn add_process(&self, pid: i32) -> Result<()> {
        fs::write_op(
            "add process",
            &self.dir.join("cgroup.procs"),
            &pid.to_string(),
        )
    }

    /// Checks that `res` can be applied here without writing anything.
    pub fn check(&self, res: &LinuxResources) -> Result<()> {
        apply::check(self, res)
    }

    /// Enables the needed controllers, writes the limits, then installs the device filter.
    pub fn apply(&self, res: &LinuxResources) -> Result<()> {
        apply::check(self, res)?;
        self.enable(&apply::controllers(res))?;
        apply::plan(self, res)?.execute()?;
        if let Some(list) = res.devices() {
            devices::apply(&self.dir, &crate::devices::rules(list))?;
        }
        Ok(())
    }

    /// Enables `controllers` in `cgroup.subtree_control` of every ancestor, root first.
    fn enable(&self, controllers: &[(String, String)]) -> Result<()> {
        if controllers.is_empty() {
            return Ok(());
        }
        let mut parent = self.root.clone();
        for comp in self.rel.components() {
            enable_in(&parent, controllers)?;
            parent.push(comp);
        }
        Ok(())
    }

    /// Every process in the cgroup and its descendants.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        fs::pids_recursive(&self.dir, &mut out)?;
        Ok(out)
    }

    /// `cgroup.kill`, when the kernel offers it (5.14+).
    pub fn kill_file(&self) -> Option<PathBuf> {
        let kill = self.dir.join("cgroup.kill");
        kill.exists().then_some(kill)
    }

    /// Whether the directory exists.
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Removes the cgroup and any child cgroups.
    pub fn destroy(&self) -> Result<()> {
        fs::remove_cgroup(&self.dir)
    }
}

/// Writes `+controller` for each of `controllers` (name, field) missing from `dir`'s
/// `cgroup.subtree_control`; a controller the parent does not offer is an error naming the field.
fn enable_in(dir: &Path, controllers: &[(String, String)]) -> Result<()> {
    let subtree_file = dir.join("cgroup.subtree_control");
    let subtree = fs::read(&subtree_file)?;
    let enabled = |c: &str| {
        subtree
            .split_whitespace()
            .any(|e| e.trim_start_matches('+') == c)
    };
    let missing: Vec<&(String, String)> = controllers.iter().filter(|(c, _)| !enabled(c)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let available = fs::read(&dir.join("cgroup.controllers"))?;
    let mut line = String::new();
    for (c, field) in missing {
        if !available.split_whitespace().any(|a| a == c) {
            let reason = format!(
                "cgroup v2 controller {c} is not available in {}",
                dir.display()
            );
            return Err(Error::invalid(field.clone(), reason));
        }
        line.push_str(&format!("+{c} "));
    }
    fs::write_op("enable controllers", &subtree_file, line.trim_end())
}

/// Writes `cgroup.freeze` and waits until `cgroup.events` reports the new state.
pub(crate) fn set_frozen(dir: &Path, frozen: bool) -> Result<()> {
    fs::write_op(
        "set cgroup.freeze",
        &dir.join("cgroup.freeze"),
        if frozen { "1" } else { "0" },
    )?;
    let op = if frozen { "freeze" } else { "thaw" };
    let waited = fs::wait_until(op, &dir.join("cgroup.events"), || {
        Ok(is_frozen(dir)? == frozen)
    });
    if waited.is_err() && frozen {
        fs::write_op("set cgroup.freeze", &dir.join("cgroup.freeze"), "0")?;
    }
    waited
}

/// Whether `cgroup.events` says `frozen 1`.
pub(crate) fn is_frozen(dir: &Path) -> Result<bool> {
    let events = fs::read(&dir.join("cgroup.events"))?;
    Ok(fs::keyed_value(&events, "frozen") == Some(1))
}
