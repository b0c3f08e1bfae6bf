//! `berth build` through a real berthd, real step containers and the real `docker` CLI:
//! every instruction's effect on the image's config and files, multi-stage builds with
//! `--target`, `.dockerignore`, the layer cache (a full hit, and a miss exactly from the
//! changed step on), and bad input (an error naming what is wrong, no containers or
//! dangling images left).

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::Value;
use support::{docker_tar, Root};

/// A context directory with these files.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("berth-build-ctx-")
        .tempdir()
        .expect("context dir");
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write context file");
    }
    dir
}

fn root() -> Root {
    let root = Root::new("build");
    root.load(&docker_tar());
    root
}

fn build(root: &Root, ctx: &Path, extra: &[&str]) -> support::Run {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    let ctx = ctx.to_str().expect("utf-8");
    args.push(ctx);
    root.run(&args)
}

fn inspect(root: &Root, image: &str) -> Value {
    let out = root.ok(&["image", "inspect", image]);
    let v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

fn run_in(root: &Root, image: &str, script: &str) -> String {
    root.ok(&[
        "run",
        "--rm",
        "-u",
        "0",
        "--entrypoint",
        "",
        image,
        "sh",
        "-c",
        script,
    ])
}

/// Serves `body` to every HTTP request on 127.0.0.1; returns the port.
fn serve(body: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body);
        }
    });
    port
}

/// A gzipped tar with `dir/inner.txt`.
fn gz_tar() -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("dir/inner.txt").expect("path");
    h.set_size(6);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    tar.append(&h, &b"inner\n"[..]).expect("append");
    let raw = tar.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("gzip");
    gz.finish().expect("gzip")
}

