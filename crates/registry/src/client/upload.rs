//! A blob's upload from the image store: a session (`POST`), then either one `PUT` with
//! the whole blob or `PATCH`es of a chunk size and a final `PUT`; the bytes are read from
//! the stored blob as they are sent, and a reporter thread turns the bytes sent into
//! docker's "Pushing" progress at most ten times a second.

use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use berth_image::digest::Digest;
use berth_image::store::ImageStore;
use reqwest::blocking::Body;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};

use super::push::{PushError, PushRequest};
use super::{scope, short, Session};
use crate::progress::{Message, Sink};

/// How often progress is reported while bytes flow.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Uploads the stored blob `digest` of `size` bytes into `req`'s repository.
pub(super) fn upload(
    store: &ImageStore,
    s: &Session,
    req: &PushRequest,
    digest: &Digest,
    size: u64,
    progress: Sink<'_>,
) -> Result<(), PushError> {
    // A blob missing from the store fails here, before any session is opened.
    drop(store.open_blob(digest)?);
    let (tx, rx) = channel();
    let id = short(digest);
    std::thread::scope(|scope| {
        scope.spawn(|| report(rx, &id, size, progress));
        let done = send_blob(store, s, req, digest, size, &tx);
        drop(tx);
        done
    })
}

/// The requests of one upload; every body counts its bytes into `sent`.
fn send_blob(
    store: &ImageStore,
    s: &Session,
    req: &PushRequest,
    digest: &Digest,
    size: u64,
    sent_tx: &Sender<u64>,
) -> Result<(), PushError> {
    let path = &req.reference.path;
    let scopes = vec![scope(path, "pull,push")];
    let mut loc = start_upload(s, path, &scopes)?;
    let chunk = req.chunk_size.filter(|c| *c > 0);
    let mut sent = 0u64;
    while let Some(chunk) = chunk.filter(|_| sent < size) {
        let len = chunk.min(size - sent);
        let range = format!("{sent}-{}", sent + len - 1);
        let resp = s.send_ok("PATCH", &loc, &scopes, |c| {
            c.patch(&loc)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_RANGE, range.as_str())
                .header(CONTENT_LENGTH, len)
                .body(body(store, digest, sent, len, sent_tx.clone()))
        })?;
        loc = location(&resp, s, "upload chunk")?;
        sent += len;
    }
    let rest = size - sent;
    let url = with_param(&loc, "digest", &digest.to_string());
    s.send_ok("PUT", &url, &scopes, |c| {
        c.put(&url)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, rest)
            .body(body(store, digest, sent, rest, sent_tx.clone()))
    })?;
    Ok(())
}

/// Reports the bytes counted on `rx` as "Pushing" lines until every sender is gone.
fn report(rx: Receiver<u64>, id: &str, size: u64, progress: Sink<'_>) {
    let mut done = 0u64;
    let mut last = Instant::now();
    let mut shown = None;
    loop {
        match rx.recv_timeout(REPORT_EVERY) {
            Ok(n) => done = (done + n).min(size),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if shown != Some(done) && (last.elapsed() >= REPORT_EVERY || done == size) {
            progress(Message::transfer(id, "Pushing", done, size));
            (shown, last) = (Some(done), Instant::now());
        }
    }
    if shown != Some(size) && done == size && size > 0 {
        progress(Message::transfer(id, "Pushing", size, size));
    }
}

/// The bytes `[from, from+len)` of a stored blob as a request body that counts what is
/// read into `sent` (an empty body if the blob cannot be read: the registry then refuses
/// the digest).
fn body(store: &ImageStore, digest: &Digest, from: u64, len: u64, sent: Sender<u64>) -> Body {
    let file = store
        .open_blob(digest)
        .ok()
        .and_then(|mut f| f.seek(SeekFrom::Start(from)).ok().map(|_| f));
    match file {
        Some(file) => Body::sized(
            Counting {
                inner: file.take(len),
                sent,
            },
            len,
        ),
        None => {
            tracing::warn!("push: cannot read blob {digest}");
            Body::from(Vec::new())
        }
    }
}

/// A reader that tells how many bytes it gave.
struct Counting<R> {
    inner: R,
    sent: Sender<u64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent.send(n as u64).ok();
        Ok(n)
    }
}

/// Opens an upload session; returns its location.
fn start_upload(s: &Session, path: &str, scopes: &[String]) -> Result<String, PushError> {
    let url = s.url(&format!("/v2/{path}/blobs/uploads/"));
    let resp = s.send_ok("POST", &url, scopes, |c| {
        c.post(&url).header(CONTENT_LENGTH, 0)
    })?;
    location(&resp, s, "start upload")
}

fn location(
    resp: &reqwest::blocking::Response,
    s: &Session,
    what: &str,
) -> Result<String, PushError> {
    resp.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| s.url(l))
        .ok_or_else(|| PushError::Protocol {
            what: what.into(),
            header: "Location",
        })
}

/// `url` with `key=value` added to its query.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}
