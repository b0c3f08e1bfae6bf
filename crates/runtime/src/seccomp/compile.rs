//! `linux.seccomp` -> a classic BPF program (in the parent), and loading it (in the child).

use super::Error;
use libseccomp::{error::SeccompError, ScmpSyscall};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use nix::errno::Errno;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator as Op, LinuxSyscall,
};
use std::os::fd::{FromRawFd, OwnedFd};

// seccomp(2) filter flags (the kernel takes them as an unsigned int).
const FLAG_TSYNC: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC as u32;
const FLAG_LOG: u32 = libc::SECCOMP_FILTER_FLAG_LOG as u32;
const FLAG_SPEC_ALLOW: u32 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
const FLAG_NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
const FLAG_TSYNC_ESRCH: u32 = libc::SECCOMP_FILTER_FLAG_TSYNC_ESRCH as u32;
const FLAG_WAIT_KILLABLE_RECV: u32 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;

/// Highest syscall argument index (syscalls take at most six arguments).
const MAX_ARG_INDEX: usize = 5;

/// Above this many syscall names, ask libseccomp for a binary-tree filter (fewer instructions run
/// per syscall); small filters stay linear, which is shorter for them.
const BINARY_TREE_MIN_RULES: usize = 32;

/// Syscalls the init process needs after loading the filter to hand the listener fd over;
/// a NOTIFY rule on them would block it forever, since nobody has the fd yet.
const HANDOFF_SYSCALLS: [&str; 2] = ["write", "sendmsg"];

/// A compiled seccomp filter, ready to load.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The classic BPF program, as libseccomp generated it.
    program: Vec<libc::sock_filter>,
    /// Flags for `seccomp(SECCOMP_SET_MODE_FILTER, ...)`.
    flags: u32,
    /// The flags were not given in the config (runc's default, SPEC_ALLOW, was used).
    default_flags: bool,
    /// Some rule uses `SCMP_ACT_NOTIFY`.
    notify: bool,
}

/// Compiles `linux.seccomp` into a filter, checking every field.
///
/// libseccomp builds the program; when [`super::compact`] writes a shorter one that decides
/// exactly alike on every case (checked by running both), the shorter one is kept: the
/// kernel's work at each load is proportional to the length.
///
/// Call it in the runtime's parent before fork, so the child only has to [`Filter::load`].
/// Syscall names unknown to libseccomp are skipped (as runc and crun do); rules whose action
/// equals the default action are skipped. When a rule compares the same argument more than
/// once, each comparison becomes a rule of its own (they are alternatives), as in runc and
/// crun: libseccomp can compare each argument only once per rule. Absent `flags` mean
/// `SECCOMP_FILTER_FLAG_SPEC_ALLOW` (the runc and crun default); an empty list means none.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter, Error> {
    let (reference, notify) = libseccomp_program(seccomp)?;
    let program = super::compact::compact(seccomp, &reference).unwrap_or(reference);
    let (flags, default_flags) = filter_flags(seccomp.flags().as_deref(), notify);
    Ok(Filter {
        program,
        flags,
        default_flags,
        notify,
    })
}

/// libseccomp's program for `linux.seccomp`, and whether some rule uses NOTIFY.
pub(super) fn libseccomp_program(
    seccomp: &LinuxSeccomp,
) -> Result<(Vec<libc::sock_filter>, bool), Error> {
    check_listener(seccomp)?;
    let default = default_action(seccomp)?;
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(|e| libseccomp_err("linux.seccomp.defaultAction", "seccomp_init", e))?;
    add_arches(
        &mut ctx,
        seccomp.architectures().as_deref().unwrap_or_default(),
    )?;
    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    use_binary_tree(&mut ctx, syscalls)?;
    let mut notify = false;
    for (i, rule) in syscalls.iter().enumerate() {
        notify |= add_rule(&mut ctx, i, rule, default)?;
    }
    Ok((export(&ctx)?, notify))
}

impl Filter {
    /// Loads the filter into the calling thread (with `SECCOMP_FILTER_FLAG_TSYNC`, all
    /// threads). Call it in the container's init child, last thing before `execve`.
    ///
    /// The caller sets up the privilege the kernel needs: either `no_new_privs` is set, or
    /// the thread still has `CAP_SYS_ADMIN` (then load before dropping capabilities, as runc
    /// does). Returns the listener fd (close-on-exec) when [`Filter::needs_notify`]; until
    /// the agent reads it, syscalls under `SCMP_ACT_NOTIFY` block.
    pub fn load(&self) -> Result<Option<OwnedFd>, Error> {
        match self.seccomp_set_mode_filter(self.flags) {
            // Old kernels (< 4.17) refuse SPEC_ALLOW; it was only our default, so retry.
            Err(Errno::EINVAL) if self.default_flags => {
                self.finish_load(self.seccomp_set_mode_filter(0), 0)
            }
            result => self.finish_load(result, self.flags),
        }
    }