const DOWNLOAD: &[u8] = b"downloaded\n";
/// sha256 of [`DOWNLOAD`].
fn download_sum() -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(DOWNLOAD);
    format!(
        "sha256:{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[test]
fn every_instruction() {
    let root = root();
    let port = serve(DOWNLOAD);
    let dockerfile = format!(
        r#"ARG BASE=busybox:1.35
FROM $BASE
MAINTAINER someone@example.com
ARG GREETING=hello
ENV WHO=world PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
ENV MSG="$GREETING $WHO"
LABEL org.example.one="1" two=$WHO
EXPOSE 80 53/udp
VOLUME /data
RUN echo "$MSG from RUN" > /msg && echo app:x:1234:1234::/:/bin/sh >> /etc/passwd && echo app:x:1234: >> /etc/group
COPY --chown=app:app --chmod=0640 files/ /copied/
COPY one.txt two.txt /both/
COPY one.txt /renamed.txt
COPY --exclude=*.txt --exclude=sub files/ /excluded/
ADD archive.tar.gz /unpacked/
ADD --checksum={sum} http://127.0.0.1:{port}/get/file.txt /fetched/
WORKDIR /work/sub
WORKDIR ../other
USER app
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD true
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/echo"]
CMD ["default", "args"]
"#,
        sum = download_sum()
    );
    let ctx = context(&[
        ("Dockerfile", &dockerfile),
        ("files/a.txt", "a\n"),
        ("files/keep.md", "k\n"),
        ("files/sub/b.txt", "b\n"),
        ("one.txt", "one\n"),
        ("two.txt", "two\n"),
    ]);
    std::fs::write(ctx.path().join("archive.tar.gz"), gz_tar()).expect("archive");
    let out = build(&root, ctx.path(), &["-t", "every:1", "-t", "every:2"]);
    assert_eq!(out.code, 0, "{}{}\n{}", out.stdout, out.stderr, root.log());
    assert!(
        out.stdout.contains("Step 1/24 : FROM $BASE\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(" ---> Running in "), "{}", out.stdout);
    assert!(out
        .stdout
        .contains("Successfully tagged every:1\nSuccessfully tagged every:2\n"));
    let img = inspect(&root, "every:1");
    let c = &img["Config"];
    assert_eq!(img["Author"], "someone@example.com");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"WHO=world"), "{env:?}");
    assert!(env.contains(&"MSG=hello world"), "{env:?}");
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING")),
        "ARGs are not kept: {env:?}"
    );
    assert_eq!(c["Labels"]["org.example.one"], "1");
    assert_eq!(c["Labels"]["two"], "world");
    assert!(c["ExposedPorts"]["80/tcp"].is_object());
    assert!(c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/data"].is_object());
    assert_eq!(c["WorkingDir"], "/work/other");
    assert_eq!(c["User"], "app");
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-ec"]));
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000u64);
    assert_eq!(c["Healthcheck"]["Retries"], 2);
    assert_eq!(c["OnBuild"], serde_json::json!(["RUN echo triggered"]));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/echo"]));
    assert_eq!(c["Cmd"], serde_json::json!(["default", "args"]));
    // The image runs with its entrypoint and cmd.
    assert_eq!(root.ok(&["run", "--rm", "every:1"]), "default args\n");
    let files = run_in(
        &root,
        "every:1",
        "cat /msg; stat -c '%U:%G %a %n' /copied/a.txt /copied/sub/b.txt; \
         cat /both/one.txt /both/two.txt /renamed.txt /unpacked/dir/inner.txt /fetched/file.txt; \
         stat -c '%a' /fetched/file.txt; pwd; ls -d /work/sub; ls -A /excluded",
    );
    assert_eq!(
        files,
        "hello world from RUN\napp:app 640 /copied/a.txt\napp:app 640 /copied/sub/b.txt\n\
         one\ntwo\none\ninner\ndownloaded\n600\n/work/other\n/work/sub\nkeep.md\n"
    );
    // History: docker's classic shapes.
    let hist = root.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "every:1",
    ]);
    assert!(hist.contains("/bin/sh -c #(nop)  ENV WHO=world"), "{hist}");
    assert!(hist.contains("|1 GREETING=hello /bin/sh -c echo"), "{hist}");
    // ONBUILD triggers run in a build from the image, and are not inherited.
    let child = context(&[("Dockerfile", "FROM every:1\nRUN true\n")]);
    let out = build(&root, child.path(), &["-t", "child"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("# Executing 1 build trigger\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("triggered\n"), "{}", out.stdout);
    assert!(inspect(&root, "child")["Config"]["OnBuild"].is_null());
}

#[test]
fn build_args_and_warnings() {
    let root = root();
    let ctx = context(&[(
        "Dockerfile",
        "ARG TAG=1.35\nFROM busybox:${TAG}\nARG TAG\nARG V=default\nRUN echo \"tag=$TAG v=$V\"\n",
    )]);
    let out = build(
        &root,
        ctx.path(),
        &["--build-arg", "V=given", "--build-arg", "UNUSED=1"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("tag=1.35 v=given\n"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("[Warning] One or more build-args [UNUSED] were not consumed\n"),
        "{}",
        out.stdout
    );
    // -q prints the id only; --iidfile writes it; --label lands on the image.
    let iid = ctx.path().join("iid");
    let q = build(
        &root,
        ctx.path(),
        &[
            "-q",
            "--label",
            "made.by=test",
            "--iidfile",
            iid.to_str().unwrap(),
        ],
    );
    let id = q.stdout.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{}", q.stdout);
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    assert_eq!(inspect(&root, id)["Config"]["Labels"]["made.by"], "test");
}

#[test]
fn multi_stage_with_target_builds_only_needed_stages() {
    let root = root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:1.35 AS tools\nRUN echo tool > /tool\n\
         FROM busybox:1.35 AS broken\nRUN exit 1\n\
         FROM tools AS app\nCOPY --from=0 /tool /copied-tool\nRUN cat /copied-tool\n\
         FROM busybox:1.35\nCOPY --from=app /copied-tool /final\n",
    )]);
    let out = build(&root, ctx.path(), &["--target", "app", "-t", "app"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        !out.stdout.contains("exit 1"),
        "the unneeded stage ran: {}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Step 1/5 : FROM busybox:1.35 AS tools\n"),
        "{}",
        out.stdout
    );
    assert_eq!(
        run_in(&root, "app", "cat /copied-tool /tool"),
        "tool\ntool\n"
    );
    // Without a target: the last stage; `broken` is still not needed.
    let all = build(&root, ctx.path(), &["-t", "final"]);
    assert_eq!(all.code, 0, "{}{}", all.stdout, all.stderr);
    assert!(!all.stdout.contains("exit 1"), "{}", all.stdout);
    assert_eq!(run_in(&root, "final", "cat /final"), "tool\n");
    // A target that is no stage.
    let bad = build(&root, ctx.path(), &["--target", "nope"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("failed to reach build target nope in Dockerfile"),
        "{}",
        bad.stderr
    );
}

#[test]
fn dockerignore_excludes_files() {
    let root = root();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox:1.35\nCOPY . /ctx/\n"),
        (
            ".dockerignore",
            "secret\n*.log\n!keep.log\nnested/**/*.tmp\n",
        ),
        ("secret/key", "k\n"),
        ("app.log", "x\n"),
        ("keep.log", "kept\n"),
        ("nested/a/b.tmp", "t\n"),
        ("nested/a/c.txt", "c\n"),
    ]);
    let out = build(&root, ctx.path(), &["-t", "ign"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let listing = run_in(&root, "ign", "cd /ctx && find . -type f | sort");
    assert_eq!(
        listing,
        "./.dockerignore\n./Dockerfile\n./keep.log\n./nested/a/c.txt\n"
    );
}

#[test]
fn cache_hits_and_misses_from_the_changed_step() {
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:1.35\nENV A=1\nRUN echo ran-one\nCOPY f.txt /f.txt\nRUN echo ran-two\nLABEL l=v\n",
        ),
        ("f.txt", "first\n"),
    ]);
    let first = build(&root, ctx.path(), &["-t", "cached"]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    assert_eq!(first.stdout.matches("Using cache").count(), 0);
    let containers_before = root.ok(&["ps", "-aq"]);
    let again = build(&root, ctx.path(), &["-t", "cached"]);
    assert_eq!(again.code, 0);
    assert_eq!(
        again.stdout.matches(" ---> Using cache\n").count(),
        5,
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("\nran-one\n") && !again.stdout.contains("Running in"));
    let id1 = inspect(&root, "cached")["Id"].clone();
    assert_eq!(root.ok(&["ps", "-aq"]), containers_before);
    // A changed file: hits up to the COPY, misses from it on.
    std::fs::write(ctx.path().join("f.txt"), "second\n").unwrap();
    let changed = build(&root, ctx.path(), &["-t", "cached"]);
    assert_eq!(changed.code, 0);
    let steps: Vec<&str> = changed.stdout.split("Step ").skip(1).collect();
    let hit: Vec<bool> = steps.iter().map(|s| s.contains("Using cache")).collect();
    assert_eq!(
        hit,
        [false, true, true, false, false, false],
        "{}",
        changed.stdout
    );
    assert!(changed.stdout.contains("\nran-two\n") && !changed.stdout.contains("\nran-one\n"));
    assert_ne!(inspect(&root, "cached")["Id"], id1);
    assert_eq!(run_in(&root, "cached", "cat /f.txt"), "second\n");
    // --no-cache runs everything; a changed build arg misses from where it is used.
    let nocache = build(&root, ctx.path(), &["--no-cache"]);
    assert_eq!(nocache.stdout.matches("Using cache").count(), 0);
    assert!(nocache.stdout.contains("\nran-one\n"));
    // builder prune forgets the cache.
    root.ok(&["builder", "prune", "-f"]);
    let after = build(&root, ctx.path(), &[]);
    assert_eq!(
        after.stdout.matches("Using cache").count(),
        0,
        "{}",
        after.stdout
    );
}

