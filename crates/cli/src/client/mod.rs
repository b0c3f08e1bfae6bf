//! The Docker Engine API client: finds the daemon (`-H`, `BERTH_HOST`, `DOCKER_HOST`, the
//! default socket), asks `/_ping` once for the API version, then sends requests under
//! `/v<version>`. Responses are JSON, streams, or hijacked connections (attach, exec).

pub mod addr;
pub mod http;

use std::io::{BufReader, Read};
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub use addr::{Addr, Conn, DEFAULT_HOST};
pub use http::{Payload, Response};

/// The newest API version this client speaks.
pub const API_VERSION: &str = "1.47";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the address.
    #[error("Cannot connect to berthd at {addr}: {source}. Is berthd running? Start it with `sudo berthd &`, or point -H / BERTH_HOST at a running one.")]
    Unreachable {
        /// The address tried.
        addr: String,
        /// Why the connection failed.
        source: std::io::Error,
    },
    /// A host that is not `unix://PATH` or `tcp://HOST:PORT`.
    #[error("invalid daemon address {0:?}: use unix:///path/to.sock or tcp://host:port")]
    BadHost(String),
    /// The daemon answered with an error.
    #[error("Error response from daemon: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Docker's `message`.
        message: String,
    },
    /// Reading or writing the connection failed.
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    /// The daemon sent something that is not HTTP or not the JSON expected.
    #[error("unexpected response from the daemon: {0}")]
    BadResponse(String),
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Result alias for client calls.
pub type Result<T> = std::result::Result<T, ClientError>;

/// A query string under construction.
pub struct Query(form_urlencoded::Serializer<'static, String>);

impl Query {
    /// An empty query.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Query(form_urlencoded::Serializer::new(String::new()))
    }

    /// Adds `key=value`.
    pub fn add(mut self, key: &str, value: &str) -> Self {
        self.0.append_pair(key, value);
        self
    }

    /// Adds `key=1` when `on`.
    pub fn flag(self, key: &str, on: bool) -> Self {
        if on {
            self.add(key, "1")
        } else {
            self
        }
    }

    /// Adds `key=value` when there is a value.
    pub fn opt(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.add(key, v),
            None => self,
        }
    }

    fn finish(mut self) -> String {
        self.0.finish()
    }
}

/// A connected client.
#[derive(Clone)]
pub struct Client {
    addr: Addr,
    version: Arc<Mutex<Version>>,
}

/// The API version requests are sent under.
#[derive(Debug)]
struct Version {
    /// `/v1.47`.
    prefix: String,
    /// Whether the daemon has taken a request under it.
    settled: bool,
    /// berthd's extensions its `/_ping` named (`Berth-Features`; none from other
    /// daemons); None until a `/_ping` is asked.
    features: Option<String>,
}

impl Client {
    /// A client for the daemon at `host`. Requests go under this client's API version
    /// until the daemon says it speaks an older one: the first request it refuses for
    /// that is sent again under the daemon's version (a daemon as new as this client, as
    /// berthd is, costs no `/_ping` round trip).
    pub fn connect(host: &str) -> Result<Client> {
        Ok(Client {
            addr: Addr::parse(host)?,
            version: Arc::new(Mutex::new(Version {
                prefix: format!("/v{API_VERSION}"),
                settled: false,
                features: None,
            })),
        })
    }

    /// Asks `/_ping` for the daemon's API version and settles on it (or on this
    /// client's, if the daemon's is newer).
    fn negotiate(&self) -> Result<()> {
        let r = self.send_once("GET", "/_ping", &[], &mut Payload::Empty)?;
        let version = r
            .header("api-version")
            .filter(|v| older(v, API_VERSION))
            .unwrap_or(API_VERSION)
            .to_string();
        let features = r.header("berth-features").unwrap_or("").to_string();
        drop(r.body.bytes());
        let mut v = self.version();
        v.prefix = format!("/v{version}");
        v.settled = true;
        v.features = Some(features);
        Ok(())
    }

    /// Whether the daemon is a berthd with extension `name` (its `/_ping` says so; asked
    /// once, on the first call).
    pub fn has_feature(&self, name: &str) -> Result<bool> {
        if self.version().features.is_none() {
            self.negotiate()?;
        }
        let v = self.version();
        let features = v.features.as_deref().unwrap_or("");
        Ok(features.split(',').any(|f| f.trim() == name))
    }

