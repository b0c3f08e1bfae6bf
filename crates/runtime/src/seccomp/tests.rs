//! Real filters, loaded in forked children (never in the test process).

use super::*;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::LinuxSeccomp;
use std::time::{Duration, Instant};

const DOCKER_PROFILE: &str = "/work/shared/reference/docker-default-seccomp.json";

/// Docker's default capabilities for a container.
use super::DOCKER_DEFAULT_CAPS as DOCKER_CAPS;

fn docker_profile_json() -> Vec<u8> {
    let path = std::env::var("BERTH_DOCKER_SECCOMP_PROFILE").unwrap_or(DOCKER_PROFILE.into());
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("NEEDS Docker's default seccomp profile at {path} (or BERTH_DOCKER_SECCOMP_PROFILE): {e}")
    })
}

fn caps(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| c.to_string()).collect()
}

fn docker_default() -> LinuxSeccomp {
    docker_profile(&docker_profile_json(), &caps(&DOCKER_CAPS), "amd64").expect("convert profile")
}

fn seccomp(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("test LinuxSeccomp JSON")
}

/// Forks; the child runs `body` and exits with its return value (0 = all checks passed,
/// other values name the failed check). `body` must only make raw syscalls.
fn in_child(body: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child only runs `body` (raw syscalls, no locks taken by other threads)
    // and leaves with _exit, so the multi-threaded test harness's state is not touched.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = body();
            // SAFETY: _exit ends the child without running the parent's atexit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => wait(child),
    }
}

fn wait(child: Pid) -> WaitStatus {
    loop {
        match waitpid(child, None) {
            Err(Errno::EINTR) => continue,
            status => return status.expect("waitpid"),
        }
    }
}

/// A raw syscall returning `Ok(value)` or `Err(errno)`.
fn sys(nr: libc::c_long, a: [libc::c_long; 3]) -> Result<libc::c_long, i32> {
    // SAFETY: the tests only pass integer arguments (no pointers) to syscalls that take
    // integers, so the kernel reads or writes no memory of ours.
    let ret = unsafe { libc::syscall(nr, a[0], a[1], a[2]) };
    if ret == -1 {
        Err(Errno::last_raw())
    } else {
        Ok(ret)
    }
}

/// Checks in order; returns the 1-based number of the first failing check, 0 if all pass.
fn checks(results: &[bool]) -> i32 {
    results
        .iter()
        .position(|ok| !ok)
        .map_or(0, |i| i as i32 + 1)
}

/// A 32-bit (ia32) syscall through `int 0x80`, to exercise the filter's x86 section.
#[cfg(target_arch = "x86_64")]
fn sys_ia32(nr: u32, arg0: u32) -> i32 {
    let ret: i32;
    // SAFETY: `int 0x80` runs the ia32 syscall `nr` with one integer argument; ebx (which
    // LLVM reserves) is swapped in and out around it, and every register the compat entry
    // may change is declared clobbered.
    unsafe {
        std::arch::asm!(
            "xchg {arg:r}, rbx",
            "int 0x80",
            "xchg {arg:r}, rbx",
            arg = inout(reg) u64::from(arg0) => _,
            inlateout("eax") nr as i32 => ret,
            out("r8") _, out("r9") _, out("r10") _, out("r11") _,
        );
    }
    ret
}

