//! Healthchecks through berthd: `--health-*` and an image's HEALTHCHECK (in an image
//! the test loads), status and log in inspect and ps, the `health` filter, a probe
//! that hangs (killed at the timeout), `--no-healthcheck`, events, a daemon restart,
//! and refused settings.

mod support;

use support::{wait_until, Root};

fn field(root: &Root, name: &str, template: &str) -> String {
    root.ok(&["inspect", "-f", template, name])
        .trim()
        .to_string()
}

fn status(root: &Root, name: &str) -> String {
    field(root, name, "{{.State.Health.Status}}")
}

#[test]
fn probes_make_a_container_unhealthy_then_healthy() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "--health-cmd",
        "echo probing; test -f /tmp/ready",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
        "busybox:1.35",
        "sleep",
        "100",
    ]);
    assert_eq!(status(&root, "web"), "starting");
    assert!(root.ok(&["ps"]).contains("(health: starting)"));
    assert!(wait_until(10, || status(&root, "web") == "unhealthy"));
    assert!(root.ok(&["ps"]).contains("(unhealthy)"));
    let listed = root.ok(&["ps", "-q", "--filter", "health=unhealthy"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    root.ok(&["exec", "web", "touch", "/tmp/ready"]);
    assert!(wait_until(10, || status(&root, "web") == "healthy"));
    assert_eq!(field(&root, "web", "{{.State.Health.FailingStreak}}"), "0");
    let last = field(
        &root,
        "web",
        "{{with $l := .State.Health.Log}}{{range $l}}{{.ExitCode}}:{{.Output}}{{end}}{{end}}",
    );
    assert!(last.contains("1:probing"), "{last}");
    assert!(last.ends_with("0:probing"), "{last}");
    assert!(root
        .ok(&["ps", "--filter", "health=healthy"])
        .contains("web"));
    assert!(root
        .ok(&["ps", "-q", "--filter", "health=unhealthy"])
        .is_empty());
    let events = root.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "container=web",
        "--format",
        "{{.Action}}",
    ]);
    assert!(events.contains("health_status: unhealthy"), "{events}");
    assert!(events.contains("health_status: healthy"), "{events}");
    root.ok(&["rm", "-f", "web"]);
}

#[test]
fn a_probe_that_hangs_is_killed_at_its_timeout() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "stuck",
        "--health-cmd",
        "sleep 60",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "busybox:1.35",
        "sleep",
        "100",
    ]);
    assert!(wait_until(10, || status(&root, "stuck") == "unhealthy"));
    let first = field(
        &root,
        "stuck",
        "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}",
    );
    assert_eq!(first, "-1 Health check exceeded timeout (300ms)");
    let top = root.ok(&["top", "stuck"]);
    assert!(
        !top.contains("sleep 60"),
        "the timed-out probe still runs:\n{top}"
    );
    root.ok(&["rm", "-f", "stuck"]);
}

#[test]
fn an_images_healthcheck_is_used_and_can_be_turned_off() {
    let root = Root::with_busybox();
    let archive = support::docker_archive_with(
        "checked:1",
        &[support::busybox_layer()],
        serde_json::json!({
            "Cmd": ["sh"],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 200_000_000, "Retries": 1},
        }),
    );
    root.run_stdin(&["load"], &archive).ok();
    let image_check = root.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck}}",
        "checked:1",
    ]);
    assert!(
        image_check.contains("\"Interval\":200000000"),
        "{image_check}"
    );
    root.ok(&[
        "run",
        "-d",
        "--name",
        "inherits",
        "checked:1",
        "sleep",
        "100",
    ]);
    assert!(wait_until(10, || status(&root, "inherits") == "healthy"));
    assert_eq!(
        field(&root, "inherits", "{{json .Config.Healthcheck.Test}}"),
        "[\"CMD\",\"true\"]"
    );
    root.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "checked:1",
        "sleep",
        "100",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(field(&root, "off", "{{json .State.Health}}"), "null");
    assert_eq!(
        field(&root, "off", "{{json .Config.Healthcheck.Test}}"),
        "[\"NONE\"]"
    );
    assert!(root.ok(&["ps", "--filter", "health=none"]).contains("off"));
    root.ok(&["rm", "-f", "inherits", "off"]);
}

#[test]
fn health_survives_a_daemon_restart_and_probing_goes_on() {
    let mut root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "kept",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox:1.35",
        "sleep",
        "100",
    ]);
    assert!(wait_until(10, || status(&root, "kept") == "unhealthy"));
    root.stop(libc::SIGKILL);
    root.start();
    assert_eq!(
        status(&root, "kept"),
        "unhealthy",
        "kept across the restart"
    );
    root.ok(&["exec", "kept", "touch", "/tmp/ok"]);
    assert!(wait_until(10, || status(&root, "kept") == "healthy"));
    root.ok(&["stop", "-t", "0", "kept"]);
    root.ok(&["start", "kept"]);
    assert_eq!(status(&root, "kept"), "starting", "a new run starts again");
    root.ok(&["rm", "-f", "kept"]);
}

#[test]
fn impossible_healthchecks_are_refused() {
    let root = Root::with_busybox();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--health-interval", "-1s", "--health-cmd", "true"],
            "--health-interval cannot be negative",
        ),
        (
            &["--health-timeout", "10us", "--health-cmd", "true"],
            "Timeout in Healthcheck cannot be less than 1ms",
        ),
        (
            &["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            &["--health-interval", "soon", "--health-cmd", "true"],
            "invalid duration",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(flags);
        args.extend(["busybox:1.35", "true"]);
        let r = root.run(&args);
        assert_eq!(r.code, 125, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    assert!(root.ok(&["ps", "-aq"]).is_empty());
}