/// Runs a failing build; asserts it left no container and no new image.
fn fails(root: &Root, dockerfile: &str, files: &[(&str, &str)]) -> support::Run {
    let images_before = root.ok(&["images", "-aq", "--no-trunc"]);
    let mut all = vec![("Dockerfile", dockerfile)];
    all.extend_from_slice(files);
    let ctx = context(&all);
    let r = build(root, ctx.path(), &["-t", "never"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(root.ok(&["ps", "-aq"]), "", "a container was left");
    assert_eq!(
        root.ok(&["images", "-aq", "--no-trunc"]),
        images_before,
        "images were left: {}",
        r.stdout
    );
    r
}

#[test]
fn bad_input_names_the_problem_and_leaves_nothing() {
    let root = root();
    let unknown = fails(&root, "FROM busybox:1.35\nRUN true\nFROB x\n", &[]);
    assert_eq!(
        unknown.stderr,
        "dockerfile parse error on line 3 (column 1): unknown instruction: FROB\n"
    );
    let flag = fails(&root, "FROM busybox:1.35\nCOPY --bogus=1 a /\n", &[]);
    assert!(flag.stderr.contains("line 2"), "{}", flag.stderr);
    let missing = fails(
        &root,
        "FROM busybox:1.35\nRUN echo x > /x\nCOPY nope.txt /\n",
        &[],
    );
    assert!(
        missing
            .stderr
            .contains("Dockerfile line 3: COPY failed: file not found in build context"),
        "{}",
        missing.stderr
    );
    let run = fails(
        &root,
        "FROM busybox:1.35\nENV X=1\nRUN echo to-out; echo to-err >&2; exit 7\n",
        &[],
    );
    assert_eq!(run.code, 7);
    assert!(
        run.stdout.contains("to-out\n") && run.stdout.contains("to-err\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        "The command '/bin/sh -c echo to-out; echo to-err >&2; exit 7' returned a non-zero code: 7\n"
    );
    let stage = fails(&root, "FROM busybox:1.35\nCOPY --from=nostage /x /x\n", &[]);
    assert!(stage.stderr.contains("nostage"), "{}", stage.stderr);
    let base = fails(&root, "FROM 127.0.0.1:1/none:x\n", &[]);
    assert!(base.stderr.contains("127.0.0.1:1/none"), "{}", base.stderr);
}

#[test]
fn dockerfile_outside_the_context_and_on_stdin() {
    let root = root();
    let ctx = context(&[("f.txt", "f\n")]);
    let elsewhere = context(&[("my.Dockerfile", "FROM busybox:1.35\nCOPY f.txt /f\n")]);
    let path = elsewhere.path().join("my.Dockerfile");
    let out = build(
        &root,
        ctx.path(),
        &["-f", path.to_str().unwrap(), "-t", "outside"],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        run_in(
            &root,
            "outside",
            "cat /f; ls -a / | grep -c dockerfile || true"
        ),
        "f\n0\n"
    );
    let r = root.run_stdin(
        &[
            "build",
            "-f",
            "-",
            "-t",
            "stdin",
            ctx.path().to_str().unwrap(),
        ],
        b"FROM busybox:1.35\nCOPY f.txt /g\n",
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(run_in(&root, "stdin", "cat /g"), "f\n");
    // A lone Dockerfile as the context on stdin.
    let r = root.run_stdin(
        &["build", "-t", "lone", "-"],
        b"FROM busybox:1.35\nLABEL lone=yes\n",
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(inspect(&root, "lone")["Config"]["Labels"]["lone"], "yes");
}

#[test]
fn docker_cli_classic_builder_against_berthd() {
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:1.35\nCOPY f.txt /f\nRUN cat /f\nCMD [\"cat\", \"/f\"]\n",
        ),
        ("f.txt", "from docker\n"),
    ]);
    let out = std::process::Command::new("docker")
        .env("DOCKER_HOST", root.host())
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-t", "viadocker"])
        .arg(ctx.path())
        .output()
        .expect("DOCKER CLI MISSING: the docker client is needed at /usr/local/bin/docker");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("from docker\n"), "{stdout}");
    assert!(
        stdout.contains("Successfully tagged viadocker:latest\n"),
        "{stdout}"
    );
    assert_eq!(root.ok(&["run", "--rm", "viadocker"]), "from docker\n");
    // -q: the daemon sends nothing but the id (the RUN's output included).
    let quiet = std::process::Command::new("docker")
        .env("DOCKER_HOST", root.host())
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "--no-cache"])
        .arg(ctx.path())
        .output()
        .expect("docker");
    let stdout = String::from_utf8_lossy(&quiet.stdout);
    assert!(
        stdout.starts_with("sha256:") && stdout.len() == 72,
        "{stdout:?}"
    );
    // A failing RUN: docker exits with its code and prints the message.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:1.35\nRUN exit 3\n",
    )
    .unwrap();
    let out = std::process::Command::new("docker")
        .env("DOCKER_HOST", root.host())
        .env("DOCKER_BUILDKIT", "0")
        .arg("build")
        .arg(ctx.path())
        .output()
        .expect("docker");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"));
}

