//! The streams and the rest of the container commands through a real berthd: stdin EOF,
//! `-it` on a real pseudo-terminal (window size, exit status), detach keys, attach, exec,
//! logs, top, wait, rename, pause, restart, inspect, create flags, and where berth looks
//! for the daemon.

mod support;

use std::process::Stdio;

use support::{run_pty, wait_until, Root};

#[test]
fn an_unreachable_daemon_is_one_clear_line() {
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", "unix:///nonexistent/berth-test.sock", "ps"])
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Cannot connect to berthd at unix:///nonexistent/berth-test.sock")
            && err.contains("sudo berthd &"),
        "{err}"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", "ssh://x", "ps"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn the_daemon_is_found_through_the_environment() {
    let root = Root::new("env");
    let berth = |envs: &[(&str, String)]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(["version", "--format", "{{.Server.Version}}"])
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let bad = "unix:///nonexistent/x.sock".to_string();
    let ok = berth(&[("DOCKER_HOST", root.host())]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!String::from_utf8_lossy(&ok.stdout).trim().is_empty());
    assert!(
        berth(&[("BERTH_HOST", root.host()), ("DOCKER_HOST", bad.clone())])
            .status
            .success()
    );
    let r = berth(&[("BERTH_HOST", bad), ("DOCKER_HOST", root.host())]);
    assert!(!r.status.success(), "BERTH_HOST comes first");
    // version prints the client's part even without a daemon.
    let v = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", "unix:///nonexistent/x.sock", "version"])
        .output()
        .unwrap();
    assert_eq!(v.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("Client:\n Version:"));
}

#[test]
fn stdin_eof_reaches_the_container() {
    let root = Root::with_busybox();
    let r = root.run_stdin(&["run", "-i", "--rm", "busybox:1.35", "cat"], b"hi\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, "hi\n"), "{}", r.stderr);
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let r = root.run_stdin(&["run", "-i", "--rm", "busybox:1.35", "wc", "-c"], &big);
    assert_eq!(r.stdout.trim(), "200000", "{}", r.stderr);
    // Without -i stdin is not passed on.
    let r = root.run_stdin(&["run", "--rm", "busybox:1.35", "cat"], b"ignored\n");
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    // stdout and stderr stay apart.
    let r = root.run(&[
        "run",
        "--rm",
        "busybox:1.35",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("out\n", "err\n"));
}

#[test]
fn run_it_on_a_terminal() {
    let root = Root::with_busybox();
    let r = run_pty(
        root.cmd(&["run", "-it", "--rm", "busybox:1.35", "sh"]),
        &[(800, b"echo $((6*7)); stty size\r"), (300, b"exit 5\r")],
        20,
    );
    assert_eq!(r.code, 5, "{}", r.output);
    assert!(r.output.contains("\r\n42\r\n"), "{:?}", r.output);
    assert!(r.output.contains("33 101"), "window size: {:?}", r.output);
    // The terminal is back in cooked mode afterwards (berth restored it): nothing to
    // check from here but that the output carries no doubled carriage returns.
    assert!(!r.output.contains("\r\r\n"), "{:?}", r.output);
}

#[test]
fn detach_keys_leave_the_container_running_and_attach_comes_back() {
    let root = Root::with_busybox();
    let r = run_pty(
        root.cmd(&["run", "-it", "--name", "det", "busybox:1.35", "sh"]),
        &[(800, b"echo before\r"), (300, b"\x10\x11")],
        20,
    );
    assert_eq!(r.code, 0, "{:?}", r.output);
    assert!(r.output.contains("before"), "{:?}", r.output);
    let status = root.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(status, "det running\n");
    // attach, type, detach with other keys: docker reports the detach, status 1.
    let r = run_pty(
        root.cmd(&["attach", "--detach-keys", "ctrl-a,x", "det"]),
        &[(500, b"echo again\r"), (300, b"\x01x")],
        20,
    );
    assert_eq!(r.code, 1, "{:?}", r.output);
    assert!(r.output.contains("again"), "{:?}", r.output);
    assert!(r.output.contains("read escape sequence"), "{:?}", r.output);
    assert_eq!(root.ok(&["ps", "-q"]).lines().count(), 1);
    // exec -it in it; its exit status is ours.
    let r = run_pty(
        root.cmd(&["exec", "-it", "det", "sh"]),
        &[(500, b"stty size; exit 3\r")],
        20,
    );
    assert_eq!(r.code, 3, "{:?}", r.output);
    assert!(r.output.contains("33 101"), "{:?}", r.output);
    // Attached again, the shell's exit ends the attach with its status.
    let r = run_pty(root.cmd(&["attach", "det"]), &[(500, b"exit 4\r")], 20);
    assert_eq!(r.code, 4, "{:?}", r.output);
    let st = root.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "det",
    ]);
    assert_eq!(st, "exited 4\n");
    let r = root.run(&["run", "--detach-keys", "ctrl-", "busybox:1.35", "true"]);
    assert_eq!(r.code, 125, "{}", r.stderr);
}

