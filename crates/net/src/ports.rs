//! Port specs: docker's `-p [ip:][host[-end]:]container[-end][/proto]` parsed into its
//! `PortBindings` shape (`"80/tcp" -> [{HostIp, HostPort}]`), and bindings resolved into
//! the ports a starting container publishes (free host ports picked for empty ones).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::state::Proto;

/// One host side of a published port, as docker's API writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The host address (empty: every one).
    #[serde(rename = "HostIp", default)]
    pub host_ip: String,
    /// The host port (empty: any free one).
    #[serde(rename = "HostPort", default)]
    pub host_port: String,
}

/// `PortBindings`: container port (`80/tcp`) to host bindings.
pub type Bindings = BTreeMap<String, Vec<Binding>>;

/// A port spec that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// docker's words for a malformed spec.
    #[error("invalid port format for --expose: {0}")]
    Expose(String),
    /// A malformed `-p`.
    #[error("Invalid containerPort: {0}")]
    ContainerPort(String),
    /// A malformed host port.
    #[error("Invalid hostPort: {0}")]
    HostPort(String),
    /// A bad protocol.
    #[error("invalid proto: {0}")]
    Proto(String),
    /// A bad host address.
    #[error("invalid IP address: {0}")]
    HostIp(String),
    /// Ranges of different lengths.
    #[error("invalid ranges specified for container and host Ports: {container} and {host}")]
    Ranges {
        /// The container range.
        container: String,
        /// The host range.
        host: String,
    },
}

/// Parses a protocol name.
pub fn proto(s: &str) -> Result<Proto, PortError> {
    match s.to_ascii_lowercase().as_str() {
        "" | "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        other => Err(PortError::Proto(other.into())),
    }
}

/// Parses `80` or `80-90` into a first and last port.
fn range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b && a > 0).then_some((a, b))
        }
        None => s.parse().ok().filter(|p| *p > 0).map(|p| (p, p)),
    }
}

/// Splits `[ip:][host:]container` (the ip may be `[v6]`).
fn split_spec(rest: &str) -> (String, String, String) {
    if let Some(stripped) = rest.strip_prefix('[') {
        if let Some((ip, after)) = stripped.split_once("]:") {
            let (h, c) = after.split_once(':').unwrap_or(("", after));
            return (ip.into(), h.into(), c.into());
        }
    }
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [c] => (String::new(), String::new(), (*c).into()),
        [h, c] => (String::new(), (*h).into(), (*c).into()),
        [ip, h, c] => ((*ip).into(), (*h).into(), (*c).into()),
        _ => (String::new(), String::new(), rest.into()),
    }
}

/// Adds the bindings of one `-p` spec to `out`.
pub fn parse_publish(spec: &str, out: &mut Bindings) -> Result<(), PortError> {
    let (rest, p) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let p = proto(p)?;
    let (ip, host, container) = split_spec(rest);
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(PortError::HostIp(ip));
    }
    let (c0, c1) = range(&container).ok_or_else(|| PortError::ContainerPort(container.clone()))?;
    let hosts = match host.as_str() {
        "" => None,
        h => Some(range(h).ok_or_else(|| PortError::HostPort(h.into()))?),
    };
    let n = c1 - c0;
    if let Some((h0, h1)) = hosts {
        if h1 - h0 != n && c0 != c1 {
            return Err(PortError::Ranges {
                container,
                host: host.clone(),
            });
        }
    }
    for i in 0..=n {
        let host_port = match hosts {
            None => String::new(),
            Some((h0, h1)) if c0 == c1 && h0 != h1 => format!("{h0}-{h1}"),
            Some((h0, _)) => (h0 + i).to_string(),
        };
        out.entry(format!("{}/{}", c0 + i, p.as_str()))
            .or_default()
            .push(Binding {
                host_ip: ip.clone(),
                host_port,
            });
    }
    Ok(())
}

/// Parses an exposed port (`80`, `80/udp`, `8000-8010/tcp`) into `port/proto` keys.
pub fn parse_expose(spec: &str) -> Result<Vec<String>, PortError> {
    let (port, p) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let p = proto(p)?;
    let (a, b) = range(port).ok_or_else(|| PortError::Expose(spec.into()))?;
    Ok((a..=b).map(|n| format!("{n}/{}", p.as_str())).collect())
}

/// A container port key (`80/tcp`) split.
pub fn parse_key(key: &str) -> Option<(u16, Proto)> {
    let (port, p) = key.split_once('/').unwrap_or((key, "tcp"));
    Some((port.parse().ok()?, proto(p).ok()?))
}

/// One port to publish before the host port is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// TCP or UDP.
    pub proto: Proto,
    /// The host address (0.0.0.0: every one).
    pub host_ip: Ipv4Addr,
    /// Host ports allowed (first, last); (0, 0) for any.
    pub host_ports: (u16, u16),
    /// The container's port.
    pub container_port: u16,
}

/// The ports a container publishes: its bindings, and with `publish_all` every exposed
/// port not bound otherwise (on any free host port). IPv6 host addresses are skipped.
pub fn wanted(
    bindings: &Bindings,
    exposed: &[String],
    publish_all: bool,
) -> Result<Vec<Wanted>, PortError> {
    let mut out = Vec::new();
    for (key, list) in bindings {
        let (port, proto) = parse_key(key).ok_or_else(|| PortError::ContainerPort(key.clone()))?;
        for b in list {
            let host_ip = match b.host_ip.as_str() {
                "" => Ipv4Addr::UNSPECIFIED,
                s => match s.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V4(ip)) => ip,
                    Ok(std::net::IpAddr::V6(_)) => continue,
                    Err(_) => return Err(PortError::HostIp(s.into())),
                },
            };
            let host_ports = match b.host_port.as_str() {
                "" | "0" => (0, 0),
                s => range(s).ok_or_else(|| PortError::HostPort(s.into()))?,
            };
            out.push(Wanted {
                proto,
                host_ip,
                host_ports,
                container_port: port,
            });
        }
    }
    if publish_all {
        for key in exposed.iter().filter(|k| !bindings.contains_key(*k)) {
            if let Some((port, proto)) = parse_key(key) {
                out.push(Wanted {
                    proto,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_ports: (0, 0),
                    container_port: port,
                });
            }
        }
    }
    Ok(out)
}
