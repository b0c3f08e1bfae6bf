//! Restart policies through berthd: `on-failure:N` stops after N restarts, `always`
//! restarts until the user stops it, a daemon start brings `always` back but leaves a
//! stopped `unless-stopped` alone, and impossible policies are refused.

mod support;

use support::{wait_until, Root};

fn field(root: &Root, name: &str, template: &str) -> String {
    root.ok(&["inspect", "-f", template, name])
        .trim()
        .to_string()
}

#[test]
fn on_failure_gives_up_after_its_count() {
    let root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox:1.35",
        "sh",
        "-c",
        "exit 3",
    ]);
    let done = wait_until(10, || {
        field(&root, "flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited"
    });
    assert!(
        done,
        "{}",
        field(&root, "flaky", "{{json .State}} {{.RestartCount}}")
    );
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert_eq!(
        field(&root, "flaky", "{{.RestartCount}} {{.State.ExitCode}}"),
        "2 3"
    );
    let policy = field(
        &root,
        "flaky",
        "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
    );
    assert_eq!(policy, "on-failure:2");
}

#[test]
fn always_restarts_until_stopped_and_survives_a_daemon_restart() {
    let mut root = Root::with_busybox();
    root.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--restart",
        "always",
        "busybox:1.35",
        "sh",
        "-c",
        "sleep 0.2",
    ]);
    assert!(wait_until(10, || {
        field(&root, "again", "{{.RestartCount}}")
            .parse::<u32>()
            .unwrap_or(0)
            >= 2
    }));
    root.ok(&["stop", "-t", "0", "again"]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(
        field(&root, "again", "{{.State.Status}}"),
        "exited",
        "stop ends the restarts"
    );
    root.ok(&[
        "run",
        "-d",
        "--name",
        "unless",
        "--restart",
        "unless-stopped",
        "busybox:1.35",
        "sleep",
        "100",
    ]);
    root.ok(&["stop", "-t", "0", "unless"]);
    root.stop(libc::SIGTERM);
    root.start();
    assert!(wait_until(10, || field(
        &root,
        "again",
        "{{.State.Status}}"
    ) != "exited"));
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(field(&root, "unless", "{{.State.Status}}"), "exited");
    root.ok(&["rm", "-f", "again", "unless"]);
}

#[test]
fn impossible_policies_are_refused() {
    let root = Root::with_busybox();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--restart", "sometimes"],
            "invalid restart policy 'sometimes'",
        ),
        (
            &["--restart", "always:3"],
            "maximum retry count can only be used with 'on-failure'",
        ),
        (
            &["--rm", "--restart", "always"],
            "can't create 'AutoRemove' container with restart policy",
        ),
    ];
    for (flags, want) in cases {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(flags);
        args.extend(["busybox:1.35", "true"]);
        let r = root.run(&args);
        assert_eq!(r.code, 125, "{args:?}");
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    assert!(root.ok(&["ps", "-aq"]).is_empty());
}
