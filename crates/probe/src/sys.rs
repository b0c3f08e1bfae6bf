//! What the process may do and how it is scheduled: chosen syscalls (for seccomp and
//! capability tests), rlimits, environment, scheduler, I/O priority, personality.

use crate::{arg, errno, num_arg, Report, Usage};
use serde_json::{json, Map, Value};
use std::ffi::CString;
use std::io::Write;
use std::time::Duration;

/// The result of a raw call: `{"ok": true, "ret": n}` or the errno it failed with.
fn outcome(name: &str, ret: libc::c_long) -> Value {
    if ret == -1 {
        let mut v = errno::failure(&errno::last());
        v["syscall"] = Value::from(name);
        return v;
    }
    json!({ "ok": true, "syscall": name, "ret": ret })
}

fn c_path(args: &[String], idx: usize, cmd: &str) -> Result<CString, Usage> {
    let raw = arg(args, idx, cmd, "path")?;
    CString::new(raw).map_err(|_| Usage(format!("{cmd}: path contains a NUL byte")))
}

fn octal_arg(args: &[String], idx: usize, cmd: &str) -> Result<libc::mode_t, Usage> {
    let raw = arg(args, idx, cmd, "octal mode")?;
    libc::mode_t::from_str_radix(raw, 8)
        .map_err(|_| Usage(format!("{cmd}: <octal mode> must be octal, got `{raw}`")))
}

/// `syscall <name> [args]`: makes one call and reports its return value or errno.
/// Names: getpid, unshare-user, unshare-net, unshare-mount, keyctl, personality <n>,
/// mkdir <path> [mode], chmod <path> <mode>, mount-tmpfs <path>, sethostname <name>,
/// setuid <uid>, chroot <path>.
pub fn syscall(args: &[String]) -> Report {
    let name = arg(args, 0, "syscall", "name")?;
    let rest = &args[1..];
    let ret: libc::c_long = match name {
        // SAFETY: getpid has no arguments and cannot fail.
        "getpid" => unsafe { libc::getpid() }.into(),
        "unshare-user" => unshare(libc::CLONE_NEWUSER),
        "unshare-net" => unshare(libc::CLONE_NEWNET),
        "unshare-mount" => unshare(libc::CLONE_NEWNS),
        // SAFETY: KEYCTL_GET_KEYRING_ID takes two integers and touches no memory of ours.
        "keyctl" => unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) },
        "personality" => {
            let persona: libc::c_ulong = num_arg(rest, 0, "syscall personality", "n")?;
            // SAFETY: personality takes an integer and touches no memory of ours.
            unsafe { libc::personality(persona) }.into()
        }
        "mkdir" => {
            let path = c_path(rest, 0, "syscall mkdir")?;
            let mode = if rest.len() > 1 {
                octal_arg(rest, 1, "syscall mkdir")?
            } else {
                0o755
            };
            // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
            unsafe { libc::mkdir(path.as_ptr(), mode) }.into()
        }
        "chmod" => {
            let path = c_path(rest, 0, "syscall chmod")?;
            let mode = octal_arg(rest, 1, "syscall chmod")?;
            // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
            unsafe { libc::chmod(path.as_ptr(), mode) }.into()
        }
        "mount-tmpfs" => mount_tmpfs(&c_path(rest, 0, "syscall mount-tmpfs")?),
        "sethostname" => {
            let host = arg(rest, 0, "syscall sethostname", "name")?;
            // SAFETY: the pointer and length describe `host`'s bytes, alive for the call.
            unsafe { libc::sethostname(host.as_ptr().cast(), host.len()) }.into()
        }
        "setuid" => {
            let uid: libc::uid_t = num_arg(rest, 0, "syscall setuid", "uid")?;
            // SAFETY: setuid takes an integer and touches no memory of ours.
            unsafe { libc::setuid(uid) }.into()
        }
        "chroot" => {
            let path = c_path(rest, 0, "syscall chroot")?;
            // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
            unsafe { libc::chroot(path.as_ptr()) }.into()
        }
        other => return Err(Usage(format!("syscall: unknown name `{other}`"))),
    };
    Ok(outcome(name, ret))
}

fn unshare(flags: libc::c_int) -> libc::c_long {
    // SAFETY: unshare takes flags only; it changes this process, which exits right after.
    unsafe { libc::unshare(flags) }.into()
}

fn mount_tmpfs(target: &CString) -> libc::c_long {
    let fstype = c"tmpfs";
    // SAFETY: all strings are valid and NUL-terminated; data may be NULL for tmpfs.
    let ret = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    ret.into()
}

/// Resource names as the OCI runtime spec writes them, with their numbers.
const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
];

/// `rlimits`: soft and hard value of every limit (unlimited is u64::MAX, as in the spec).
pub fn rlimits(_: &[String]) -> Report {
    let mut out = Map::new();
    for &(name, resource) in RLIMITS {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit through the valid, exclusive pointer.
        let value = if unsafe { libc::getrlimit(resource, &mut lim) } == 0 {
            json!({ "soft": lim.rlim_cur, "hard": lim.rlim_max })
        } else {
            errno::failure(&errno::last())
        };
        out.insert(name.into(), value);
    }
    Ok(Value::Object(out))
}

