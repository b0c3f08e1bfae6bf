//! Container networking for berth: bridge networks and their IPAM, a network namespace
//! per container joined to its networks by veth pairs (configured through netlink),
//! masquerade, isolation and published ports in one nftables table per daemon (iptables
//! chains where a host has no nftables), an embedded DNS server for user networks, all
//! rebuilt from a persisted state when the daemon starts.
//!
//! [`Networks`] is the entry point (one per daemon and data root); [`host::Host`] is the
//! seam to the OS ([`host::SystemHost`] does the real work), so the planning is tested
//! with a fake.

pub mod claim;
pub mod containers;
pub mod dns;
pub mod error;
pub mod firewall;
pub mod host;
pub mod ipam;
pub mod iptables;
pub mod manager;
pub mod netlink;
pub mod netns_pool;
pub mod nft;
pub mod ports;
pub mod settings;
pub mod state;

pub use containers::{Attached, Endpoints, Join, Plumbing};
pub use error::NetError;
pub use ipnet;
pub use manager::{Config, CreateRequest, Networks};
pub use state::{Endpoint, Network, Port, Proto, State};
