//! `login` and `logout`: credentials checked by the daemon (`POST /auth`), then kept in
//! the docker CLI's `config.json` (or its credential helper).

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use berth_registry::auth::{Credentials, DockerConfig, DOCKER_HUB_KEY};
use serde_json::json;

use crate::client::{Client, Query};

/// Flags of `login`.
#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    username: Option<String>,
    /// Password
    #[arg(short, long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// The registry (Docker Hub by default)
    server: Option<String>,
}

/// Flags of `logout`.
#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// The registry (Docker Hub by default)
    server: Option<String>,
}

/// The config key for a server as given on the command line.
fn server_key(server: Option<&str>) -> String {
    match server {
        None => DOCKER_HUB_KEY.into(),
        Some(s) => {
            let bare = s
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            super::config_key(bare.trim_end_matches('/'))
        }
    }
}

/// `login`.
pub fn login(c: &Client, a: &LoginArgs) -> anyhow::Result<u8> {
    let key = server_key(a.server.as_deref());
    let mut config = DockerConfig::load(&DockerConfig::default_path())?;
    let stored = config.credentials(&key)?.unwrap_or_default();
    let username = match &a.username {
        Some(u) => u.clone(),
        None if !stored.username.is_empty() && a.password.is_none() && !a.password_stdin => {
            stored.username.clone()
        }
        None => prompt("Username: ")?,
    };
    let password = match (&a.password, a.password_stdin) {
        (Some(_), true) => anyhow::bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p.clone(),
        (None, true) => read_stdin_password()?,
        (None, false) if a.username.is_none() && !stored.password.is_empty() => {
            stored.password.clone()
        }
        (None, false) => prompt_password()?,
    };
    let body = json!({"username": username, "password": password, "serveraddress": key});
    c.post_json("/auth", Query::new(), Some(&body))?;
    let creds = Credentials {
        username,
        password,
        serveraddress: key.clone(),
        identitytoken: String::new(),
    };
    config.store(&key, &creds)?;
    println!("Login Succeeded");
    Ok(0)
}

/// `logout`.
pub fn logout(a: &LogoutArgs) -> anyhow::Result<u8> {
    let key = server_key(a.server.as_deref());
    let mut config = DockerConfig::load(&DockerConfig::default_path())?;
    if config.erase(&key)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}

fn interactive() -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("Cannot perform an interactive login from a non TTY device");
    }
    Ok(())
}

fn prompt(text: &str) -> anyhow::Result<String> {
    interactive()?;
    print!("{text}");
    std::io::stdout().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("read username")?;
    Ok(line.trim().to_string())
}

fn prompt_password() -> anyhow::Result<String> {
    interactive()?;
    print!("Password: ");
    std::io::stdout().flush().ok();
    let stdin = std::io::stdin();
    let saved = nix::sys::termios::tcgetattr(&stdin).context("read the terminal's mode")?;
    let mut quiet = saved.clone();
    quiet
        .local_flags
        .remove(nix::sys::termios::LocalFlags::ECHO);
    nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet)
        .context("turn echo off")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &saved).ok();
    println!();
    read.context("read password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_stdin_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("read password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        anyhow::bail!("Password Required");
    }
    Ok(password)
}
