//! A container run in the foreground, as `run` and `start -a` do it: attach first, ask to
//! be told of the exit, start, send the window size, pump the streams, then read the exit
//! status. The terminal is raw only while the streams are pumped.

use super::path_part;
use crate::client::{Client, ClientError, Query};
use crate::stream::{self, Outcome, Streams, Target, Watch};
use crate::tty;

/// What to attach and how.
pub struct Session<'a> {
    /// The container.
    pub id: &'a str,
    /// The streams.
    pub streams: Streams,
    /// `--detach-keys` as given (passed to the daemon too).
    pub detach_keys: Option<&'a str>,
    /// Wait for removal instead of exit (the container has AutoRemove).
    pub auto_remove: bool,
    /// Forward signals to the container (without a terminal).
    pub sig_proxy: bool,
}

/// Why a foreground run failed.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    /// Attaching or the wait request failed: nothing ran.
    #[error(transparent)]
    Setup(ClientError),
    /// The container did not start.
    #[error(transparent)]
    Start(ClientError),
    /// Something failed while the container ran.
    #[error("{0:#}")]
    Stream(anyhow::Error),
}

/// The attach query for `streams`.
pub fn attach_query(streams: &Streams, detach_keys: Option<&str>) -> Query {
    Query::new()
        .add("stream", "1")
        .flag("stdin", streams.stdin)
        .add("stdout", "1")
        .add("stderr", "1")
        .opt("detachKeys", detach_keys)
}

impl Session<'_> {
    /// Runs the container attached; its exit status (0 when the user detached).
    pub fn run(&self, c: &Client) -> Result<u8, Failed> {
        let id = path_part(self.id);
        let q = attach_query(&self.streams, self.detach_keys);
        let conn = c
            .hijack(&format!("/containers/{id}/attach"), q, None)
            .map_err(Failed::Setup)?;
        let condition = if self.auto_remove {
            "removed"
        } else {
            "next-exit"
        };
        let waiter = c
            .begin(
                "POST",
                &format!("/containers/{id}/wait"),
                Query::new().add("condition", condition),
            )
            .map_err(Failed::Setup)?;
        let tty = self.streams.tty;
        let raw = tty::RawMode::enable(tty && self.streams.stdin)
            .map_err(|e| Failed::Stream(e.into()))?;
        c.post(&format!("/containers/{id}/start"), Query::new())
            .map_err(Failed::Start)?;
        let target = Target::Container(self.id.to_string());
        if tty {
            target.resize(c);
        }
        let w = Watch {
            tty,
            proxy: self.sig_proxy && !tty,
            restore: raw.saved(),
        };
        stream::watch_signals(c, target, w).map_err(Failed::Stream)?;
        let outcome = stream::pump(conn, &self.streams).map_err(Failed::Stream)?;
        drop(raw);
        match outcome {
            // docker's run and start end quietly on a detach.
            Outcome::Detached => Ok(0),
            Outcome::Ended => exit_status(waiter),
        }
    }
}

/// The status the wait request reports.
fn exit_status(waiter: crate::client::Pending) -> Result<u8, Failed> {
    let r = waiter.finish().map_err(|e| Failed::Stream(e.into()))?;
    let body = r.body.bytes().map_err(|e| Failed::Stream(e.into()))?;
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Failed::Stream(anyhow::anyhow!(
            "wait response {:?}: {e}",
            String::from_utf8_lossy(&body)
        ))
    })?;
    super::wait_status(&v).map_err(Failed::Stream)
}

/// Parses `--detach-keys` (docker's default when absent).
pub fn keys(spec: Option<&str>) -> Result<Vec<u8>, tty::TtyError> {
    tty::detach_keys(spec.unwrap_or(tty::DEFAULT_DETACH_KEYS))
}
