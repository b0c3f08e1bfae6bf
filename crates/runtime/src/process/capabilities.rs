//! Capability sets (`process.capabilities`) and `process.noNewPrivileges`.

use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::sys::prctl;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use super::{syscall_err, Error};

/// The highest capability this crate knows (`CAP_CHECKPOINT_RESTORE`).
const HIGHEST_KNOWN: Cap = Cap::CAP_CHECKPOINT_RESTORE;

/// Reduces the process to `process.capabilities`: the bounding set loses every entry
/// not listed, the effective, permitted and inheritable sets become exactly what is
/// listed, and each listed ambient capability is raised. `None` drops everything.
///
/// Call it **after** [`super::switch_user`]: that keeps the permitted set across the uid
/// change, and this function needs `CAP_SETPCAP` from it to shrink the bounding set.
/// Capabilities the running kernel does not know (newer than it) are skipped. An
/// ambient capability must also be in the permitted and inheritable sets.
///
/// (Unknown capability *names* cannot reach this function: oci-spec refuses them while
/// parsing `config.json`.)
pub fn apply_capabilities(caps: Option<&LinuxCapabilities>) -> Result<(), Error> {
    let last = kernel_last_cap();
    let set = |get: Getter| {
        let listed = caps.and_then(|c| get(c).as_ref());
        listed.map(|s| to_caps(s, last)).unwrap_or_default()
    };
    raise_effective_to_permitted()?;
    drop_bounding(&set(LinuxCapabilities::bounding), last)?;
    // Order matters for capset's rules: inheritable while permitted is still wide,
    // effective before permitted shrinks under it.
    let sets: [(&str, Getter, CapSet); 3] = [
        (
            "process.capabilities.inheritable",
            LinuxCapabilities::inheritable,
            CapSet::Inheritable,
        ),
        (
            "process.capabilities.effective",
            LinuxCapabilities::effective,
            CapSet::Effective,
        ),
        (
            "process.capabilities.permitted",
            LinuxCapabilities::permitted,
            CapSet::Permitted,
        ),
    ];
    for (field, get, cset) in sets {
        caps::set(None, cset, &set(get))
            .map_err(|source| Error::CapabilitySet { field, source })?;
    }
    let eligible = &set(LinuxCapabilities::permitted) & &set(LinuxCapabilities::inheritable);
    set_ambient(&set(LinuxCapabilities::ambient), &eligible)
}

/// Reads one of the five sets of a [`LinuxCapabilities`].
type Getter = fn(&LinuxCapabilities) -> &Option<Capabilities>;

/// Makes the permitted set effective, so `CAP_SETPCAP` is usable after a uid change.
fn raise_effective_to_permitted() -> Result<(), Error> {
    let field = "process.capabilities";
    let err = |source| Error::CapabilitySet { field, source };
    let permitted = caps::read(None, CapSet::Permitted).map_err(err)?;
    caps::set(None, CapSet::Effective, &permitted).map_err(err)
}

fn drop_bounding(keep: &CapsHashSet, last: u8) -> Result<(), Error> {
    for cap in caps::all() {
        if cap.index() <= last && !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|source| Error::Capability {
                field: "process.capabilities.bounding",
                op: "drop",
                cap,
                source,
            })?;
        }
    }
    Ok(())
}

/// Raises the ambient capabilities that are also permitted and inheritable. The kernel
/// refuses the others; like runc, such entries are skipped (`runc spec` itself lists
/// ambient capabilities with no inheritable set), which only ever grants less.
fn set_ambient(ambient: &CapsHashSet, eligible: &CapsHashSet) -> Result<(), Error> {
    let field = "process.capabilities.ambient";
    caps::clear(None, CapSet::Ambient).map_err(|source| Error::CapabilitySet { field, source })?;
    for &cap in ambient.intersection(eligible) {
        caps::raise(None, CapSet::Ambient, cap).map_err(|source| Error::Capability {
            field,
            op: "raise",
            cap,
            source,
        })?;
    }
    Ok(())
}

/// The highest capability number the running kernel knows: the first one, counting
/// down from [`HIGHEST_KNOWN`], that PR_CAPBSET_READ accepts (one call on kernels that
/// know them all).
fn kernel_last_cap() -> u8 {
    (0..=HIGHEST_KNOWN.index())
        .rev()
        // SAFETY: PR_CAPBSET_READ takes an integer and touches no memory of ours.
        .find(|&i| unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(i), 0, 0, 0) } >= 0)
        .unwrap_or(0)
}

/// Converts an OCI set, leaving out capabilities above `last`.
fn to_caps(set: &Capabilities, last: u8) -> CapsHashSet {
    set.iter()
        .map(|&c| to_cap(c))
        .filter(|c| c.index() <= last)
        .collect()
}

