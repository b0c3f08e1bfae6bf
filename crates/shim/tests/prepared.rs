//! Prepared shims (`berth-shim --wait-command`, `launch::Prepared`): one given a start
//! runs the container as a spawned shim does, one given an exec runs it, one whose pipe
//! closes (its owner dropped it, or was killed) exits and leaves nothing, and a bad
//! command on the pipe is reported as the same bad command line is. An idle shim has its
//! container's v1 cgroups made under a placeholder name: taken by a start, removed
//! otherwise. Root needed.
//!
//! Tests here run in parallel and start short-lived processes, so none counts zombies
//! (shim.rs does); each checks that the shim it made is gone.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_shim::args::{ExecArgs, LogArgs, ShimCommand, StartArgs};
use berth_shim::launch::{self, LaunchError, Prepared};
use berth_shim::ShimClient;
use support::{cgroup_dirs, log_lines, proc_state, shim, wait_exit, wait_gone, Bundle};

/// The process name of `pid`.
fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// The session of process `pid`.
fn session(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(3).unwrap().parse().unwrap()
}

/// The placeholder cgroup directories of the idle shim `pid` (one per v1 hierarchy).
fn placeholders(pid: i32) -> Vec<std::path::PathBuf> {
    cgroup_dirs(&format!("{}{pid}", berth_cgroups::PLACEHOLDER_PREFIX))
}

