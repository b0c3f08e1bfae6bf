//! berth-init run as a subreaper (not pid 1) over real commands: exit codes, signals
//! passed on, orphans reaped, commands that cannot run.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn init() -> Command {
    Command::new(env!("CARGO_BIN_EXE_berth-init"))
}

#[test]
fn exits_with_the_childs_status() {
    let status = init().args(["--", "sh", "-c", "exit 3"]).status().unwrap();
    assert_eq!(status.code(), Some(3));
    let status = init().args(["sh", "-c", "kill -9 $$"]).status().unwrap();
    assert_eq!(status.code(), Some(128 + 9));
}

#[test]
fn commands_that_cannot_run() {
    let out = init().arg("/no/such/command").output().unwrap();
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/no/such/command"), "{err}");
    assert_eq!(init().arg("/").status().unwrap().code(), Some(126));
    assert_eq!(init().status().unwrap().code(), Some(2));
    assert_eq!(init().arg("--").status().unwrap().code(), Some(2));
}

#[test]
fn signals_go_to_the_child() {
    // The child reports the signal it got and exits with a code of its own.
    let mut child = init()
        .args([
            "sh",
            "-c",
            "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    // SAFETY: kill takes integers only.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(status.code(), Some(7), "{rest}");
    assert!(rest.contains("got-term"), "{rest}");
}

/// The pids whose parent is `parent` and their states (field 3 of /proc/<pid>/stat).
fn children(parent: u32) -> Vec<(u32, char)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: split after it.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse().ok()) == Some(parent) {
            out.push((pid, fields[0].chars().next().unwrap_or('?')));
        }
    }
    out
}

#[test]
fn orphans_are_reaped() {
    // The subshell leaves `sleep 0.1` behind: it is re-parented to the init and must not
    // stay a zombie once it ends.
    let mut child = init()
        .args(["sh", "-c", "(sleep 0.1 &); exec sleep 2"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_millis(1500);
    let mut saw_orphan = false;
    loop {
        let kids = children(child.id());
        saw_orphan |= kids.len() > 1;
        if saw_orphan && kids.len() == 1 {
            break;
        }
        let why = format!("children {kids:?} (orphan seen: {saw_orphan})");
        assert!(Instant::now() < deadline, "orphan not reaped: {why}");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: kill takes integers only.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(128 + libc::SIGTERM));
}
