//! berth-init: what a container created with `--init` runs as its pid 1 (docker mounts
//! its init at /sbin/docker-init; berth mounts this binary there). It starts its command
//! as its only child, in a process group of its own that owns the terminal if there is
//! one; forwards every signal it receives to that child; reaps every process that ends up
//! its child (orphans are re-parented to pid 1); and exits with the child's status: its
//! exit code, or 128 + the number of the signal that killed it.
//!
//! Usage: `berth-init [--] <command> [args...]`; the command is looked up in `$PATH`.
//! It cannot be executed: 127 if it is not found, 126 otherwise. Bad usage: 2.
//!
//! One thread, no allocation after start-up, every signal blocked and taken with
//! sigwaitinfo(2), so nothing runs in a signal handler. Built static to run in any image:
//! `cargo init-static` (see `.cargo/config.toml`).

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;

/// Exit code when the command is not found.
const NOT_FOUND: i32 = 127;
/// Exit code when the command exists but cannot be executed.
const NOT_EXECUTABLE: i32 = 126;
/// Exit code for a malformed command line.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let argv = match command(std::env::args_os().skip(1).collect()) {
        Ok(argv) => argv,
        Err(message) => {
            eprintln!("berth-init: {message}; usage: berth-init [--] <command> [args...]");
            return ExitCode::from(USAGE);
        }
    };
    let all = full_set();
    block(&all);
    if std::process::id() != 1 {
        become_subreaper();
    }
    // SAFETY: this process has one thread; the child only makes system calls before exec.
    match unsafe { libc::fork() } {
        -1 => {
            eprintln!("berth-init: fork: {}", std::io::Error::last_os_error());
            ExitCode::FAILURE
        }
        0 => run_child(&argv),
        child => ExitCode::from(supervise(child, &all)),
    }
}

/// The command to run: the arguments after an optional `--`, as C strings.
fn command(mut args: Vec<OsString>) -> Result<Vec<CString>, &'static str> {
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        return Err("no command given");
    }
    args.into_iter()
        .map(|a| CString::new(a.into_vec()).map_err(|_| "an argument contains a NUL byte"))
        .collect()
}

/// A set of every signal.
fn full_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; all zero is valid memory for sigfillset to fill.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigfillset writes the set through the valid, exclusive pointer.
    unsafe { libc::sigfillset(&mut set) };
    set
}

/// Blocks every signal in `set` (SIGKILL and SIGSTOP cannot be, and are not).
fn block(set: &libc::sigset_t) {
    // SAFETY: `set` is an initialised sigset; no old mask is asked for.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, set, std::ptr::null_mut()) };
}

/// Makes this process the reaper of its orphaned descendants when it is not pid 1 (a
/// container sharing the host's pid namespace, or a test).
fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag and touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
}

/// The child: its own process group (in the terminal's foreground, if stdin is one),
/// signals back to their defaults, then the command. Never returns.
fn run_child(argv: &[CString]) -> ! {
    // SAFETY: setpgid takes integers and touches no memory of ours.
    unsafe { libc::setpgid(0, 0) };
    // SAFETY: isatty takes a descriptor number.
    if unsafe { libc::isatty(0) } == 1 {
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        // SAFETY: tcsetpgrp takes integers; SIGTTOU is still blocked, so taking the
        // terminal from the background is allowed.
        unsafe { libc::tcsetpgrp(0, me) };
    }
    reset_signals();
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: `ptrs` is a NULL-terminated array of pointers to C strings in `argv`, all
    // alive for the call.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    let err = std::io::Error::last_os_error();
    eprintln!("berth-init: exec {:?}: {err}", argv[0]);
    let code = match err.raw_os_error() {
        Some(libc::ENOENT) => NOT_FOUND,
        _ => NOT_EXECUTABLE,
    };
    // SAFETY: _exit ends the forked child at once.
    unsafe { libc::_exit(code) }
}

/// Every signal to its default action (the Rust runtime ignores SIGPIPE; the caller may
/// have ignored more), then none blocked, as the command should start.
fn reset_signals() {
    for sig in 1..=libc::SIGRTMAX() {
        set_default(sig);
    }
    // SAFETY: a zeroed sigset_t is an empty set on Linux; no old mask is asked for.
    let none: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `none` is a valid set that outlives the call.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) };
}

/// The size of the kernel's signal set (`_NSIG / 8`; MIPS, with 128 signals, differs).
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const KERNEL_SIGSET_SIZE: usize = 8;
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const KERNEL_SIGSET_SIZE: usize = 16;

/// Sets `sig` to SIG_DFL with rt_sigaction(2) itself: glibc's wrapper refuses the
/// signals it reserves (32, 33), which a caller may still have ignored. The kernel
/// refuses SIGKILL and SIGSTOP, which are always at their default.
fn set_default(sig: libc::c_int) {
    // The kernel's struct sigaction, all zero (SIG_DFL, no flags, empty mask), larger
    // than any architecture's layout.
    let action = [0u64; 6];
    // SAFETY: rt_sigaction reads a kernel sigaction from `action`, valid and large
    // enough, and writes no old action (NULL).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            action.as_ptr(),
            std::ptr::null_mut::<u64>(),
            KERNEL_SIGSET_SIZE,
        )
    };
}

/// Waits for signals until the child has ended: SIGCHLD reaps, every other signal goes
/// to the child. Returns the child's exit status.
fn supervise(child: libc::pid_t, all: &libc::sigset_t) -> u8 {
    loop {
        match wait_signal(all) {
            libc::SIGCHLD => {
                if let Some(code) = reap(child) {
                    return code;
                }
            }
            // The child may be gone already; its SIGCHLD is then on its way.
            // SAFETY: kill takes integers and touches no memory of ours.
            sig => unsafe {
                libc::kill(child, sig);
            },
        }
    }
}

/// The next pending signal of `set` (all of them blocked), retrying interruptions.
fn wait_signal(set: &libc::sigset_t) -> libc::c_int {
    loop {
        // SAFETY: `set` is an initialised sigset; no siginfo is asked for.
        let sig = unsafe { libc::sigwaitinfo(set, std::ptr::null_mut()) };
        if sig > 0 {
            return sig;
        }
    }
}

/// Reaps every child that has ended; the exit status of `child` if it was one of them.
fn reap(child: libc::pid_t) -> Option<u8> {
    let mut result = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes one int through the valid, exclusive pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return result;
        }
        if pid == child {
            result = Some(exit_code(status));
        }
    }
}

/// A wait status as a shell reports it: the exit code, or 128 + the signal.
fn exit_code(status: libc::c_int) -> u8 {
    if libc::WIFSIGNALED(status) {
        (128 + libc::WTERMSIG(status)) as u8
    } else {
        libc::WEXITSTATUS(status) as u8
    }
}
