//! Namespaces: which ones a spec asks to create or join, the clone3 call that creates them,
//! joining by path, and the uid/gid maps of a new user namespace.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::sched::{setns, CloneFlags};
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

/// Errors while creating or joining namespaces.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    /// Opening or joining a namespace by path failed.
    #[error("join {typ} namespace {path}: {source}")]
    Join {
        /// Namespace type.
        typ: LinuxNamespaceType,
        /// Its path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A syscall on namespaces failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// The error number.
        source: nix::Error,
    },
    /// Writing an id map failed.
    #[error("write {path}: {source}")]
    Map {
        /// The map file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The namespace part of a spec, sorted into what to create and what to join.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Namespaces to create (clone flags).
    pub new: CloneFlags,
    /// Namespaces to join by path, in the order they must be joined.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

/// The clone flag of a namespace type.
pub fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // CLONE_NEWTIME shares its value with CSIGNAL in clone(2); nix has no constant.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// Join order: the user namespace first (it owns the others), the mount namespace last
/// (joining it changes how later paths resolve).
fn join_rank(typ: LinuxNamespaceType) -> u8 {
    match typ {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 9,
        _ => 5,
    }
}

impl Plan {
    /// Sorts the spec's namespaces into a plan.
    pub fn from_spec(spec: &Spec) -> Self {
        let mut plan = Plan {
            new: CloneFlags::empty(),
            join: Vec::new(),
        };
        let list = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        for ns in list.into_iter().flatten() {
            match ns.path() {
                Some(p) => plan.join.push((ns.typ(), p.clone())),
                None => plan.new |= flag(ns.typ()),
            }
        }
        plan.join.sort_by_key(|(t, _)| join_rank(*t));
        plan
    }

    /// Whether the container gets (or joins) a namespace of this type.
    pub fn has(&self, typ: LinuxNamespaceType) -> bool {
        self.new.contains(flag(typ)) || self.join.iter().any(|(t, _)| *t == typ)
    }

    /// Whether a namespace of this type is created new.
    pub fn creates(&self, typ: LinuxNamespaceType) -> bool {
        self.new.contains(flag(typ))
    }

    /// Flags for clone3: everything new except cgroup (unshared by the init once it is in
    /// its cgroup) and time (unshared by the parent so offsets can be written first).
    pub fn clone_flags(&self) -> CloneFlags {
        self.new - CloneFlags::CLONE_NEWCGROUP - flag(LinuxNamespaceType::Time)
    }
}

/// Joins the namespace at `path`.
pub fn join(typ: LinuxNamespaceType, path: &Path) -> Result<(), NsError> {
    let err = |source| NsError::Join {
        typ,
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    setns(file.as_fd(), flag(typ)).map_err(|e| err(e.into()))
}

/// Joins every namespace in `join` whose type passes `pick`, in order.
pub fn join_where(
    join: &[(LinuxNamespaceType, PathBuf)],
    pick: impl Fn(LinuxNamespaceType) -> bool,
) -> Result<(), NsError> {
    join.iter()
        .filter(|(t, _)| pick(*t))
        .try_for_each(|(t, p)| self::join(*t, p))
}

/// The arguments of clone3(2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What [`fork_into`] returned in the calling process.
pub enum Forked {
    /// In the parent: the child's pid, and whether it was created inside the cgroup
    /// directory it was given.
    Parent(Pid, bool),
    /// In the child.
    Child,
}

/// clone3's flag that creates the child in the cgroup2 directory `CloneArgs::cgroup`.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks a child that starts in new namespaces (`flags`), like fork(2) otherwise. With
/// `cgroup` (an open cgroup2 directory) the child begins its life in that cgroup, which
/// spares the move a write to `cgroup.procs` costs; a kernel that cannot do that (before
/// 5.7, or a directory it refuses) gets a plain fork, and the parent learns which.
/// The caller must be single-threaded.
pub fn fork_into(flags: CloneFlags, cgroup: Option<BorrowedFd>) -> Result<Forked, NsError> {
    if let Some(fd) = cgroup {
        match clone3(flags.bits() as u64 | CLONE_INTO_CGROUP, fd.as_raw_fd()) {
            Ok(Some(pid)) => return Ok(Forked::Parent(pid, true)),
            Ok(None) => return Ok(Forked::Child),
            Err(_) => {} // not possible here: fork plainly
        }
    }
    match clone3(flags.bits() as u64, 0)? {
        Some(pid) => Ok(Forked::Parent(pid, false)),
        None => Ok(Forked::Child),
    }
}

/// clone3(2) without a new stack: the child's pid in the parent, None in the child.
fn clone3(flags: u64, cgroup: i32) -> Result<Option<Pid>, NsError> {
    let mut args = CloneArgs {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM and without a stack behaves like fork(2): the child
    // gets a copy of the address space and continues on its copy of the current stack. The
    // caller guarantees it is single-threaded, so no lock is held by another thread.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(NsError::Sys {
            op: "clone3",
            source: nix::Error::last(),
        }),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}

/// Writes the uid and gid maps of the user namespace of `pid`.
pub fn write_id_maps(
    pid: Pid,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<(), NsError> {
    write_map(&format!("/proc/{pid}/uid_map"), uid)?;
    write_map(&format!("/proc/{pid}/gid_map"), gid)
}

fn write_map(path: &str, map: &[LinuxIdMapping]) -> Result<(), NsError> {
    if map.is_empty() {
        return Ok(());
    }
    let text: String = map
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    std::fs::write(path, text).map_err(|source| NsError::Map {
        path: path.into(),
        source,
    })
}

/// Writes the time namespace offsets (`linux.timeOffsets`) of the calling process's
/// `time_for_children` namespace.
pub fn write_time_offsets(
    offsets: &std::collections::HashMap<String, oci_spec::runtime::LinuxTimeOffset>,
) -> Result<(), NsError> {
    let mut text = String::new();
    for (clock, off) in offsets {
        let secs = off.secs().unwrap_or(0);
        let nanos = off.nanosecs().unwrap_or(0);
        text.push_str(&format!("{clock} {secs} {nanos}\n"));
    }
    if text.is_empty() {
        return Ok(());
    }
    std::fs::write("/proc/self/timens_offsets", text).map_err(|source| NsError::Map {
        path: "/proc/self/timens_offsets".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder, SpecBuilder};

    fn spec_with(ns: Vec<(LinuxNamespaceType, Option<&str>)>) -> Spec {
        let list = ns
            .into_iter()
            .map(|(t, p)| {
                let b = LinuxNamespaceBuilder::default().typ(t);
                match p {
                    Some(p) => b.path(p).build().unwrap(),
                    None => b.build().unwrap(),
                }
            })
            .collect::<Vec<_>>();
        let linux = LinuxBuilder::default().namespaces(list).build().unwrap();
        SpecBuilder::default().linux(linux).build().unwrap()
    }

    #[test]
    fn plan_sorts_new_and_joined() {
        let spec = spec_with(vec![
            (LinuxNamespaceType::Mount, Some("/proc/1/ns/mnt")),
            (LinuxNamespaceType::Pid, None),
            (LinuxNamespaceType::Cgroup, None),
            (LinuxNamespaceType::User, Some("/proc/1/ns/user")),
        ]);
        let plan = Plan::from_spec(&spec);
        assert!(plan.creates(LinuxNamespaceType::Pid));
        assert!(!plan.clone_flags().contains(CloneFlags::CLONE_NEWCGROUP));
        assert_eq!(plan.join[0].0, LinuxNamespaceType::User);
        assert_eq!(plan.join[1].0, LinuxNamespaceType::Mount);
        assert!(plan.has(LinuxNamespaceType::Mount));
        assert!(!plan.has(LinuxNamespaceType::Network));
    }
}
