//! Runs berth-probe on the host and checks that every subcommand reports sane JSON.

use serde_json::Value;
use std::process::{Command, Output};

fn probe(args: &[&str]) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth-probe"))
        .args(args)
        .output()
        .expect("spawn berth-probe");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("probe {args:?}: stdout is not JSON ({e}): {text}"));
    (out, value)
}

fn ok(args: &[&str]) -> Value {
    let (out, value) = probe(args);
    assert!(out.status.success(), "probe {args:?} failed: {value}");
    value
}

#[test]
fn ids_match_the_process() {
    let v = ok(&["ids"]);
    // SAFETY: getuid takes no arguments and cannot fail.
    let uid = unsafe { libc::getuid() };
    // SAFETY: getgid takes no arguments and cannot fail.
    let gid = unsafe { libc::getgid() };
    assert_eq!(v["uid"], uid);
    assert_eq!(v["gid"], gid);
    assert!(v["groups"].is_array());
    assert!(v["umask"].is_u64());
}

#[test]
fn caps_are_hex_and_seccomp_is_numeric() {
    let v = ok(&["caps"]);
    for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let hex = v[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} missing: {v}"));
        assert!(u64::from_str_radix(hex, 16).is_ok(), "{key}={hex}");
    }
    assert!(v["NoNewPrivs"].is_u64() && v["Seccomp"].is_u64(), "{v}");
}

#[test]
fn hostname_namespaces_and_cgroup() {
    assert!(ok(&["hostname"])["hostname"].is_string());
    let ns = ok(&["ns"]);
    assert!(
        ns["pid"].as_str().is_some_and(|s| s.starts_with("pid:[")),
        "{ns}"
    );
    let cg = ok(&["cgroup", "/proc/self/oom_score_adj", "/nonexistent"]);
    assert!(
        cg["cgroup"].as_array().is_some_and(|a| !a.is_empty()),
        "{cg}"
    );
    assert_eq!(cg["files"]["/proc/self/oom_score_adj"]["ok"], true);
    assert_eq!(cg["files"]["/nonexistent"]["error"], "ENOENT");
}

#[test]
fn read_write_stat_report_errnos() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("f");
    let file = file.to_str().expect("utf-8 path");
    assert_eq!(ok(&["write", file, "hello"])["ok"], true);
    assert_eq!(ok(&["read", file])["data"], "hello");
    assert_eq!(ok(&["read", "/nonexistent/x"])["error"], "ENOENT");
    let st = ok(&["stat", "/dev/null"]);
    assert_eq!(
        (
            st["type"].as_str(),
            st["major"].as_u64(),
            st["minor"].as_u64()
        ),
        (Some("char"), Some(1), Some(3))
    );
    assert_eq!(
        ok(&["stat", file])["mode"].as_u64().map(|m| m & 0o7000),
        Some(0)
    );
}

#[test]
fn syscalls_report_return_values() {
    let v = ok(&["syscall", "getpid"]);
    assert!(v["ret"].as_i64().is_some_and(|p| p > 0), "{v}");
    let dir = tempfile::tempdir().expect("tempdir");
    let sub = dir.path().join("d");
    let sub = sub.to_str().expect("utf-8 path");
    assert_eq!(ok(&["syscall", "mkdir", sub])["ok"], true);
    assert_eq!(ok(&["syscall", "mkdir", sub])["error"], "EEXIST");
    assert_eq!(ok(&["syscall", "chmod", sub, "700"])["ok"], true);
    assert_eq!(ok(&["stat", sub])["mode"], 0o700);
    assert_eq!(ok(&["syscall", "personality", "0"])["ok"], true);
}

#[test]
fn process_facts() {
    let rl = ok(&["rlimits"]);
    assert!(rl["RLIMIT_NOFILE"]["soft"].is_u64(), "{rl}");
    let env = ok(&["env"]);
    assert!(env["env"].as_array().is_some_and(|e| e
        .iter()
        .any(|s| s.as_str().is_some_and(|s| s.starts_with("PATH=")))));
    assert!(ok(&["cwd"])["cwd"].is_string());
    assert!(ok(&["oom"])["oom_score_adj"].is_i64());
    assert_eq!(ok(&["sched"])["policy"], "SCHED_OTHER");
    assert!(ok(&["ioprio"])["class"].is_string());
    assert_eq!(ok(&["personality"])["domain"], "LINUX");
    assert!(ok(&["sysctl", "kernel.ostype"])["value"] == "Linux");
    let mounts = ok(&["mounts"]);
    assert!(mounts["mounts"].as_array().is_some_and(|m| !m.is_empty()));
}

#[test]
fn fds_list_the_standard_streams() {
    let v = ok(&["fds"]);
    let fds: Vec<u64> = v["fds"]
        .as_array()
        .expect("fds array")
        .iter()
        .filter_map(|f| f["fd"].as_u64())
        .collect();
    assert!(fds.starts_with(&[0, 1, 2]), "{v}");
    assert!(
        !v.to_string().contains("/fd\""),
        "the listing's own fd leaked: {v}"
    );
}

#[test]
fn exit_sleep_and_usage_errors() {
    let (out, v) = probe(&["exit", "7"]);
    assert_eq!((out.status.code(), v["exit"].as_i64()), (Some(7), Some(7)));
    assert_eq!(ok(&["sleep", "0.01"])["slept"], 0.01);
    let (out, v) = probe(&["nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(v["error"].is_string());
    let (out, _) = probe(&["read"]);
    assert_eq!(out.status.code(), Some(2));
}
