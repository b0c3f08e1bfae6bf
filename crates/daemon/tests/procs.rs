//! berthd's process endpoints over its unix socket, with real busybox containers under
//! real shims: start, wait (before start, and its conditions), attach (hijacked before
//! start, stdin and its half-close, a terminal, no upgrade), stop, kill, restart, pause,
//! top, logs (tail, since, follow, timestamps, the none driver), exec (exit codes, a
//! missing command, detached, resize) and rm -f. Root needed.

mod support;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use support::{split_frames, Daemon};

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.load_busybox();
    d
}

fn status(d: &Daemon, id: &str) -> String {
    d.inspect(id)["State"]["Status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn start(d: &Daemon, id: &str) {
    let r = d.post(&format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
}

/// Sends a `wait` request and reads its response head; the body comes later.
fn wait_request(d: &Daemon, id: &str, condition: &str) -> std::os::unix::net::UnixStream {
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "POST /v1.47/containers/{id}/wait?condition={condition} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1);
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s
}

/// The JSON object in the rest of a chunked wait response.
fn wait_body(mut s: std::os::unix::net::UnixStream) -> serde_json::Value {
    let mut rest = String::new();
    s.read_to_string(&mut rest).unwrap();
    let start = rest
        .find('{')
        .unwrap_or_else(|| panic!("no JSON in {rest:?}"));
    let end = rest.rfind('}').unwrap();
    serde_json::from_str(&rest[start..=end]).unwrap()
}

#[test]
fn wait_before_start_then_the_exit_code() {
    let d = daemon();
    let id = d.create(&["sh", "-c", "sleep 0.2; exit 3"], "");
    let waiter = wait_request(&d, &id, "next-exit");
    start(&d, &id);
    let body = wait_body(waiter);
    assert_eq!(body["StatusCode"], 3, "{body}");
    assert!(body["Error"].is_null(), "{body}");
    let doc = d.inspect(&id);
    assert_eq!(doc["State"]["Status"], "exited");
    assert_eq!(doc["State"]["ExitCode"], 3);
    // not-running answers at once for a container that does not run.
    let again = wait_body(wait_request(&d, &id, "not-running"));
    assert_eq!(again["StatusCode"], 3);
    let bad = d.post(&format!("/containers/{id}/wait?condition=soon"), "");
    assert_eq!(bad.status, 400);
    assert_eq!(d.post("/containers/nope/wait", "").status, 404);
}

#[test]
fn attach_before_start_sees_all_output_in_frames() {
    let d = daemon();
    let id = d.create(&["sh", "-c", "echo out; echo err >&2; echo more"], "");
    let mut h = d.hijack(
        &format!("/v1.47/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        b"",
    );
    assert_eq!(h.status, 101);
    assert_eq!(h.header("Upgrade"), Some("tcp"));
    assert_eq!(
        h.header("Content-Type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    start(&d, &id);
    let (out, err) = h.frames();
    assert_eq!(out, "out\nmore\n");
    assert_eq!(err, "err\n");
    d.wait_until(&id, "exited", |s| s["State"]["Status"] == "exited");
}

#[test]
fn attached_stdin_half_close_ends_cat() {
    let d = daemon();
    let id = d.create(
        &["cat"],
        r#""OpenStdin":true,"StdinOnce":true,"AttachStdin":true"#,
    );
    let mut h = d.hijack(
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1"),
        b"",
    );
    assert_eq!(h.status, 101);
    // Input sent before the start is kept for the container.
    h.stream.write_all(b"hello\n").unwrap();
    start(&d, &id);
    h.stream.write_all(b"world\n").unwrap();
    h.stream.shutdown(Shutdown::Write).unwrap();
    let (out, _) = h.frames();
    assert_eq!(out, "hello\nworld\n");
    let doc = d.wait_until(&id, "exited", |s| s["State"]["Status"] == "exited");
    assert_eq!(doc["State"]["ExitCode"], 0);
}

#[test]
fn a_terminal_streams_raw_bytes_and_detach_keys_detach() {
    let d = daemon();
    let id = d.create(&["sh"], r#""Tty":true,"OpenStdin":true,"AttachStdin":true"#);
    let mut h = d.hijack(
        &format!("/containers/{id}/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x"),
        b"",
    );
    assert_eq!(
        h.header("Content-Type"),
        Some("application/vnd.docker.raw-stream")
    );
    start(&d, &id);
    let r = d.post(&format!("/containers/{id}/resize?h=30&w=100"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    h.stream
        .write_all(b"stty size; echo mark-$((6*7))\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(20);
    while !String::from_utf8_lossy(&seen).contains("mark-42") {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            String::from_utf8_lossy(&seen)
        );
        let n = h.stream.read(&mut buf).unwrap();
        assert!(n > 0, "eof: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("30 100"), "{text}");
    // No frame headers with a terminal.
    assert!(!seen.contains(&1u8), "{seen:?}");
    // The detach keys end the attach; the container runs on.
    h.stream.write_all(&[1, b'x']).unwrap();
    h.raw();
    assert_eq!(status(&d, &id), "running");
    let r = d.request("DELETE", &format!("/containers/{id}?force=1"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn attach_without_upgrade_streams_the_body() {
    let d = daemon();
    let id = d.create(&["sh", "-c", "sleep 0.5; echo body-out"], "");
    start(&d, &id);
    let r = d.post(
        &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        "",
    );
    assert_eq!(r.status, 200);
    let frames = split_frames(&r.body);
    assert_eq!(frames, vec![(1, b"body-out\n".to_vec())]);
}

#[test]
fn stop_kill_restart_pause_and_top() {
    let d = daemon();
    let id = d.create(&["sleep", "100"], "");
    start(&d, &id);
    assert_eq!(d.post(&format!("/containers/{id}/start"), "").status, 304);
    // pause
    assert_eq!(d.post(&format!("/containers/{id}/pause"), "").status, 204);
    let doc = d.inspect(&id);
    assert_eq!(doc["State"]["Paused"], true);
    assert_eq!(doc["State"]["Status"], "paused");
    let ps = d.get("/containers/json").json();
    assert!(
        ps[0]["Status"].as_str().unwrap().ends_with("(Paused)"),
        "{ps}"
    );
    assert_eq!(d.post(&format!("/containers/{id}/pause"), "").status, 409);
    assert_eq!(d.post(&format!("/containers/{id}/unpause"), "").status, 204);
    assert_eq!(d.post(&format!("/containers/{id}/unpause"), "").status, 409);
    // top
    let top = d.get(&format!("/containers/{id}/top"));
    assert_eq!(top.status, 200, "{}", top.text());
    let top = top.json();
    assert!(
        top["Titles"].as_array().unwrap().iter().any(|t| t == "PID"),
        "{top}"
    );
    let procs = top["Processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{top}");
    assert!(procs[0]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("sleep 100"));
    let aux = d.get(&format!("/containers/{id}/top?ps_args=aux")).json();
    assert_eq!(aux["Titles"][0], "USER", "{aux}");
    // kill
    let bad = d.post(&format!("/containers/{id}/kill?signal=NOPE"), "");
    assert_eq!(
        (bad.status, bad.message()),
        (400, "Invalid signal: NOPE".into())
    );
    assert_eq!(d.post(&format!("/containers/{id}/kill"), "").status, 204);
    // SIGKILL waits for the exit.
    let doc = d.inspect(&id);
    assert_eq!(doc["State"]["Status"], "exited");
    assert_eq!(doc["State"]["ExitCode"], 137);
    let again = d.post(&format!("/containers/{id}/kill"), "");
    assert_eq!(again.status, 409);
    assert!(
        again.message().contains("is not running"),
        "{}",
        again.text()
    );
    assert_eq!(d.get(&format!("/containers/{id}/top")).status, 409);
    // restart, then stop (sleep as pid 1 ignores SIGTERM: SIGKILL after t).
    let first = doc["State"]["StartedAt"].clone();
    assert_eq!(
        d.post(&format!("/containers/{id}/restart?t=1"), "").status,
        204
    );
    let doc = d.inspect(&id);
    assert_eq!(doc["State"]["Status"], "running");
    assert_ne!(doc["State"]["StartedAt"], first);
    let t0 = Instant::now();
    assert_eq!(
        d.post(&format!("/containers/{id}/stop?t=1"), "").status,
        204
    );
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert_eq!(d.inspect(&id)["State"]["ExitCode"], 137);
    assert_eq!(d.post(&format!("/containers/{id}/stop"), "").status, 304);
    // A signal the process handles.
    let trap = d.create(
        &[
            "sh",
            "-c",
            "trap 'exit 9' USR1; echo ready; while true; do sleep 0.05; done",
        ],
        "",
    );
    start(&d, &trap);
    d.wait_log(&trap, "ready", 1);
    assert_eq!(
        d.post(&format!("/containers/{trap}/kill?signal=SIGUSR1"), "")
            .status,
        204
    );
    let doc = d.wait_until(&trap, "exited", |s| s["State"]["Status"] == "exited");
    assert_eq!(doc["State"]["ExitCode"], 9);
}

#[test]
fn rm_force_kills_without_holding_the_daemon() {
    let d = daemon();
    let id = d.create(&["sleep", "100"], "");
    start(&d, &id);
    let r = d.request("DELETE", &format!("/containers/{id}"), b"");
    assert_eq!(r.status, 409, "{}", r.text());
    let waiter = wait_request(&d, &id, "removed");
    let t0 = Instant::now();
    let r = d.request("DELETE", &format!("/containers/{id}?force=1"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(wait_body(waiter)["StatusCode"], 137);
    assert_eq!(d.get(&format!("/containers/{id}/json")).status, 404);
    // AutoRemove: the container goes by itself; `removed` tells.
    let auto = d.create(
        &["sh", "-c", "exit 2"],
        r#""HostConfig":{"AutoRemove":true}"#,
    );
    let waiter = wait_request(&d, &auto, "removed");
    start(&d, &auto);
    assert_eq!(wait_body(waiter)["StatusCode"], 2);
    assert_eq!(d.get(&format!("/containers/{auto}/json")).status, 404);
}

#[test]
fn a_failed_start_leaves_the_container_created_with_its_error() {
    let d = daemon();
    let id = d.create(&["no-such-command"], "");
    let r = d.post(&format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.message().contains("no-such-command"), "{}", r.text());
    let doc = d.inspect(&id);
    assert_eq!(doc["State"]["Status"], "created");
    assert_eq!(doc["State"]["ExitCode"], 127);
    assert!(doc["State"]["Error"]
        .as_str()
        .unwrap()
        .contains("no-such-command"));
    // With AutoRemove it is removed, as dockerd does.
    let auto = d.create(&["no-such-command"], r#""HostConfig":{"AutoRemove":true}"#);
    let waiter = wait_request(&d, &auto, "removed");
    assert_eq!(d.post(&format!("/containers/{auto}/start"), "").status, 400);
    wait_body(waiter);
    assert_eq!(d.get(&format!("/containers/{auto}/json")).status, 404);
}

#[test]
fn logs_tail_since_timestamps_follow_and_none() {
    let d = daemon();
    let id = d.create(
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; sleep 1; echo last",
        ],
        "",
    );
    start(&d, &id);
    // follow from the start: everything, until the container exits.
    let t0 = Instant::now();
    let r = d.get(&format!("/containers/{id}/logs?follow=1&stdout=1&stderr=1"));
    assert_eq!(r.status, 200);
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    let frames = split_frames(&r.body);
    let out: String = frames
        .iter()
        .filter(|f| f.0 == 1)
        .map(|f| String::from_utf8_lossy(&f.1).into_owned())
        .collect();
    assert_eq!(out, "out1\nout2\nout3\nout4\nout5\nlast\n");
    assert_eq!(frames.iter().filter(|f| f.0 == 2).count(), 5);
    // tail (of the file's lines, before the stream is chosen, as docker does),
    // timestamps
    let r = d.get(&format!(
        "/containers/{id}/logs?stdout=1&stderr=1&tail=2&timestamps=1"
    ));
    let frames = split_frames(&r.body);
    assert_eq!(frames.len(), 2, "{frames:?}");
    let r = d.get(&format!("/containers/{id}/logs?stderr=1&tail=1"));
    assert!(r.body.is_empty(), "{:?}", r.text());
    let line = String::from_utf8_lossy(&frames[1].1).into_owned();
    let (ts, text) = line.split_once(' ').unwrap();
    assert_eq!(text, "last\n");
    assert!(ts.ends_with('Z') && ts.len() == 30, "{ts}");
    // since the future: nothing; until the past: nothing.
    let future = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 100;
    let r = d.get(&format!("/containers/{id}/logs?stdout=1&since={future}"));
    assert!(r.body.is_empty());
    let r = d.get(&format!("/containers/{id}/logs?stdout=1&until=1"));
    assert!(r.body.is_empty());
    // No stream: 400. The none driver: dockerd's 501.
    assert_eq!(d.get(&format!("/containers/{id}/logs")).status, 400);
    let quiet = d.create(&["true"], r#""HostConfig":{"LogConfig":{"Type":"none"}}"#);
    let r = d.get(&format!("/containers/{quiet}/logs?stdout=1"));
    assert_eq!(
        (r.status, r.message()),
        (
            501,
            "configured logging driver does not support reading".to_string()
        )
    );
    let bad = d.post(
        "/containers/create",
        r#"{"Image":"busybox:1.35","HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-size":"x"}}}}"#,
    );
    assert_eq!(bad.status, 400, "{}", bad.text());
}

fn exec_create(d: &Daemon, id: &str, body: &str) -> String {
    let r = d.post(&format!("/containers/{id}/exec"), body);
    assert_eq!(r.status, 201, "exec create: {}", r.text());
    r.json()["Id"].as_str().unwrap().to_string()
}

#[test]
fn exec_runs_with_its_exit_code_and_is_inspected() {
    let d = daemon();
    let id = d.create(&["sleep", "100"], "");
    let stopped = d.post(&format!("/containers/{id}/exec"), r#"{"Cmd":["true"]}"#);
    assert_eq!(stopped.status, 409, "{}", stopped.text());
    start(&d, &id);
    let no_cmd = d.post(&format!("/containers/{id}/exec"), r#"{"Cmd":[]}"#);
    assert_eq!(no_cmd.status, 400);
    let e = exec_create(
        &d,
        &id,
        r#"{"Cmd":["sh","-c","echo in-exec $FOO; echo oops >&2; exit 5"],"Env":["FOO=bar"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    let mut h = d.hijack(
        &format!("/exec/{e}/start"),
        br#"{"Detach":false,"Tty":false}"#,
    );
    assert_eq!(h.status, 101);
    let (out, err) = h.frames();
    assert_eq!((out.as_str(), err.as_str()), ("in-exec bar\n", "oops\n"));
    let doc = d.get(&format!("/exec/{e}/json")).json();
    assert_eq!(doc["ExitCode"], 5, "{doc}");
    assert_eq!(doc["Running"], false);
    assert_eq!(doc["ContainerID"], id);
    assert_eq!(doc["ProcessConfig"]["entrypoint"], "sh");
    // As dockerd's, a container's ExecIDs are its execs that still run.
    assert!(d.inspect(&id)["ExecIDs"].is_null(), "{}", d.inspect(&id));
    let again = d.post(&format!("/exec/{e}/start"), r#"{"Detach":true}"#);
    assert_eq!(again.status, 409);
    assert_eq!(d.get("/exec/nope/json").status, 404);
    // stdin, closed by the client's half-close.
    let e = exec_create(
        &d,
        &id,
        r#"{"Cmd":["cat"],"AttachStdin":true,"AttachStdout":true,"AttachStderr":true}"#,
    );
    let mut h = d.hijack(&format!("/exec/{e}/start"), b"{}");
    h.stream.write_all(b"to-exec\n").unwrap();
    h.stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(h.frames().0, "to-exec\n");
    // A missing command: the error on the stream, docker's 127.
    let e = exec_create(
        &d,
        &id,
        r#"{"Cmd":["no-such-command"],"AttachStdout":true,"AttachStderr":true}"#,
    );
    let mut h = d.hijack(&format!("/exec/{e}/start"), b"{}");
    let (out, _) = h.frames();
    assert!(out.contains("no-such-command"), "{out}");
    let doc = d.get(&format!("/exec/{e}/json")).json();
    assert_eq!(doc["ExitCode"], 127, "{doc} {out:?}");
    // Detached: 200 at once, the exit code later.
    let e = exec_create(&d, &id, r#"{"Cmd":["sh","-c","sleep 0.2; exit 4"]}"#);
    let r = d.post(&format!("/exec/{e}/start"), r#"{"Detach":true}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let doc = d.get(&format!("/exec/{e}/json")).json();
        if doc["ExitCode"] == 4 {
            assert_eq!(doc["Running"], false);
            break;
        }
        assert!(Instant::now() < deadline, "{doc}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A terminal exec, resized.
    let e = exec_create(
        &d,
        &id,
        r#"{"Cmd":["sh","-c","sleep 0.3; stty size"],"Tty":true,"AttachStdout":true}"#,
    );
    let mut h = d.hijack(
        &format!("/exec/{e}/start"),
        br#"{"Tty":true,"ConsoleSize":[20,70]}"#,
    );
    assert_eq!(
        d.post(&format!("/exec/{e}/resize?h=25&w=90"), "").status,
        200
    );
    let out = String::from_utf8_lossy(&h.raw()).into_owned();
    assert!(out.contains("25 90"), "{out:?}");
    let r = d.request("DELETE", &format!("/containers/{id}?force=1"), b"");
    assert_eq!(r.status, 204, "{}", r.text());
}
