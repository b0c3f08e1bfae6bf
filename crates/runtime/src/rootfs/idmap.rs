//! Idmapped bind mounts (`idmap` / `ridmap`): the detached mount tree gets
//! `MOUNT_ATTR_IDMAP` with a user namespace whose maps are the mount's `uidMappings` and
//! `gidMappings` (a file owned by `containerID` on disk shows as owned by `hostID`). Without
//! mappings, a container in a user namespace uses its own.

use std::fmt::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe2, read, write, ForkResult, Pid};
use oci_spec::runtime::LinuxIdMapping;

use super::mounts::Entry;
use super::options::IdMap;
use super::sys::{self, Attr};
use super::{Ctx, Error};

/// Marks the detached tree `tree` idmapped as the entry asks.
pub(super) fn apply(ctx: &Ctx, e: &Entry, tree: BorrowedFd<'_>) -> Result<(), Error> {
    let userns = userns_for(ctx, e)?;
    let attr = Attr {
        set: libc::MOUNT_ATTR_IDMAP,
        userns: Some(userns.as_raw_fd()),
        ..Attr::default()
    };
    sys::setattr_fd(tree, e.opts.idmap == IdMap::Recursive, &attr).map_err(|errno| {
        if errno == Errno::EINVAL || errno == Errno::EOPNOTSUPP {
            Error::IdmapUnsupported {
                what: e.what().into_owned(),
                dest: e.dest.clone().into_owned(),
                rootfs: ctx.opts.rootfs.to_owned(),
                errno,
            }
        } else {
            ctx.mount_err("idmap", &e.what(), &e.dest, errno)
        }
    })
}

/// The user namespace whose maps define the idmapping.
fn userns_for(ctx: &Ctx, e: &Entry) -> Result<OwnedFd, Error> {
    match (e.uid_mappings, e.gid_mappings) {
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => new_userns(u, g),
        (None, None) if ctx.opts.in_userns => {
            let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
            open("/proc/self/ns/user", flags, Mode::empty()).map_err(|errno| Error::Sys {
                op: "open",
                path: PathBuf::from("/proc/self/ns/user"),
                errno,
            })
        }
        _ => Err(Error::Config {
            field: format!("mounts[{}].uidMappings", e.index),
            reason: "an idmap mount needs both uidMappings and gidMappings (or a container \
                     user namespace)"
                .into(),
        }),
    }
}

/// Makes a user namespace with these maps: a child process unshares one, the maps are written
/// from here, and the namespace is kept through `/proc/<child>/ns/user` after the child exits.
fn new_userns(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd, Error> {
    let sys_err = |op, errno| Error::Sys {
        op,
        path: PathBuf::from("user namespace for an idmapped mount"),
        errno,
    };
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| sys_err("pipe", e))?;
    let (done_r, done_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| sys_err("pipe", e))?;
    // SAFETY: the child only makes async-signal-safe system calls (unshare, write, read,
    // close) and leaves with _exit, so forking from a threaded process is sound.
    match unsafe { fork() }.map_err(|e| sys_err("fork", e))? {
        ForkResult::Child => {
            drop((ready_r, done_w));
            let ok = unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = write(&ready_w, &[u8::from(ok)]);
            let _ = read(&done_r, &mut [0u8; 1]);
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop((ready_w, done_r));
            let ns = write_maps(child, ready_r.as_fd(), uids, gids);
            drop(done_w);
            let reaped = waitpid(child, None);
            let ns = ns?;
            reaped.map_err(|e| sys_err("wait for", e))?;
            Ok(ns)
        }
    }
}

/// Waits for the child's namespace, writes its maps and opens it.
fn write_maps(
    child: Pid,
    ready: BorrowedFd<'_>,
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> Result<OwnedFd, Error> {
    let mut b = [0u8; 1];
    let n = read(ready, &mut b).map_err(|errno| Error::Sys {
        op: "wait for",
        path: PathBuf::from("user namespace for an idmapped mount"),
        errno,
    })?;
    if n != 1 || b[0] != 1 {
        return Err(Error::Sys {
            op: "unshare",
            path: PathBuf::from("user namespace for an idmapped mount"),
            errno: Errno::EPERM,
        });
    }
    write_map(child, "uid_map", uids)?;
    write_map(child, "gid_map", gids)?;
    let path = PathBuf::from(format!("/proc/{child}/ns/user"));
    open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|errno| Error::Sys {
        op: "open",
        path,
        errno,
    })
}

fn write_map(child: Pid, file: &str, maps: &[LinuxIdMapping]) -> Result<(), Error> {
    let mut text = String::new();
    for m in maps {
        let _ = writeln!(text, "{} {} {}", m.container_id(), m.host_id(), m.size());
    }
    let path = PathBuf::from(format!("/proc/{child}/{file}"));
    std::fs::write(&path, text).map_err(|source| Error::File {
        op: "write",
        path: path.clone(),
        source,
    })
}
