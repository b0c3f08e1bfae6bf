//! The daemon's networking settings (`--bridge`, `--bip`, daemon.json's `bridge`, `bip`
//! and `default-address-pools`) and the networks they give the engine.

use std::path::Path;

use std::sync::Arc;

use berth_net::dns::Dns;
use berth_net::host::SystemHost;
use berth_net::ipnet::Ipv4Net;
use berth_net::netns_pool::NetnsPool;
use berth_net::{Config, Networks};
use serde::Deserialize;

use crate::config::ConfigError;

/// One of daemon.json's `default-address-pools`: subnets of `size` bits cut from `base`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AddressPool {
    /// The range, `10.10.0.0/16`.
    pub base: String,
    /// The prefix length of each network's subnet.
    pub size: u8,
}

/// The networking settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetSettings {
    /// The default network's bridge.
    pub bridge: String,
    /// Its address and prefix, if set.
    pub bip: Option<Ipv4Net>,
    /// The pools (docker's defaults when empty).
    pub pools: Vec<Ipv4Net>,
    /// The MTU of bridges and veths (`mtu`; 1500 when unset).
    pub mtu: u32,
}

/// The bridge name used with the data root `root`: `berth0` for the default root,
/// else `bb` and 8 hex digits of a hash of the root (interface names have 15 bytes).
fn default_bridge(root: &Path) -> String {
    if root == Path::new("/var/lib/berth") {
        return "berth0".into();
    }
    // FNV-1a: stable across runs and builds.
    let mut h: u32 = 0x811c9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        h = (h ^ u32::from(*b)).wrapping_mul(0x01000193);
    }
    format!("bb{h:08x}")
}

fn bad(flag: &'static str, value: &str, reason: &'static str) -> ConfigError {
    ConfigError::Flag {
        flag,
        value: value.into(),
        reason,
    }
}

impl NetSettings {
    /// The settings from the flags and file values given.
    pub fn new(
        root: &Path,
        bridge: Option<String>,
        bip: Option<String>,
        pools: Vec<AddressPool>,
        mtu: Option<u32>,
    ) -> Result<NetSettings, ConfigError> {
        let mtu = mtu.unwrap_or(1500);
        if !(68..=65535).contains(&mtu) {
            return Err(bad("mtu", &mtu.to_string(), "not between 68 and 65535"));
        }
        let bridge = bridge.unwrap_or_else(|| default_bridge(root));
        if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ']) {
            return Err(bad("--bridge", &bridge, "not an interface name"));
        }
        let bip = match bip {
            None => None,
            Some(b) => Some(
                b.parse::<Ipv4Net>()
                    .map_err(|_| bad("--bip", &b, "not an IPv4 CIDR address"))?,
            ),
        };
        let mut out = Vec::new();
        for p in pools {
            let base = p
                .base
                .parse::<Ipv4Net>()
                .map_err(|_| bad("default-address-pools", &p.base, "not an IPv4 CIDR"))?;
            let subnets = base
                .subnets(p.size)
                .map_err(|_| bad("default-address-pools", &p.base, "size is not within base"))?;
            out.extend(subnets);
        }
        Ok(NetSettings {
            bridge,
            bip,
            pools: out,
            mtu,
        })
    }

    /// The engine's networks under `data_root` (without an embedded DNS server).
    pub fn networks(&self, data_root: &Path) -> Networks {
        self.networks_from(data_root, None)
    }

    fn networks_from(&self, data_root: &Path, netns_pool: Option<Arc<NetnsPool>>) -> Networks {
        let mut c = Config::new(data_root, &self.bridge);
        c.bip = self.bip;
        if !self.pools.is_empty() {
            c.pools = self.pools.clone();
        }
        Networks::new(
            c,
            Box::new(SystemHost {
                mtu: self.mtu,
                backend: None,
                netns_pool,
            }),
        )
    }

    /// The engine's networks, with `dns` serving user networks and containers' network
    /// namespaces taken from `netns_pool` when it has one ready.
    pub fn networks_with(
        &self,
        data_root: &Path,
        dns: &Arc<Dns>,
        netns_pool: Option<Arc<NetnsPool>>,
    ) -> Networks {
        self.networks_from(data_root, netns_pool)
            .with_dns(dns.clone())
    }

    /// The embedded DNS servers of a daemon on `data_root`.
    pub fn dns(&self, data_root: &Path) -> Arc<Dns> {
        let n = self.networks(data_root);
        Arc::new(Dns::new(&n.state_file()))
    }
}

/// Rebuilds networking from its state when the daemon starts: containers not recorded
/// as running lose their endpoints, bridges and the firewall table are made again.
pub fn restore(engine: &berth_engine::Engine) -> Result<(), berth_engine::EngineError> {
    let Some(networks) = engine.networks() else {
        return Ok(());
    };
    // The records as saved: a container that died while berthd was down is finished by
    // the live restore, which releases its network then.
    let running: std::collections::HashSet<String> = engine
        .containers()
        .list()?
        .into_iter()
        .filter(|c| c.state.status == berth_engine::record::Status::Running)
        .map(|c| c.id)
        .collect();
    networks.restore(&|id| running.contains(id))?;
    Ok(())
}

/// Removes the default bridge and the firewall table at shutdown when no container is
/// attached and the user has no network (what a daemon made for nothing is not left).
pub fn shutdown(d: &crate::state::Daemon) {
    let r = d.engine_now(|e| match e.networks() {
        Some(n) => Ok(n.shutdown().map_err(berth_engine::EngineError::from)?),
        None => Ok(()),
    });
    if let Err(e) = r {
        tracing::warn!("networks left as they are: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_bridges_named_per_data_root() {
        let s = NetSettings::new(Path::new("/var/lib/berth"), None, None, vec![], None).unwrap();
        assert_eq!(s.bridge, "berth0");
        assert_eq!(s.mtu, 1500);
        let a = NetSettings::new(Path::new("/tmp/a"), None, None, vec![], None).unwrap();
        let b = NetSettings::new(Path::new("/tmp/b"), None, None, vec![], None).unwrap();
        assert_ne!(a.bridge, b.bridge);
        assert!(a.bridge.starts_with("bb") && a.bridge.len() == 10);
        let pools = vec![AddressPool {
            base: "10.10.0.0/16".into(),
            size: 24,
        }];
        let s = NetSettings::new(
            Path::new("/x"),
            Some("br9".into()),
            Some("172.30.0.1/16".into()),
            pools,
            Some(9000),
        )
        .unwrap();
        assert_eq!(s.bip.unwrap().to_string(), "172.30.0.1/16");
        assert_eq!(s.pools.len(), 256);
        assert_eq!(s.mtu, 9000);
        let root = Path::new("/x");
        assert!(NetSettings::new(root, Some("a/b".into()), None, vec![], None).is_err());
        assert!(NetSettings::new(root, None, Some("nope".into()), vec![], None).is_err());
        assert!(NetSettings::new(root, None, None, vec![], Some(10)).is_err());
    }
}
