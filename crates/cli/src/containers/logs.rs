//! `berth logs`: a container's log from the daemon, raw for a terminal's output, else
//! split back into stdout and stderr from Docker's frames.

use std::io::{Read, Write};
use std::time::SystemTime;

use anyhow::Context;
use berth_logs::frame::Decoder;

use super::{opts, path_part};
use crate::client::{Client, Payload, Query};

/// `logs` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long)]
    until: Option<String>,
    /// The container
    container: String,
}

/// `logs`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let name = path_part(&a.container);
    let info = c.get_json(&format!("/containers/{name}/json"), Query::new())?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let now = SystemTime::now();
    let since = a
        .since
        .as_deref()
        .map(|s| opts::timestamp(s, now))
        .transpose()?;
    let until = a
        .until
        .as_deref()
        .map(|s| opts::timestamp(s, now))
        .transpose()?;
    let q = Query::new()
        .add("stdout", "1")
        .add("stderr", "1")
        .flag("follow", a.follow)
        .flag("timestamps", a.timestamps)
        .flag("details", a.details)
        .add("tail", &a.tail)
        .opt("since", since.as_deref())
        .opt("until", until.as_deref());
    let r = c.call(
        "GET",
        &format!("/containers/{name}/logs"),
        q,
        Payload::Empty,
    )?;
    if tty {
        copy_raw(r.body)?;
    } else {
        copy_frames(r.body)?;
    }
    Ok(0)
}

fn copy_raw(mut body: impl Read) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = body.read(&mut buf).context("read the log")?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n]).context("write to stdout")?;
        out.flush().context("write to stdout")?;
    }
}

fn copy_frames(mut body: impl Read) -> anyhow::Result<()> {
    let mut decoder = Decoder::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = body.read(&mut buf).context("read the log")?;
        if n == 0 {
            return Ok(());
        }
        decoder.feed(&buf[..n]);
        while let Some(f) = decoder.next_frame()? {
            crate::stream::write_frame(f.stream, &f.payload)?;
        }
    }
}
