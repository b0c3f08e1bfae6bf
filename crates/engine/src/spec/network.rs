//! The network mode (`none`, and for now the default, give a namespace of the container's
//! own with only `lo`; `host` shares the host's), the hostname, and the container's
//! /etc/hostname, /etc/hosts and /etc/resolv.conf: files in the container's directory,
//! bind-mounted over the image's, with the content docker writes.

use std::path::Path;

use serde_json::{json, Value};

use super::host::Host;
use super::SpecError;

/// The files a container gets in /etc, by name in its directory and in /etc.
pub const ETC_FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Where a container's network lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// A namespace of its own with only the loopback interface (`none`; also `default`
    /// and `bridge` until berth has bridges).
    Private,
    /// The host's namespace.
    Host,
}

/// Parses `HostConfig.NetworkMode`.
pub fn mode(name: &str) -> Result<NetworkMode, SpecError> {
    match name {
        "" | "default" | "bridge" | "none" => Ok(NetworkMode::Private),
        "host" => Ok(NetworkMode::Host),
        other => Err(SpecError::NetworkMode(other.into())),
    }
}

/// The hostname: the one asked for, else the host's for `host` networking, else the
/// first 12 characters of the id.
pub fn hostname(asked: Option<&str>, id: &str, mode: NetworkMode, host: &dyn Host) -> String {
    match asked.filter(|h| !h.is_empty()) {
        Some(h) => h.into(),
        None if mode == NetworkMode::Host => host.hostname(),
        None => id.chars().take(12).collect(),
    }
}

/// The sysctls docker sets in a namespace of the container's own: any port may be bound
/// and any group may ping without privileges.
pub fn sysctls(mode: NetworkMode) -> Value {
    match mode {
        NetworkMode::Host => json!({}),
        NetworkMode::Private => json!({
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647"
        }),
    }
}

/// Writes `hostname`, `hosts` and `resolv.conf` into `dir` (the container's directory).
pub fn write_files(
    dir: &Path,
    hostname: &str,
    mode: NetworkMode,
    host: &dyn Host,
) -> Result<(), SpecError> {
    let contents = [
        format!("{hostname}\n"),
        hosts(mode, host),
        resolv_conf(mode, host),
    ];
    for (name, text) in ETC_FILES.iter().zip(contents) {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| SpecError::Write { path, source })?;
    }
    Ok(())
}

/// The bind mounts of those files over /etc (read-only with a read-only root).
pub fn mounts(dir: &Path, readonly: bool) -> Vec<Value> {
    let options: &[&str] = if readonly {
        &["rbind", "ro", "rprivate"]
    } else {
        &["rbind", "rprivate"]
    };
    ETC_FILES
        .iter()
        .map(|name| {
            json!({
                "destination": format!("/etc/{name}"),
                "type": "bind",
                "source": dir.join(name),
                "options": options
            })
        })
        .collect()
}

/// /etc/hosts: the host's with `host` networking, else loopback names only (a `none`
/// container has no address to give its own name).
fn hosts(mode: NetworkMode, host: &dyn Host) -> String {
    match mode {
        NetworkMode::Host => host.hosts(),
        NetworkMode::Private => "127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             ff00::0\tip6-mcastprefix\n\
             ff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n"
            .into(),
    }
}

/// resolv.conf: the host's with `host` networking; else the host's without loopback
/// name servers (unreachable from another namespace), and Google's public servers if
/// none is left, as docker does.
fn resolv_conf(mode: NetworkMode, host: &dyn Host) -> String {
    let text = host.resolv_conf();
    if mode == NetworkMode::Host {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut servers = 0;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let addr = words.next().unwrap_or_default();
            if is_loopback(addr) {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

fn is_loopback(addr: &str) -> bool {
    addr.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}
