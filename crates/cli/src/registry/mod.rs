//! Registry commands: pull, push, login, logout, search. Credentials come from the docker CLI's
//! `config.json` (`auths` or a credential helper) and travel to the daemon in the
//! `X-Registry-Auth` header; progress is drawn as docker draws it ([`progress`]).

pub mod login;
pub mod progress;
pub mod pull;
pub mod push;
pub mod search;

use berth_registry::auth::{Credentials, DockerConfig, DOCKER_HUB_KEY};
use clap::Subcommand;

use crate::client::Client;

/// The registry commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Download an image from a registry
    Pull(pull::Args),
    /// Upload an image to a registry
    Push(push::Args),
    /// Authenticate to a registry
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    /// Search a registry for images
    Search(search::Args),
}

/// Runs a registry command; returns the exit code.
pub fn run(c: &Client, cmd: &Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Pull(a) => pull::run(c, a),
        Command::Push(a) => push::run(c, a),
        Command::Login(a) => login::login(c, a),
        Command::Logout(a) => login::logout(a),
        Command::Search(a) => search::run(c, a),
    }
}

/// The registry an image name lives in: its first component if that looks like a host
/// (has a `.` or `:`, or is `localhost`), else Docker Hub.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.into(),
        _ => "docker.io".into(),
    }
}

/// The key a registry's credentials have in `config.json`.
pub fn config_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.into(),
        r => r.into(),
    }
}

/// The `X-Registry-Auth` value for `image`'s registry (`e30=`, i.e. `{}`, without
/// stored credentials).
pub fn auth_header(image: &str) -> anyhow::Result<String> {
    let key = config_key(&registry_of(image));
    let config = DockerConfig::load(&DockerConfig::default_path())?;
    let creds = config.credentials(&key)?.unwrap_or(Credentials {
        serveraddress: key,
        ..Default::default()
    });
    Ok(creds.to_header())
}

/// `image` with `:latest` added if it has neither tag nor digest.
pub fn tagged(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}
