//! The real docker CLI (`docker`, v28 at /usr/local/bin/docker, or `$DOCKER_CLI`) against
//! berthd: version, info, load, images (formats, quiet, digests), inspect, history, tag,
//! rmi, save piped into load, image prune, import, container records (create, ps,
//! inspect, rename, rm), and containers' lives: run (exit codes, --rm, -d, -i, -it on a
//! terminal), logs (-f, --tail, -t), stop, exec (-it), top, pause, kill, wait, restart,
//! attach with detach keys, rm -f. A missing docker binary fails the test loudly.

mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::{busybox_tar, Daemon};

/// The docker CLI binary.
fn docker_bin() -> String {
    let bin = std::env::var("DOCKER_CLI").unwrap_or_else(|_| "/usr/local/bin/docker".into());
    assert!(
        std::path::Path::new(&bin).is_file(),
        "DOCKER CLI MISSING: {bin} not found (set DOCKER_CLI to the docker client binary)"
    );
    bin
}

struct Cli<'a> {
    d: &'a Daemon,
    bin: String,
}

impl Cli<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("DOCKER_HOST", self.d.host())
            .env("DOCKER_CONFIG", self.d.dir.path().join("cli"))
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}): {}\n--- berthd log ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.d.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and expects failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "docker {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn cli(d: &Daemon) -> Cli<'_> {
    Cli {
        d,
        bin: docker_bin(),
    }
}

#[test]
fn version_and_info() {
    let d = Daemon::start();
    let c = cli(&d);
    let v = c.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(v.trim(), "1.47 linux");
    let info = c.ok(&[
        "info",
        "--format",
        "{{.Containers}} {{.Images}} {{.OSType}} {{.CgroupDriver}}",
    ]);
    assert_eq!(info.trim(), "0 0 linux cgroupfs");
    assert!(c.ok(&["info"]).contains("Storage Driver:"));
}

#[test]
fn image_commands() {
    let d = Daemon::start();
    let c = cli(&d);
    let tar = busybox_tar();
    let out = c.ok(&["load", "-i", tar.to_str().unwrap()]);
    assert_eq!(out.trim(), "Loaded image: busybox:1.35");
    let table = c.ok(&["images"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("REPOSITORY"), "{table}");
    assert!(
        lines[1].starts_with("busybox") && lines[1].contains("1.35"),
        "{table}"
    );
    let id = c.ok(&["images", "-q"]).trim().to_string();
    assert_eq!(id.len(), 12);
    let f = c.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(f.trim(), format!("busybox:1.35 {id}"));
    assert!(c
        .ok(&["images", "--digests"])
        .lines()
        .next()
        .unwrap()
        .contains("DIGEST"));
    let full = c.ok(&["image", "inspect", "-f", "{{.Id}} {{.Os}}", "busybox:1.35"]);
    assert!(full.starts_with(&format!("sha256:{id}")) && full.trim().ends_with("linux"));
    let history = c.ok(&["history", "busybox:1.35"]);
    assert!(
        history.lines().nth(1).unwrap().starts_with(&id),
        "{history}"
    );
    c.ok(&["tag", "busybox:1.35", "mine/box:v2"]);
    assert!(c.ok(&["images", "mine/box"]).contains("v2"));
    let rmi = c.ok(&["rmi", "mine/box:v2"]);
    assert_eq!(rmi.trim(), "Untagged: mine/box:v2");
    let err = c.fails(&["rmi", "nothere"]);
    assert!(err.contains("No such image: nothere:latest"), "{err}");
    let err = c.fails(&["image", "inspect", "nothere"]);
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn save_into_load_prune_and_import() {
    let d = Daemon::start();
    let c = cli(&d);
    c.ok(&["load", "-i", busybox_tar().to_str().unwrap()]);
    let saved = c.cmd(&["save", "busybox:1.35"]).output().unwrap();
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let rmi = c.ok(&["rmi", "busybox:1.35"]);
    assert!(
        rmi.contains("Untagged: busybox:1.35") && rmi.contains("Deleted: sha256:"),
        "{rmi}"
    );
    let mut load = c
        .cmd(&["load"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    load.stdin.take().unwrap().write_all(&saved.stdout).unwrap();
    let out = load.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Loaded image: busybox:1.35"
    );
    let layer = d.dir.path().join("layer.tar");
    let st = Command::new("tar")
        .args([
            "-cf",
            layer.to_str().unwrap(),
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "Cargo.toml",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let imported = c.ok(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-m",
        "hi",
        layer.to_str().unwrap(),
        "imp:1",
    ]);
    assert!(imported.trim().starts_with("sha256:"), "{imported}");
    let cmd = c.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Cmd}} {{.Comment}}",
        "imp:1",
    ]);
    assert_eq!(cmd.trim(), r#"["sh"] hi"#);
    let pruned = c.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        pruned.contains("untagged: imp:1") && pruned.contains("Total reclaimed space"),
        "{pruned}"
    );
    assert_eq!(c.ok(&["images", "-q"]).trim(), "");
}

