//! Helpers shared by the integration tests: unique cgroup names, a manager that cleans up
//! after itself, and child processes to put into cgroups.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

use berth_cgroups::{Manager, Version};
use oci_spec::runtime::LinuxResources;

/// The host's cgroup root (v1 hierarchies on this machine).
pub const ROOT: &str = "/sys/fs/cgroup";
/// The host's unified (cgroup2) tree.
pub const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// A cgroup path unique to this test process and `tag`.
pub fn unique(tag: &str) -> PathBuf {
    PathBuf::from(format!("/berth-test-{}-{tag}", std::process::id()))
}

/// A v1 manager on the real hierarchies.
pub fn v1(name: &Path) -> Manager {
    Manager::with_version(Path::new(ROOT), name, Version::V1).expect("v1 manager")
}

/// A v2 manager on the real unified tree.
pub fn v2(name: &Path) -> Manager {
    Manager::with_version(Path::new(UNIFIED), name, Version::V2).expect("v2 manager")
}

/// Kills what is left in the cgroup and removes it when dropped.
pub struct Cleanup(pub Manager);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.0.exists() {
            if let Err(e) = self.0.signal_all(libc::SIGKILL) {
                eprintln!("cleanup: kill: {e}");
            }
            if let Err(e) = self.0.destroy() {
                eprintln!("cleanup: destroy: {e}");
            }
        }
    }
}

/// A child process that is killed and reaped when dropped.
pub struct Kid(pub Child);

impl Kid {
    /// Its pid.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.0.id()).expect("pid")
    }

    /// Waits for it to exit.
    pub fn wait(&mut self) -> ExitStatus {
        self.0.wait().expect("wait")
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs `sh -c script`.
pub fn sh(script: &str) -> Kid {
    Kid(Command::new("sh")
        .arg("-c")
        .arg(script)
        .spawn()
        .expect("spawn sh"))
}

/// A child that sleeps until killed.
pub fn sleeper() -> Kid {
    Kid(Command::new("sleep")
        .arg("300")
        .spawn()
        .expect("spawn sleep"))
}

/// Starts `script` in a shell that runs it only after joining `m`'s cgroup, so everything it
/// allocates or opens is charged to and checked by that cgroup.
pub fn joined(m: &Manager, script: &str) -> Kid {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("read go; {script}"))
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh");
    let pid = i32::try_from(child.id()).expect("pid");
    m.add_process(pid).expect("add process");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("release child");
    Kid(child)
}

/// Runs `script` inside `m`'s cgroup (see [`joined`]) and returns its exit status.
pub fn run_in(m: &Manager, script: &str) -> ExitStatus {
    joined(m, script).wait()
}

/// Parses a `linux.resources` object.
pub fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

/// Reads a file and trims it.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// The manager's directory whose path contains `/<hierarchy>/`.
pub fn dir_of(m: &Manager, hierarchy: &str) -> PathBuf {
    let needle = format!("/{hierarchy}/");
    m.paths()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&needle))
        .unwrap_or_else(|| panic!("no {hierarchy} hierarchy in {:?}", m.paths()))
}
