//! Helpers of berthd's tests: a real `berthd` on a temporary data root and socket, a
//! minimal HTTP/1.1 client over the unix socket, and the test images.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `$BERTH_TEST_IMAGES`, else the first `shared/images` beside the repository or a parent.
pub fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TEST_IMAGES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("shared/images"))
        .find(|d| d.join("busybox-1.35.docker.tar").is_file())
        .unwrap_or_else(|| {
            panic!("TEST IMAGES MISSING: no shared/images/busybox-1.35.docker.tar above {here:?}; set BERTH_TEST_IMAGES")
        })
}

/// The busybox archive (`docker save` form).
pub fn busybox_tar() -> PathBuf {
    images_dir().join("busybox-1.35.docker.tar")
}

/// The shim binary of this build: `$BERTH_SHIM`, else `berth-shim` in the target
/// directory that holds this test (`cargo build -p berth-shim` puts it there; CI builds
/// the workspace first).
pub fn shim_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .map(|d| d.join("berth-shim"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("SHIM MISSING: no berth-shim above {exe:?}; run `cargo build -p berth-shim` or set BERTH_SHIM")
        })
}

/// A running berthd; killed (and its directory removed) on drop.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
}

/// One HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `message` of an error body.
    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Daemon {
    /// Starts berthd on a fresh temporary data root and socket with `extra` flags.
    pub fn start_with(extra: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berthd-test-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        let mut d = Daemon { dir, child: None };
        let child = d.spawn(extra);
        d.child = Some(child);
        d.wait_ready();
        d
    }

    /// Starts berthd again on the same directory (after it exited).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "berthd still runs");
        let child = self.spawn(&[]);
        self.child = Some(child);
        self.wait_ready();
    }

    /// Starts berthd with no extra flags.
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// berthd with this daemon's roots, socket and config file, plus `extra`.
    pub fn command(&self, extra: &[&str]) -> Command {
        let p = self.dir.path();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berthd"));
        cmd.env("BERTH_SHIM", shim_path())
            .arg("--data-root")
            .arg(p.join("data"))
            .arg("--exec-root")
            .arg(p.join("exec"))
            .arg("--config-file")
            .arg(p.join("daemon.json"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(extra);
        cmd
    }

    fn spawn(&self, extra: &[&str]) -> Child {
        let log = std::fs::File::create(self.dir.path().join("berthd.log")).unwrap();
        self.command(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    }

    /// The socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }

    /// `unix://<socket>` for DOCKER_HOST.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("berthd exited ({st}) before serving:\n{}", self.log());
            }
            if UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("berthd did not listen within 20s:\n{}", self.log());
    }

    /// Sends one request and reads the whole response.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> Response {
        self.request_with(method, path, &[("Content-Type", "application/json")], body)
    }

    /// Sends one request with `headers`.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        // A daemon may answer (a 400) and close before it has read a whole body: the
        // rest of the body then cannot be written, and the answer is still there to read.
        if let Err(e) = s.write_all(body) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "write the body: {e}"
            );
        }
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        parse_response(&raw)
    }

    /// GET.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, b"")
    }

    /// POST with a JSON body.
    pub fn post(&self, path: &str, body: &str) -> Response {
        self.request("POST", path, body.as_bytes())
    }

    /// Loads busybox through the API.
    pub fn load_busybox(&self) {
        let tar = std::fs::read(busybox_tar()).unwrap();
        let r = self.request_with(
            "POST",
            "/v1.47/images/load?quiet=1",
            &[("Content-Type", "application/x-tar")],
            &tar,
        );
        assert_eq!(r.status, 200, "load: {}", r.text());
    }

    /// Sends a request with an `Upgrade: tcp` header and reads the response head; returns
    /// the status, the headers and the connection (with any bytes read past the head).
    pub fn hijack(&self, path: &str, body: &[u8]) -> Hijacked {
        let mut s = UnixStream::connect(self.socket()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            assert_eq!(
                s.read(&mut byte).unwrap(),
                1,
                "eof in the response head: {raw:?}"
            );
            raw.push(byte[0]);
        }
        let r = parse_response(&raw);
        Hijacked {
            status: r.status,
            headers: r.headers,
            stream: s,
        }
    }

    /// Creates a busybox container running `cmd` with extra create fields `extra` (JSON
    /// object members, may be empty); returns its id.
    pub fn create(&self, cmd: &[&str], extra: &str) -> String {
        let cmd = serde_json::to_string(cmd).unwrap();
        let sep = if extra.is_empty() { "" } else { "," };
        let body = format!(r#"{{"Image":"busybox:1.35","Cmd":{cmd}{sep}{extra}}}"#);
        let r = self.post("/containers/create", &body);
        assert_eq!(r.status, 201, "create: {}", r.text());
        r.json()["Id"].as_str().unwrap().to_string()
    }

    /// Inspects container `id`.
    pub fn inspect(&self, id: &str) -> serde_json::Value {
        let r = self.get(&format!("/containers/{id}/json"));
        assert_eq!(r.status, 200, "inspect: {}", r.text());
        r.json()
    }

    /// Waits until `f` holds of container `id`'s inspect document (up to 20 s).
    pub fn wait_until(
        &self,
        id: &str,
        what: &str,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let doc = self.inspect(id);
            if f(&doc) {
                return doc;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} never {what}: {doc}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until container `id`'s log holds `text` at least `times` times
    /// (up to 20 s): how a test knows a script has installed its traps.
    pub fn wait_log(&self, id: &str, text: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.get(&format!("/containers/{id}/logs?stdout=1")).text();
            if log.matches(text).count() >= times {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} never logged {text:?} {times} times: {log:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `sig` and waits for the exit status.
    pub fn signal_and_wait(&mut self, sig: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
        unsafe { libc::kill(child.id() as i32, sig) };
        child.wait().unwrap()
    }
}

impl Daemon {
    /// Removes every container (they outlive berthd by design), so that no shim, process
    /// or mount is left behind.
    fn remove_containers(&self) {
        if self.child.is_none() || UnixStream::connect(self.socket()).is_err() {
            return;
        }
        let list = self.get("/containers/json?all=1");
        let Ok(list) = serde_json::from_slice::<serde_json::Value>(&list.body) else {
            return;
        };
        for c in list.as_array().into_iter().flatten() {
            if let Some(id) = c["Id"].as_str() {
                self.request("DELETE", &format!("/containers/{id}?force=1"), b"");
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.remove_containers();
        if let Some(mut c) = self.child.take() {
            // SIGTERM first: a daemon stopping with nothing attached removes its bridge and
            // firewall table.
            // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            c.kill().ok();
            c.wait().ok();
        }
    }
}

/// Splits a raw HTTP/1.1 response, undoing chunked encoding.
fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&b[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + size]);
        b = &b[end + 2 + size + 2..];
    }
}

/// A hijacked connection.
pub struct Hijacked {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub stream: UnixStream,
}

impl Hijacked {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Reads Docker frames until EOF: (stdout, stderr).
    pub fn frames(&mut self) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for (stream, data) in read_frames(&mut self.stream) {
            match stream {
                1 => out.extend(data),
                2 => err.extend(data),
                s => panic!("frame on stream {s}"),
            }
        }
        (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    /// Reads raw bytes until EOF.
    pub fn raw(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.stream.read_to_end(&mut out).unwrap();
        out
    }
}

/// Splits a Docker multiplexed stream into (stream, payload) frames, to its EOF.
pub fn read_frames(r: &mut impl Read) -> Vec<(u8, Vec<u8>)> {
    let mut raw = Vec::new();
    r.read_to_end(&mut raw).unwrap();
    split_frames(&raw)
}

/// Splits bytes holding whole Docker frames.
pub fn split_frames(mut raw: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while raw.len() >= 8 {
        let len = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
        assert!(raw.len() >= 8 + len, "a cut frame: {raw:?}");
        out.push((raw[0], raw[8..8 + len].to_vec()));
        raw = &raw[8 + len..];
    }
    assert!(raw.is_empty(), "bytes after the last frame: {raw:?}");
    out
}