    fn version(&self) -> std::sync::MutexGuard<'_, Version> {
        // A poisoned lock still holds a usable prefix.
        self.version.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Settles the API version first unless a request has already: for requests that
    /// cannot be sent twice.
    fn settle(&self) -> Result<()> {
        if self.version().settled {
            return Ok(());
        }
        self.negotiate()
    }

    /// The daemon's address.
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    fn open(&self) -> Result<Conn> {
        self.addr
            .connect()
            .map_err(|source| ClientError::Unreachable {
                addr: self.addr.to_string(),
                source,
            })
    }

    /// Sends a request without waiting for the answer (read it with
    /// [`Pending::finish`]): how a client asks to be told of an exit before it starts the
    /// container.
    pub fn begin(&self, method: &str, path: &str, query: Query) -> Result<Pending> {
        self.settle()?;
        let mut conn = self.open()?;
        let target = self.target(&target("", path, query));
        http::write_request(&mut conn, method, &target, &[], &mut Payload::Empty)
            .map_err(|e| ClientError::Io("send the request", e))?;
        Ok(Pending { conn })
    }

    /// `rest` (path and query) under the API version.
    fn target(&self, rest: &str) -> String {
        if rest.starts_with("/_ping") {
            return rest.to_string();
        }
        format!("{}{rest}", self.version().prefix)
    }

    /// Sends a request and reads the response head (any status).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: Query,
        headers: &[(&str, &str)],
        mut payload: Payload<'_>,
    ) -> Result<Response> {
        if matches!(payload, Payload::Stream(..)) {
            self.settle()?;
        }
        let rest = target("", path, query);
        let r = self.send_once(method, &rest, headers, &mut payload)?;
        if !self.refused_version(&r) {
            self.version().settled = true;
            return Ok(r);
        }
        drop(r.body.bytes());
        self.negotiate()?;
        self.send_once(method, &rest, headers, &mut payload)
    }

    /// Whether the daemon refused a request for its API version: a 400 from a daemon
    /// whose version is older than the one the request was sent under, before any
    /// request settled the version.
    fn refused_version(&self, r: &Response) -> bool {
        let v = self.version();
        let sent = v.prefix.trim_start_matches("/v");
        !v.settled && r.status == 400 && r.header("api-version").is_some_and(|d| older(d, sent))
    }

    /// One request (`rest`: path and query) and its response head.
    fn send_once(
        &self,
        method: &str,
        rest: &str,
        headers: &[(&str, &str)],
        payload: &mut Payload<'_>,
    ) -> Result<Response> {
        let mut conn = self.open()?;
        let target = self.target(rest);
        let sent = http::write_request(&mut conn, method, &target, headers, payload);
        // A daemon that refuses the request early may close before the body is sent:
        // its response says why.
        let r = http::read_response(conn, method == "HEAD");
        match (sent, r) {
            (_, Ok(r)) => Ok(r),
            (Err(e), Err(_)) => Err(ClientError::Io("send the request", e)),
            (Ok(()), Err(e)) => Err(e),
        }
    }

    /// Sends a request whose success is any 2xx status; other statuses become
    /// [`ClientError::Api`]. The body is left to read.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        query: Query,
        payload: Payload<'_>,
    ) -> Result<Response> {
        let r = self.send(method, path, query, &[], payload)?;
        check(r)
    }

    /// GET, the body's bytes (JSON whose key order matters).
    pub fn get_raw(&self, path: &str, query: Query) -> Result<Vec<u8>> {
        self.call("GET", path, query, Payload::Empty)?.body.bytes()
    }

    /// GET, the body as JSON.
    pub fn get_json(&self, path: &str, query: Query) -> Result<Value> {
        json(self.call("GET", path, query, Payload::Empty)?)
    }

    /// GET, the response body parsed as `T` (fields `T` does not name are skipped).
    pub fn get_typed<T: serde::de::DeserializeOwned>(&self, path: &str, query: Query) -> Result<T> {
        let body = self
            .call("GET", path, query, Payload::Empty)?
            .body
            .bytes()?;
        serde_json::from_slice(&body).map_err(|e| ClientError::BadResponse(e.to_string()))
    }

    /// POST with an optional JSON body; the response body as JSON (`null` if empty).
    pub fn post_json(&self, path: &str, query: Query, body: Option<&Value>) -> Result<Value> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let payload = match &bytes {
            Some(b) => Payload::Bytes(b, "application/json"),
            None => Payload::Empty,
        };
        json(self.call("POST", path, query, payload)?)
    }

    /// POST without a body, ignoring the response body.
    pub fn post(&self, path: &str, query: Query) -> Result<()> {
        self.call("POST", path, query, Payload::Empty)?
            .body
            .bytes()?;
        Ok(())
    }

    /// DELETE, the body as JSON (`null` if empty).
    pub fn delete(&self, path: &str, query: Query) -> Result<Value> {
        json(self.call("DELETE", path, query, Payload::Empty)?)
    }

    /// Sends a request asking to take over the connection (`Upgrade: tcp`) and returns
    /// it once the daemon agrees (101, or 200 from daemons that just keep streaming).
    pub fn hijack(
        &self,
        path: &str,
        query: Query,
        body: Option<&Value>,
    ) -> Result<BufReader<Conn>> {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let payload = match &bytes {
            Some(b) => Payload::Bytes(b, "application/json"),
            None => Payload::Empty,
        };
        let headers = [("Connection", "Upgrade"), ("Upgrade", "tcp")];
        let r = check(self.send("POST", path, query, &headers, payload)?)?;
        Ok(r.body.into_conn())
    }
}