#[test]
fn exec_runs_in_a_running_container() {
    let root = Root::with_busybox();
    root.ok(&["run", "-d", "--name", "box", "busybox:1.35", "sleep", "100"]);
    let out = root.ok(&[
        "exec",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "box",
        "sh",
        "-c",
        "echo $A; pwd; id -u",
    ]);
    assert_eq!(out, "1\n/tmp\n65534\n");
    let r = root.run(&["exec", "box", "sh", "-c", "echo err >&2; exit 9"]);
    assert_eq!((r.code, r.stderr.as_str()), (9, "err\n"));
    let r = root.run_stdin(&["exec", "-i", "box", "cat"], b"via stdin\n");
    assert_eq!(r.stdout, "via stdin\n");
    root.ok(&["exec", "-d", "box", "sh", "-c", "echo bg > /tmp/bg"]);
    assert!(wait_until(10, || root
        .run(&["exec", "box", "cat", "/tmp/bg"])
        .stdout
        == "bg\n"));
    let top = root.ok(&["top", "box"]);
    assert!(top.starts_with("UID") && top.contains("sleep 100"), "{top}");
    let r = root.run(&["exec", "nosuch", "true"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .starts_with("Error response from daemon: No such container: nosuch"),
        "{}",
        r.stderr
    );
}

#[test]
fn logs_tail_since_timestamps_and_follow() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "talk",
        "busybox:1.35",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; sleep 1; echo last",
    ]);
    assert!(wait_until(10, || root
        .ok(&["logs", "talk"])
        .contains("out5")));
    let r = root.run(&["logs", "--tail", "2", "talk"]);
    assert_eq!(
        r.stdout.lines().count() + r.stderr.lines().count(),
        2,
        "{}{}",
        r.stdout,
        r.stderr
    );
    let r = root.run(&["logs", "talk"]);
    assert!(r.stdout.starts_with("out1\nout2\n"), "{}", r.stdout);
    assert!(r.stderr.starts_with("err1\nerr2\n"), "{}", r.stderr);
    // The last line is on stderr.
    let t = root.run(&["logs", "-t", "--tail", "1", "talk"]).stderr;
    let stamp = t.split_whitespace().next().unwrap_or_default();
    assert!(humantime::parse_rfc3339(stamp).is_ok(), "{t}");
    let recent = root.run(&["logs", "--since", "1h", "talk"]);
    assert!(
        recent.stdout.starts_with("out1\n"),
        "{}{}",
        recent.stdout,
        recent.stderr
    );
    assert_eq!(root.ok(&["logs", "--until", "1h", "talk"]), "");
    // -f follows until the container ends.
    let out = root.ok(&["logs", "-f", "talk"]);
    assert!(out.ends_with("last\n"), "{out}");
    // A terminal's log is raw.
    root.ok(&[
        "run",
        "-t",
        "--name",
        "tty",
        "busybox:1.35",
        "echo",
        "tty-line",
    ]);
    assert_eq!(root.ok(&["logs", "tty"]), "tty-line\r\n");
}

