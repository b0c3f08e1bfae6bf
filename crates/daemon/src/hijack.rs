//! Attached streams, as docker's attach and exec start serve them. With `Upgrade: tcp`
//! the response is `101 UPGRADED` and the connection becomes raw: the container's output
//! one way (Docker's 8-byte frames without a terminal, raw bytes with one), the client's
//! input the other; a client that closes its write half closes the container's stdin
//! (when asked to). Without the header the answer is `200` and the output streams in the
//! body (no input), as dockerd does.
//!
//! The shim already speaks frames (stdout/stderr from it, stdin to it), so output
//! without a terminal passes through unchanged; with a terminal the headers are
//! stripped. Detach keys are looked for in a terminal's input only, as docker does.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_shim::proto::frame::{self, Decoder, Piece};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::detach::Scanner;

/// One read from either side.
const BUF: usize = 32 * 1024;

/// The content type of an attached stream.
pub fn media_type(tty: bool) -> &'static str {
    if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// Whether the request asks for the connection to be taken over (`Upgrade` header).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

/// An attached shim connection and how to serve it.
pub struct Session {
    /// The shim connection, after its attach reply.
    pub shim: UnixStream,
    /// Frame bytes already read from it.
    pub buffered: Vec<u8>,
    /// The container has a terminal: output without frame headers.
    pub tty: bool,
    /// Pass the client's input to the container's stdin.
    pub stdin: bool,
    /// Detach keys to look for in the input (terminal only).
    pub detach: Option<Vec<u8>>,
    /// The client's end of input closes the container's stdin.
    pub close_stdin: bool,
}

/// What the client sent before its stream was connected to a shim.
#[derive(Debug, Default)]
pub struct Early {
    /// Input bytes.
    pub input: Vec<u8>,
    /// It closed its input.
    pub eof: bool,
}

/// How long after its `101` a client is sent no stream bytes. docker-py reads the
/// upgrade response through a buffered reader and then reads the raw socket, so bytes that
/// arrive together with the response headers are lost to it; dockerd is slow enough to
/// start a process that this never shows, berthd is not. Other clients (the docker CLI,
/// berth) keep what they buffered and get no delay.
pub fn settle_time(headers: &HeaderMap) -> Option<Duration> {
    let agent = headers.get(header::USER_AGENT)?.to_str().ok()?;
    agent
        .starts_with("docker-sdk-python")
        .then_some(Duration::from_millis(20))
}

/// Answers an attach: `101` and `serve` on the raw connection when the client asked for
/// an upgrade (after `settle`, see [`settle_time`]), else `200` with `serve` writing into
/// the body.
pub fn respond<F, Fut>(
    upgrade: Option<OnUpgrade>,
    settle: Option<Duration>,
    tty: bool,
    serve: F,
) -> Response
where
    F: FnOnce(Box<dyn Client>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let content_type = HeaderValue::from_static(media_type(tty));
    match upgrade {
        Some(on) => {
            tokio::spawn(async move {
                match on.await {
                    Ok(up) => {
                        if let Some(d) = settle {
                            tokio::time::sleep(d).await;
                        }
                        serve(Box::new(TokioIo::new(up))).await
                    }
                    Err(e) => tracing::debug!("attach upgrade: {e}"),
                }
            });
            let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, content_type);
            h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
            r
        }
        None => {
            let (ours, theirs) = tokio::io::duplex(BUF);
            tokio::spawn(serve(Box::new(NoInput(ours))));
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(theirs));
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, content_type);
            r
        }
    }
}

/// A client connection.
pub trait Client: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Client for T {}

/// The body side of a non-upgraded attach: it never has input.
struct NoInput(tokio::io::DuplexStream);

impl AsyncRead for NoInput {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}

impl AsyncWrite for NoInput {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Reads the client until `ready` resolves, keeping its input (up to 1 MiB) for later.
pub async fn hold<C, T>(client: &mut C, ready: impl Future<Output = T>) -> (T, Early)
where
    C: AsyncRead + Unpin + ?Sized,
{
    const MAX_EARLY: usize = 1 << 20;
    let mut early = Early::default();
    let mut buf = vec![0u8; BUF];
    tokio::pin!(ready);
    loop {
        let reading = !early.eof && early.input.len() < MAX_EARLY;
        tokio::select! {
            v = &mut ready => return (v, early),
            n = client.read(&mut buf), if reading => match n {
                Ok(0) | Err(_) => early.eof = true,
                Ok(n) => early.input.extend_from_slice(&buf[..n]),
            },
        }
    }
}

/// Serves `s` to `client` until the output ends (the process exited and its output was
/// sent), the client detaches, or it goes away. `prefix` is written first (replayed
/// logs); `early` is input the client sent before.
pub async fn pump(mut client: Box<dyn Client>, prefix: Vec<u8>, early: Early, s: Session) {
    if !prefix.is_empty() && client.write_all(&prefix).await.is_err() {
        return;
    }
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = s.shim.into_split();
    let (tty, buffered) = (s.tty, s.buffered);
    let output = async move {
        let mut dec = Decoder::default();
        let mut out = Vec::with_capacity(BUF);
        let mut buf = vec![0u8; BUF];
        let mut chunk = buffered;
        loop {
            out.clear();
            if tty {
                dec.feed(&chunk, |p| {
                    if let Piece::Data(_, d) = p {
                        out.extend_from_slice(d);
                    }
                });
            } else {
                out.extend_from_slice(&chunk);
            }
            if !out.is_empty() && cw.write_all(&out).await.is_err() {
                return;
            }
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            chunk.clear();
            chunk.extend_from_slice(&buf[..n]);
        }
        cw.shutdown().await.ok();
    };
    let input = async move {
        if !s.stdin {
            return std::future::pending::<bool>().await;
        }
        let detach = s.detach.filter(|_| tty).map(Scanner::new);
        input(&mut cr, &mut sw, early, detach, s.close_stdin).await
    };
    tokio::pin!(output);
    tokio::select! {
        () = &mut output => {}
        detached = input => if !detached { output.await },
    }
}

/// Passes the client's input to the shim as stdin frames; true if the client detached.
async fn input<R, W>(
    client: &mut R,
    shim: &mut W,
    early: Early,
    mut detach: Option<Scanner>,
    close_stdin: bool,
) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF];
    let mut out = Vec::with_capacity(BUF + frame::HEADER);
    let mut data = early.input;
    let mut eof = early.eof;
    loop {
        if !data.is_empty() {
            out.clear();
            out.extend_from_slice(&[0; frame::HEADER]);
            let detached = match detach.as_mut() {
                Some(d) => d.feed(&data, &mut out),
                None => {
                    out.extend_from_slice(&data);
                    false
                }
            };
            let len = (out.len() - frame::HEADER) as u32;
            out[..frame::HEADER].copy_from_slice(&frame::header(frame::STDIN, len));
            if len > 0 && shim.write_all(&out).await.is_err() {
                return false;
            }
            if detached {
                return true;
            }
        }
        if eof {
            if close_stdin {
                shim.write_all(&frame::header(frame::STDIN, 0)).await.ok();
            }
            return false;
        }
        data.clear();
        match client.read(&mut buf).await {
            Ok(0) | Err(_) => eof = true,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}