/// A request sent whose response is still to come.
pub struct Pending {
    conn: Conn,
}

impl Pending {
    /// Waits for the response; error statuses become [`ClientError::Api`].
    pub fn finish(self) -> Result<Response> {
        check(http::read_response(self.conn, false)?)
    }
}

/// `/v1.47/containers/json?all=1`.
fn target(prefix: &str, path: &str, query: Query) -> String {
    let q = query.finish();
    if q.is_empty() {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}{path}?{q}")
    }
}

/// Whether API version `a` is older than `b` (`1.41` < `1.47`).
fn older(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (x, y) = v.trim().split_once('.')?;
        Some((x.parse().ok()?, y.parse().ok()?))
    };
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x < y)
}

/// An error status becomes [`ClientError::Api`] with the body's `message`.
pub fn check(r: Response) -> Result<Response> {
    if r.status < 400 {
        return Ok(r);
    }
    let status = r.status;
    let body = r.body.bytes().unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    Err(ClientError::Api { status, message })
}

fn json(r: Response) -> Result<Value> {
    let body = r.body.bytes()?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body).map_err(|e| ClientError::BadResponse(e.to_string()))
}

/// Reads a stream of JSON messages (one per line, as load and import send them), calling
/// `each` for every one. An `error` message ends it as an error.
pub fn json_messages(body: impl Read, mut each: impl FnMut(&Value)) -> Result<()> {
    let reader = std::io::BufReader::new(body);
    let stream = serde_json::Deserializer::from_reader(reader).into_iter::<Value>();
    for v in stream {
        let v = v.map_err(|e| ClientError::BadResponse(e.to_string()))?;
        if let Some(msg) = v["errorDetail"]["message"]
            .as_str()
            .or_else(|| v["error"].as_str())
        {
            return Err(ClientError::Api {
                status: 500,
                message: msg.to_string(),
            });
        }
        each(&v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_versions() {
        assert_eq!(
            target("/v1.47", "/containers/json", Query::new().flag("all", true)),
            "/v1.47/containers/json?all=1"
        );
        assert_eq!(
            target("/v1.41", "/x", Query::new().add("name", "a b&c")),
            "/v1.41/x?name=a+b%26c"
        );
        assert!(older("1.41", "1.47"));
        assert!(!older("1.50", "1.47"));
        assert!(!older("junk", "1.47"));
    }

    #[test]
    fn json_message_streams() {
        let mut seen = Vec::new();
        json_messages(&b"{\"stream\":\"a\"}\n{\"stream\":\"b\"}\n"[..], |v| {
            seen.push(v["stream"].as_str().unwrap().to_string())
        })
        .unwrap();
        assert_eq!(seen, ["a", "b"]);
        let err = json_messages(
            &b"{\"errorDetail\":{\"message\":\"bad\"},\"error\":\"bad\"}"[..],
            |_| {},
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "Error response from daemon: bad");
    }
}
