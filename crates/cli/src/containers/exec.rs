//! `berth exec`: a new process in a running container: create the exec, start it
//! attached on a hijacked connection (or detached with `-d`), then its exit code is ours.

use std::time::Duration;

use serde_json::json;

use super::path_part;
use super::session;
use crate::client::{Client, Query};
use crate::stream::{self, Outcome, Streams, Target, Watch};
use crate::tty;

/// `exec` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    detach_keys: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// The container
    container: String,
    /// The command and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

/// The exec-create body.
fn body(a: &Args) -> anyhow::Result<serde_json::Value> {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(super::opts::env_file(f)?);
    }
    env.extend(a.env.iter().filter_map(|e| super::opts::env_entry(e)));
    let attach = !a.detach;
    let mut b = json!({
        "AttachStdin": attach && a.interactive,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "Tty": a.tty,
        "Env": env,
        "Cmd": a.cmd,
        "Privileged": a.privileged,
    });
    if let Some(u) = &a.user {
        b["User"] = json!(u);
    }
    if let Some(w) = &a.workdir {
        b["WorkingDir"] = json!(w);
    }
    if let Some(k) = &a.detach_keys {
        b["DetachKeys"] = json!(k);
    }
    if a.tty {
        if let Some((rows, cols)) = tty::window_size() {
            b["ConsoleSize"] = json!([rows, cols]);
        }
    }
    Ok(b)
}

/// `exec`.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    let keys = session::keys(a.detach_keys.as_deref())?;
    let name = path_part(&a.container);
    let created = c.post_json(
        &format!("/containers/{name}/exec"),
        Query::new(),
        Some(&body(a)?),
    )?;
    let exec_id = created["Id"].as_str().unwrap_or_default().to_string();
    let start = json!({"Detach": a.detach, "Tty": a.tty});
    let path = format!("/exec/{exec_id}/start");
    if a.detach {
        c.post_json(&path, Query::new(), Some(&start))?;
        return Ok(0);
    }
    let streams = Streams {
        stdin: a.interactive,
        tty: a.tty,
        detach_keys: keys,
    };
    let conn = c.hijack(&path, Query::new(), Some(&start))?;
    let raw = tty::RawMode::enable(a.tty && a.interactive)?;
    let target = Target::Exec(exec_id.clone());
    if a.tty {
        target.resize(c);
    }
    let w = Watch {
        tty: a.tty,
        proxy: false,
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
    exit_code(c, &exec_id)
}

/// The exec's exit code, once the daemon has recorded it (its output ends a moment
/// before).
fn exit_code(c: &Client, exec_id: &str) -> anyhow::Result<u8> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let v = c.get_json(&format!("/exec/{exec_id}/json"), Query::new())?;
        if !v["Running"].as_bool().unwrap_or(false) {
            return Ok(v["ExitCode"].as_i64().unwrap_or(0) as u8);
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("exec {exec_id}: its output ended but it still runs");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
