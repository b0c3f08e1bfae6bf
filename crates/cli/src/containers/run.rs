//! `berth run`: create, attach (unless `-d`), ask to be told of the exit, start, send the
//! window size, pump the streams, and exit with the container's status. `-d` prints the
//! full ID; `--rm` is the daemon's AutoRemove.

use super::create::{self, Flags, Use};
use super::session::{self, Failed, Session};
use super::start_error_code;
use crate::client::{Client, ClientError, Query};
use crate::stream::Streams;

/// `run` arguments.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    rm: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    sig_proxy: bool,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    flags: Flags,
}

/// Prints a failure as docker's run does and gives its status.
fn fail(e: &anyhow::Error, code: u8) -> u8 {
    eprintln!(
        "berth: {}\n\nRun 'berth run --help' for more information",
        crate::message(e)
    );
    code
}

/// `run`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let keys = match session::keys(a.detach_keys.as_deref()) {
        Ok(k) => k,
        Err(e) => return Ok(fail(&e.into(), 125)),
    };
    let u = Use {
        attach: !a.detach,
        auto_remove: a.rm,
    };
    let id = match create::create(c, &a.flags, u) {
        Ok(id) => id,
        Err(e) => return Ok(fail(&e, 125)),
    };
    if a.detach {
        if let Err(e) = c.post(&format!("/containers/{id}/start"), Query::new()) {
            let code = start_failed(c, &id, a.rm, &e);
            return Ok(fail(&e.into(), code));
        }
        println!("{id}");
        return Ok(0);
    }
    let s = Session {
        id: &id,
        streams: Streams {
            stdin: a.flags.interactive,
            tty: a.flags.tty,
            detach_keys: keys,
        },
        detach_keys: a.detach_keys.as_deref(),
        auto_remove: a.rm,
        sig_proxy: a.sig_proxy,
    };
    match s.run(c) {
        Ok(code) => Ok(code),
        Err(Failed::Start(e)) => {
            let code = start_failed(c, &id, a.rm, &e);
            Ok(fail(&e.into(), code))
        }
        Err(Failed::Setup(e)) => Ok(fail(&e.into(), 125)),
        Err(Failed::Stream(e)) => Ok(fail(&e, 125)),
    }
}

/// Removes a container whose start failed under `--rm`, and gives docker's status.
fn start_failed(c: &Client, id: &str, rm: bool, e: &ClientError) -> u8 {
    if rm {
        // The daemon may have removed it already.
        c.delete(
            &format!("/containers/{id}"),
            Query::new().flag("force", true),
        )
        .ok();
    }
    start_error_code(e)
}
