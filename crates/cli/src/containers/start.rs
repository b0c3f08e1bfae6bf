//! `berth start`: start containers; with `-a` (and `-i`) one container in the
//! foreground, its exit status ours.

use super::session::{self, Failed, Session};
use super::{each, path_part, start_error_code};
use crate::client::{Client, Query};
use crate::stream::Streams;

/// `start` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Containers to start
    #[arg(required = true)]
    containers: Vec<String>,
}

/// `start`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    if !(a.attach || a.interactive) {
        return Ok(each(c, &a.containers, "start", Query::new));
    }
    let [name] = a.containers.as_slice() else {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    };
    let info = c.get_json(
        &format!("/containers/{}/json", path_part(name)),
        Query::new(),
    )?;
    let id = info["Id"].as_str().unwrap_or(name.as_str());
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let s = Session {
        id,
        streams: Streams {
            stdin: a.interactive && info["Config"]["OpenStdin"].as_bool().unwrap_or(false),
            tty,
            detach_keys: session::keys(a.detach_keys.as_deref())?,
        },
        detach_keys: a.detach_keys.as_deref(),
        auto_remove: info["HostConfig"]["AutoRemove"].as_bool().unwrap_or(false),
        sig_proxy: true,
    };
    match s.run(c) {
        Ok(code) => Ok(code),
        Err(Failed::Start(e)) => {
            eprintln!("{e}");
            Ok(start_error_code(&e))
        }
        Err(e) => Err(e.into()),
    }
}