#[test]
fn docker_default_profile_converts_like_dockerd() {
    let profile = docker_default();
    use oci_spec::runtime::Arch;
    assert_eq!(
        profile.architectures().as_deref(),
        Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
    );
    assert_eq!(profile.default_errno_ret(), Some(1));
    let rules = profile.syscalls().as_deref().unwrap();
    let with = |name: &str| {
        rules
            .iter()
            .filter(|r| r.names().iter().any(|n| n == name))
            .count()
    };
    assert_eq!(with("mount"), 0, "CAP_SYS_ADMIN rules must be left out");
    assert_eq!(with("arch_prctl"), 1, "amd64 rules kept");
    assert_eq!(with("s390_runtime_instr"), 0, "s390 rules left out");
    assert_eq!(with("ptrace"), 1, "minKernel 4.8 rule kept on this kernel");
    assert_eq!(with("chroot"), 1, "CAP_SYS_CHROOT rule kept");
    assert_eq!(
        with("clone3"),
        1,
        "clone3 ENOSYS rule (excludes CAP_SYS_ADMIN)"
    );
    let clone = rules.iter().find(|r| r.names() == &["clone"]).unwrap();
    assert_eq!(
        clone.args().as_ref().unwrap()[0].index(),
        0,
        "non-s390 clone rule"
    );

    let admin = caps(&["CAP_SYS_ADMIN", "SYS_PTRACE"]);
    let profile = docker_profile(&docker_profile_json(), &admin, "arm64").unwrap();
    assert_eq!(
        profile.architectures().as_deref(),
        Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
    );
    let rules = profile.syscalls().as_deref().unwrap();
    let with = |name: &str| {
        rules
            .iter()
            .filter(|r| r.names().iter().any(|n| n == name))
            .count()
    };
    assert_eq!(with("mount"), 1, "CAP_SYS_ADMIN rules kept");
    assert_eq!(
        with("clone3"),
        1,
        "only the CAP_SYS_ADMIN allow rule, not the ENOSYS one"
    );
    assert_eq!(
        with("kcmp"),
        1,
        "SYS_PTRACE (without CAP_) matches CAP_SYS_PTRACE"
    );
    assert_eq!(with("arch_prctl"), 0, "amd64-only rule left out on arm64");
    assert_eq!(with("breakpoint"), 1, "arm64 rule kept");
}

#[test]
fn docker_min_kernel_is_checked() {
    let json = docker_profile_json();
    let old = KernelVersion { major: 4, minor: 4 };
    let profile = docker_profile_for_kernel(&json, &caps(&DOCKER_CAPS), "amd64", old).unwrap();
    let rules = profile.syscalls().as_deref().unwrap();
    assert!(!rules
        .iter()
        .any(|r| r.names().iter().any(|n| n == "ptrace")));
    let bad = br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
        {"names":["getpid"],"action":"SCMP_ACT_ERRNO","includes":{"minKernel":"4.8.1"}}]}"#;
    let err = docker_profile(bad, &[], "amd64").unwrap_err().to_string();
    assert_eq!(
        err,
        r#"syscalls[0].includes.minKernel: invalid kernel version "4.8.1", expected "<major>.<minor>""#
    );
}

#[test]
fn kernel_release_parsing() {
    let v = |major, minor| Some(KernelVersion { major, minor });
    assert_eq!(KernelVersion::from_release("6.18.0-1-amd64"), v(6, 18));
    assert_eq!(KernelVersion::from_release("5.4-rc5"), v(5, 4));
    assert_eq!(KernelVersion::from_release("3.12.25-gentoo"), v(3, 12));
    assert_eq!(KernelVersion::from_release("garbage"), None);
    assert!(KernelVersion::current().is_ok());
}