#[test]
fn run_mounts_cache_bind_and_tmpfs() {
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:1.35 AS s\nRUN echo staged > /staged\nFROM busybox:1.35\n\
             RUN --mount=type=cache,target=/cache echo run >> /cache/log && echo runs=$(wc -l < /cache/log)\n\
             RUN --mount=type=bind,target=/ctx cat /ctx/b.txt\n\
             RUN --mount=type=bind,from=s,source=/staged,target=/st cat /st\n\
             RUN --mount=type=tmpfs,target=/t grep ' /t ' /proc/mounts | cut -d' ' -f3\n",
        ),
        ("b.txt", "bound\n"),
    ]);
    let out = build(&root, ctx.path(), &["-t", "mounts"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for line in ["runs=1\n", "bound\n", "staged\n", "tmpfs\n"] {
        assert!(
            out.stdout.contains(line),
            "{line:?} missing: {}",
            out.stdout
        );
    }
    // The cache directory outlives the build; a changed bound file misses the cache.
    std::fs::write(ctx.path().join("b.txt"), "changed\n").unwrap();
    let again = build(&root, ctx.path(), &["--no-cache"]);
    assert!(again.stdout.contains("runs=2\n"), "{}", again.stdout);
    std::fs::write(ctx.path().join("b.txt"), "third\n").unwrap();
    let third = build(&root, ctx.path(), &[]);
    assert!(third.stdout.contains("\nthird\n"), "{}", third.stdout);
    assert!(!third.stdout.contains("runs=3"), "{}", third.stdout);
    assert_eq!(root.ok(&["ps", "-aq"]), "");
    // The image does not keep what the mounts showed.
    assert_eq!(
        run_in(
            &root,
            "mounts",
            "find /cache /ctx -type f | wc -l; [ -s /st ] || echo empty"
        ),
        "0\nempty\n"
    );
}

#[test]
fn heredocs_in_run_and_copy() {
    let root = root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:1.35\nENV WHO=world\nRUN <<EOF\necho script-ran\necho $WHO > /from-script\nEOF\n\
         RUN cat <<'X' > /quoted\nkeep $WHO \"quotes\"\nX\n\
         COPY <<EOF /dest/\nhello $WHO \"q\"\nEOF\n\
         COPY <<\"RAW\" /raw.txt\nraw $WHO\nRAW\n",
    )]);
    let out = build(&root, ctx.path(), &["-t", "heredocs"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("\nscript-ran\n"), "{}", out.stdout);
    assert_eq!(
        run_in(
            &root,
            "heredocs",
            "cat /from-script /quoted /dest/EOF /raw.txt"
        ),
        "world\nkeep $WHO \"quotes\"\nhello world \"q\"\nraw $WHO\n"
    );
}