    /// Whether the filter uses `SCMP_ACT_NOTIFY` (then [`Filter::load`] returns a fd).
    pub fn needs_notify(&self) -> bool {
        self.notify
    }

    /// The number of BPF instructions in the compiled program.
    pub fn instructions(&self) -> usize {
        self.program.len()
    }

    /// The parts the filter cache stores.
    pub(super) fn parts(&self) -> (&[libc::sock_filter], u32, bool, bool) {
        (&self.program, self.flags, self.default_flags, self.notify)
    }

    /// A filter from stored parts; `None` if the program is empty or too long to load.
    pub(super) fn from_parts(
        program: Vec<libc::sock_filter>,
        flags: u32,
        default_flags: bool,
        notify: bool,
    ) -> Option<Self> {
        let fits = !program.is_empty() && program.len() <= libc::BPF_MAXINSNS as usize;
        fits.then_some(Self {
            program,
            flags,
            default_flags,
            notify,
        })
    }

    fn seccomp_set_mode_filter(&self, flags: u32) -> Result<libc::c_long, Errno> {
        let prog = libc::sock_fprog {
            // compile() refuses programs longer than BPF_MAXINSNS (4096), so this fits.
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points to `self.program`, which outlives the call; the kernel only
        // reads (copies) the program, so the `*mut` never writes. The call takes no other
        // memory from us and returns a new fd only with NEW_LISTENER, which we take below.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::c_uint::from(flags),
                &prog as *const libc::sock_fprog,
            )
        };
        Errno::result(ret)
    }

    fn finish_load(
        &self,
        result: Result<libc::c_long, Errno>,
        flags: u32,
    ) -> Result<Option<OwnedFd>, Error> {
        let ret = result.map_err(|source| Error::Load {
            flags,
            source,
            hint: load_hint(source),
        })?;
        if !self.notify {
            return Ok(None);
        }
        let fd = i32::try_from(ret).map_err(|_| Error::Load {
            flags,
            source: Errno::EBADF,
            hint: " (the kernel returned no listener fd)",
        })?;
        // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a successful seccomp() returns a new
        // fd that nothing else owns; we take ownership exactly once.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
}

fn load_hint(errno: Errno) -> &'static str {
    match errno {
        Errno::EACCES => " (set no_new_privs or keep CAP_SYS_ADMIN until the filter is loaded)",
        Errno::EINVAL => " (a flag or action this kernel does not support?)",
        _ => "",
    }
}

/// Large filters get libseccomp's binary tree: fewer instructions run per syscall and a
/// faster load (the kernel pre-evaluates the filter for every syscall number), at the cost
/// of a slower compile. runc makes the same choice. Measured with Docker's default profile
/// (x86_64, x86, x32) on Linux 6.18: the tree's 1246 instructions load in ~270 us, the
/// linear 1001 in ~750 us; of the 270, ~150 are the kernel's conversion and JIT of the
/// program (linear in its length), the rest the per-syscall-number walk for the action cache.
fn use_binary_tree(ctx: &mut ScmpFilterContext, syscalls: &[LinuxSyscall]) -> Result<(), Error> {
    let names: usize = syscalls.iter().map(|rule| rule.names().len()).sum();
    if names > BINARY_TREE_MIN_RULES {
        ctx.set_ctl_optimize(2)
            .map_err(|e| libseccomp_err("linux.seccomp", "set SCMP_FLTATR_CTL_OPTIMIZE", e))?;
    }
    Ok(())
}

fn libseccomp_err(field: impl Into<String>, op: &'static str, source: SeccompError) -> Error {
    Error::Libseccomp {
        field: field.into(),
        op,
        source,
    }
}

fn check_listener(seccomp: &LinuxSeccomp) -> Result<(), Error> {
    let uses_notify = seccomp
        .syscalls()
        .iter()
        .flatten()
        .any(|rule| rule.action() == Action::ScmpActNotify);
    if seccomp.listener_path().is_none() {
        if uses_notify {
            return Err(Error::ListenerPath("required when SCMP_ACT_NOTIFY is used"));
        }
        if seccomp.listener_metadata().is_some() {
            return Err(Error::ListenerPath(
                "listenerMetadata is set without listenerPath",
            ));
        }
    }
    Ok(())
}