#[test]
fn docker_default_profile_compiles_and_loads() {
    let profile = docker_default();
    let started = Instant::now();
    let filter = compile(&profile).expect("compile docker default");
    let compiled = started.elapsed();
    assert!(!filter.needs_notify());
    let status = in_child(|| {
        let loaded = filter.load();
        let pid = sys(libc::SYS_getpid, [0; 3]);
        checks(&[
            matches!(loaded, Ok(None)),
            pid.is_ok(),
            // unshare is allowed only with CAP_SYS_ADMIN: default action, EPERM.
            sys(libc::SYS_unshare, [libc::CLONE_NEWUSER as _, 0, 0]) == Err(libc::EPERM),
            sys(libc::SYS_keyctl, [0; 3]) == Err(libc::EPERM),
            // clone3 answers ENOSYS so that libcs fall back to clone.
            sys(libc::SYS_clone3, [0; 3]) == Err(libc::ENOSYS),
            // socket: AF_VSOCK (40) refused, AF_UNIX allowed.
            sys(libc::SYS_socket, [40, libc::SOCK_STREAM as _, 0]) == Err(libc::EPERM),
            sys(
                libc::SYS_socket,
                [libc::AF_UNIX as _, libc::SOCK_STREAM as _, 0],
            )
            .is_ok(),
            // personality: only the listed values.
            sys(libc::SYS_personality, [0xffff_ffff, 0, 0]).is_ok(),
            sys(libc::SYS_personality, [0x0040_0000, 0, 0]) == Err(libc::EPERM),
            // clone with a namespace flag is refused (masked compare on arg0).
            sys(
                libc::SYS_clone,
                [(libc::CLONE_NEWNS | libc::SIGCHLD) as _, 0, 0],
            ) == Err(libc::EPERM),
            sys(libc::SYS_getpriority, [0, 0, 0]).is_ok(),
        ])
    });
    assert_eq!(
        status,
        WaitStatus::Exited(status_pid(&status), 0),
        "child: {status:?}"
    );
    eprintln!(
        "docker default profile: compile {compiled:?}, {} BPF instructions, load {:?}",
        filter.instructions(),
        time_load(&filter)
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn docker_default_profile_filters_ia32_syscalls() {
    const IA32_GETPID: u32 = 20;
    const IA32_UNSHARE: u32 = 310;
    let filter = compile(&docker_default()).unwrap();
    let status = in_child(|| {
        if filter.load().is_err() {
            return 1;
        }
        let pid = sys(libc::SYS_getpid, [0; 3]).unwrap_or(-1) as i32;
        checks(&[
            true,
            sys_ia32(IA32_GETPID, 0) == pid,
            sys_ia32(IA32_UNSHARE, libc::CLONE_NEWUSER as u32) == -libc::EPERM,
        ])
    });
    assert_eq!(
        status,
        WaitStatus::Exited(status_pid(&status), 0),
        "child: {status:?}"
    );
}

fn status_pid(status: &WaitStatus) -> Pid {
    status.pid().expect("a child status")
}

/// Median time to load `filter` in a fresh child (fork and wait excluded).
fn time_load(filter: &Filter) -> Duration {
    let mut samples: Vec<Duration> = (0..9)
        .map(|_| {
            let (read, write) = nix::unistd::pipe().expect("pipe");
            let status = in_child(|| {
                let start = Instant::now();
                let ok = filter.load().is_ok();
                let nanos = start.elapsed().as_nanos() as u64;
                let written = nix::unistd::write(&write, &nanos.to_ne_bytes());
                i32::from(!ok || written != Ok(8))
            });
            assert!(matches!(status, WaitStatus::Exited(_, 0)), "{status:?}");
            let mut buf = [0u8; 8];
            std::io::Read::read_exact(&mut std::fs::File::from(read), &mut buf)
                .expect("read timing");
            Duration::from_nanos(u64::from_ne_bytes(buf))
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

#[test]
fn docker_default_compile_timing() {
    let json = docker_profile_json();
    let caps = caps(&DOCKER_CAPS);
    let mut convert = Vec::new();
    let mut build = Vec::new();
    for _ in 0..21 {
        let start = Instant::now();
        let profile = docker_profile(&json, &caps, "amd64").unwrap();
        let mid = Instant::now();
        let filter = compile(&profile).unwrap();
        build.push(mid.elapsed());
        convert.push(mid - start);
        assert!(filter.instructions() > 0);
    }
    convert.sort();
    build.sort();
    eprintln!(
        "docker default profile (median of 21): docker_profile {:?}, compile {:?} (min {:?})",
        convert[10], build[10], build[0]
    );
}

const CUSTOM: &str = r#"{
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC"],
    "syscalls": [
        {"names": ["syncfs", "not_a_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
         "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 78,
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                  {"index": 1, "value": 4242, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 79,
         "args": [{"index": 1, "value": 65280, "valueTwo": 4608, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
        {"names": ["getppid"], "action": "SCMP_ACT_TRACE"},
        {"names": ["getpgid"], "action": "SCMP_ACT_LOG"},
        {"names": ["getsid"], "action": "SCMP_ACT_ALLOW"}
    ]
}"#;

#[test]
fn custom_filter_errno_args_and_actions() {
    let filter = compile(&seccomp(CUSTOM)).expect("compile custom");
    let status = in_child(|| {
        let loaded = filter.load();
        checks(&[
            matches!(loaded, Ok(None)),
            sys(libc::SYS_syncfs, [0, 0, 0]) == Err(libc::ENOSYS),
            // Same index twice: alternatives.
            sys(libc::SYS_getpriority, [1, 0, 0]) == Err(77),
            sys(libc::SYS_getpriority, [2, 0, 0]) == Err(77),
            sys(libc::SYS_getpriority, [0, 0, 0]).is_ok(),
            // Different indexes: both must match.
            sys(libc::SYS_getpriority, [0, 4242, 0]) == Err(78),
            // Masked: (0x1234 & 0xff00) == 0x1200.
            sys(libc::SYS_getpriority, [0, 0x1234, 0]) == Err(79),
            sys(libc::SYS_getpriority, [0, 0x1334, 0]) == Err(libc::ESRCH),
            // personality(PER_LINUX32) refused with the default EPERM, a query works.
            sys(libc::SYS_personality, [8, 0, 0]) == Err(libc::EPERM),
            sys(libc::SYS_personality, [0xffff_ffff, 0, 0]).is_ok(),
            // TRACE without a tracer: ENOSYS.
            sys(libc::SYS_getppid, [0; 3]) == Err(libc::ENOSYS),
            sys(libc::SYS_getpgid, [0; 3]).is_ok(),
        ])
    });
    assert_eq!(
        status,
        WaitStatus::Exited(status_pid(&status), 0),
        "child: {status:?}"
    );
}

#[test]
fn kill_process_and_trap_end_the_child_with_sigsys() {
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
        let filter = compile(&seccomp(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {{"names": ["getpriority"], "action": "{action}",
                  "args": [{{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}}]}}]}}"#
        )))
        .unwrap();
        let status = in_child(|| {
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: setrlimit reads the struct we pass; no core file from the SIGSYS.
            unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
            if filter.load().is_err() || sys(libc::SYS_getpriority, [0, 0, 0]).is_err() {
                return 1;
            }
            let _ = sys(libc::SYS_getpriority, [2, 0, 0]);
            2
        });
        assert!(
            matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
            "{action}: {status:?}"
        );
    }
}

#[test]
fn default_errno_with_allow_list() {
    let filter = compile(&seccomp(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 95, "flags": [],
            "syscalls": [{"names": ["getpid", "exit_group", "exit", "write"],
                          "action": "SCMP_ACT_ALLOW"},
                         {"names": ["getuid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95}]}"#,
    ))
    .unwrap();
    let status = in_child(|| {
        let loaded = filter.load();
        checks(&[
            loaded.is_ok(),
            sys(libc::SYS_getpid, [0; 3]).is_ok(),
            sys(libc::SYS_getuid, [0; 3]) == Err(libc::EOPNOTSUPP),
            sys(libc::SYS_getppid, [0; 3]) == Err(libc::EOPNOTSUPP),
        ])
    });
    assert_eq!(
        status,
        WaitStatus::Exited(status_pid(&status), 0),
        "child: {status:?}"
    );
}

#[test]
fn default_errno_is_eperm() {
    let filter = compile(&seccomp(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["exit_group", "exit"], "action": "SCMP_ACT_ALLOW"}]}"#,
    ))
    .unwrap();
    let status = in_child(|| {
        let loaded = filter.load();
        checks(&[
            loaded.is_ok(),
            sys(libc::SYS_getpid, [0; 3]) == Err(libc::EPERM),
        ])
    });
    assert_eq!(
        status,
        WaitStatus::Exited(status_pid(&status), 0),
        "child: {status:?}"
    );
}

#[test]
fn load_without_privilege_explains_itself() {
    let filter = compile(&seccomp(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["syncfs"], "action": "SCMP_ACT_ERRNO"}]}"#,
    ))
    .unwrap();
    let status = in_child(|| {
        // Drop CAP_SYS_ADMIN from the effective set; no_new_privs stays unset.
        let dropped = caps::drop(
            None,
            caps::CapSet::Effective,
            caps::Capability::CAP_SYS_ADMIN,
        );
        match (dropped, filter.load()) {
            (
                Ok(()),
                Err(Error::Load {
                    source: Errno::EACCES,
                    ..
                }),
            ) => 0,
            _ => 1,
        }
    });
    assert_eq!(
        status,
        WaitStatus::Exited(status_pid(&status), 0),
        "child: {status:?}"
    );
    let message = Error::Load {
        flags: 4,
        source: Errno::EACCES,
        hint: "",
    }
    .to_string();
    assert!(
        message.contains("SECCOMP_SET_MODE_FILTER, flags 0x4"),
        "{message}"
    );
}

#[test]
fn notify_fd_goes_to_the_agent_with_the_state() {
    use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
    use nix::sys::socket::{self as sock, AddressFamily, SockFlag, SockType, UnixAddr};
    use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.sock");
    let listener = sock::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    sock::bind(listener.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
    sock::listen(&listener, sock::Backlog::new(1).unwrap()).unwrap();

    let config = seccomp(&format!(
        r#"{{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "{}",
            "listenerMetadata": "meta", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls": [{{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}}]}}"#,
        path.display()
    ));
    let filter = compile(&config).unwrap();
    assert!(filter.needs_notify());
    let mut state = oci_spec::runtime::State::default();
    state
        .set_version("1.2.0".into())
        .set_id("notify-test".into())
        .set_pid(Some(1));
    let json = process_state_json(1234, Some("meta"), &state).unwrap();

    // SAFETY: the child makes raw syscalls plus send_notify_fd (socket calls and a small
    // allocation, which glibc keeps fork-safe) and leaves with _exit.
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = match filter.load() {
                Ok(Some(fd)) => match send_notify_fd(&path, fd.as_fd(), &json) {
                    // The agent answers 4242 for getppid.
                    Ok(()) => i32::from(sys(libc::SYS_getppid, [0; 3]) != Ok(4242)) * 3,
                    Err(_) => 2,
                },
                _ => 1,
            };
            // SAFETY: end the child without running the test harness's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };

    let conn = sock::accept(listener.as_raw_fd()).unwrap();
    // SAFETY: accept returned a new connected socket that we now own.
    let conn = unsafe { OwnedFd::from_raw_fd(conn) };
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (len, fd) = {
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = sock::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            sock::MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .unwrap();
        let fd = msg.cmsgs().unwrap().find_map(|c| match c {
            sock::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        });
        (msg.bytes, fd.expect("SCM_RIGHTS fd"))
    };
    // SAFETY: the fd arrived through SCM_RIGHTS and belongs to us now.
    let notify_fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let received: serde_json::Value = serde_json::from_slice(&buf[..len]).unwrap();
    assert_eq!(received["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(received["pid"], 1234);
    assert_eq!(received["metadata"], "meta");
    assert_eq!(received["state"]["id"], "notify-test");
    assert_eq!(received["ociVersion"], "1.2.0");

    let req = ScmpNotifReq::receive(notify_fd.as_raw_fd()).unwrap();
    assert_eq!(req.pid, child.as_raw() as u32);
    ScmpNotifResp::new_val(req.id, 4242, ScmpNotifRespFlags::empty())
        .respond(notify_fd.as_raw_fd())
        .unwrap();
    let status = wait(child);
    assert_eq!(status, WaitStatus::Exited(child, 0), "child: {status:?}");
}

#[test]
fn oci_config_errors_name_the_field() {
    let err = |json: &str| compile(&seccomp(json)).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
                      {"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#),
        "linux.seccomp.syscalls[1].args[1].index: argument index must be 0..=5, got 6"
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 3}"#),
        "linux.seccomp.defaultErrnoRet: action SCMP_ACT_ALLOW does not take an errno"
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}"#),
        "linux.seccomp.syscalls[0].errnoRet: must be 0..=65535, got 70000"
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": [], "action": "SCMP_ACT_ERRNO"}]}"#),
        "linux.seccomp.syscalls[0].names: must contain at least one syscall name"
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}"#),
        "linux.seccomp.listenerPath: required when SCMP_ACT_NOTIFY is used"
    );
    assert!(
        err(r#"{"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/x"}"#)
            .starts_with("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default")
    );
    assert!(err(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x", "syscalls": [
            {"names": ["getppid", "sendmsg"], "action": "SCMP_ACT_NOTIFY"}]}"#
    )
    .starts_with("linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for"));
    // Architectures this libseccomp (2.5.x) does not know are refused by name.
    let loong = compile(&seccomp(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_LOONGARCH64"]}"#,
    ));
    if let Err(e) = loong {
        let e = e.to_string();
        assert_eq!(
            e,
            r#"linux.seccomp.architectures[0]: unknown architecture "SCMP_ARCH_LOONGARCH64""#
        );
    }
    // Unknown actions, operators, architectures and flags cannot reach compile(): they
    // fail when config.json is parsed, and serde_path_to_error names the field.
    let de = &mut serde_json::Deserializer::from_str(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_FOO"}]}"#,
    );
    let err = serde_path_to_error::deserialize::<_, LinuxSeccomp>(de).unwrap_err();
    assert_eq!(err.path().to_string(), "syscalls[0].action");
}

