//! `POST /build` over the socket, as docker's classic builder clients speak it: a
//! gzipped tar context, query parameters (`t` repeated, `dockerfile`, `buildargs`,
//! `labels`), JSON lines out (`stream`, `aux`, `errorDetail` with a failed RUN's code),
//! a 400 for a malformed parameter before anything streams, and `POST /build/prune`.

mod support;

use std::io::Write;

use serde_json::Value;
use support::Daemon;

/// A gzipped tar of `files`.
fn context(files: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        tar.append_data(&mut h, name, text.as_bytes()).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

fn lines(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

fn build(d: &Daemon, query: &str, tar: &[u8]) -> support::Response {
    d.request_with(
        "POST",
        &format!("/v1.47/build?{query}"),
        &[("Content-Type", "application/x-tar")],
        tar,
    )
}

#[test]
fn build_streams_dockers_messages() {
    let d = Daemon::start();
    d.load_busybox();
    let tar = context(&[
        (
            "sub/My.Dockerfile",
            "FROM busybox:1.35\nARG V\nRUN echo v=$V\n",
        ),
        ("x.txt", "x\n"),
    ]);
    let q = "t=one:1&t=two&dockerfile=sub%2FMy.Dockerfile&buildargs=%7B%22V%22%3A%227%22%7D\
             &labels=%7B%22k%22%3A%22l%22%7D&rm=1";
    let r = build(&d, q, &tar);
    assert_eq!(r.status, 200, "{}", r.text());
    let msgs = lines(&r.body);
    let text: String = msgs.iter().filter_map(|m| m["stream"].as_str()).collect();
    assert!(text.contains("Step 1/4 : FROM busybox:1.35\n"), "{text}");
    assert!(text.contains("\nv=7\n"), "{text}");
    assert!(
        text.contains("Successfully tagged one:1\nSuccessfully tagged two:latest\n"),
        "{text}"
    );
    let id = msgs
        .iter()
        .find_map(|m| m["aux"]["ID"].as_str())
        .expect("aux ID")
        .to_string();
    let img = d.get("/images/two/json").json();
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["Config"]["Labels"]["k"], "l");
}

#[test]
fn failures_are_in_the_stream_or_a_400() {
    let d = Daemon::start();
    d.load_busybox();
    let tar = context(&[("Dockerfile", "FROM busybox:1.35\nRUN echo out; exit 2\n")]);
    let r = build(&d, "buildargs=%7Bnot-json", &tar);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.message().contains("buildargs"), "{}", r.message());
    let r = build(&d, "t=bad%20name", &tar);
    assert_eq!(r.status, 400, "{}", r.text());
    let r = build(&d, "", &tar);
    assert_eq!(r.status, 200);
    let msgs = lines(&r.body);
    let last = msgs.last().expect("messages");
    let message = "The command '/bin/sh -c echo out; exit 2' returned a non-zero code: 2";
    assert_eq!(last["error"], message);
    assert_eq!(last["errorDetail"]["message"], message);
    assert_eq!(last["errorDetail"]["code"], 2);
    assert!(msgs.iter().any(|m| m["stream"] == "out\n"), "{msgs:?}");
    let r = build(&d, "dockerfile=nope", &tar);
    assert_eq!(
        lines(&r.body).last().unwrap()["error"],
        "Cannot locate specified Dockerfile: nope"
    );
    let r = d.post("/build/prune", "");
    assert_eq!(r.status, 200);
    assert!(r.json()["CachesDeleted"].is_array());
    assert!(r.json()["SpaceReclaimed"].is_number());
}

#[test]
fn a_client_gone_away_cancels_the_build() {
    use std::io::Read;
    let d = Daemon::start();
    d.load_busybox();
    let tar = context(&[(
        "Dockerfile",
        "FROM busybox:1.35\nRUN sleep 1\nRUN echo never > /never\n",
    )]);
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    let head = format!(
        "POST /build?t=cancelled HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        tar.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&tar).unwrap();
    let mut first = [0u8; 64];
    let n = s.read(&mut first).unwrap();
    assert!(n > 0);
    drop(s);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let gone = || {
        d.get("/containers/json?all=1")
            .json()
            .as_array()
            .is_some_and(|a| a.is_empty())
            && d.log().contains("build cancelled")
    };
    while !gone() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(gone(), "{}", d.log());
    assert_eq!(d.get("/images/cancelled/json").status, 404);
}

/// `POST /build?berth-context-dir=...` over TCP (the client may be on another host).
fn tcp_request(port: u16, target: &str) -> (u16, String) {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, raw)
}

fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn a_context_directory_is_read_in_place_only_over_the_unix_socket() {
    use std::os::unix::fs::MetadataExt;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&["-H", &tcp]);
    d.load_busybox();
    assert_eq!(
        d.get("/_ping").header("Berth-Features"),
        Some("build-context-dir")
    );
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:1.35\nCOPY a.txt /a.txt\n",
    )
    .unwrap();
    std::fs::write(ctx.path().join("a.txt"), "in place\n").unwrap();
    let dir = ctx.path().to_str().unwrap();
    let q = |path: &str| {
        format!(
            "/v1.47/build?t=inplace&berth-context-dir={}",
            query_escape(path)
        )
    };

    // Over the unix socket: built from the directory itself, no body.
    let r = d.request("POST", &q(dir), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let msgs = lines(&r.body);
    assert!(msgs.iter().any(|m| m["aux"]["ID"].is_string()), "{msgs:?}");
    assert_eq!(d.get("/images/inplace/json").status, 200);

    // Over TCP, a relative path, a file, a missing path: a 400 naming the parameter.
    let (status, raw) = tcp_request(port, &q(dir));
    assert_eq!(status, 400, "{raw}");
    assert!(
        raw.contains("berth-context-dir") && raw.contains("unix socket"),
        "{raw}"
    );
    let file = ctx.path().join("a.txt");
    for (path, why) in [
        ("some/dir", "not an absolute path"),
        (file.to_str().unwrap(), "not a directory"),
        ("/no/such/berth/dir", "No such file"),
    ] {
        let r = d.request("POST", &q(path), b"");
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(
            r.message().starts_with("berth-context-dir"),
            "{}",
            r.message()
        );
        assert!(r.message().contains(why), "{path}: {}", r.message());
    }

    // The client's directory is not the one the daemon sees: refused.
    let meta = std::fs::metadata(dir).unwrap();
    let wrong = format!(
        "{}&berth-context-id={}:{}",
        q(dir),
        meta.dev(),
        meta.ino() + 1
    );
    let r = d.request("POST", &wrong, b"");
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.message().contains("another host"), "{}", r.message());
    let right = format!("{}&berth-context-id={}:{}", q(dir), meta.dev(), meta.ino());
    assert_eq!(d.request("POST", &right, b"").status, 200);
}
