//! Live restore: `kill -9` of berthd stops no container, and a new berthd finds every
//! shim again. Three containers (one logging a counter every 10 ms, one interactive
//! `cat`, one that exits while berthd is down); after the restart each shows the right
//! state, the log has no gap, the exited one has its exit code, attach to the
//! interactive one works, and the re-armed wait sees a later exit. Root needed.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use support::{split_frames, Daemon};

fn start(d: &Daemon, id: &str) {
    let r = d.post(&format!("/containers/{id}/start"), "");
    assert_eq!(r.status, 204, "start: {}", r.text());
}

/// The counters in the container's log, in order.
fn counters(d: &Daemon, id: &str) -> Vec<u64> {
    let r = d.get(&format!("/containers/{id}/logs?stdout=1"));
    assert_eq!(r.status, 200);
    split_frames(&r.body)
        .iter()
        .map(|(_, line)| {
            let text = String::from_utf8_lossy(line);
            text.trim()
                .parse()
                .unwrap_or_else(|_| panic!("not a counter: {text:?}"))
        })
        .collect()
}

#[test]
fn kill_9_of_berthd_stops_nothing_and_a_new_one_carries_on() {
    let mut d = Daemon::start();
    d.load_busybox();
    let ticker = d.create(
        &[
            "sh",
            "-c",
            "i=0; while true; do echo $i; i=$((i+1)); sleep 0.01; done",
        ],
        "",
    );
    let cat = d.create(
        &["cat"],
        r#""OpenStdin":true,"AttachStdin":true,"AttachStdout":true"#,
    );
    let short = d.create(&["sh", "-c", "sleep 2; exit 42"], "");
    for id in [&ticker, &cat, &short] {
        start(&d, id);
    }
    std::thread::sleep(Duration::from_millis(300));
    let before = counters(&d, &ticker).len();
    assert!(before > 5, "the ticker logged {before} lines");
    let st = d.signal_and_wait(libc::SIGKILL);
    assert!(!st.success());
    // The short one exits while berthd is away; the ticker logs on.
    std::thread::sleep(Duration::from_millis(2500));
    d.restart();
    assert!(
        d.log()
            .contains("live restore: 2 running containers found again"),
        "{}",
        d.log()
    );
    let state = |id: &str| d.inspect(id)["State"].clone();
    assert_eq!(state(&ticker)["Status"], "running");
    assert_eq!(state(&cat)["Status"], "running");
    let s = state(&short);
    assert_eq!(
        (s["Status"].clone(), s["ExitCode"].clone()),
        ("exited".into(), 42.into())
    );
    // No gap in the log across the restart.
    let seen = counters(&d, &ticker);
    assert!(
        seen.len() > before + 100,
        "{} lines, {before} before",
        seen.len()
    );
    for (i, n) in seen.iter().enumerate() {
        assert_eq!(*n, i as u64, "the log skips at line {i}");
    }
    // Attach to the interactive one: a line comes back.
    let mut h = d.hijack(
        &format!("/containers/{cat}/attach?stream=1&stdin=1&stdout=1"),
        b"",
    );
    assert_eq!(h.status, 101);
    h.stream.write_all(b"after-restart\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(10);
    while split_frames_prefix(&got)
        .iter()
        .map(|f| f.1.len())
        .sum::<usize>()
        < 14
    {
        assert!(Instant::now() < deadline, "{got:?}");
        let n = h.stream.read(&mut buf).unwrap();
        assert!(n > 0, "eof: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(split_frames(&got), vec![(1, b"after-restart\n".to_vec())]);
    drop(h);
    // The re-armed wait task sees the ticker's end.
    assert_eq!(
        d.post(&format!("/containers/{ticker}/kill"), "").status,
        204
    );
    assert_eq!(state(&ticker)["ExitCode"], 137);
    for id in [&ticker, &cat, &short] {
        let r = d.request("DELETE", &format!("/containers/{id}?force=1"), b"");
        assert_eq!(r.status, 204, "{}", r.text());
    }
}

/// The whole frames at the start of `raw`.
fn split_frames_prefix(mut raw: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while raw.len() >= 8 {
        let len = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
        if raw.len() < 8 + len {
            break;
        }
        out.push((raw[0], raw[8..8 + len].to_vec()));
        raw = &raw[8 + len..];
    }
    out
}
