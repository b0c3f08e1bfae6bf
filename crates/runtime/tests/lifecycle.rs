//! A container's life through the runc command line: hooks, exec, terminals, pause and
//! resume, update, ps, list, events, kill --all, pid files and the chroot fallback.

mod common;

use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use common::{assert_no_leftovers, check, Bundle, Runtime};
use serde_json::{json, Value};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `exec -d ...`. The detached process keeps the runtime's stdio, so it gets none here:
/// collecting the output would otherwise wait for the process to end.
fn exec_detached(rt: &Runtime, args: &[&str]) {
    let status = rt
        .command()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{args:?}: {status}");
}

/// A container running `/probe sleep 60`, created and started.
fn running(rt: &Runtime, b: &mut Bundle) -> String {
    b.set_args(&["/probe", "sleep", "60"]);
    b.save();
    let id = b.next_id();
    check(rt.create(&id, b), "create");
    check(rt.start(&id), "start");
    rt.wait_status(&id, "running", Duration::from_secs(5));
    id
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("log");
    let hook = |kind: &str, file: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read -r s; echo \"{kind} $s\" >> {file}")]});
    let host_log = log.display().to_string();
    b.spec_mut()["hooks"] = json!({
        "prestart": [hook("prestart", &host_log)],
        "createRuntime": [hook("createRuntime", &host_log)],
        "createContainer": [hook("createContainer", &host_log)],
        "startContainer": [hook("startContainer", "/hooklog/log")],
        "poststart": [hook("poststart", &host_log)],
        "poststop": [hook("poststop", &host_log)]
    });
    b.spec_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/hooklog", "type": "bind", "source": logdir.path(), "options": ["bind"]}));
    let id = running(&rt, &mut b);
    check(rt.delete(&id, true), "delete");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ],
        "{text}"
    );
    for line in &lines {
        let (kind, state) = line.split_once(' ').unwrap();
        let state: Value =
            serde_json::from_str(state).unwrap_or_else(|e| panic!("{kind}: {e}: {state}"));
        assert_eq!(state["id"], id.as_str(), "{kind}: {state}");
        assert_eq!(
            state["bundle"],
            b.path().to_str().unwrap(),
            "{kind}: {state}"
        );
        let want = match kind {
            "poststart" => "running",
            "poststop" => "stopped",
            _ => "creating",
        };
        assert_eq!(state["status"], want, "{kind}: {state}");
    }
}

#[test]
fn a_failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.spec_mut()["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    b.spec_mut()["linux"]["cgroupsPath"] = json!(format!("/berth-test/{}", b.id()));
    b.save();
    let out = rt.create(&b.id(), &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("hooks.createRuntime[0] /bin/false"),
        "{out:?}"
    );
    assert_no_leftovers(
        rt.root(),
        &b.id(),
        &format!("/berth-test/{}", b.id()),
        b.path(),
    );
}

#[test]
fn a_failing_start_container_hook_fails_start() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.spec_mut()["hooks"] = json!({"startContainer": [{"path": "/bin/false"}]});
    b.set_args(&["/probe", "sleep", "60"]);
    b.save();
    let id = b.next_id();
    check(rt.create(&id, &b), "create");
    let out = rt.start(&id);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exited before start"),
        "{out:?}"
    );
    check(rt.delete(&id, true), "delete");
}

#[test]
fn exec_joins_the_container() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let id = running(&rt, &mut b);
    let out = check(rt.run(&["exec", &id, "/probe", "hostname"]), "exec");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["hostname"], "runc");
    let out = check(
        rt.run(&[
            "exec",
            "--user",
            "1000:1000",
            "--env",
            "X=1",
            "--cwd",
            "/tmp",
            &id,
            "/probe",
            "ids",
        ]),
        "exec",
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["uid"], 1000, "{r}");
    let ns_init = check(rt.run(&["exec", &id, "/probe", "ns"]), "exec ns");
    let r: Value = serde_json::from_slice(&ns_init.stdout).unwrap();
    let state = rt.state(&id);
    let pid = state["pid"].as_i64().unwrap();
    for ns in ["pid", "net", "mnt", "uts", "ipc"] {
        let want = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
        assert_eq!(
            r[ns].as_str(),
            want.to_str(),
            "exec not in the init's {ns} namespace"
        );
    }
    // exit codes come back
    let out = rt.run(&["exec", &id, "/probe", "exit", "7"]);
    assert_eq!(out.status.code(), Some(7));
    // --process file, detached with a pid file
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("exec.pid");
    let proc_json = dir.path().join("p.json");
    std::fs::write(
        &proc_json,
        json!({"args": ["/probe", "sleep", "30"], "cwd": "/", "user": {"uid": 0, "gid": 0}})
            .to_string(),
    )
    .unwrap();
    exec_detached(
        &rt,
        &[
            "exec",
            "-d",
            "--pid-file",
            pf.to_str().unwrap(),
            "--process",
            proc_json.to_str().unwrap(),
            &id,
        ],
    );
    let epid: i32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ps = check(rt.run(&["ps", "--format", "json", &id]), "ps");
    let pids: Vec<i32> = serde_json::from_slice(&ps.stdout).unwrap();
    assert!(
        pids.contains(&epid) && pids.contains(&(pid as i32)),
        "{pids:?}"
    );
    let out = rt.run(&["exec", &id, "/no/such/binary"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/no/such/binary"),
        "{out:?}"
    );
    check(rt.delete(&id, true), "delete");
}