#[test]
fn docker_profile_errors_name_the_field() {
    let err = |json: &str| {
        docker_profile(json.as_bytes(), &[], "amd64")
            .unwrap_err()
            .to_string()
    };
    let rule =
        |body: &str| format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{body}]}}"#);
    let ok = r#"{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}"#;
    assert_eq!(
        err(&rule(&format!(
            r#"{ok}, {{"names": ["getpid"], "action": "SCMP_ACT_FOO"}}"#
        ))),
        r#"syscalls[1].action: unknown action "SCMP_ACT_FOO""#
    );
    assert_eq!(
        err(&rule(
            r#"{"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}"#
        )),
        r#"syscalls[0].args[0].op: unknown operator "SCMP_CMP_FOO""#
    );
    assert_eq!(
        err(&rule(
            r#"{"names": ["getpid"], "action": "SCMP_ACT_ERRNO",
                      "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}"#
        )),
        "syscalls[0].args[0].index: argument index must be 0..=5, got 7"
    );
    assert_eq!(
        err(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_FOO"]}"#
        ),
        r#"architectures[1]: unknown architecture "SCMP_ARCH_FOO""#
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X87"]}]}"#),
        r#"archMap[0].subArchitectures[0]: unknown architecture "SCMP_ARCH_X87""#
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FOO"]}"#),
        r#"flags[0]: unknown flag "SECCOMP_FILTER_FLAG_FOO""#
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_FOO"}"#),
        r#"defaultAction: unknown action "SCMP_ACT_FOO""#
    );
    assert!(err(&rule(r#"{"names": ["getpid"], "action": 5}"#))
        .starts_with("docker seccomp profile: syscalls[0].action: invalid type"));
    assert!(err(&rule(
        r#"{"name": "getpid", "names": ["getppid"], "action": "SCMP_ACT_ERRNO"}"#
    ))
    .contains("both name and names"));
    let wrong_arch = docker_profile(b"{}", &[], "vax").unwrap_err().to_string();
    assert!(
        wrong_arch.starts_with(r#"docker architecture "vax""#),
        "{wrong_arch}"
    );
}

#[test]
fn host_arch_is_known_to_the_converter() {
    let profile = docker_profile(&docker_profile_json(), &[], host_docker_arch()).unwrap();
    assert!(profile
        .architectures()
        .as_ref()
        .is_some_and(|a| !a.is_empty()));
}

#[test]
fn filter_cache_reuses_and_verifies_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = FilterCache::new(dir.path().join("cache"));
    let profile = docker_default();
    let fresh = compile(&profile).unwrap();
    let start = Instant::now();
    let first = cache.compile(&profile).unwrap();
    let miss = start.elapsed();
    let start = Instant::now();
    let second = cache.compile(&profile).unwrap();
    let hit = start.elapsed();
    eprintln!("filter cache: miss {miss:?}, hit {hit:?}");
    assert_eq!(first.parts().0.len(), fresh.parts().0.len());
    assert!(second
        .parts()
        .0
        .iter()
        .zip(fresh.parts().0)
        .all(|(a, b)| { (a.code, a.jt, a.jf, a.k) == (b.code, b.jt, b.jf, b.k) }));
    assert_eq!(second.parts().1, fresh.parts().1);
    let entries: Vec<_> = std::fs::read_dir(dir.path().join("cache"))
        .unwrap()
        .collect();
    assert_eq!(entries.len(), 1, "one entry, no temp files left");

    // A different config is a different entry; a corrupted entry is recompiled.
    let other = seccomp(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#);
    assert!(!cache.compile(&other).unwrap().needs_notify());
    let path = entries[0].as_ref().unwrap().path();
    std::fs::write(&path, b"BSCMPF02garbage").unwrap();
    let again = cache.compile(&profile).unwrap();
    assert_eq!(again.parts().0.len(), fresh.parts().0.len());
    assert!(
        std::fs::read(&path).unwrap().len() > 1000,
        "entry rewritten"
    );
    // A forged entry (last instruction changed) is used from a private directory, and
    // ignored once group or others can write the directory.
    use std::os::unix::fs::PermissionsExt;
    let mut forged = std::fs::read(&path).unwrap();
    let last = forged.len() - 4;
    forged[last..].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    std::fs::write(&path, &forged).unwrap();
    let from_cache =
        |cache: &FilterCache| cache.compile(&profile).unwrap().parts().0.last().unwrap().k;
    assert_eq!(
        from_cache(&cache),
        0x7fff_0000,
        "private directory: entry used"
    );
    let cache_dir = dir.path().join("cache");
    std::fs::set_permissions(&cache_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(&path, &forged).unwrap();
    assert_eq!(
        from_cache(&cache),
        fresh.parts().0.last().unwrap().k,
        "shared directory: ignored"
    );
    let status = in_child(|| {
        let loaded = again.load();
        checks(&[
            loaded.is_ok(),
            sys(libc::SYS_keyctl, [0; 3]) == Err(libc::EPERM),
        ])
    });
    assert_eq!(
        status,
        WaitStatus::Exited(status_pid(&status), 0),
        "child: {status:?}"
    );
}

// The compact compiler: its programs must decide exactly as libseccomp's.

/// The arches of Docker's amd64 profile, as the kernel reports them, and a foreign one.
const AUDIT_PROBES: [u32; 4] = [0xc000_003e, 0x4000_0003, 0xc000_00b7, 0];

/// Compares `a` and `b` on a broad grid chosen here, independently of `same_decisions`'s
/// own probes: every syscall number below 2048 (and with the x32 bit), with each argument
/// in turn over `arg_values` (others zero), for each of [`AUDIT_PROBES`].
fn assert_same_on_grid(a: &[libc::sock_filter], b: &[libc::sock_filter], arg_values: &[u64]) {
    let run = |p: &[libc::sock_filter], data: &bpf::Data| {
        bpf::run(p, data, &mut bpf::ArgUse::default()).expect("program runs")
    };
    for arch in AUDIT_PROBES {
        for nr in (0..2048)
            .chain(0x4000_0000..0x4000_0000 + 2048)
            .chain([u32::MAX])
        {
            let mut data = bpf::Data {
                nr,
                arch,
                ..Default::default()
            };
            assert_eq!(run(a, &data), run(b, &data), "arch {arch:#x} nr {nr}");
            for index in 0..6 {
                for &value in arg_values {
                    data.args = [0; 6];
                    data.args[index] = value;
                    assert_eq!(
                        run(a, &data),
                        run(b, &data),
                        "arch {arch:#x} nr {nr} arg{index} {value:#x}"
                    );
                }
            }
        }
    }
}

/// Argument values around those Docker's profile and the custom one compare with.
fn grid_values() -> Vec<u64> {
    let mut values: Vec<u64> = (0..48).collect();
    for v in [
        8,
        0x20000,
        0x20008,
        0xffff_ffff,
        0x7e02_0000,
        0x1_0000_0000,
        4242,
        65280,
        4608,
        0x2000_0000,
        0x0040_0000,
        40,
        38,
    ] {
        values.extend([v - 1, v, v + 1, v | 0xffff_ffff_0000_0000]);
    }
    values.extend([u64::MAX, 0x7e02_0000 | 0x100, libc::CLONE_NEWNS as u64 | 17]);
    values
}

#[test]
fn compact_program_decides_as_libseccomp_for_docker_default() {
    let json = docker_profile_json();
    let admin = caps(&[&DOCKER_CAPS[..], &["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"]].concat());
    for caps in [caps(&DOCKER_CAPS), admin] {
        let profile = docker_profile(&json, &caps, "amd64").unwrap();
        let (reference, _) = compile::libseccomp_program(&profile).unwrap();
        let started = Instant::now();
        let program = compact::compact(&profile, &reference).expect("compact program used");
        eprintln!(
            "docker default ({} caps): libseccomp {} instructions, compact {} (built and checked in {:?})",
            caps.len(),
            reference.len(),
            program.len(),
            started.elapsed()
        );
        assert!(program.len() * 2 < reference.len());
        assert_same_on_grid(&reference, &program, &grid_values());
        assert_eq!(compile(&profile).unwrap().instructions(), program.len());
    }
}

/// Every operator, on 64-bit values (high words set) on x86_64 and on 32-bit ones on x86.
const OPERATORS: &str = r#"{
    "defaultAction": "SCMP_ACT_ERRNO",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["read", "write", "getpid"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["getpriority"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 4294967296, "op": "SCMP_CMP_GT"},
                  {"index": 1, "value": 5, "op": "SCMP_CMP_LE"}]},
        {"names": ["setpriority"], "action": "SCMP_ACT_TRAP",
         "args": [{"index": 2, "value": 4294967301, "op": "SCMP_CMP_GE"}]},
        {"names": ["setpriority"], "action": "SCMP_ACT_TRAP",
         "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_LT"}]},
        {"names": ["mmap"], "action": "SCMP_ACT_LOG",
         "args": [{"index": 3, "value": 4294967295, "valueTwo": 34, "op": "SCMP_CMP_MASKED_EQ"},
                  {"index": 4, "value": 4242, "op": "SCMP_CMP_NE"}]},
        {"names": ["socket", "accept", "semop", "shmget"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99,
         "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
        {"names": ["personality"], "action": "SCMP_ACT_KILL_PROCESS",
         "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                  {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]}
    ]
}"#;

#[test]
fn compact_program_decides_as_libseccomp_for_every_operator() {
    let all = r#""architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]"#;
    for arches in [
        all,
        r#""architectures": ["SCMP_ARCH_X86_64"]"#,
        r#""architectures": ["SCMP_ARCH_X32", "SCMP_ARCH_X86"]"#,
        r#""architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]"#,
        r#""architectures": []"#,
    ] {
        let profile = seccomp(&OPERATORS.replace(all, arches));
        let (reference, _) = compile::libseccomp_program(&profile).unwrap();
        // Small filters stay libseccomp's (shorter here); the compiler must still be right.
        let (program, audits) = compact::build(&profile).expect("compact program built");
        assert!(
            bpf::same_decisions(&reference, &program, &audits),
            "{arches}"
        );
        assert_same_on_grid(&reference, &program, &grid_values());
    }
}

#[test]
fn compact_compiler_leaves_what_it_does_not_handle_to_libseccomp() {
    // getpriority has three actions depending on its arguments.
    let profile = seccomp(CUSTOM);
    assert!(compact::build(&profile).is_none());
    let (reference, _) = compile::libseccomp_program(&profile).unwrap();
    assert_eq!(compile(&profile).unwrap().instructions(), reference.len());
}

#[test]
fn same_decisions_notices_any_difference() {
    let profile = docker_default();
    let (reference, _) = compile::libseccomp_program(&profile).unwrap();
    let program = compact::compact(&profile, &reference).unwrap();
    let audits = [0xc000_003e, 0x4000_0003];
    assert!(bpf::same_decisions(&reference, &program, &audits));
    // Any one changed return, or changed constant, is found.
    for (i, insn) in program.iter().enumerate() {
        let mut changed = program.clone();
        if insn.code == bpf::RET_K {
            changed[i].k ^= 1;
        } else if insn.code == bpf::JMP_JEQ_K || insn.code == bpf::JMP_JGE_K {
            changed[i].k = changed[i].k.wrapping_add(1);
        } else {
            continue;
        }
        assert!(
            !bpf::same_decisions(&reference, &changed, &audits),
            "instruction {i} ({insn:?}) changed, unnoticed"
        );
    }
}
