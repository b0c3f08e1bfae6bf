//! Signal state: a container process starts with every signal at its default action and
//! none blocked, whatever its caller had (a Rust program ignores SIGPIPE; a shim blocks
//! the signals it reads through a signalfd). execve(2) keeps both the mask and ignored
//! signals, so they must be reset by hand just before it.

use nix::errno::Errno;
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};

use super::{syscall_err, Error};

/// Sets every signal's action to the default, then unblocks every signal. In that order:
/// a signal that is pending when the mask opens then takes its default action, never a
/// handler inherited from the caller. Call it last before execve.
pub fn reset_signals() -> Result<(), Error> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        set_default(sig)?;
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(syscall_err("process", "sigprocmask(SIG_SETMASK, {})"))
}

/// The size of the kernel's signal set (`_NSIG / 8`; MIPS, with 128 signals, differs).
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const KERNEL_SIGSET_SIZE: usize = 8;
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const KERNEL_SIGSET_SIZE: usize = 16;

/// Sets the action of `sig` to SIG_DFL with rt_sigaction(2) itself: the C library's
/// wrapper refuses the real-time signals it reserves for itself (32 and 33 in glibc),
/// which a caller may still have ignored.
fn set_default(sig: libc::c_int) -> Result<(), Error> {
    // The kernel's struct sigaction, all zero: SIG_DFL, no flags, no restorer, empty mask.
    // Larger than any architecture's layout, which the kernel reads only part of.
    let action = [0u64; 6];
    // SAFETY: rt_sigaction reads a kernel sigaction from `action`, which is valid and
    // large enough, and writes no old action (NULL).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            action.as_ptr(),
            std::ptr::null_mut::<u64>(),
            KERNEL_SIGSET_SIZE,
        )
    };
    Errno::result(rc)
        .map(drop)
        .map_err(syscall_err("process", "rt_sigaction(SIG_DFL)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{signal, SigHandler, Signal};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    /// The `SigBlk` and `SigIgn` masks of this process, from /proc/self/status.
    fn masks() -> (u64, u64) {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let field = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
        };
        (field("SigBlk:"), field("SigIgn:"))
    }

    /// Ignores `sig` through the raw system call.
    fn ignore_raw(sig: libc::c_int) {
        let action = [libc::SIG_IGN as u64, 0, 0, 0, 0, 0];
        // SAFETY: as in set_default, with SIG_IGN as the handler.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                action.as_ptr(),
                std::ptr::null_mut::<u64>(),
                KERNEL_SIGSET_SIZE,
            )
        };
        assert_eq!(rc, 0);
    }

    #[test]
    fn ignored_and_blocked_signals_are_reset() {
        // In a child, so the test process keeps its own signal state.
        // SAFETY: the child only makes system calls and reads a file before _exit.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let mut set = SigSet::empty();
                set.add(Signal::SIGUSR1);
                set.add(Signal::SIGTERM);
                sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).unwrap();
                // SAFETY: SIG_IGN installs no handler code.
                unsafe { signal(Signal::SIGHUP, SigHandler::SigIgn) }.unwrap();
                // Signal 32, which glibc's sigaction refuses to touch.
                ignore_raw(32);
                let before = masks();
                reset_signals().unwrap();
                let after = masks();
                let ok = before.0 != 0 && before.1 != 0 && after == (0, 0);
                // SAFETY: _exit ends the forked child without the parent's exit handlers.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) }
            }
            ForkResult::Parent { child } => {
                assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
            }
        }
    }
}
