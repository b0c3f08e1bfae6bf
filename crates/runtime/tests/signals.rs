//! A container's processes start with no signal blocked or ignored, whatever the runtime's
//! caller had: the runtime (a Rust program, which ignores SIGPIPE) is run here with SIGUSR1
//! blocked and SIGHUP ignored, and the init and an exec'd process are checked with the
//! probe. Also: a new network namespace has its loopback interface up.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::{check, Bundle, Runtime};
use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
use serde_json::Value;

/// Makes `cmd` start with SIGUSR1 blocked and SIGHUP ignored (both kept across execve).
fn with_odd_signals(cmd: &mut Command) -> &mut Command {
    let setup = || {
        let mut set = SigSet::empty();
        set.add(Signal::SIGUSR1);
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        // SAFETY: SIG_IGN installs no handler code.
        unsafe { signal(Signal::SIGHUP, SigHandler::SigIgn) }?;
        Ok(())
    };
    // SAFETY: the closure only makes two async-signal-safe system calls in the child.
    unsafe { cmd.pre_exec(setup) }
}

/// Runs `cmd`, whose container processes keep its stdio (so its stdout stays open while
/// they run): stdout to nowhere, stderr to a file that a failure shows.
fn run_detached(cmd: &mut Command, b: &Bundle, what: &str) {
    let err_path = b.path().join(format!("{what}.stderr"));
    let err = std::fs::File::create(&err_path).unwrap();
    let status = cmd.stdout(Stdio::null()).stderr(err).status().unwrap();
    let msg = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(status.success(), "{what}: {status}: {msg}");
}

/// The probe's `signals` report of every process in the container.
fn signals_inside(rt: &Runtime, id: &str) -> Value {
    let mut cmd = rt.command();
    cmd.args(["exec", id, "/probe", "signals"]);
    let out = check(with_odd_signals(&mut cmd).output().unwrap(), "exec probe");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn init_and_exec_start_with_default_signal_state() {
    let mut b = Bundle::busybox();
    b.set_args(&["sleep", "30"]);
    b.save();
    let rt = Runtime::new();
    let id = b.next_id();
    let mut create = rt.command();
    create.args(["create", "--bundle"]).arg(b.path()).arg(&id);
    run_detached(with_odd_signals(&mut create), &b, "create");
    check(rt.start(&id), "start");
    let mut exec = rt.command();
    exec.args(["exec", "-d", &id, "sleep", "31"]);
    run_detached(with_odd_signals(&mut exec), &b, "exec-d");
    let report = signals_inside(&rt, &id);
    let procs = report["processes"].as_object().unwrap();
    let sleeps: Vec<&Value> = procs.values().filter(|p| p["name"] == "sleep").collect();
    assert_eq!(sleeps.len(), 2, "{report}");
    for p in sleeps {
        assert_eq!(p["blocked"], "0000000000000000", "{report}");
        assert_eq!(p["ignored"], "0000000000000000", "{report}");
    }
    let me = &procs[&report["self"].to_string()];
    assert_eq!(me["blocked"], "0000000000000000", "{report}");
    check(rt.delete(&id, true), "delete");
}

#[test]
fn a_new_network_namespace_has_loopback_up() {
    let mut b = Bundle::busybox();
    b.set_args(&[
        "cat",
        "/sys/class/net/lo/operstate",
        "/sys/class/net/lo/flags",
    ]);
    b.save();
    let rt = Runtime::new();
    let id = b.next_id();
    let out = rt
        .command()
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .output()
        .unwrap();
    let out = check(out, "run cat");
    let text = String::from_utf8_lossy(&out.stdout);
    let flags = text.lines().nth(1).unwrap_or_default();
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & libc::IFF_UP as u32, libc::IFF_UP as u32, "{text}");
}
