//! Networking's errors, in docker's words where docker has them; the daemon maps them
//! to docker's status codes.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::host::HostError;
use crate::ipam::IpamError;
use crate::ports::PortError;

/// Networking errors, in docker's words where docker has them.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// No such network.
    #[error("network {0} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("network with name {0} already exists")]
    Exists(String),
    /// Containers are attached.
    #[error("error while removing network: network {name} id {id} has active endpoints")]
    InUse {
        /// The network's name.
        name: String,
        /// Its id.
        id: String,
    },
    /// The default network cannot be removed.
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    /// A driver berth does not have.
    #[error("plugin \"{0}\" not found")]
    Driver(String),
    /// `--ip` on the default network.
    #[error("user specified IP address is supported on user defined networks only")]
    IpOnDefault,
    /// An address problem.
    #[error(transparent)]
    Ipam(#[from] IpamError),
    /// A port spec problem.
    #[error(transparent)]
    Port(#[from] PortError),
    /// Another container publishes the port.
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    PortAllocated {
        /// The host address.
        ip: Ipv4Addr,
        /// The host port.
        port: u16,
    },
    /// A host process holds the port.
    #[error("driver failed programming external connectivity on endpoint {endpoint}: listen {proto} {ip}:{port}: bind: address already in use")]
    PortBusy {
        /// The container's name.
        endpoint: String,
        /// tcp or udp.
        proto: &'static str,
        /// The host address.
        ip: Ipv4Addr,
        /// The host port.
        port: u16,
    },
    /// No free host port in the range asked for.
    #[error("no free host port for {0}")]
    NoFreePort(String),
    /// A bad subnet or address given.
    #[error("invalid {what} {value:?}")]
    Invalid {
        /// Which setting.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// The container is on the network already.
    #[error("endpoint with name {container} already exists in network {network}")]
    Connected {
        /// The container's name.
        container: String,
        /// The network's name.
        network: String,
    },
    /// The container is not on the network.
    #[error("container {container} is not connected to network {network}")]
    NotConnected {
        /// The container's name.
        container: String,
        /// The network's name.
        network: String,
    },
    /// A host operation failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The embedded DNS server could not start.
    #[error("{0}")]
    Dns(String),
    /// The state file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state file does not parse.
    #[error("network state {path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
}