#[test]
fn source_date_epoch_builds_the_same_image_twice() {
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:1.35\nCOPY f.txt /app/f.txt\nRUN mkdir -p /data && echo x > /data/x && touch /app\n\
             WORKDIR /w\nENV A=1\n",
        ),
        ("f.txt", "f\n"),
    ]);
    let args = [
        "--no-cache",
        "--build-arg",
        "SOURCE_DATE_EPOCH=1700000000",
        "-q",
    ];
    let first = build(&root, ctx.path(), &args);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let f = ctx.path().join("f.txt");
    std::fs::write(&f, "f\n").unwrap(); // a new mtime, the same content
    let second = build(&root, ctx.path(), &args);
    assert_eq!(
        first.stdout, second.stdout,
        "the same inputs gave different images"
    );
    let img = inspect(&root, first.stdout.trim());
    assert_eq!(img["Created"], "2023-11-14T22:13:20Z");
    // Without it, times differ and so do the images.
    let plain = build(&root, ctx.path(), &["--no-cache", "-q"]);
    assert_ne!(plain.stdout, first.stdout);
}

#[test]
fn add_extracts_compressed_archives_and_copies_other_files() {
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:1.35\nADD a.tar.bz2 b.tar.xz c.tar plain.gz /x/\n",
        ),
        ("src/a/in-a", "a\n"),
        ("src/b/in-b", "b\n"),
        ("src/c/in-c", "c\n"),
    ]);
    let tar = |flag: &str, out: &str, dir: &str| {
        let st = std::process::Command::new("tar")
            .current_dir(ctx.path().join("src"))
            .args([flag, out, dir])
            .status()
            .expect("TAR MISSING: tar is needed");
        assert!(st.success());
    };
    tar("-cjf", "../a.tar.bz2", "a");
    tar("-cJf", "../b.tar.xz", "b");
    tar("-cf", "../c.tar", "c");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"not a tar\n").unwrap();
    std::fs::write(ctx.path().join("plain.gz"), gz.finish().unwrap()).unwrap();
    let out = build(&root, ctx.path(), &["-t", "archives"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        run_in(&root, "archives", "cd /x && find . | sort"),
        ".\n./a\n./a/in-a\n./b\n./b/in-b\n./c\n./c/in-c\n./plain.gz\n"
    );
}