#[test]
fn lifecycle_commands() {
    let root = Root::with_busybox();
    let id = root.ok(&[
        "run",
        "-d",
        "--name",
        "life",
        "busybox:1.35",
        "sh",
        "-c",
        "trap 'exit 11' USR1; trap 'exit 12' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    root.wait_log("life", "ready", 1);
    assert_eq!(root.ok(&["pause", "life"]), "life\n");
    assert!(root
        .ok(&["ps", "--format", "{{.Status}}"])
        .contains("(Paused)"));
    assert_eq!(root.ok(&["unpause", "life"]), "life\n");
    // stop -s sends the signal given (SIGTERM by default).
    assert_eq!(root.ok(&["stop", "-s", "USR1", "life"]), "life\n");
    assert_eq!(root.ok(&["wait", "life"]), "11\n");
    root.ok(&["start", "life"]);
    root.wait_log("life", "ready", 2);
    root.ok(&["restart", "-s", "TERM", "life"]);
    assert_eq!(
        root.ok(&["inspect", "-f", "{{.State.Status}}", "life"]),
        "running\n"
    );
    root.ok(&["rename", "life", "renamed"]);
    assert_eq!(
        root.ok(&[
            "inspect",
            "--type",
            "container",
            "-f",
            "{{.Name}} {{.Id}}",
            &id[..12]
        ]),
        format!("/renamed {id}\n")
    );
    root.wait_log("renamed", "ready", 3);
    root.ok(&["kill", "-s", "USR1", "renamed"]);
    assert_eq!(root.ok(&["wait", "renamed"]), "11\n");
    let r = root.run(&["wait", "renamed", "nosuch"]);
    assert_eq!((r.code, r.stdout.as_str()), (1, "11\n"));
    let r = root.run(&["inspect", "nosuch"]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (1, "[]\n", "Error: No such object: nosuch\n")
    );
    let both = root.ok(&["inspect", "renamed", "busybox:1.35"]);
    let v: serde_json::Value = serde_json::from_str(&both).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    // start -a gives the exit status.
    root.ok(&[
        "create",
        "--name",
        "six",
        "busybox:1.35",
        "sh",
        "-c",
        "echo six; exit 6",
    ]);
    let r = root.run(&["start", "-a", "six"]);
    assert_eq!((r.code, r.stdout.as_str()), (6, "six\n"), "{}", r.stderr);
}

#[test]
fn create_flags_reach_the_container() {
    let root = Root::with_busybox();
    let env_file = root.dir.path().join("env.list");
    std::fs::write(&env_file, "# comment\n\nFROM_FILE=yes\n").unwrap();
    let out = root.ok(&[
        "run",
        "--rm",
        "--env-file",
        env_file.to_str().unwrap(),
        "--network",
        "none",
        "-l",
        "team=core",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "busybox:1.35",
        "sh",
        "-c",
        "echo $FROM_FILE; ls /sys/class/net",
    ]);
    assert_eq!(out, "yes\nlo\n");
    let id = root.ok(&[
        "create",
        "--name",
        "lab",
        "-l",
        "team=core",
        "--cap-drop",
        "ALL",
        "busybox:1.35",
    ]);
    let v: serde_json::Value = serde_json::from_str(&root.ok(&["inspect", id.trim()])).unwrap();
    assert_eq!(v[0]["Config"]["Labels"]["team"], "core");
    assert_eq!(v[0]["HostConfig"]["CapDrop"], serde_json::json!(["ALL"]));
    let lim = root.ok(&[
        "create",
        "--memory",
        "64m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "--ulimit",
        "nofile=100:200",
        "--init",
        "busybox:1.35",
    ]);
    let h = &serde_json::from_str::<serde_json::Value>(&root.ok(&["inspect", lim.trim()])).unwrap()
        [0]["HostConfig"];
    assert_eq!(
        (&h["Memory"], &h["PidsLimit"], &h["NanoCpus"], &h["Init"]),
        (
            &serde_json::json!(67108864),
            &serde_json::json!(50),
            &serde_json::json!(500000000),
            &serde_json::json!(true)
        )
    );
    assert_eq!(h["Ulimits"][0]["Hard"], 200);
    let ps = root.ok(&[
        "ps",
        "-a",
        "--filter",
        "label=team=core",
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(ps, "lab\n");
    let ps = root.ok(&["ps", "-a", "-n", "1", "-q", "--no-trunc"]);
    assert_eq!(ps.trim(), lim.trim(), "the latest");
    let r = root.run(&["run", "--network", "bridge0", "busybox:1.35", "true"]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    let r = root
        .cmd(&["run", "--rm", "busybox:1.35", "echo", "x"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(r.stdout, b"x\n");
}
