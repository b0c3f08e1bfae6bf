//! The shim with real busybox containers: the log, exit codes, attach before start, stdin
//! and its end, a terminal and its size, a client that never reads, the spawner killed,
//! no zombies, exec, and the shim's private memory (printed, not asserted). Root needed.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_shim::args::{ExecArgs, ShimCommand};
use berth_shim::client::{find, read_exit, ClientError, Found};
use berth_shim::{AttachStream, ShimClient};
use support::{
    cgroup_dirs, log_lines, my_zombies, private_kib, proc_state, shim, wait_exit, wait_gone, Bundle,
};

/// Reads frames until the shim closes the stream: (stdout, stderr).
fn collect(mut stream: AttachStream) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(f) = stream.read_frame().unwrap() {
        match f.stream {
            1 => out.extend(f.data),
            2 => err.extend(f.data),
            s => panic!("frame on stream {s}"),
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[test]
fn output_is_logged_by_stream_and_the_exit_is_recorded() {
    let b = Bundle::new(
        &["sh", "-c", "echo out; echo err >&2; echo more; exit 3"],
        false,
    );
    let report = b.spawn(b.start_args(false));
    assert!(report.pid > 0 && report.shim_pid > 0, "{report:?}");
    // The shim is not our child, and the process we started is reaped.
    assert_ne!(
        proc_state(report.shim_pid).unwrap().1,
        std::process::id() as i32
    );
    assert!(my_zombies().is_empty(), "{:?}", my_zombies());
    assert!(
        !cgroup_dirs(&b.id).is_empty(),
        "the container has its cgroup"
    );
    let shim = ShimClient::connect(&b.dir).unwrap();
    assert_eq!(shim.start().unwrap(), report.pid);
    let status = shim.wait().unwrap();
    assert_eq!(status.exit_code, 3);
    assert!(status.finished_at.ends_with('Z'), "{status:?}");
    assert!(wait_gone(
        &b.dir.join(berth_shim::PID_FILE),
        Duration::from_secs(10)
    ));
    assert_eq!(read_exit(&b.dir).unwrap(), status);
    let lines = log_lines(&b.log_path());
    let want = [
        ("stdout", "out\n"),
        ("stderr", "err\n"),
        ("stdout", "more\n"),
    ];
    let got: Vec<(&str, &str)> = lines.iter().map(|(s, l)| (&s[..], &l[..])).collect();
    // stdout and stderr are separate pipes: only the order within a stream is fixed.
    let of = |s: &str, v: &[(&str, &str)]| -> Vec<String> {
        v.iter()
            .filter(|l| l.0 == s)
            .map(|l| l.1.to_string())
            .collect()
    };
    assert_eq!(of("stdout", &got), of("stdout", &want));
    assert_eq!(of("stderr", &got), of("stderr", &want));
    // The runtime state and socket are gone (the state moved into the container's
    // directory, which goes with it); a late client reads exit.json.
    assert!(!b.dir.join(berth_shim::SOCKET).exists());
    assert!(!b.engine.runtime().root.path().join(&b.id).exists());
    assert!(b.dir.join("runtime.ended/state.json").is_file());
    assert!(matches!(
        ShimClient::connect(&b.dir),
        Err(ClientError::Connect { .. })
    ));
    assert!(matches!(find(&b.dir), Ok(Found::Exited(s)) if s == status));
    // The shim is gone, and so is every process it started, and the cgroup.
    assert!(wait_exit(report.shim_pid, Duration::from_secs(5)));
    assert!(my_zombies().is_empty());
    assert_eq!(cgroup_dirs(&b.id), Vec::<std::path::PathBuf>::new());
}

#[test]
fn signals_end_the_container_as_docker_reports() {
    // SIGKILL from outside: 128 + 9.
    let b = Bundle::new(&["sleep", "100"], false);
    b.spawn(b.start_args(false));
    let shim = ShimClient::connect(&b.dir).unwrap();
    shim.start().unwrap();
    b.engine
        .runtime()
        .kill(&b.id, libc::SIGKILL, false)
        .unwrap();
    assert_eq!(shim.wait().unwrap().exit_code, 137);
    // SIGTERM to the shim is passed on to the container, whose handler decides.
    let script = "trap 'exit 7' TERM; while true; do sleep 0.05; done";
    let b = Bundle::new(&["sh", "-c", script], false);
    let report = b.spawn(b.start_args(false));
    let shim = ShimClient::connect(&b.dir).unwrap();
    shim.start().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(report.shim_pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(shim.wait().unwrap().exit_code, 7);
}

#[test]
fn attach_before_start_sees_all_output() {
    let b = Bundle::new(&["sh", "-c", "echo hello; echo bad >&2; echo bye"], false);
    b.spawn(b.start_args(false));
    let shim = ShimClient::connect(&b.dir).unwrap();
    let both = shim.attach(false, true, true).unwrap();
    let only_err = shim.attach(false, false, true).unwrap();
    shim.start().unwrap();
    assert_eq!(
        collect(both),
        ("hello\nbye\n".to_string(), "bad\n".to_string())
    );
    assert_eq!(collect(only_err), (String::new(), "bad\n".to_string()));
    assert_eq!(shim.wait().unwrap().exit_code, 0);
}

#[test]
fn stdin_passes_through_and_its_end_ends_cat() {
    let b = Bundle::new(&["cat"], false);
    b.spawn(b.start_args(true));
    let shim = ShimClient::connect(&b.dir).unwrap();
    let mut stream = shim.attach(true, true, true).unwrap();
    shim.start().unwrap();
    let mut writer = stream.try_clone().unwrap();
    let big = "x".repeat(200_000) + "\n";
    let feeder = std::thread::spawn(move || {
        writer.write_stdin(b"hi\n").unwrap();
        writer.write_stdin(big.as_bytes()).unwrap();
        writer.close_stdin().unwrap();
    });
    let mut out = Vec::new();
    while let Some(f) = stream.read_frame().unwrap() {
        out.extend(f.data);
    }
    feeder.join().unwrap();
    assert_eq!(out.len(), 3 + 200_001);
    assert!(out.starts_with(b"hi\nxxx"));
    assert_eq!(shim.wait().unwrap().exit_code, 0);
}

#[test]
fn a_terminal_gets_its_size_and_input() {
    let b = Bundle::new(&["sh", "-c", "read line; echo got $line; stty size"], true);
    b.spawn(b.start_args(true));
    let shim = ShimClient::connect(&b.dir).unwrap();
    let mut stream = shim.attach(true, true, true).unwrap();
    shim.start().unwrap();
    shim.resize(30, 100).unwrap();
    stream.write_stdin(b"hello\n").unwrap();
    let (out, err) = collect(stream);
    assert_eq!(err, "", "a terminal has one stream");
    assert!(out.contains("got hello\r\n"), "{out:?}");
    assert!(out.contains("30 100\r\n"), "{out:?}");
    assert_eq!(shim.wait().unwrap().exit_code, 0);
    // The log has the terminal's output as stdout.
    let lines = log_lines(&b.log_path());
    assert!(lines
        .iter()
        .any(|(s, l)| s == "stdout" && l == "30 100\r\n"));
    // Without a terminal, resize is refused.
    let plain = Bundle::new(&["sleep", "10"], false);
    plain.spawn(plain.start_args(false));
    let shim = ShimClient::connect(&plain.dir).unwrap();
    assert!(matches!(
        shim.resize(1, 1),
        Err(ClientError::Refused { .. })
    ));
}

#[test]
fn a_client_that_never_reads_does_not_block_the_container() {
    // 100 MB of output in 16 KiB lines; the log rotates at 10 MB.
    let script = "head -c 100000000 /dev/zero | tr '\\0' a; echo; echo done >&2";
    let b = Bundle::new(&["sh", "-c", script], false);
    let mut args = b.start_args(false);
    args.log.opts = [
        ("max-size".to_string(), "10m".to_string()),
        ("max-file".to_string(), "2".to_string()),
    ]
    .into();
    let report = b.spawn(args);
    let shim = ShimClient::connect(&b.dir).unwrap();
    let stuck = shim.attach(false, true, true).unwrap();
    let began = Instant::now();
    shim.start().unwrap();
    let status = shim.wait().unwrap();
    let took = began.elapsed();
    assert_eq!(status.exit_code, 0);
    let lines = log_lines(&b.log_path());
    assert!(
        lines.contains(&("stderr".into(), "done\n".into())),
        "{lines:?}"
    );
    // The shim notes the drops when it lets the client go, at its very end.
    assert!(wait_exit(report.shim_pid, Duration::from_secs(10)));
    let log = std::fs::read_to_string(b.dir.join(berth_shim::LOG_FILE)).unwrap();
    assert!(log.contains("bytes of output dropped"), "{log}");
    // What the stuck client finally reads is far from everything.
    let (out, _) = collect(stuck);
    assert!(out.len() < 10_000_000, "{}", out.len());
    println!(
        "100 MB through the shim with a stuck client: {took:?}; the client got {} bytes",
        out.len()
    );
}

#[test]
fn killing_the_spawner_leaves_the_container_running_and_logging() {
    let script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done";
    let b = Bundle::new(&["sh", "-c", script], false);
    let cmd = ShimCommand::Start(b.start_args(false));
    // The spawner: a shell that runs the shim, passes its report on, and stays.
    let mut spawner = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" \"$@\" | head -n 1; exec sleep 100")
        .arg(shim())
        .args(cmd.to_args())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut report = String::new();
    BufReader::new(spawner.stdout.take().unwrap())
        .read_line(&mut report)
        .unwrap();
    assert!(report.contains("\"pid\""), "{report}");
    let Ok(Found::Live(shim)) = find(&b.dir) else {
        panic!("no live shim in {:?}", b.dir);
    };
    shim.start().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    spawner.kill().unwrap();
    spawner.wait().unwrap();
    let before = log_lines(&b.log_path()).len();
    std::thread::sleep(Duration::from_millis(500));
    let after = log_lines(&b.log_path()).len();
    assert!(before > 0 && after > before, "{before} then {after} lines");
    b.engine
        .runtime()
        .kill(&b.id, libc::SIGKILL, false)
        .unwrap();
    assert_eq!(shim.wait().unwrap().exit_code, 137);
}

#[test]
fn exec_runs_through_its_own_shim() {
    let b = Bundle::new(&["sleep", "100"], false);
    b.spawn(b.start_args(false));
    let main = ShimClient::connect(&b.dir).unwrap();
    main.start().unwrap();
    let exec = |args: &[&str], name: &str| {
        let state = b.dir.join(name);
        std::fs::create_dir_all(&state).unwrap();
        let process = state.join("process.json");
        std::fs::write(&process, b.process_with(args, false).to_string()).unwrap();
        let cmd = ShimCommand::Exec(ExecArgs {
            id: b.id.clone(),
            runtime_root: b.engine.runtime().root.path().to_path_buf(),
            state: state.clone(),
            process,
            tty: false,
            stdin: false,
        });
        let report = berth_shim::launch::spawn(&shim(), &cmd).unwrap();
        assert_eq!(report.pid, 0, "an exec begins when started");
        ShimClient::connect(&state).unwrap()
    };
    let shim = exec(&["sh", "-c", "echo in-exec; echo oops >&2; exit 5"], "e1");
    let stream = shim.attach(false, true, true).unwrap();
    assert!(shim.start().unwrap() > 0);
    assert_eq!(
        collect(stream),
        ("in-exec\n".to_string(), "oops\n".to_string())
    );
    assert_eq!(shim.wait().unwrap().exit_code, 5);
    // A command that is not there: the start fails and the exit code is docker's 127.
    let missing = exec(&["no-such-command"], "e2");
    assert!(matches!(missing.start(), Err(ClientError::Refused { .. })));
    assert_eq!(missing.wait().unwrap().exit_code, 127);
    // The container itself runs on.
    assert!(b.dir.join(berth_shim::SOCKET).exists());
    b.engine
        .runtime()
        .kill(&b.id, libc::SIGKILL, false)
        .unwrap();
    assert_eq!(main.wait().unwrap().exit_code, 137);
}

#[test]
fn shim_private_memory_is_reported() {
    let a = Bundle::new(&["sleep", "100"], false);
    let b = Bundle::new(&["sleep", "100"], false);
    let ra = a.spawn(a.start_args(false));
    let rb = b.spawn(b.start_args(false));
    for bundle in [&a, &b] {
        ShimClient::connect(&bundle.dir).unwrap().start().unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let (pa, rss_a) = private_kib(ra.shim_pid);
    let (pb, rss_b) = private_kib(rb.shim_pid);
    println!(
        "shim private memory (Private_Clean + Private_Dirty) with two shims running: \
         {pa} KiB and {pb} KiB (Rss {rss_a} and {rss_b} KiB), shim {}",
        shim().display()
    );
}
