//! `events` through berthd: a container's life (create, start, die with its exit code,
//! destroy) and volumes, past events by `--since`/`--until`, filters, and a live
//! stream that sees what happens after it started.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use support::Root;

#[test]
fn past_and_live_events() {
    let root = Root::with_busybox();
    let r = root.run(&[
        "run",
        "--rm",
        "--name",
        "ev",
        "busybox:1.35",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(r.code, 3);
    root.ok(&["volume", "create", "evvol"]);
    let out = root.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "type=container",
        "--format",
        "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        ["create ev", "start ev", "die ev", "destroy ev"],
        "{out}"
    );
    let vols = root.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "type=volume",
    ]);
    assert!(vols.contains("volume create evvol"), "{vols}");
    let dies = root.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "event=die",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(dies.trim()).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["Type"].as_str()),
        (Some("die"), Some("container"))
    );

    let mut live = root
        .cmd(&[
            "events",
            "--filter",
            "container=later",
            "--format",
            "{{.Action}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(live.stdout.take().unwrap()).lines();
    std::thread::sleep(std::time::Duration::from_millis(300));
    root.ok(&["run", "--rm", "--name", "later", "busybox:1.35", "true"]);
    let seen: Vec<String> = (0..4).map(|_| lines.next().unwrap().unwrap()).collect();
    assert_eq!(seen, ["create", "start", "die", "destroy"]);
    live.kill().ok();
    live.wait().ok();
}