/// `env`: the environment as `KEY=VALUE` strings, in order.
pub fn env(_: &[String]) -> Report {
    let vars: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    Ok(json!({ "env": vars }))
}

/// `sched`: scheduling policy (spec names), its priority, nice value, allowed CPUs.
pub fn sched(_: &[String]) -> Report {
    // SAFETY: sched_getscheduler takes a pid only.
    let policy = unsafe { libc::sched_getscheduler(0) };
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_getparam writes one sched_param through the valid, exclusive pointer.
    let prio =
        (unsafe { libc::sched_getparam(0, &mut param) } == 0).then_some(param.sched_priority);
    let policy_name = match policy {
        libc::SCHED_OTHER => "SCHED_OTHER",
        libc::SCHED_FIFO => "SCHED_FIFO",
        libc::SCHED_RR => "SCHED_RR",
        libc::SCHED_BATCH => "SCHED_BATCH",
        libc::SCHED_IDLE => "SCHED_IDLE",
        6 => "SCHED_DEADLINE",
        _ => "unknown",
    };
    Ok(json!({
        "policy": policy_name,
        "priority": prio,
        "nice": nice(),
        "cpus_allowed": status_field("Cpus_allowed_list"),
        "mems_allowed": status_field("Mems_allowed_list"),
    }))
}

fn nice() -> Option<i32> {
    // getpriority may return -1 legitimately, so errno is cleared first and checked after.
    // SAFETY: __errno_location has no preconditions.
    let slot = unsafe { libc::__errno_location() };
    // SAFETY: `slot` is this thread's errno, valid for writes for the thread's life.
    unsafe { *slot = 0 };
    // SAFETY: getpriority takes integers only.
    let value = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    (value != -1 || errno::last().raw_os_error() == Some(0)).then_some(value)
}

fn status_field(key: &str) -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
}

/// `ioprio`: the I/O scheduling class (spec names) and priority of this process.
pub fn ioprio(_: &[String]) -> Report {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    // SAFETY: ioprio_get takes two integers and touches no memory of ours.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    if ret == -1 {
        return Ok(errno::failure(&errno::last()));
    }
    let class = match ret >> 13 {
        0 => "IOPRIO_CLASS_NONE",
        1 => "IOPRIO_CLASS_RT",
        2 => "IOPRIO_CLASS_BE",
        3 => "IOPRIO_CLASS_IDLE",
        _ => "unknown",
    };
    Ok(json!({ "class": class, "priority": ret & 0xff, "raw": ret }))
}

/// `personality`: the current execution domain and flags.
pub fn personality(_: &[String]) -> Report {
    // SAFETY: 0xffffffff only queries the personality, changing nothing.
    let value = unsafe { libc::personality(0xffff_ffff) };
    if value == -1 {
        return Ok(errno::failure(&errno::last()));
    }
    let domain = match value & 0xff {
        0 => "LINUX",
        8 => "LINUX32",
        _ => "other",
    };
    Ok(json!({ "personality": value, "domain": domain }))
}

/// `sleep <seconds>` (fractions allowed), then reports how long it slept.
pub fn sleep(args: &[String]) -> Report {
    let secs: f64 = num_arg(args, 0, "sleep", "seconds")?;
    let dur = Duration::try_from_secs_f64(secs)
        .map_err(|_| Usage(format!("sleep: <seconds> out of range: {secs}")))?;
    std::thread::sleep(dur);
    Ok(json!({ "slept": secs }))
}

/// `exit <code>`: prints `{"exit": code}` and exits with that code.
pub fn exit(args: &[String]) -> Report {
    let code: i32 = num_arg(args, 0, "exit", "code")?;
    let mut out = std::io::stdout().lock();
    // A closed stdout must not change the exit code the caller asked for.
    let _ = writeln!(out, "{}", json!({ "exit": code })).and_then(|()| out.flush());
    std::process::exit(code)
}

/// `signals`: the blocked (`SigBlk`) and ignored (`SigIgn`) signal masks of every process
/// this one can see, from /proc/<pid>/status, keyed by pid, with each one's name, and
/// which pid is the probe itself. The probe's own SigIgn is not its caller's: the Rust
/// runtime ignores SIGPIPE at start-up. Ask about a process it runs beside instead.
pub fn signals(_: &[String]) -> Report {
    let mut out = Map::new();
    let entries = std::fs::read_dir("/proc").map_err(|e| Usage(format!("signals: /proc: {e}")))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        // A process that exits meanwhile is simply not listed.
        if let Ok(status) = std::fs::read_to_string(entry.path().join("status")) {
            out.insert(pid.into(), signal_fields(&status));
        }
    }
    Ok(json!({ "self": std::process::id(), "processes": out }))
}

/// `Name`, `SigBlk` and `SigIgn` of one /proc/<pid>/status.
fn signal_fields(status: &str) -> Value {
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    json!({ "name": field("Name:"), "blocked": field("SigBlk:"), "ignored": field("SigIgn:") })
}