/// Whether the placeholders of `pid` are gone within `timeout`.
fn placeholders_gone(pid: i32, timeout: Duration) -> bool {
    let end = std::time::Instant::now() + timeout;
    while !placeholders(pid).is_empty() {
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// A prepared shim, checked to be idle, detached and not our child.
fn idle_shim() -> Prepared {
    let prepared = Prepared::spawn(&shim()).unwrap();
    let pid = prepared.pid();
    assert_eq!(comm(pid), "berth-shim-idle");
    assert_eq!(session(pid), pid, "a session of its own");
    // Not our child: the process we started forked it and was reaped.
    assert_ne!(proc_state(pid).unwrap().1, std::process::id() as i32);
    // Its container's cgroups, made ahead (this host has cgroup v1 hierarchies).
    assert!(wait_placeholders(pid), "no placeholder cgroups for {pid}");
    prepared
}

/// Whether the placeholders of the idle shim `pid` are there within a few seconds (the
/// shim reports itself idle before it makes them).
fn wait_placeholders(pid: i32) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while placeholders(pid).len() < 2 {
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn a_prepared_shim_runs_a_container_as_a_spawned_one_does() {
    let b = Bundle::new(&["sh", "-c", "echo out; echo err >&2; exit 3"], false);
    let prepared = idle_shim();
    let idle = prepared.pid();
    let report = prepared
        .launch(&ShimCommand::Start(b.start_args(false)))
        .unwrap();
    assert_eq!(report.shim_pid, idle);
    assert!(report.pid > 0, "{report:?}");
    assert_eq!(comm(idle), "berth-shim");
    // The placeholders became the container's cgroups.
    assert_eq!(placeholders(idle), Vec::<std::path::PathBuf>::new());
    assert!(
        !cgroup_dirs(&b.id).is_empty(),
        "the container has its cgroup"
    );
    let pid_file = b.dir.join(berth_shim::PID_FILE);
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap(),
        idle.to_string()
    );
    let shim = ShimClient::connect(&b.dir).unwrap();
    let stream = shim.attach(false, true, true).unwrap();
    assert_eq!(shim.start().unwrap(), report.pid);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut stream = stream;
    while let Some(f) = stream.read_frame().unwrap() {
        match f.stream {
            1 => out.extend(f.data),
            _ => err.extend(f.data),
        }
    }
    assert_eq!((&out[..], &err[..]), (&b"out\n"[..], &b"err\n"[..]));
    assert_eq!(shim.wait().unwrap().exit_code, 3);
    let mut lines = log_lines(&b.log_path());
    lines.sort();
    assert_eq!(
        lines,
        [
            ("stderr".to_string(), "err\n".to_string()),
            ("stdout".to_string(), "out\n".to_string())
        ]
    );
    assert!(wait_gone(&pid_file, Duration::from_secs(10)));
    assert!(wait_exit(idle, Duration::from_secs(5)));
    assert!(!b.dir.join(berth_shim::SOCKET).exists());
    // Its end deleted the runtime state and the cgroup (found while it was idle).
    assert!(!b.engine.runtime().root.path().join(&b.id).exists());
    assert_eq!(cgroup_dirs(&b.id), Vec::<std::path::PathBuf>::new());
}

#[test]
fn a_prepared_shim_runs_an_exec_with_relative_paths() {
    let b = Bundle::new(&["sleep", "100"], false);
    b.spawn(b.start_args(false));
    let main = ShimClient::connect(&b.dir).unwrap();
    main.start().unwrap();
    let state = b.dir.join("e1");
    std::fs::create_dir_all(&state).unwrap();
    let process = state.join("process.json");
    let args = ["sh", "-c", "echo in-exec; exit 4"];
    std::fs::write(&process, b.process_with(&args, false).to_string()).unwrap();
    // Relative to this process's directory, as on a command line.
    let relative = |p: &std::path::Path| {
        let cwd = std::env::current_dir().unwrap();
        let up = cwd.components().count() - 1;
        let mut r = std::path::PathBuf::new();
        (0..up).for_each(|_| r.push(".."));
        r.join(p.strip_prefix("/").unwrap())
    };
    let cmd = ShimCommand::Exec(ExecArgs {
        id: b.id.clone(),
        runtime_root: relative(b.engine.runtime().root.path()),
        state: relative(&state),
        process: relative(&process),
        tty: false,
        stdin: false,
    });
    let report = idle_shim().launch(&cmd).unwrap();
    assert_eq!(report.pid, 0, "an exec begins when started");
    // An exec makes no cgroup: the placeholders are removed.
    assert!(placeholders_gone(report.shim_pid, Duration::from_secs(5)));
    let exec = ShimClient::connect(&state).unwrap();
    let mut stream = exec.attach(false, true, true).unwrap();
    assert!(exec.start().unwrap() > 0);
    let mut out = Vec::new();
    while let Some(f) = stream.read_frame().unwrap() {
        out.extend(f.data);
    }
    assert_eq!(out, b"in-exec\n");
    assert_eq!(exec.wait().unwrap().exit_code, 4);
    assert!(wait_exit(report.shim_pid, Duration::from_secs(5)));
    b.engine
        .runtime()
        .kill(&b.id, libc::SIGKILL, false)
        .unwrap();
    assert_eq!(main.wait().unwrap().exit_code, 137);
}

#[test]
fn a_prepared_shim_whose_pipe_closes_exits_and_leaves_nothing() {
    // Dropped by its owner.
    let prepared = idle_shim();
    let pid = prepared.pid();
    drop(prepared);
    assert!(wait_exit(pid, Duration::from_secs(5)), "{pid} still idles");
    assert_eq!(placeholders(pid), Vec::<std::path::PathBuf>::new());
    // Its owner killed (SIGKILL): here a `sleep` holds the only write end of its stdin.
    let mut owner = Command::new("sleep")
        .arg("100")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = owner.stdout.take().unwrap();
    let mut first = Command::new(shim())
        .arg("--wait-command")
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(first.wait().unwrap().success());
    let v: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let pid = v["idle_pid"].as_i64().unwrap() as i32;
    assert_eq!(comm(pid), "berth-shim-idle");
    assert!(wait_placeholders(pid), "no placeholder cgroups for {pid}");
    owner.kill().unwrap();
    owner.wait().unwrap();
    assert!(wait_exit(pid, Duration::from_secs(5)), "{pid} still idles");
    assert_eq!(placeholders(pid), Vec::<std::path::PathBuf>::new());
}

/// `args` framed as `ShimCommand::encode` frames a command.
fn frame(args: &[&str]) -> Vec<u8> {
    let body: Vec<u8> = args
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    [format!("{}\n", body.len()).as_bytes(), &body].concat()
}

/// The report of a shim started with `args`, as it wrote it.
fn report_of_argv(args: &[&str]) -> String {
    let out = Command::new(shim()).args(args).output().unwrap();
    assert!(!out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The report of a prepared shim sent `bytes` on its pipe, as it wrote it.
fn report_of_pipe(bytes: &[u8]) -> String {
    let mut first = Command::new(shim())
        .arg("--wait-command")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = first.stdin.take().unwrap();
    let mut out = BufReader::new(first.stdout.take().unwrap());
    assert!(first.wait().unwrap().success());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    let v: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let pid = v["idle_pid"].as_i64().unwrap() as i32;
    input.write_all(bytes).unwrap();
    drop(input);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(
        wait_exit(pid, Duration::from_secs(5)),
        "{pid} is still there"
    );
    line
}

#[test]
fn a_bad_command_on_the_pipe_is_reported_as_on_the_command_line() {
    let unknown = report_of_argv(&["run", "--id", "x"]);
    assert!(unknown.contains("unknown command"), "{unknown}");
    assert_eq!(report_of_pipe(&frame(&["run", "--id", "x"])), unknown);
    let missing = report_of_argv(&["start", "--id", "x"]);
    assert!(missing.contains("--bundle is required"), "{missing}");
    let start = frame(&["start", "--id", "x"]);
    assert_eq!(report_of_pipe(&start), missing);
    let cut = report_of_pipe(&start[..start.len() - 2]);
    assert!(cut.contains("malformed"), "{cut}");
    // A container that cannot be created: the same error either way.
    let dir = tempfile::tempdir().unwrap();
    let cmd = ShimCommand::Start(StartArgs {
        id: format!("pool-{}", std::process::id()),
        bundle: dir.path().join("no-bundle"),
        runtime_root: dir.path().join("runtime"),
        state: dir.path().join("state"),
        log: LogArgs::default(),
        ..Default::default()
    });
    let spawned = launch::spawn(&shim(), &cmd).unwrap_err();
    let prepared = idle_shim();
    let pid = prepared.pid();
    let launched = prepared.launch(&cmd).unwrap_err();
    match (&spawned, &launched) {
        (LaunchError::Failed(a), LaunchError::Failed(b)) => assert_eq!(a, b),
        _ => panic!("{spawned:?} and {launched:?}"),
    }
    assert!(wait_exit(pid, Duration::from_secs(5)));
    assert!(!dir.path().join("state").join(berth_shim::PID_FILE).exists());
}

#[test]
fn launch_times_are_reported() {
    // Printed, not asserted: the time from asking for a shim to its report (container
    // created), spawned against prepared (its exec, start-up and fork done before).
    let mut spawned = Vec::new();
    let mut prepared = Vec::new();
    for _ in 0..10 {
        let b = Bundle::new(&["true"], false);
        let cmd = ShimCommand::Start(b.start_args(false));
        let began = std::time::Instant::now();
        launch::spawn(&shim(), &cmd).unwrap();
        spawned.push(began.elapsed());
        ShimClient::connect(&b.dir).unwrap().start().unwrap();
        let b = Bundle::new(&["true"], false);
        let cmd = ShimCommand::Start(b.start_args(false));
        let ready = Prepared::spawn(&shim()).unwrap();
        let began = std::time::Instant::now();
        ready.launch(&cmd).unwrap();
        prepared.push(began.elapsed());
        ShimClient::connect(&b.dir).unwrap().start().unwrap();
    }
    spawned.sort();
    prepared.sort();
    println!(
        "shim up with its container created: spawned median {:?}, prepared median {:?} \
         (10 each), shim {}",
        spawned[5],
        prepared[5],
        shim().display()
    );
}