#[test]
fn container_records() {
    let d = Daemon::start();
    let c = cli(&d);
    c.ok(&["load", "-i", busybox_tar().to_str().unwrap()]);
    let id = c.ok(&[
        "create",
        "--name",
        "web",
        "-l",
        "app=1",
        "-e",
        "A=b",
        "busybox:1.35",
        "echo",
        "hi",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let ps = c.ok(&["ps", "-a"]);
    let row = ps.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with(&id[..12])
            && row.contains("\"echo hi\"")
            && row.contains("Created")
            && row.ends_with("web"),
        "{ps}"
    );
    assert_eq!(c.ok(&["ps", "-q"]).trim(), "");
    assert_eq!(
        c.ok(&["ps", "-aq", "--filter", "label=app=1"]).trim(),
        &id[..12]
    );
    let f = c.ok(&[
        "inspect",
        "-f",
        "{{.Name}} {{.State.Status}} {{.Config.Image}} {{index .Config.Labels \"app\"}}",
        "web",
    ]);
    assert_eq!(f.trim(), "/web created busybox:1.35 1");
    c.ok(&["rename", "web", "api"]);
    assert_eq!(c.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "api");
    let err = c.fails(&["rename", "api", "api"]);
    assert!(err.contains("same name"), "{err}");
    let err = c.fails(&["rmi", "busybox:1.35"]);
    assert!(
        err.contains("conflict") || err.contains("container"),
        "{err}"
    );
    assert_eq!(c.ok(&["rm", "api"]).trim(), "api");
    let err = c.fails(&["rm", "api"]);
    assert!(err.contains("No such container: api"), "{err}");
    let err = c.fails(&["inspect", "nothing"]);
    assert!(err.contains("No such object: nothing"), "{err}");
}

impl Cli<'_> {
    /// Runs and returns (exit code, stdout, stderr).
    fn status(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.run(args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs `shell` (a docker command line) on a terminal made by `script`, feeding it
    /// `input` as (delay, bytes) steps; returns (exit code, what the terminal showed).
    fn on_tty(&self, shell: &str, input: &[(u64, &[u8])]) -> (i32, String) {
        let line = format!("stty rows 30 cols 100; {} {shell}", self.bin);
        let mut child = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("DOCKER_HOST", self.d.host())
            .env("DOCKER_CONFIG", self.d.dir.path().join("cli"))
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("SCRIPT MISSING: util-linux `script` makes the terminal for -it tests");
        let mut stdin = child.stdin.take().unwrap();
        for (delay, bytes) in input {
            std::thread::sleep(std::time::Duration::from_millis(*delay));
            stdin.write_all(bytes).unwrap();
        }
        // Keep the terminal's input open until the command ends (script sends an
        // end-of-file character when its input closes).
        let out = std::thread::scope(|s| {
            let h = s.spawn(|| child.wait_with_output().unwrap());
            let out = h.join().unwrap();
            drop(stdin);
            out
        });
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

#[test]
fn run_exit_codes_logs_stdin_and_stop() {
    let d = Daemon::start();
    let c = cli(&d);
    c.ok(&["load", "-i", busybox_tar().to_str().unwrap()]);
    assert_eq!(c.ok(&["run", "--rm", "busybox:1.35", "echo", "hi"]), "hi\n");
    assert_eq!(c.ok(&["ps", "-aq"]).trim(), "");
    let (code, _, _) = c.status(&["run", "busybox:1.35", "sh", "-c", "exit 3"]);
    assert_eq!(code, 3);
    let (code, _, err) = c.status(&["run", "--rm", "busybox:1.35", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    // -d, logs, logs -f across the end, stop, rm
    let id = c.ok(&[
        "run",
        "-d",
        "--name",
        "bg",
        "busybox:1.35",
        "sh",
        "-c",
        "echo e1 >&2; sleep 0.1; for i in 1 2 3; do echo l$i; done; sleep 100",
    ]);
    assert_eq!(id.trim().len(), 64);
    let id = id.trim();
    d.wait_log(id, "l3", 1);
    let out = c.run(&["logs", "bg"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "l1\nl2\nl3\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "e1\n");
    assert_eq!(c.ok(&["logs", "--tail", "1", "bg"]), "l3\n");
    let ts = c.ok(&["logs", "-t", "--tail", "1", "bg"]);
    assert!(ts.ends_with(" l3\n") && ts.contains('T'), "{ts}");
    let follow = c
        .cmd(&["logs", "-f", "bg"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    c.ok(&["stop", "-t", "1", "bg"]);
    assert!(t0.elapsed() < std::time::Duration::from_secs(8));
    let followed = follow.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&followed.stdout), "l1\nl2\nl3\n");
    let st = c.ok(&["ps", "-a", "--filter", "name=bg", "--format", "{{.Status}}"]);
    assert!(st.starts_with("Exited (137)"), "{st}");
    c.ok(&["rm", "bg"]);
    // -i with piped stdin
    let mut cat = c
        .cmd(&["run", "-i", "--rm", "busybox:1.35", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cat.stdin
        .take()
        .unwrap()
        .write_all(b"hello\nworld\n")
        .unwrap();
    let out = cat.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nworld\n");
}

#[test]
fn terminals_exec_attach_and_signals() {
    let d = Daemon::start();
    let c = cli(&d);
    c.ok(&["load", "-i", busybox_tar().to_str().unwrap()]);
    // run -it on a terminal
    let (code, shown) = c.on_tty(
        "run -it --rm busybox:1.35 sh -c 'stty size; tty; exit 4'",
        &[],
    );
    assert_eq!(code, 4, "{shown}");
    assert!(
        shown.contains("30 100") && shown.contains("/dev/pts/"),
        "{shown}"
    );
    c.ok(&["run", "-d", "--name", "k1", "busybox:1.35", "sleep", "100"]);
    // exec, with its exit code; exec -it
    let (code, out, _) = c.status(&["exec", "k1", "sh", "-c", "echo x; exit 5"]);
    assert_eq!((code, out.as_str()), (5, "x\n"));
    // The runtime's exec does not apply process.consoleSize yet: the client's resize
    // right after the start sets the size.
    let (code, shown) = c.on_tty("exec -it k1 sh -c 'sleep 0.5; stty size; exit 6'", &[]);
    assert_eq!(code, 6, "{shown}");
    assert!(shown.contains("30 100"), "{shown}");
    // top, pause, unpause
    let top = c.ok(&["top", "k1"]);
    assert!(
        top.lines().next().unwrap().contains("PID") && top.contains("sleep 100"),
        "{top}"
    );
    c.ok(&["pause", "k1"]);
    let st = c.ok(&["ps", "--format", "{{.Status}}"]);
    assert!(st.trim().ends_with("(Paused)"), "{st}");
    let err = c.fails(&["pause", "k1"]);
    assert!(err.contains("already paused"), "{err}");
    c.ok(&["unpause", "k1"]);
    // kill, wait, restart
    let waiter = c
        .cmd(&["wait", "k1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    c.ok(&["kill", "k1"]);
    let waited = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&waited.stdout).trim(), "137");
    let err = c.fails(&["kill", "k1"]);
    assert!(err.contains("is not running"), "{err}");
    c.ok(&["restart", "k1"]);
    let st = c.ok(&["inspect", "-f", "{{.State.Status}}", "k1"]);
    assert_eq!(st.trim(), "running");
    // attach and detach keys
    c.ok(&["run", "-dit", "--name", "a1", "busybox:1.35", "sh"]);
    let (_, shown) = c.on_tty(
        "attach a1",
        &[(800, b"echo at-$((40+2))\n"), (800, b"\x10\x11")],
    );
    assert!(shown.contains("at-42"), "{shown}");
    assert!(shown.contains("read escape sequence"), "{shown}");
    let st = c.ok(&["inspect", "-f", "{{.State.Running}}", "a1"]);
    assert_eq!(st.trim(), "true");
    // rm -f of running containers
    let t0 = std::time::Instant::now();
    c.ok(&["rm", "-f", "k1", "a1"]);
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(c.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn volumes_and_mounts() {
    let d = Daemon::start();
    d.load_busybox();
    let c = cli(&d);
    assert_eq!(
        c.ok(&["volume", "create", "--label", "a=b", "vol1"]).trim(),
        "vol1"
    );
    let ls = c.ok(&["volume", "ls"]);
    assert!(
        ls.starts_with("DRIVER") && ls.contains("local     vol1"),
        "{ls}"
    );
    let f = c.ok(&[
        "volume",
        "inspect",
        "-f",
        "{{.Driver}} {{.Labels.a}} {{.Scope}}",
        "vol1",
    ]);
    assert_eq!(f.trim(), "local b local");
    c.ok(&[
        "run",
        "--name",
        "vw",
        "-v",
        "vol1:/data",
        "busybox:1.35",
        "sh",
        "-c",
        "echo hi > /data/f",
    ]);
    let m = c.ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}",
        "vw",
    ]);
    assert_eq!(m.trim(), "volume vol1 /data");
    let e = c.fails(&["volume", "rm", "vol1"]);
    assert!(e.contains("volume is in use"), "{e}");
    c.ok(&["rm", "vw"]);
    let out = c.ok(&[
        "run",
        "--rm",
        "--mount",
        "source=vol1,target=/v",
        "busybox:1.35",
        "cat",
        "/v/f",
    ]);
    assert_eq!(out, "hi\n");
    let out = c.ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/t",
        "busybox:1.35",
        "sh",
        "-c",
        "grep -c ' /t tmpfs' /proc/mounts",
    ]);
    assert_eq!(out.trim(), "1");
    let e = c.fails(&["run", "--rm", "-v", "bad/name:/x", "busybox:1.35", "true"]);
    assert!(
        e.contains("invalid characters for a local volume name"),
        "{e}"
    );
    c.ok(&["volume", "rm", "vol1"]);
    let e = c.fails(&["volume", "inspect", "vol1"]);
    assert!(e.contains("no such volume"), "{e}");
    c.ok(&["create", "-v", "/anon", "--name", "an", "busybox:1.35"]);
    assert_eq!(c.ok(&["volume", "ls", "-q"]).lines().count(), 1);
    c.ok(&["rm", "-v", "an"]);
    assert!(c.ok(&["volume", "ls", "-q"]).trim().is_empty());
    let df = c.ok(&["system", "df"]);
    assert!(df.contains("Local Volumes"), "{df}");
}

#[test]
fn cp_both_ways() {
    let d = Daemon::start();
    d.load_busybox();
    let c = cli(&d);
    c.ok(&[
        "run",
        "--name",
        "cpbox",
        "busybox:1.35",
        "sh",
        "-c",
        "mkdir /d && echo one > /d/f",
    ]);
    let host = d.dir.path().join("out");
    std::fs::create_dir(&host).unwrap();
    c.ok(&["cp", "cpbox:/d", host.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("d/f")).unwrap(), "one\n");
    c.ok(&["cp", "cpbox:/d/f", host.join("g").to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(host.join("g")).unwrap(), "one\n");
    std::fs::write(host.join("up"), "up\n").unwrap();
    c.ok(&["cp", host.join("up").to_str().unwrap(), "cpbox:/d/"]);
    c.ok(&["cp", host.join("up").to_str().unwrap(), "cpbox:/renamed"]);
    let back = d.dir.path().join("back");
    c.ok(&["cp", "cpbox:/renamed", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "up\n");
    let e = c.fails(&["cp", "cpbox:/missing", host.to_str().unwrap()]);
    assert!(e.contains("Could not find the file /missing"), "{e}");
}

#[test]
fn stats_and_restart_policy() {
    let d = Daemon::start();
    d.load_busybox();
    let c = cli(&d);
    c.ok(&[
        "run",
        "-d",
        "--name",
        "st",
        "--restart",
        "unless-stopped",
        "busybox:1.35",
        "sleep",
        "100",
    ]);
    let table = c.ok(&["stats", "--no-stream"]);
    assert!(
        table.lines().next().unwrap().starts_with("CONTAINER ID"),
        "{table}"
    );
    assert!(table.contains(" st "), "{table}");
    let f = c.ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "st"]);
    assert_eq!(f.trim(), "unless-stopped");
    c.ok(&["rm", "-f", "st"]);
    let e = c.fails(&["run", "--rm", "--restart", "always", "busybox:1.35", "true"]);
    assert!(e.contains("restart"), "{e}");
}

#[test]
fn events_of_a_run() {
    let d = Daemon::start();
    d.load_busybox();
    let c = cli(&d);
    c.ok(&["run", "--rm", "--name", "evd", "busybox:1.35", "true"]);
    let out = c.ok(&[
        "events",
        "--since",
        "1m",
        "--until",
        "0s",
        "--filter",
        "container=evd",
        "--format",
        "{{.Type}} {{.Action}}",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "container create",
            "container start",
            "container die",
            "container destroy"
        ],
        "{out}"
    );
}

#[test]
fn healthchecks() {
    let d = Daemon::start();
    d.load_busybox();
    let c = cli(&d);
    c.ok(&[
        "run",
        "-d",
        "--name",
        "hc",
        "--health-cmd",
        "test -f /tmp/up",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox:1.35",
        "sleep",
        "100",
    ]);
    let health = || c.ok(&["inspect", "-f", "{{.State.Health.Status}}", "hc"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while health().trim() != "unhealthy" {
        assert!(std::time::Instant::now() < deadline, "{}", health());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(c.ok(&["ps"]).contains("(unhealthy)"));
    c.ok(&["exec", "hc", "touch", "/tmp/up"]);
    while health().trim() != "healthy" {
        assert!(std::time::Instant::now() < deadline, "{}", health());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let listed = c.ok(&[
        "ps",
        "--filter",
        "health=healthy",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(
        listed.starts_with("hc Up ") && listed.contains("(healthy)"),
        "{listed}"
    );
    let check = c.ok(&["inspect", "-f", "{{json .Config.Healthcheck}}", "hc"]);
    assert!(
        check.contains(r#""Test":["CMD-SHELL","test -f /tmp/up"]"#),
        "{check}"
    );
    c.ok(&["rm", "-f", "hc"]);
    let e = c.fails(&[
        "run",
        "--health-timeout",
        "10us",
        "--health-cmd",
        "true",
        "busybox:1.35",
        "true",
    ]);
    assert!(
        e.contains("Timeout in Healthcheck cannot be less than 1ms"),
        "{e}"
    );
}

#[test]
fn update_prune_and_system_df() {
    let d = Daemon::start();
    d.load_busybox();
    let c = cli(&d);
    c.ok(&["run", "-d", "--name", "up", "busybox:1.35", "sleep", "100"]);
    c.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "-1",
        "--restart",
        "always",
        "up",
    ]);
    let f = c.ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}",
        "up",
    ]);
    assert_eq!(f.trim(), "67108864 always");
    c.ok(&["run", "--name", "done", "busybox:1.35", "true"]);
    let df = c.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(df.contains("Containers 2 1"), "{df}");
    let pruned = c.ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:"), "{pruned}");
    let left = c.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left.trim(), "up");
    c.ok(&["rm", "-f", "up"]);
}