#[test]
fn progress_tty_shows_a_live_status_line() {
    let root = root();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:1.35\nRUN sleep 0.5; echo done-sleeping\n",
    )]);
    let berth = env!("CARGO_BIN_EXE_berth");
    let line = format!(
        "{berth} -H {} build --progress=tty {}",
        root.host(),
        ctx.path().display()
    );
    // A terminal for stdout: `script` runs the command on a pty.
    let out = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .output()
        .expect("SCRIPT MISSING: util-linux's script is needed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("done-sleeping"), "{text}");
    assert!(
        text.contains("\x1b[K") && text.contains(" step 2/2  "),
        "{text}"
    );
    // Plain progress on the same terminal has no status line.
    let plain = std::process::Command::new("script")
        .args(["-qec", &line.replace("tty", "plain"), "/dev/null"])
        .output()
        .expect("script");
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("\x1b[K"));
}

#[test]
fn scratch_stages() {
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM scratch AS files\nCOPY f.txt /deep/f.txt\nENV IN=scratch\n\
             FROM busybox:1.35\nCOPY --from=files /deep /copied\n",
        ),
        ("f.txt", "from scratch\n"),
    ]);
    let out = build(&root, ctx.path(), &["--target", "files", "-t", "files"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let img = inspect(&root, "files");
    assert_eq!(img["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));
    let env = img["Config"]["Env"].to_string();
    assert!(env.contains("IN=scratch") && env.contains("PATH="), "{env}");
    let out = build(&root, ctx.path(), &["-t", "fromscratch"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        run_in(&root, "fromscratch", "cat /copied/f.txt"),
        "from scratch\n"
    );
}

/// Which steps of a build's output were cache hits.
fn hits(out: &support::Run) -> Vec<bool> {
    out.stdout
        .split("Step ")
        .skip(1)
        .map(|s| s.contains("Using cache"))
        .collect()
}

#[test]
fn a_local_context_is_read_in_place() {
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:1.35\nRUN sleep 2\nCOPY late.txt /late.txt\n",
        ),
        ("early.txt", "e\n"),
    ]);
    // The file appears while the build runs, after a tar context would have been sent:
    // read in place, the COPY after the RUN finds it.
    let dir = ctx.path().to_path_buf();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        std::fs::write(dir.join("late.txt"), "late\n").unwrap();
    });
    let out = build(&root, ctx.path(), &["-t", "inplace"]);
    writer.join().unwrap();
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(run_in(&root, "inplace", "cat /late.txt"), "late\n");
    // The same context as a tar (docker's protocol) makes the same cache keys.
    let tar = {
        let mut b = tar::Builder::new(Vec::new());
        b.append_dir_all(".", ctx.path()).unwrap();
        b.into_inner().unwrap()
    };
    let r = root.run_stdin(&["build", "-t", "astar", "-"], &tar);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(hits(&r), [false, true, true], "{}", r.stdout);
    assert_eq!(
        inspect(&root, "astar")["Id"],
        inspect(&root, "inplace")["Id"]
    );
}