fn to_cap(c: Capability) -> Cap {
    use Capability as C;
    match c {
        C::AuditControl => Cap::CAP_AUDIT_CONTROL,
        C::AuditRead => Cap::CAP_AUDIT_READ,
        C::AuditWrite => Cap::CAP_AUDIT_WRITE,
        C::BlockSuspend => Cap::CAP_BLOCK_SUSPEND,
        C::Bpf => Cap::CAP_BPF,
        C::CheckpointRestore => Cap::CAP_CHECKPOINT_RESTORE,
        C::Chown => Cap::CAP_CHOWN,
        C::DacOverride => Cap::CAP_DAC_OVERRIDE,
        C::DacReadSearch => Cap::CAP_DAC_READ_SEARCH,
        C::Fowner => Cap::CAP_FOWNER,
        C::Fsetid => Cap::CAP_FSETID,
        C::IpcLock => Cap::CAP_IPC_LOCK,
        C::IpcOwner => Cap::CAP_IPC_OWNER,
        C::Kill => Cap::CAP_KILL,
        C::Lease => Cap::CAP_LEASE,
        C::LinuxImmutable => Cap::CAP_LINUX_IMMUTABLE,
        C::MacAdmin => Cap::CAP_MAC_ADMIN,
        C::MacOverride => Cap::CAP_MAC_OVERRIDE,
        C::Mknod => Cap::CAP_MKNOD,
        C::NetAdmin => Cap::CAP_NET_ADMIN,
        C::NetBindService => Cap::CAP_NET_BIND_SERVICE,
        C::NetBroadcast => Cap::CAP_NET_BROADCAST,
        C::NetRaw => Cap::CAP_NET_RAW,
        C::Perfmon => Cap::CAP_PERFMON,
        C::Setgid => Cap::CAP_SETGID,
        C::Setfcap => Cap::CAP_SETFCAP,
        C::Setpcap => Cap::CAP_SETPCAP,
        C::Setuid => Cap::CAP_SETUID,
        C::SysAdmin => Cap::CAP_SYS_ADMIN,
        C::SysBoot => Cap::CAP_SYS_BOOT,
        C::SysChroot => Cap::CAP_SYS_CHROOT,
        C::SysModule => Cap::CAP_SYS_MODULE,
        C::SysNice => Cap::CAP_SYS_NICE,
        C::SysPacct => Cap::CAP_SYS_PACCT,
        C::SysPtrace => Cap::CAP_SYS_PTRACE,
        C::SysRawio => Cap::CAP_SYS_RAWIO,
        C::SysResource => Cap::CAP_SYS_RESOURCE,
        C::SysTime => Cap::CAP_SYS_TIME,
        C::SysTtyConfig => Cap::CAP_SYS_TTY_CONFIG,
        C::Syslog => Cap::CAP_SYSLOG,
        C::WakeAlarm => Cap::CAP_WAKE_ALARM,
    }
}

