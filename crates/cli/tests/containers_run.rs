//! `run`, `create`, `start`, `ps`, `stop`, `kill`, `rm` through a real berthd (root
//! needed: overlay mounts, namespaces, cgroups).

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::Root;

#[test]
fn run_passes_output_and_exit_codes_through() {
    let root = Root::with_busybox();
    let r = root.berth(&["run", "busybox:1.35", "echo", "hello"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "hello\n"), "{}", r.stderr);
    let r = root.berth(&["run", "busybox:1.35", "sh", "-c", "exit 3"]);
    assert_eq!(r.code, 3);
    let r = root.berth(&["run", "busybox:1.35", "nope"]);
    assert_eq!(r.code, 127, "{}", r.stderr);
    assert!(
        r.stderr.contains("executable file not found"),
        "{}",
        r.stderr
    );
    let r = root.berth(&["run", "busybox:1.35", "/etc/passwd"]);
    assert_eq!(r.code, 126, "{}", r.stderr);
    let r = root.berth(&["run", "no-such-image", "true"]);
    assert_eq!(r.code, 125, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("Unable to find image 'no-such-image:latest' locally\nberth: Error response from daemon: "),
        "{}",
        r.stderr
    );
}

#[test]
fn create_then_start_attached_uses_env_workdir_and_user() {
    let root = Root::with_busybox();
    let id = root.ok(&[
        "create",
        "--name",
        "cfg",
        "-e",
        "A=1",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "busybox:1.35",
        "sh",
        "-c",
        "echo $A; pwd; id -u",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id}");
    let ps = root.ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}} {{.Status}} {{.Command}}",
    ]);
    assert_eq!(ps.trim(), "cfg Created \"sh -c echo $A; pwd;…\"");
    let r = root.berth(&["start", "-a", "cfg"]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "1\n/tmp\n65534\n"),
        "{}",
        r.stderr
    );
    let ps = root.ok(&["ps", "-a", "--format", "{{.ID}} {{.Status}}"]);
    assert!(
        ps.starts_with(&format!("{} Exited (0) ", &id[..12])),
        "{ps}"
    );
    // A name is unique; a prefix finds the container too.
    let r = root.berth(&["create", "--name", "cfg", "busybox:1.35"]);
    assert_eq!(r.code, 125);
    assert!(r.stderr.contains("is already in use"), "{}", r.stderr);
    assert_eq!(root.ok(&["start", "-a", &id[..8]]), "1\n/tmp\n65534\n");
}