#[test]
fn ps_table_and_list() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let id = running(&rt, &mut b);
    let out = check(rt.run(&["ps", &id]), "ps");
    let text = stdout(&out);
    assert!(
        text.lines().next().unwrap().contains("PID") && text.contains("/probe sleep 60"),
        "{text}"
    );
    let out = check(rt.run(&["list"]), "list");
    let text = stdout(&out);
    assert!(
        text.starts_with("ID") && text.contains(&id) && text.contains("running"),
        "{text}"
    );
    let out = check(rt.run(&["list", "--format", "json"]), "list json");
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all[0]["id"], id.as_str());
    let out = check(rt.run(&["list", "-q"]), "list -q");
    assert_eq!(stdout(&out).trim(), id);
    check(rt.delete(&id, true), "delete");
}

#[test]
fn pause_resume_and_kill_all() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let id = running(&rt, &mut b);
    check(rt.run(&["pause", &id]), "pause");
    assert_eq!(rt.state(&id)["status"], "paused");
    let out = rt.run(&["pause", &id]);
    assert_eq!(out.status.code(), Some(1), "pausing twice must fail");
    check(rt.run(&["resume", &id]), "resume");
    assert_eq!(rt.state(&id)["status"], "running");
    exec_detached(&rt, &["exec", "-d", &id, "/probe", "sleep", "60"]);
    check(rt.run(&["kill", "--all", &id, "KILL"]), "kill --all");
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    let out = rt.run(&["kill", &id, "TERM"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "kill of a stopped container must fail"
    );
    check(rt.delete(&id, false), "delete");
    let out = rt.run(&["state", &id]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn delete_refuses_a_running_container_without_force() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let id = running(&rt, &mut b);
    let out = rt.delete(&id, false);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("running"),
        "{out:?}"
    );
    check(rt.delete(&id, true), "delete --force");
    check(
        rt.delete(&id, true),
        "delete --force of a missing container",
    );
}

#[test]
fn kill_takes_names_and_numbers() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let id = running(&rt, &mut b);
    let out = rt.run(&["kill", &id, "SIGNOPE"]);
    assert_eq!(out.status.code(), Some(1));
    check(rt.run(&["kill", &id, "9"]), "kill 9");
    rt.wait_status(&id, "stopped", Duration::from_secs(5));
    check(rt.delete(&id, false), "delete");
}

#[test]
fn update_and_events_stats() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.spec_mut()["linux"]["resources"]["memory"] = json!({"limit": 268435456});
    b.spec_mut()["linux"]["resources"]["pids"] = json!({"limit": 100});
    let id = running(&rt, &mut b);
    let read = |file: &str| {
        let out = check(
            rt.run(&["exec", &id, "/probe", "read", file]),
            "read cgroup file",
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        r["data"].as_str().unwrap_or_default().trim().to_string()
    };
    assert_eq!(
        read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "268435456"
    );
    assert_eq!(read("/sys/fs/cgroup/pids/pids.max"), "100");
    check(
        rt.run(&[
            "update",
            "--memory",
            "134217728",
            "--pids-limit",
            "50",
            "--cpu-share",
            "512",
            &id,
        ]),
        "update",
    );
    assert_eq!(
        read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "134217728"
    );
    assert_eq!(read("/sys/fs/cgroup/pids/pids.max"), "50");
    assert_eq!(read("/sys/fs/cgroup/cpu/cpu.shares"), "512");
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("r.json");
    std::fs::write(
        &res,
        json!({"cpu": {"quota": 50000, "period": 100000}}).to_string(),
    )
    .unwrap();
    check(
        rt.run(&["update", "--resources", res.to_str().unwrap(), &id]),
        "update -r",
    );
    assert_eq!(read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), "50000");
    let out = check(rt.run(&["events", "--stats", &id]), "events --stats");
    let ev: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["type"], "stats");
    assert!(
        ev["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "{ev}"
    );
    assert!(
        ev["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{ev}"
    );
    let out = rt.run(&["update", "--cpu-share", "1", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cpu.shares"),
        "{out:?}"
    );
    check(rt.delete(&id, true), "delete");
}

#[test]
fn console_socket_receives_the_pty_master() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["terminal"] = json!(true);
    b.set_args(&["/bin/sh", "-c", "tty; echo hello-from-pty; sleep 1"]);
    b.save();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = b.next_id();
    let receiver = std::thread::spawn(move || recv_fd(&listener));
    let out = rt
        .command()
        .args([
            "create",
            "--bundle",
            b.path().to_str().unwrap(),
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
        ])
        .output()
        .unwrap();
    let out = check(out, "create with console socket");
    drop(out);
    let master = receiver.join().unwrap();
    check(rt.start(&id), "start");
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match nix::unistd::read(unsafe_borrow(master), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&text).contains("hello-from-pty") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("/dev/pts/0") && text.contains("hello-from-pty"),
        "{text}"
    );
    check(rt.delete(&id, true), "delete");
}

