//! Operations on an existing container: kill, delete, pause, resume, update, listing its
//! processes and reading its statistics.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use crate::container::{to_json, Created, OciState, Runtime, Status};
use crate::hooks::{self, Kind};
use crate::{Error, Result};

/// Reads the OOM kill count of one container's cgroup ([`Runtime::oom_counter`]).
#[derive(Debug)]
pub struct OomCounter(Option<berth_cgroups::Manager>);

impl OomCounter {
    /// The processes the OOM killer ended (0 without a cgroup, or if it is gone).
    pub fn read(&self) -> u64 {
        self.0
            .as_ref()
            .and_then(|cg| cg.oom_kills().ok())
            .unwrap_or(0)
    }
}

/// How long `delete --force` waits for a killed init to go.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl Runtime {
    /// Sends `signal` to the container's init, or with `all` to every process in its cgroup.
    pub fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let saved = self.root.load(id)?;
        let status = self.status(&saved);
        if status == Status::Stopped {
            return Err(Error::BadStatus {
                id: id.into(),
                status: status.as_str(),
                want: "running",
            });
        }
        if all {
            return match self.cgroup(&saved)?.signal_all(signal) {
                // It ended meanwhile and its cgroup went with it: as if it had before.
                Err(_) if self.status(&saved) == Status::Stopped => Err(Error::BadStatus {
                    id: id.into(),
                    status: Status::Stopped.as_str(),
                    want: "running",
                }),
                r => Ok(r?),
            };
        }
        send(saved.pid, signal)
    }

    /// Deletes a container. A created or stopped one always; a running or paused one only
    /// with `force`, after killing every process in it.
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        self.delete_counting_oom(id, force).map(drop)
    }

    /// How many of container `id`'s processes the OOM killer ended, read from its cgroup
    /// (0 for a container already deleted): what [`Runtime::delete_counting_oom`] returns,
    /// for a caller that reports the end before it deletes.
    pub fn oom_kills(&self, id: &str) -> Result<u64> {
        Ok(self.oom_counter(id)?.read())
    }

    /// What reads container `id`'s OOM kill count, with its cgroup found now (state and
    /// hierarchies), so that a caller reading it when the container ends (the shim,
    /// before it reports the end) reads one file.
    pub fn oom_counter(&self, id: &str) -> Result<OomCounter> {
        let saved = match self.root.load(id) {
            Ok(s) => s,
            Err(crate::state::StateError::NotFound(_)) => return Ok(OomCounter(None)),
            Err(e) => return Err(e.into()),
        };
        Ok(OomCounter(Some(self.cgroup(&saved)?)))
    }

    /// [`Runtime::delete`], which also tells how many of the container's processes the
    /// OOM killer ended (read from its cgroup before the cgroup goes; 0 for a container
    /// already gone).
    pub fn delete_counting_oom(&self, id: &str, force: bool) -> Result<u64> {
        let saved = match self.root.load(id) {
            Ok(s) => s,
            Err(crate::state::StateError::NotFound(_)) if force => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let status = self.status(&saved);
        match status {
            Status::Running | Status::Paused if !force => {
                return Err(Error::BadStatus {
                    id: id.into(),
                    status: status.as_str(),
                    want: "stopped (use --force)",
                })
            }
            Status::Stopped => {}
            _ => self.kill_everything(&saved)?,
        }
        let cg = self.cgroup(&saved)?;
        let oom_kills = cg.oom_kills().unwrap_or(0);
        cg.destroy()?;
        self.run_poststop(&saved);
        self.root.remove(id)?;
        Ok(oom_kills)
    }

    /// Deletes a container made with [`Runtime::create_kept`] whose init has exited (its
    /// watcher reaped it): its cgroup first (any process left there is killed), then its
    /// poststop hooks, if it has any, and its state. Nothing is loaded or looked up
    /// again; a container someone else deleted meanwhile is fine.
    pub fn delete_created(&self, c: &Created) -> Result<()> {
        self.delete_created_moving(c, None)
    }

    /// [`Runtime::delete_created`], with the state directory renamed to `grave` (when
    /// given) instead of emptied and removed: for a caller whose `grave` lies in a
    /// directory deleted later anyway, off the path of whoever waits for the delete
    /// (removing a directory frees a block, which a file system mounted with `discard`
    /// discards at once). A `grave` that is taken (by a leftover of the container's last
    /// run) is removed first; one on another file system leaves the state to be removed
    /// as [`Runtime::delete_created`] does.
    pub fn delete_created_moving(&self, c: &Created, grave: Option<&Path>) -> Result<()> {
        if c.cgroup.destroy().is_err() {
            // Processes outlived the init (a container in the host's pid namespace).
            let _ = c.cgroup.signal_all(libc::SIGKILL);
            c.cgroup.destroy()?;
        }
        let dir = self.root.container_dir(&c.saved.id);
        let state_file = dir.join(crate::state::STATE_FILE);
        if c.poststop && state_file.exists() {
            self.run_poststop(&c.saved);
        }
        if grave.is_some_and(|g| move_dir(&dir, g)) {
            return Ok(());
        }
        // The exec fifo went at start: the state file is all there is, most of the time.
        match std::fs::remove_file(&state_file).and_then(|()| std::fs::remove_dir(&dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Ok(self.root.remove(&c.saved.id)?)
            }
            _ => Ok(()),
        }
    }

    /// Runs the poststop hooks of a deleted container (failures are only logged).
    fn run_poststop(&self, saved: &crate::state::Saved) {
        let Some(spec) = self.spec_with_hooks(saved, Kind::Poststop).ok().flatten() else {
            return;
        };
        let mut state = self.oci_state(saved, Some(&spec));
        state.status = "stopped".into();
        if let Err(e) = hooks::run(Kind::Poststop, Kind::Poststop.of(&spec), &to_json(&state)) {
            crate::log::warn(&e.to_string());
        }
    }

    fn kill_everything(&self, saved: &crate::state::Saved) -> Result<()> {
        let cg = self.cgroup(saved)?;
        // A frozen cgroup cannot handle SIGKILL until it is thawed.
        cg.signal_all(libc::SIGKILL)?;
        if cg.is_frozen().unwrap_or(false) {
            cg.thaw()?;
        }
        let _ = send(saved.pid, libc::SIGKILL);
        let deadline = Instant::now() + KILL_WAIT;
        while crate::state::process_start(saved.pid) == Some(saved.pid_start) {
            if Instant::now() > deadline {
                return Err(Error::Init(format!(
                    "container {:?}: init {} did not die after SIGKILL",
                    saved.id, saved.pid
                )));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Freezes every process of a running container.
    pub fn pause(&self, id: &str) -> Result<()> {
        let saved = self.root.load(id)?;
        self.require(&saved, Status::Running, "running")?;
        Ok(self.cgroup(&saved)?.freeze()?)
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        let saved = self.root.load(id)?;
        self.require(&saved, Status::Paused, "paused")?;
        Ok(self.cgroup(&saved)?.thaw()?)
    }

    fn require(&self, saved: &crate::state::Saved, want: Status, name: &'static str) -> Result<()> {
        let status = self.status(saved);
        if status == want {
            Ok(())
        } else {
            Err(Error::BadStatus {
                id: saved.id.clone(),
                status: status.as_str(),
                want: name,
            })
        }
    }

    /// Changes the resource limits of a live container.
    pub fn update(&self, id: &str, res: &LinuxResources) -> Result<()> {
        let saved = self.root.load(id)?;
        if self.status(&saved) == Status::Stopped {
            return Err(Error::BadStatus {
                id: id.into(),
                status: "stopped",
                want: "running",
            });
        }
        let cg = self.cgroup(&saved)?;
        cg.validate(res)?;
        Ok(cg.apply(res)?)
    }

    /// Host pids of every process in the container.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let saved = self.root.load(id)?;
        Ok(self.cgroup(&saved)?.pids()?)
    }

    /// Resource statistics of the container's cgroup.
    pub fn stats(&self, id: &str) -> Result<berth_cgroups::Stats> {
        let saved = self.root.load(id)?;
        Ok(self.cgroup(&saved)?.stats()?)
    }

    /// A reader of the container's cgroup statistics that keeps the files open; for a
    /// caller that samples the same running container again and again.
    pub fn sampler(&self, id: &str) -> Result<berth_cgroups::Sampler> {
        let saved = self.root.load(id)?;
        Ok(self.cgroup(&saved)?.sampler())
    }

    /// The state of one container.
    pub fn state(&self, id: &str) -> Result<OciState> {
        let saved = self.root.load(id)?;
        let spec = self.saved_spec(id).ok();
        Ok(self.oci_state(&saved, spec.as_ref()))
    }

    /// The states of every container under the root.
    pub fn list(&self) -> Result<Vec<OciState>> {
        let ids = self.root.list()?;
        Ok(ids.iter().filter_map(|id| self.state(id).ok()).collect())
    }
}

/// Renames directory `from` to `to`, removing a leftover at `to` first if there is one.
/// True if `from` is gone (moved, or not there); false if it stays (another file
/// system, say).
fn move_dir(from: &Path, to: &Path) -> bool {
    use std::io::ErrorKind;
    let moved = match std::fs::rename(from, to) {
        // A directory is only replaced by a rename if it is empty.
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::DirectoryNotEmpty | ErrorKind::AlreadyExists
            ) =>
        {
            std::fs::remove_dir_all(to).and_then(|()| std::fs::rename(from, to))
        }
        r => r,
    };
    match moved {
        Ok(()) => true,
        Err(e) => e.kind() == ErrorKind::NotFound && !from.exists(),
    }
}

fn send(pid: i32, signal: i32) -> Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    let r = unsafe { libc::kill(pid, signal) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(|e| Error::Init(format!("kill {pid} with signal {signal}: {e}")))
}