/// Sets `no_new_privs`: from here on execve never grants privileges (setuid bits, file
/// capabilities). Irreversible, inherited by children.
pub fn set_no_new_privs() -> Result<(), Error> {
    prctl::set_no_new_privs().map_err(syscall_err(
        "process.noNewPrivileges",
        "prctl(PR_SET_NO_NEW_PRIVS)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::switch_user;
    use crate::process::testutil::{in_child, status_field};
    use oci_spec::runtime::{LinuxCapabilitiesBuilder, UserBuilder};

    const DOCKER_DEFAULT: [Capability; 14] = [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ];

    fn mask(set: &[Capability]) -> u64 {
        set.iter()
            .map(|&c| to_cap(c).bitmask())
            .fold(0, |a, b| a | b)
    }

    /// The five /proc/self/status capability masks, in hex as the kernel prints them.
    fn status_masks() -> String {
        ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
            .map(status_field)
            .join(" ")
    }

    #[test]
    fn docker_default_for_a_non_root_user_with_ambient() {
        let all: Capabilities = DOCKER_DEFAULT.into_iter().collect();
        let ambient: Capabilities = [Capability::NetBindService, Capability::Kill].into();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(all.clone())
            .effective(all.clone())
            .permitted(all.clone())
            .inheritable(all)
            .ambient(ambient)
            .build()
            .unwrap();
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .build()
            .unwrap();
        let got = in_child(|| {
            switch_user(&user).map_err(|e| e.to_string())?;
            apply_capabilities(Some(&caps)).map_err(|e| e.to_string())?;
            Ok(status_masks())
        });
        let d = mask(&DOCKER_DEFAULT);
        let a = mask(&[Capability::NetBindService, Capability::Kill]);
        assert_eq!(
            got,
            Ok(format!("{d:016x} {d:016x} {d:016x} {d:016x} {a:016x}"))
        );
    }

    #[test]
    fn ambient_caps_survive_exec_for_a_non_root_user() {
        let all: Capabilities = DOCKER_DEFAULT.into_iter().collect();
        let ambient: Capabilities = [Capability::NetBindService].into();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(all.clone())
            .effective(all.clone())
            .permitted(all.clone())
            .inheritable(all)
            .ambient(ambient)
            .build()
            .unwrap();
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .build()
            .unwrap();
        let got = in_child(|| {
            let (rd, wr) = nix::unistd::pipe().map_err(|e| e.to_string())?;
            // SAFETY: the grandchild only applies the steps and execs cat (or _exits).
            match unsafe { nix::unistd::fork() }.map_err(|e| e.to_string())? {
                nix::unistd::ForkResult::Child => {
                    drop(rd);
                    nix::unistd::dup2_stdout(&wr).ok();
                    let _ = switch_user(&user).and_then(|()| apply_capabilities(Some(&caps)));
                    let cat = c"/bin/cat";
                    let _ = nix::unistd::execv(cat, &[cat, c"/proc/self/status"]);
                    // SAFETY: leave the forked grandchild at once.
                    unsafe { libc::_exit(127) }
                }
                nix::unistd::ForkResult::Parent { child } => {
                    drop(wr);
                    let mut out = String::new();
                    std::io::Read::read_to_string(&mut std::fs::File::from(rd), &mut out)
                        .map_err(|e| e.to_string())?;
                    nix::sys::wait::waitpid(child, None).map_err(|e| e.to_string())?;
                    Ok(out
                        .lines()
                        .filter(|l| l.starts_with("Cap"))
                        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(" "))
                }
            }
        });
        let d = mask(&DOCKER_DEFAULT);
        let a = mask(&[Capability::NetBindService]);
        // After exec, a non-root process keeps only its ambient caps (in P and E) and
        // its inheritable set.
        assert_eq!(
            got,
            Ok(format!("{d:016x} {a:016x} {a:016x} {d:016x} {a:016x}"))
        );
    }

    #[test]
    fn root_with_a_reduced_set_and_none_drops_all() {
        let few: Capabilities = [Capability::Chown, Capability::Kill].into();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(few.clone())
            .effective(few.clone())
            .permitted(few)
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build()
            .unwrap();
        let got = in_child(|| {
            apply_capabilities(Some(&caps)).map_err(|e| e.to_string())?;
            Ok(status_masks())
        });
        let f = mask(&[Capability::Chown, Capability::Kill]);
        let z = 0u64;
        assert_eq!(
            got,
            Ok(format!("{z:016x} {f:016x} {f:016x} {f:016x} {z:016x}"))
        );
        let got = in_child(|| {
            apply_capabilities(None).map_err(|e| e.to_string())?;
            Ok(status_masks())
        });
        assert_eq!(
            got,
            Ok(format!("{z:016x} {z:016x} {z:016x} {z:016x} {z:016x}"))
        );
    }

    #[test]
    fn ambient_without_inheritable_is_skipped() {
        let few: Capabilities = [Capability::Kill].into();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(few.clone())
            .effective(few.clone())
            .permitted(few.clone())
            .inheritable(Capabilities::new())
            .ambient(few)
            .build()
            .unwrap();
        let got = in_child(|| {
            apply_capabilities(Some(&caps)).map_err(|e| e.to_string())?;
            Ok(status_masks())
        });
        let z = 0u64;
        let kill = 1u64 << 5;
        assert_eq!(
            got,
            Ok(format!(
                "{z:016x} {kill:016x} {kill:016x} {kill:016x} {z:016x}"
            ))
        );
    }

    #[test]
    fn inheritable_outside_bounding_names_the_field() {
        let kill: Capabilities = [Capability::Kill].into();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(kill.clone())
            .effective(kill.clone())
            .permitted(kill)
            .inheritable(Capabilities::from([Capability::SysAdmin]))
            .ambient(Capabilities::new())
            .build()
            .unwrap();
        let got = in_child(|| {
            apply_capabilities(Some(&caps))
                .map(|()| String::new())
                .map_err(|e| e.to_string())
        });
        let err = got.unwrap_err();
        assert!(
            err.starts_with("process.capabilities.inheritable: set: "),
            "{err}"
        );
    }

    #[test]
    fn kernel_knows_all_our_caps() {
        let last: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(kernel_last_cap(), last.min(HIGHEST_KNOWN.index()));
    }

    #[test]
    fn no_new_privs_is_set() {
        let got = in_child(|| {
            set_no_new_privs().map_err(|e| e.to_string())?;
            Ok(status_field("NoNewPrivs"))
        });
        assert_eq!(got.as_deref(), Ok("1"));
    }
}
