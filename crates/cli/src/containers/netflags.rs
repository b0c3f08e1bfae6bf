//! The network flags of `create` and `run` (`-p`, `-P`, `--expose`, `--ip`,
//! `--network-alias`, `--dns*`, `--add-host`, `--mac-address`) and how they go into
//! docker's ContainerCreate body; and the PORTS column of `ps`.

use serde_json::{json, Map, Value};

/// The network flags.
#[derive(clap::Args, Debug, Default)]
pub struct NetFlags {
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
}

impl NetFlags {
    /// Adds the flags to the create body `cfg` (its HostConfig set already) for a
    /// container on network mode `network`.
    pub fn apply(&self, cfg: &mut Map<String, Value>, network: &str) -> anyhow::Result<()> {
        let mut bindings = berth_net::ports::Bindings::new();
        for p in &self.publish {
            berth_net::ports::parse_publish(p, &mut bindings)?;
        }
        let mut exposed = Map::new();
        for e in &self.expose {
            for key in berth_net::ports::parse_expose(e)? {
                exposed.insert(key, json!({}));
            }
        }
        for key in bindings.keys() {
            exposed.insert(key.clone(), json!({}));
        }
        if !exposed.is_empty() {
            cfg.insert("ExposedPorts".into(), Value::Object(exposed));
        }
        if let Some(m) = &self.mac_address {
            cfg.insert("MacAddress".into(), json!(m));
        }
        for h in &self.add_host {
            if !h.contains([':', '=']) {
                anyhow::bail!("invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\"");
            }
        }
        if let Some(h) = cfg.get_mut("HostConfig") {
            h["PortBindings"] = json!(bindings);
            h["PublishAllPorts"] = json!(self.publish_all);
            h["Dns"] = json!(self.dns);
            h["DnsSearch"] = json!(self.dns_search);
            h["DnsOptions"] = json!(self.dns_option);
            h["ExtraHosts"] = json!(self.add_host);
        }
        if self.ip.is_some() || !self.network_alias.is_empty() {
            let mut ep = json!({"Aliases": self.network_alias});
            if let Some(ip) = &self.ip {
                ep["IPAMConfig"] = json!({"IPv4Address": ip});
            }
            cfg.insert(
                "NetworkingConfig".into(),
                json!({"EndpointsConfig": {network: ep}}),
            );
        }
        Ok(())
    }
}

/// docker's PORTS column from a `/containers/json` entry: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn ports_column(ports: &Value) -> String {
    let Some(list) = ports.as_array() else {
        return String::new();
    };
    let mut out: Vec<String> = list
        .iter()
        .map(|p| {
            let private = p["PrivatePort"].as_u64().unwrap_or(0);
            let proto = p["Type"].as_str().unwrap_or("tcp");
            match (p["IP"].as_str(), p["PublicPort"].as_u64()) {
                (Some(ip), Some(public)) => format!("{ip}:{public}->{private}/{proto}"),
                _ => format!("{private}/{proto}"),
            }
        })
        .collect();
    out.dedup();
    out.join(", ")
}
