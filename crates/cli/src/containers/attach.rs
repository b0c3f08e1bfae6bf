//! `berth attach`: this terminal's streams onto a running container's, until it exits
//! (its status is ours) or the detach keys are typed.

use anyhow::Context;

use super::path_part;
use super::session::{self, attach_query};
use crate::client::{Client, Query};
use crate::stream::{self, Outcome, Streams, Target, Watch};
use crate::tty;

/// `attach` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// The container
    container: String,
}

/// `attach`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let name = path_part(&a.container);
    let info = c.get_json(&format!("/containers/{name}/json"), Query::new())?;
    if !info["State"]["Running"].as_bool().unwrap_or(false) {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    if info["State"]["Paused"].as_bool().unwrap_or(false) {
        anyhow::bail!("You cannot attach to a paused container, unpause it first");
    }
    let id = info["Id"].as_str().unwrap_or(&a.container).to_string();
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let streams = Streams {
        stdin: !a.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false),
        tty,
        detach_keys: session::keys(a.detach_keys.as_deref())?,
    };
    let q = attach_query(&streams, a.detach_keys.as_deref());
    let conn = c.hijack(&format!("/containers/{id}/attach"), q, None)?;
    let raw = tty::RawMode::enable(tty && streams.stdin)?;
    let target = Target::Container(id.clone());
    if tty {
        target.resize(c);
    }
    let w = Watch {
        tty,
        proxy: a.sig_proxy && !tty,
        restore: raw.saved(),
    };
    stream::watch_signals(c, target, w)?;
    let outcome = stream::pump(conn, &streams);
    drop(raw);
    if outcome? == Outcome::Detached {
        // As docker's attach and exec: the detach is reported, with status 1.
        eprintln!("read escape sequence");
        return Ok(1);
    }
    let waited = c.post_json(
        &format!("/containers/{id}/wait"),
        Query::new().add("condition", "not-running"),
        None,
    );
    match waited {
        Ok(v) => super::wait_status(&v),
        // Removed on exit (AutoRemove): its status is gone with it.
        Err(e) if e.status() == Some(404) => Ok(0),
        Err(e) => Err(e).context("wait for the container"),
    }
}