/// Waits until `ps -a` shows `want` in the named container's status.
fn wait_status(root: &Root, name: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ps = root.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
        let line = ps
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or("")
            .to_string();
        if line.contains(want) || Instant::now() > deadline {
            return line;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn detached_containers_are_listed_stopped_and_removed() {
    let root = Root::with_busybox();
    let id = root.ok(&["run", "-d", "--name", "web", "busybox:1.35", "sleep", "100"]);
    assert_eq!(id.trim().len(), 64);
    let ps = root.ok(&["ps"]);
    let mut lines = ps.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        [
            "CONTAINER",
            "ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains("\"sleep 100\"") && row.contains("Up ") && row.ends_with("web"),
        "{row}"
    );
    let r = root.berth(&["rm", "web"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("cannot remove container \"/web\": container is running: stop the container before removing or force remove"),
        "{}",
        r.stderr
    );
    // sleep as pid 1 ignores SIGTERM: stop kills it after the grace period.
    assert_eq!(root.ok(&["stop", "-t", "1", "web"]), "web\n");
    let st = root.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(st.starts_with("web Exited (137) "), "{st}");
    assert_eq!(root.ok(&["ps", "-q"]), "");
    // A handler for SIGTERM decides the exit code.
    root.ok(&[
        "run",
        "-d",
        "--name",
        "trap",
        "busybox:1.35",
        "sh",
        "-c",
        "trap 'exit 7' TERM; echo ready; while true; do sleep 0.1; done",
    ]);
    root.wait_log("trap", "ready", 1);
    root.ok(&["stop", "trap"]);
    assert!(root.ok(&["ps", "-a"]).contains("Exited (7)"));
    // kill (SIGKILL by default, or the signal given); rm -f of a running one.
    root.ok(&["start", "web"]);
    assert_eq!(root.ok(&["kill", "web"]), "web\n");
    assert!(wait_status(&root, "web", "Exited (137)").contains("Exited (137)"));
    root.ok(&["start", "trap"]);
    root.wait_log("trap", "ready", 2);
    root.ok(&["kill", "-s", "TERM", "trap"]);
    assert!(wait_status(&root, "trap", "Exited (7)").contains("Exited (7)"));
    let r = root.berth(&["kill", "trap"]);
    assert!(r.stderr.contains("is not running"), "{}", r.stderr);
    root.ok(&["start", "web"]);
    root.ok(&["rm", "-f", "web", "trap"]);
    assert_eq!(root.ok(&["ps", "-aq"]), "");
    assert!(!root.has_mounts());
}

/// Asserts that nothing of container `id` is left anywhere.
fn assert_gone(root: &Root, id: &str) {
    let containers = root.path().join("containers");
    assert!(!containers.join(id).exists(), "container directory left");
    let names: Vec<_> = std::fs::read_dir(containers.join("names"))
        .unwrap()
        .collect();
    assert!(names.is_empty(), "name reservation left");
    assert!(!root.has_mounts(), "a mount is left");
    for ctl in ["memory", "pids", "cpu", "freezer", "unified"] {
        let cg = Path::new("/sys/fs/cgroup").join(ctl).join("berth").join(id);
        assert!(!cg.exists(), "cgroup {} left", cg.display());
    }
    let snaps = berth_image::snapshot::open_default(&root.path().join("snapshots"))
        .unwrap()
        .list()
        .unwrap();
    assert!(snaps.iter().all(|s| s.key != id), "snapshot left");
    assert!(
        snaps
            .iter()
            .all(|s| s.kind == berth_image::snapshot::Kind::Committed),
        "{snaps:?}"
    );
}

#[test]
fn run_rm_leaves_nothing_behind() {
    let root = Root::with_busybox();
    let r = root.berth(&[
        "run",
        "--rm",
        "--name",
        "gone",
        "busybox:1.35",
        "sh",
        "-c",
        "echo hi > /f; echo ok",
    ]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "ok\n"), "{}", r.stderr);
    assert_eq!(root.ok(&["ps", "-aq"]), "");
    let leftovers: Vec<_> = std::fs::read_dir(root.path().join("containers"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        // The name reservations, and directories made ahead for future containers.
        .filter(|n| n != "names" && !n.to_string_lossy().starts_with(".spare-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_gone(&root, "none");
    // Detached with --rm: the daemon removes it when it exits.
    let id = root.ok(&["run", "-d", "--rm", "busybox:1.35", "sleep", "0.2"]);
    let id = id.trim();
    let deadline = Instant::now() + Duration::from_secs(20);
    while root.path().join("containers").join(id).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_gone(&root, id);
    // A failed start with --rm removes the container too.
    let r = root.berth(&["run", "--rm", "busybox:1.35", "nope"]);
    assert_eq!(r.code, 127);
    assert_eq!(root.ok(&["ps", "-aq"]), "");
}

#[test]
fn an_oom_kill_is_recorded() {
    let root = Root::with_busybox();
    let r = root.run(&[
        "run",
        "--name",
        "hog",
        "-m",
        "8m",
        "busybox:1.35",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(r.code, 137, "{}", r.stderr);
    let state = root.ok(&[
        "inspect",
        "-f",
        "{{.State.OOMKilled}} {{.State.ExitCode}}",
        "hog",
    ]);
    assert_eq!(state.trim(), "true 137");
    let events = root.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "container=hog",
        "--format",
        "{{.Action}}",
    ]);
    assert!(events.contains("oom\ndie"), "{events}");
    assert_eq!(root.run(&["start", "-a", "hog"]).code, 137);
    let again = root.ok(&["inspect", "-f", "{{.State.OOMKilled}}", "hog"]);
    assert_eq!(again.trim(), "true", "killed again");
    root.ok(&["rm", "hog"]);
    let r = root.run(&["run", "--name", "fine", "busybox:1.35", "true"]);
    assert_eq!(r.code, 0);
    let fine = root.ok(&["inspect", "-f", "{{.State.OOMKilled}}", "fine"]);
    assert_eq!(fine.trim(), "false");
}