pub(super) fn default_action(seccomp: &LinuxSeccomp) -> Result<ScmpAction, Error> {
    let action = seccomp.default_action();
    if action == Action::ScmpActNotify {
        return Err(Error::Notify {
            field: "linux.seccomp.defaultAction".into(),
            reason: "cannot be the default action (the runtime could not hand over the fd)",
        });
    }
    scmp_action(action, seccomp.default_errno_ret(), || {
        "linux.seccomp.defaultErrnoRet".into()
    })
}

/// Converts an action; `errno` is the errnoRet for ERRNO and TRACE (EPERM if absent).
pub(super) fn scmp_action(
    action: Action,
    errno: Option<u32>,
    errno_field: impl Fn() -> String,
) -> Result<ScmpAction, Error> {
    let errno_value = || -> Result<u16, Error> {
        let value = errno.unwrap_or(libc::EPERM as u32);
        u16::try_from(value).map_err(|_| Error::ErrnoRange {
            field: errno_field(),
            value,
        })
    };
    let scmp = match action {
        Action::ScmpActErrno => return Ok(ScmpAction::Errno(errno_value()?.into())),
        Action::ScmpActTrace => return Ok(ScmpAction::Trace(errno_value()?)),
        Action::ScmpActKill | Action::ScmpActKillThread => ScmpAction::KillThread,
        Action::ScmpActKillProcess => ScmpAction::KillProcess,
        Action::ScmpActTrap => ScmpAction::Trap,
        Action::ScmpActNotify => ScmpAction::Notify,
        Action::ScmpActLog => ScmpAction::Log,
        Action::ScmpActAllow => ScmpAction::Allow,
    };
    match errno {
        Some(_) => Err(Error::ErrnoNotAllowed {
            field: errno_field(),
            action: action.to_string(),
        }),
        None => Ok(scmp),
    }
}

fn add_arches(ctx: &mut ScmpFilterContext, arches: &[Arch]) -> Result<(), Error> {
    for (i, &arch) in arches.iter().enumerate() {
        let field = || format!("linux.seccomp.architectures[{i}]");
        ctx.add_arch(scmp_arch(arch)).map_err(|e| match e.errno() {
            // libseccomp does not know this architecture (too old a version).
            Some(libseccomp::error::SeccompErrno::EINVAL) => Error::UnknownArch {
                field: field(),
                arch: arch.to_string(),
            },
            _ => libseccomp_err(field(), "seccomp_arch_add", e),
        })?;
    }
    Ok(())
}

pub(super) fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// Adds the rules of `syscalls[i]`; returns whether it uses NOTIFY.
fn add_rule(
    ctx: &mut ScmpFilterContext,
    i: usize,
    rule: &LinuxSyscall,
    default: ScmpAction,
) -> Result<bool, Error> {
    let field = |suffix: &str| format!("linux.seccomp.syscalls[{i}]{suffix}");
    if rule.names().is_empty() {
        return Err(Error::NoNames {
            field: field(".names"),
        });
    }
    let action = scmp_action(rule.action(), rule.errno_ret(), || field(".errnoRet"))?;
    check_notify_names(rule, &field)?;
    let args = rule.args().as_deref().unwrap_or_default();
    let (conditions, repeated_index) = conditions(args, &field)?;
    if action == default {
        return Ok(false);
    }
    for name in rule.names() {
        // Unknown to libseccomp (or to this architecture): skipped, as runc and crun do.
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            continue;
        };
        add_syscall(ctx, action, syscall, &conditions, repeated_index).map_err(|e| {
            libseccomp_err(format!("{} ({name})", field("")), "seccomp_rule_add", e)
        })?;
    }
    Ok(action == ScmpAction::Notify)
}

fn check_notify_names(rule: &LinuxSyscall, field: &impl Fn(&str) -> String) -> Result<(), Error> {
    if rule.action() != Action::ScmpActNotify {
        return Ok(());
    }
    match rule
        .names()
        .iter()
        .position(|n| HANDOFF_SYSCALLS.contains(&n.as_str()))
    {
        Some(j) => Err(Error::Notify {
            field: field(&format!(".names[{j}]")),
            reason:
                "cannot be used for write or sendmsg (the runtime needs them to hand over the fd)",
        }),
        None => Ok(()),
    }
}

