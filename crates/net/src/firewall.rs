//! What networking asks of the firewall, whichever does it: nftables (one table per
//! daemon, ports as map elements, see [`crate::nft`]) where the host has `nft`, else
//! iptables (chains per daemon jumped to from the built-in ones, see
//! [`crate::iptables`]).

use crate::state::{Port, State};

/// A change to a daemon's firewall rules.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// Everything `state` needs, replacing what there was.
    Replace(&'a State),
    /// `ports` are published (`state` has them already).
    Publish {
        /// The state with the ports.
        state: &'a State,
        /// The new ports.
        ports: &'a [Port],
    },
    /// `ports` are no longer published (`state` has them no more).
    Unpublish {
        /// The state without the ports.
        state: &'a State,
        /// The ports gone.
        ports: &'a [Port],
    },
    /// Nothing of the daemon's is left.
    Delete,
}

/// Which tool programs the firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `nft -f -`.
    Nft,
    /// `iptables-restore` and `iptables`.
    Iptables,
}

impl Backend {
    /// nftables when an `nft` binary is on the PATH, else iptables.
    pub fn detect() -> Backend {
        if on_path("nft") {
            Backend::Nft
        } else {
            Backend::Iptables
        }
    }

    /// Whether neither tool is installed (bridge networks cannot work).
    pub fn none_installed() -> bool {
        !on_path("nft") && !on_path("iptables-restore")
    }
}

/// Whether `tool` is a file in one of the PATH's directories.
fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).any(|d| d.join(tool).is_file())
}

/// The nft batch for `change` on table `table`.
pub fn nft_batch(table: &str, change: &Change) -> String {
    match change {
        Change::Replace(state) => crate::nft::ruleset(table, state),
        Change::Publish { ports, .. } => crate::nft::port_elements(table, ports, true),
        Change::Unpublish { ports, .. } => crate::nft::port_elements(table, ports, false),
        Change::Delete => crate::nft::delete(table),
    }
}