/// Accepts one connection on `listener` and returns the descriptor sent with SCM_RIGHTS.
fn recv_fd(listener: &UnixListener) -> std::os::fd::RawFd {
    let (stream, _) = listener.accept().unwrap();
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                return *fd;
            }
        }
    }
    panic!("no descriptor in SCM_RIGHTS")
}

fn unsafe_borrow(fd: std::os::fd::RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: the descriptor came from SCM_RIGHTS and stays open for the rest of the test.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

#[test]
fn terminal_without_console_socket_is_refused_by_create() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.spec_mut()["process"]["terminal"] = json!(true);
    b.save();
    let out = rt.create(&b.id(), &b);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--console-socket"),
        "{out:?}"
    );
}

#[test]
fn pid_file_no_pivot_and_preserved_fds() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_args(&["/probe", "fds"]);
    b.save();
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("pid");
    let extra = std::fs::File::open("/dev/null").unwrap();
    let id = b.next_id();
    // fd 3 in the child: dup the file there via the shell-free way of Command.
    let mut cmd = rt.command();
    cmd.args([
        "run",
        "--no-pivot",
        "--preserve-fds",
        "1",
        "--pid-file",
        pf.to_str().unwrap(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let raw = extra.as_raw_fd();
    let hook = move || {
        // SAFETY: dup2 between fork and exec only changes the child's descriptor table.
        let dup = unsafe { libc::dup2(raw, 3) };
        // dup2 onto itself keeps close-on-exec: clear it explicitly.
        // SAFETY: F_SETFD on a descriptor the child owns.
        let flags = unsafe { libc::fcntl(3, libc::F_SETFD, 0) };
        if dup < 0 || flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only calls async-signal-safe dup2 and fcntl.
    unsafe { std::os::unix::process::CommandExt::pre_exec(&mut cmd, hook) };
    let out = check(cmd.output().unwrap(), "run --no-pivot --preserve-fds 1");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fds: Vec<u64> = r["fds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["fd"].as_u64())
        .collect();
    assert!(fds.contains(&3), "preserved fd 3 missing: {r}");
    let pid: i32 = std::fs::read_to_string(&pf)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 1);
}

#[test]
fn features_and_spec() {
    let rt = Runtime::new();
    let out = check(rt.run(&["features"]), "features");
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f["ociVersionMax"], "1.2.0");
    let ns: Vec<&str> = f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(ns.contains(&"user") && ns.contains(&"time"), "{f}");
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    // `spec` writes a config that runs as it is (once the terminal is off).
    let b = Bundle::busybox();
    std::fs::remove_file(b.path().join("config.json")).unwrap();
    check(
        rt.command()
            .current_dir(b.path())
            .arg("spec")
            .output()
            .unwrap(),
        "spec",
    );
    let again = rt
        .command()
        .current_dir(b.path())
        .arg("spec")
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "spec must not overwrite config.json"
    );
    let path = b.path().join("config.json");
    let mut spec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["/probe", "exit", "4"]);
    std::fs::write(&path, spec.to_string()).unwrap();
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), &b.next_id()]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
}

#[test]
fn exec_with_a_terminal_over_the_console_socket() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    let id = running(&rt, &mut b);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || recv_fd(&listener));
    check(
        rt.run(&[
            "exec",
            "--tty",
            "--detach",
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
            "/bin/sh",
            "-c",
            "tty; echo exec-tty-ok",
        ]),
        "exec --tty",
    );
    let master = receiver.join().unwrap();
    let mut text = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&text).contains("exec-tty-ok") {
        match nix::unistd::read(unsafe_borrow(master), &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("/dev/pts/") && text.contains("exec-tty-ok"),
        "{text}"
    );
    check(rt.delete(&id, true), "delete");
}

#[test]
fn pidfd_socket_receives_a_pidfd_of_the_init() {
    let rt = Runtime::new();
    let mut b = Bundle::busybox();
    b.set_args(&["/probe", "sleep", "30"]);
    b.save();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("pidfd.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let receiver = std::thread::spawn(move || recv_fd(&listener));
    let id = b.next_id();
    // The created init keeps the runtime's stdio until it runs: give it none.
    let out = rt
        .command()
        .args(["create", "--bundle", b.path().to_str().unwrap()])
        .args(["--pidfd-socket", sock.to_str().unwrap(), &id])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .unwrap();
    check(out, "create --pidfd-socket");
    let fd = receiver.join().unwrap();
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    assert_eq!(link.to_str(), Some("anon_inode:[pidfd]"));
    check(rt.delete(&id, true), "delete");
}