fn add_syscall(
    ctx: &mut ScmpFilterContext,
    action: ScmpAction,
    syscall: ScmpSyscall,
    conditions: &[ScmpArgCompare],
    repeated_index: bool,
) -> Result<(), SeccompError> {
    if repeated_index {
        for condition in conditions {
            ctx.add_rule_conditional(action, syscall, std::slice::from_ref(condition))?;
        }
    } else {
        ctx.add_rule_conditional(action, syscall, conditions)?;
    }
    Ok(())
}

/// Converts `args`; also says whether some argument index is compared more than once.
fn conditions(
    args: &[LinuxSeccompArg],
    field: &impl Fn(&str) -> String,
) -> Result<(Vec<ScmpArgCompare>, bool), Error> {
    let mut seen = 0u8;
    let mut repeated = false;
    let mut conditions = Vec::with_capacity(args.len());
    for (j, arg) in args.iter().enumerate() {
        let index = arg.index();
        if index > MAX_ARG_INDEX {
            return Err(Error::ArgIndex {
                field: field(&format!(".args[{j}].index")),
                index,
            });
        }
        repeated |= seen & (1 << index) != 0;
        seen |= 1 << index;
        conditions.push(condition(arg, index as u32));
    }
    Ok((conditions, repeated))
}

/// One comparison. For MASKED_EQ, `value` is the mask and `valueTwo` the expected value
/// (as libseccomp's datum_a and datum_b, which is how runc and crun pass them).
fn condition(arg: &LinuxSeccompArg, index: u32) -> ScmpArgCompare {
    let two = arg.value_two().unwrap_or(0);
    let (op, datum) = match arg.op() {
        Op::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        Op::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        Op::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        Op::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        Op::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        Op::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        Op::ScmpCmpMaskedEq => (ScmpCompareOp::MaskedEqual(arg.value()), two),
    };
    ScmpArgCompare::new(index, op, datum)
}

/// `seccomp(2)` flags; the bool says they are the default (flags absent from the config).
fn filter_flags(flags: Option<&[LinuxSeccompFilterFlag]>, notify: bool) -> (u32, bool) {
    let Some(flags) = flags else {
        return (FLAG_SPEC_ALLOW | listener_flags(notify, 0), true);
    };
    let mut bits = 0;
    for flag in flags {
        bits |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
    }
    (listener_flags(notify, bits), false)
}

/// Adds NEW_LISTENER when needed. The kernel refuses TSYNC with NEW_LISTENER unless
/// TSYNC_ESRCH is set, and WAIT_KILLABLE_RECV without NEW_LISTENER (it means nothing then,
/// so it is dropped).
fn listener_flags(notify: bool, bits: u32) -> u32 {
    if !notify {
        return bits & !FLAG_WAIT_KILLABLE_RECV;
    }
    let mut bits = bits | FLAG_NEW_LISTENER;
    if bits & FLAG_TSYNC != 0 {
        bits |= FLAG_TSYNC_ESRCH;
    }
    bits
}

/// Exports the BPF program through a memfd (libseccomp 2.5 has no in-memory export).
fn export(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>, Error> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let fd = memfd_create(c"berth-seccomp-bpf", MFdFlags::MFD_CLOEXEC).map_err(|source| {
        Error::Export {
            op: "memfd_create",
            source,
        }
    })?;
    ctx.export_bpf(&fd)
        .map_err(|e| libseccomp_err("linux.seccomp", "seccomp_export_bpf", e))?;
    let len = nix::unistd::lseek(&fd, 0, nix::unistd::Whence::SeekEnd).map_err(|source| {
        Error::Export {
            op: "lseek",
            source,
        }
    })?;
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    let mut done = 0;
    while done < bytes.len() {
        let n = nix::sys::uio::pread(&fd, &mut bytes[done..], done as libc::off_t).map_err(
            |source| Error::Export {
                op: "pread",
                source,
            },
        )?;
        if n == 0 {
            return Err(Error::Export {
                op: "pread (short file)",
                source: Errno::EIO,
            });
        }
        done += n;
    }
    decode_program(&bytes)
}

/// Decodes `struct sock_filter` records (8 bytes each, native endian).
fn decode_program(bytes: &[u8]) -> Result<Vec<libc::sock_filter>, Error> {
    const SIZE: usize = std::mem::size_of::<libc::sock_filter>();
    let count = bytes.len() / SIZE;
    if count > libc::BPF_MAXINSNS as usize {
        return Err(Error::TooLarge(count));
    }
    let program = bytes
        .chunks_exact(SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Ok(program)
}
