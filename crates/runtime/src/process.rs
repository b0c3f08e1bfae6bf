//! The last steps before the container process runs: user and groups, capabilities,
//! rlimits, no_new_privs, scheduler, I/O priority, personality, sysctls, labels and file
//! descriptors.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::path::Path;

use oci_spec::runtime::{
    LinuxCapabilities, LinuxIOPriority, LinuxPersonality, PosixRlimit, Process, Scheduler, User,
};

/// Errors while preparing the container process.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// exec failed.
    #[error("exec {0}: {1}")]
    Exec(String, nix::Error),
}

/// stub
pub fn set_rlimits(_rlimits: &[PosixRlimit]) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn set_oom_score_adj(_v: i32) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn set_scheduler(_s: &Scheduler) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn set_io_priority(_p: &LinuxIOPriority) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn set_personality(_p: &LinuxPersonality) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn apply_sysctls(_s: &HashMap<String, String>, _proc_sys: &Path) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn check_labels(_p: &Process, _mount_label: Option<&str>) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn apply_labels(_p: &Process) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn switch_user(_u: &User) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn apply_capabilities(_c: Option<&LinuxCapabilities>) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn set_no_new_privs() -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn close_range_cloexec(_from: RawFd) -> Result<(), Error> {
    Ok(())
}
/// stub
pub fn find_executable(arg0: &str, _env: &[String], _cwd: &Path) -> Result<CString, Error> {
    Ok(CString::new(arg0).unwrap_or_default())
}
/// stub
pub fn chdir_in_root(cwd: &Path) -> Result<(), Error> {
    nix::unistd::chdir(cwd).map_err(|e| Error::Exec(cwd.display().to_string(), e))
}
/// stub
pub fn exec(path: &CStr, args: &[String], env: &[String]) -> Error {
    let a: Vec<CString> = args
        .iter()
        .map(|s| CString::new(s.as_str()).unwrap_or_default())
        .collect();
    let e: Vec<CString> = env
        .iter()
        .map(|s| CString::new(s.as_str()).unwrap_or_default())
        .collect();
    match nix::unistd::execve(path, &a, &e) {
        Err(err) => Error::Exec(path.to_string_lossy().into_owned(), err),
        Ok(never) => match never {},
    }
}
