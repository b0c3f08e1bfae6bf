//! The container user: groups, gid, uid and umask (`process.user`).

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::stat::{umask, Mode};
use nix::unistd::{setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use super::{syscall_err, Error};

/// The umask when `process.user.umask` is not given (what runc uses).
const DEFAULT_UMASK: u32 = 0o022;

/// Switches to `process.user`: supplementary groups (`additionalGids`, or none, so the
/// runtime's own groups never leak), then gid, then uid, and the umask (0022 if unset).
///
/// The permitted capabilities survive the uid change (`PR_SET_KEEPCAPS` is on around
/// it) so that [`super::apply_capabilities`], which must come next, can set the final
/// sets. The effective set is empty afterwards for a non-root uid.
///
/// Inside a user namespace whose `/proc/self/setgroups` says `deny`, setgroups is
/// skipped (it cannot work there).
pub fn switch_user(user: &User) -> Result<(), Error> {
    let umask_bits = user.umask().unwrap_or(DEFAULT_UMASK);
    if umask_bits > 0o777 {
        let (field, value) = ("process.user.umask", i64::from(umask_bits));
        return Err(Error::OutOfRange {
            field,
            value,
            min: 0,
            max: 0o777,
        });
    }
    let keepcaps = syscall_err("process.user", "prctl(PR_SET_KEEPCAPS)");
    prctl::set_keepcaps(true).map_err(keepcaps)?;
    set_groups(user.additional_gids().as_deref().unwrap_or_default())?;
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).map_err(syscall_err("process.user.gid", "setresgid"))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).map_err(syscall_err("process.user.uid", "setresuid"))?;
    prctl::set_keepcaps(false).map_err(syscall_err("process.user", "prctl(PR_SET_KEEPCAPS)"))?;
    umask(Mode::from_bits_truncate(umask_bits));
    Ok(())
}

/// Sets the supplementary groups; tolerates EPERM only where setgroups is denied.
fn set_groups(gids: &[u32]) -> Result<(), Error> {
    // SAFETY: `gids` is a valid slice of gid_t (u32) and its length is passed with it;
    // the kernel only reads it.
    let rc = unsafe { libc::setgroups(gids.len(), gids.as_ptr()) };
    match Errno::result(rc) {
        Ok(_) => Ok(()),
        Err(Errno::EPERM) if setgroups_denied() => Ok(()),
        Err(e) => Err(syscall_err("process.user.additionalGids", "setgroups")(e)),
    }
}

/// True if this user namespace forbids setgroups (`/proc/self/setgroups` is `deny`).
fn setgroups_denied() -> bool {
    std::fs::read("/proc/self/setgroups").is_ok_and(|v| v.starts_with(b"deny"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::testutil::in_child;
    use nix::unistd::{getgroups, getresgid, getresuid};
    use oci_spec::runtime::UserBuilder;

    #[test]
    fn switches_to_uid_gid_groups_and_umask() {
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .additional_gids(vec![10u32, 20])
            .umask(0o027u32)
            .build()
            .unwrap();
        let got = in_child(|| {
            switch_user(&user).map_err(|e| e.to_string())?;
            let u = getresuid().map_err(|e| e.to_string())?;
            let g = getresgid().map_err(|e| e.to_string())?;
            let groups = getgroups().map_err(|e| e.to_string())?;
            let mask = umask(Mode::empty());
            Ok(format!(
                "uid {} {} {} gid {} {} {} groups {:?} umask {:o}",
                u.real,
                u.effective,
                u.saved,
                g.real,
                g.effective,
                g.saved,
                groups.iter().map(|g| g.as_raw()).collect::<Vec<_>>(),
                mask.bits()
            ))
        });
        assert_eq!(
            got.as_deref(),
            Ok("uid 1000 1000 1000 gid 1000 1000 1000 groups [10, 20] umask 27")
        );
    }

    #[test]
    fn no_additional_gids_clears_groups_and_default_umask() {
        let user = UserBuilder::default().uid(0u32).gid(0u32).build().unwrap();
        let got = in_child(|| {
            // SAFETY: gives the child a supplementary group to be cleared.
            unsafe { libc::setgroups(1, [4u32].as_ptr()) };
            umask(Mode::from_bits_truncate(0o077));
            switch_user(&user).map_err(|e| e.to_string())?;
            let groups = getgroups().map_err(|e| e.to_string())?;
            Ok(format!(
                "{} {:o}",
                groups.len(),
                umask(Mode::empty()).bits()
            ))
        });
        assert_eq!(got.as_deref(), Ok("0 22"));
    }

    #[test]
    fn umask_out_of_range_is_refused() {
        let user = UserBuilder::default().umask(0o1777u32).build().unwrap();
        let err = switch_user(&user).unwrap_err().to_string();
        assert_eq!(err, "process.user.umask: must be in 0..=511, got 1023");
    }
}