#[test]
fn a_local_contexts_cache_follows_file_contents() {
    use std::os::unix::fs::MetadataExt;
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:1.35\nCOPY keep.txt /keep.txt\nCOPY src/ /src/\nRUN echo ran\n",
        ),
        (".dockerignore", "src/ignored.txt\n"),
        ("keep.txt", "k\n"),
        ("src/a.txt", "aaaa\n"),
        ("src/ignored.txt", "i\n"),
    ]);
    let first = build(&root, ctx.path(), &["-t", "follow"]);
    assert_eq!(first.code, 0, "{}{}", first.stdout, first.stderr);
    // Settled files (their digests remembered by the daemon) and a second build: hits.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let again = build(&root, ctx.path(), &["-t", "follow"]);
    assert_eq!(hits(&again), [false, true, true, true], "{}", again.stdout);
    // An ignored file changed: still all hits.
    std::fs::write(ctx.path().join("src/ignored.txt"), "changed\n").unwrap();
    let ignored = build(&root, ctx.path(), &["-t", "follow"]);
    assert_eq!(
        hits(&ignored),
        [false, true, true, true],
        "{}",
        ignored.stdout
    );
    // A file touched, its content the same: hashed again, same key, all hits.
    let a = ctx.path().join("src/a.txt");
    std::fs::write(&a, "aaaa\n").unwrap();
    let touched = build(&root, ctx.path(), &["-t", "follow"]);
    assert_eq!(
        hits(&touched),
        [false, true, true, true],
        "{}",
        touched.stdout
    );
    // Same size, its modification time put back: the change time still tells.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let before = std::fs::metadata(&a).unwrap();
    std::fs::write(&a, "bbbb\n").unwrap();
    let mtime = std::time::UNIX_EPOCH
        + std::time::Duration::new(before.mtime() as u64, before.mtime_nsec() as u32);
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let changed = build(&root, ctx.path(), &["-t", "follow"]);
    assert_eq!(
        hits(&changed),
        [false, true, false, false],
        "{}",
        changed.stdout
    );
    assert!(changed.stdout.contains("\nran\n"), "{}", changed.stdout);
    assert_eq!(run_in(&root, "follow", "cat /src/a.txt"), "bbbb\n");
    // A mode, a name or a link's target changed: a miss from the COPY of src on.
    let misses_from_src = |what: &str| {
        let out = build(&root, ctx.path(), &["-t", "follow"]);
        assert_eq!(
            hits(&out),
            [false, true, false, false],
            "{what}: {}",
            out.stdout
        );
    };
    std::fs::set_permissions(&a, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    misses_from_src("mode");
    std::fs::rename(&a, ctx.path().join("src/b.txt")).unwrap();
    misses_from_src("name");
    std::os::unix::fs::symlink("b.txt", ctx.path().join("src/link")).unwrap();
    misses_from_src("new link");
    std::fs::remove_file(ctx.path().join("src/link")).unwrap();
    std::os::unix::fs::symlink("../keep.txt", ctx.path().join("src/link")).unwrap();
    misses_from_src("link target");
}

#[test]
fn a_local_context_bound_into_a_run_hides_ignored_files_and_stays_unwritten() {
    let root = root();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:1.35\n\
             RUN --mount=type=bind,target=/ctx,rw ls -a /ctx/sub; cat /ctx/sub/a.txt; \
             echo scribbled > /ctx/sub/a.txt; rm -f /ctx/b.txt; touch /ctx/new\n\
             RUN --mount=type=bind,source=sub/a.txt,target=/a cat /a\n",
        ),
        (".dockerignore", "sub/secret\n"),
        ("sub/a.txt", "a\n"),
        ("sub/secret", "s\n"),
        ("b.txt", "b\n"),
    ]);
    std::os::unix::fs::symlink("a.txt", ctx.path().join("sub/link")).unwrap();
    let out = build(&root, ctx.path(), &["-t", "bound"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("\n.\n..\na.txt\nlink\na\n"),
        "the ignored file shows: {}",
        out.stdout
    );
    // The second RUN sees the context as it is: the first one's writes went elsewhere.
    let third = out.stdout.split("Step 3/3").nth(1).unwrap_or_default();
    assert!(third.contains("\na\n"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(ctx.path().join("sub/a.txt")).unwrap(),
        "a\n"
    );
    assert!(ctx.path().join("b.txt").exists());
    assert!(!ctx.path().join("new").exists());
    let tmp = root.path().join("tmp");
    let left = std::fs::read_dir(&tmp)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("bind-"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(left, 0, "copies left in {}", tmp.display());
}
