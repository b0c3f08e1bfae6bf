//! `stats` through berthd: docker's JSON shape from the real cgroup (memory, pids, CPU
//! with the previous answer as `precpu_stats`), a stream that ends with its container,
//! and `berth stats --no-stream`'s table.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use support::Root;

fn curl_json(root: &Root, path: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-s", "--unix-socket", root.socket().to_str().unwrap()])
        .arg(format!("http://x/v1.47{path}"))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", out))
}

#[test]
fn stats_come_from_the_containers_cgroup() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "--pids-limit",
        "50",
        "busybox:1.35",
        "sh",
        "-c",
        "sleep 100 & sleep 100 & while :; do :; done",
    ]);
    let first = curl_json(&root, "/containers/busy/stats?stream=false");
    assert_eq!(first["name"], "/busy");
    assert_eq!(first["memory_stats"]["limit"], 64 * 1024 * 1024);
    assert_eq!(first["pids_stats"]["limit"], 50);
    assert!(
        first["pids_stats"]["current"].as_u64().unwrap() >= 3,
        "{first}"
    );
    assert!(first["cpu_stats"]["system_cpu_usage"].as_u64().unwrap() > 0);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = curl_json(&root, "/containers/busy/stats?stream=false");
    assert_eq!(
        second["precpu_stats"], first["cpu_stats"],
        "the previous answer is precpu"
    );
    let used = second["cpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    let before = first["cpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap();
    assert!(used > before, "a busy loop uses CPU");
    let table = root.ok(&["stats", "--no-stream"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("CONTAINER ID") && lines[0].contains("MEM USAGE / LIMIT"),
        "{table}"
    );
    assert!(
        lines[1].contains("busy") && lines[1].contains("/ 64MiB"),
        "{table}"
    );
    let f = root.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}}",
        "busy",
    ]);
    assert!(f.starts_with("busy "), "{f}");
    // A restart makes a new cgroup: the figures come from it, not from the old one's files.
    root.ok(&["restart", "-t", "0", "busy"]);
    let restarted = curl_json(&root, "/containers/busy/stats?stream=false");
    assert!(
        restarted["pids_stats"]["current"].as_u64().unwrap() >= 3,
        "{restarted}"
    );
    assert_eq!(restarted["memory_stats"]["limit"], 64 * 1024 * 1024);
    root.ok(&["rm", "-f", "busy"]);
}

#[test]
fn a_stream_ends_with_its_container() {
    let root = Root::with_busybox();
    root.ok(&["run", "-d", "--name", "brief", "busybox:1.35", "sleep", "2"]);
    let mut child = Command::new("curl")
        .args(["-sN", "--unix-socket", root.socket().to_str().unwrap()])
        .arg("http://x/v1.47/containers/brief/stats")
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(child.wait().unwrap().success());
    assert!(lines.len() >= 2, "{lines:?}");
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(
        last["read"], "0001-01-01T00:00:00Z",
        "the last line is the stopped container's"
    );
}

#[test]
fn update_changes_a_running_containers_limits() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "upd",
        "-m",
        "64m",
        "busybox:1.35",
        "sleep",
        "100",
    ]);
    assert_eq!(
        root.ok(&[
            "update",
            "-m",
            "96m",
            "--pids-limit",
            "20",
            "--restart",
            "on-failure:3",
            "upd"
        ]),
        "upd\n"
    );
    let s = curl_json(&root, "/containers/upd/stats?stream=false");
    assert_eq!(s["memory_stats"]["limit"], 96 * 1024 * 1024);
    assert_eq!(s["pids_stats"]["limit"], 20);
    let f = root.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}",
        "upd",
    ]);
    assert_eq!(f.trim(), format!("{} 20 on-failure", 96 * 1024 * 1024));
    let r = root.run(&["update", "-m", "1k", "upd"]);
    assert_eq!(r.code, 1, "an impossible limit is refused");
    assert!(r.stderr.contains("Minimum memory limit"), "{}", r.stderr);
    root.ok(&["rm", "-f", "upd"]);
}
