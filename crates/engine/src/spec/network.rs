//! The network mode (`none`, and the default when berth runs without networks, give a
//! namespace of the container's own with only `lo`; `host` shares the host's; a
//! container on networks joins the namespace made for it, see [`Joined`]), the hostname,
//! and the container's /etc/hostname, /etc/hosts and /etc/resolv.conf: files in the
//! container's directory, bind-mounted over the image's, with the content docker writes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::host::Host;
use super::SpecError;

/// The files a container gets in /etc, by name in its directory and in /etc.
pub const ETC_FILES: [&str; 3] = ["hostname", "hosts", "resolv.conf"];

/// Where a container's network lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// A namespace of its own with only the loopback interface (`none`).
    Private,
    /// The host's namespace.
    Host,
    /// A namespace made before the container (its networks'), or another container's.
    Joined,
}

/// The network namespace a starting container joins, and what its files say of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joined {
    /// The namespace file (or `/proc/<pid>/ns/net` of the container whose it is).
    pub netns: PathBuf,
    /// Its addresses, first network first (for its /etc/hosts line).
    pub addresses: Vec<Ipv4Addr>,
    /// Names resolve through the embedded DNS server (user networks).
    pub embedded_dns: bool,
    /// The directory of the container whose namespace this is (`container:` mode):
    /// its hostname, hosts and resolv.conf are this container's too, as in docker.
    pub files_from: Option<PathBuf>,
}

/// Writes the container's /etc files into `dir` (or, sharing another container's
/// namespace, takes that container's); returns the hostname and the directory whose
/// files are mounted.
pub fn etc_files(
    dir: &Path,
    opts: &super::Options,
    mode: NetworkMode,
    host: &dyn Host,
) -> Result<(String, PathBuf), SpecError> {
    if let Some(other) = opts.joined.as_ref().and_then(|j| j.files_from.as_ref()) {
        let path = other.join("hostname");
        let name =
            std::fs::read_to_string(&path).map_err(|source| SpecError::Write { path, source })?;
        return Ok((name.trim().to_string(), other.clone()));
    }
    let s = &opts.settings;
    let hostname = hostname(opts.hostname.as_deref(), &opts.id, mode, host);
    let files = FileSettings {
        joined: opts.joined.as_ref(),
        extra_hosts: &s.net.extra_hosts,
        dns: &s.net.dns,
        dns_search: &s.net.dns_search,
        dns_options: &s.net.dns_options,
    };
    write_files(dir, &hostname, mode, &files, host)?;
    Ok((hostname, dir.to_path_buf()))
}

/// Parses `HostConfig.NetworkMode` (a network's name joins it, `container:<name>` another
/// container's namespace); without a namespace to join every mode but `host` is a
/// namespace of the container's own.
pub fn mode(name: &str) -> Result<NetworkMode, SpecError> {
    match name {
        "host" => Ok(NetworkMode::Host),
        "container:" => Err(SpecError::NetworkMode(name.into())),
        n if n.contains(char::is_whitespace) => Err(SpecError::NetworkMode(n.into())),
        _ => Ok(NetworkMode::Private),
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
        NetworkMode::Private | NetworkMode::Joined => json!({
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647"
        }),
    }
}

/// What a container's /etc files say beyond its mode: its networks, `--add-host`,
/// `--dns`, `--dns-search`, `--dns-option`.
#[derive(Debug, Clone, Copy)]
pub struct FileSettings<'a> {
    /// The namespace joined, if any.
    pub joined: Option<&'a Joined>,
    /// `--add-host` entries (`name:ip`).
    pub extra_hosts: &'a [String],
    /// `--dns`.
    pub dns: &'a [String],
    /// `--dns-search`.
    pub dns_search: &'a [String],
    /// `--dns-option`.
    pub dns_options: &'a [String],
}

/// Writes `hostname`, `hosts` and `resolv.conf` into `dir` (the container's directory).
pub fn write_files(
    dir: &Path,
    hostname: &str,
    mode: NetworkMode,
    settings: &FileSettings,
    host: &dyn Host,
) -> Result<(), SpecError> {
    let contents = [
        format!("{hostname}\n"),
        hosts(mode, hostname, settings, host),
        resolv_conf(mode, settings, host),
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

/// /etc/hosts: the host's with `host` networking, else loopback names (and with an
/// address, the container's own name on it, last); `--add-host` entries before that.
fn hosts(mode: NetworkMode, hostname: &str, settings: &FileSettings, host: &dyn Host) -> String {
    let mut text = base_hosts(mode, host);
    for entry in settings.extra_hosts {
        if let Some((name, ip)) = entry.split_once(':').or_else(|| entry.split_once('=')) {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    if let Some(ip) = settings.joined.and_then(|j| j.addresses.first()) {
        text.push_str(&format!("{ip}\t{hostname}\n"));
    }
    text
}

fn base_hosts(mode: NetworkMode, host: &dyn Host) -> String {
    match mode {
        NetworkMode::Host => host.hosts(),
        NetworkMode::Private | NetworkMode::Joined => "127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             ff00::0\tip6-mcastprefix\n\
             ff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n"
            .into(),
    }
}

/// resolv.conf: the host's with `host` networking; on a network with the embedded DNS
/// server, that server (127.0.0.11) and `ndots:0`; else the host's without loopback name
/// servers (unreachable from another namespace), and Google's public servers if none is
/// left, as docker does. `--dns`, `--dns-search` and `--dns-option` replace the host's.
fn resolv_conf(mode: NetworkMode, settings: &FileSettings, host: &dyn Host) -> String {
    let text = host.resolv_conf();
    let custom = !settings.dns.is_empty()
        || !settings.dns_search.is_empty()
        || !settings.dns_options.is_empty();
    if mode == NetworkMode::Host && !custom {
        return text;
    }
    if settings.joined.is_some_and(|j| j.embedded_dns) {
        return embedded_resolv_conf(&text, settings);
    }
    if custom {
        return custom_resolv_conf(&text, settings);
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

/// The lines of `text` starting with `key`, the key removed.
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(key))
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map(str::trim)
        .collect()
}

/// resolv.conf with `--dns*` settings: each replaces the host's line of its kind.
fn custom_resolv_conf(text: &str, s: &FileSettings) -> String {
    let mut out = String::new();
    let host_servers: Vec<&str> = values(text, "nameserver")
        .into_iter()
        .filter(|a| !is_loopback(a))
        .collect();
    let servers: Vec<&str> = if s.dns.is_empty() {
        host_servers
    } else {
        s.dns.iter().map(String::as_str).collect()
    };
    for server in &servers {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if servers.is_empty() {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    search_and_options(&mut out, text, s, &[]);
    out
}

/// resolv.conf of a container whose names the embedded DNS server answers.
fn embedded_resolv_conf(text: &str, s: &FileSettings) -> String {
    let mut out = String::from("nameserver 127.0.0.11\n");
    search_and_options(&mut out, text, s, &["ndots:0"]);
    out
}

/// The `search` and `options` lines: the user's, else the host's (with `extra` options).
fn search_and_options(out: &mut String, text: &str, s: &FileSettings, extra: &[&str]) {
    let search: Vec<String> = if s.dns_search.is_empty() {
        values(text, "search")
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        s.dns_search
            .iter()
            .filter(|d| d.as_str() != ".")
            .cloned()
            .collect()
    };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    let mut options: Vec<String> = if s.dns_options.is_empty() {
        values(text, "options")
            .into_iter()
            .map(String::from)
            .collect()
    } else {
        s.dns_options.to_vec()
    };
    for e in extra {
        if !options
            .iter()
            .any(|o| o.split(':').next() == e.split(':').next())
        {
            options.push((*e).into());
        }
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
}
