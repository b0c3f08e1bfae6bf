//! A container's network settings in docker's JSON: parsed from create bodies
//! (HostConfig's ports and DNS, NetworkingConfig's endpoints), and shown by inspect
//! (`NetworkSettings`, HostConfig's and Config's network fields) and the list.

use std::collections::BTreeMap;

use berth_engine::record::Container;
use berth_net::ports::{self, Binding, Bindings};
use berth_net::settings::{ContainerNet, EndpointSettings};
use berth_net::{Endpoint, Network};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::container_json;
use crate::error::{ApiError, ApiResult};
use crate::state::Daemon;

/// `null` as the type's default.
fn nd<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// HostConfig's network fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostNetBody {
    #[serde(deserialize_with = "nd")]
    port_bindings: BTreeMap<String, Option<Vec<Binding>>>,
    #[serde(deserialize_with = "nd")]
    publish_all_ports: bool,
    #[serde(deserialize_with = "nd")]
    dns: Vec<String>,
    #[serde(deserialize_with = "nd")]
    dns_search: Vec<String>,
    #[serde(deserialize_with = "nd")]
    dns_options: Vec<String>,
    #[serde(deserialize_with = "nd")]
    extra_hosts: Vec<String>,
}

/// docker's `NetworkingConfig`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkingConfigBody {
    #[serde(deserialize_with = "nd")]
    endpoints_config: BTreeMap<String, Option<EndpointBody>>,
}

/// docker's `EndpointSettings` (the part a client sets).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct EndpointBody {
    #[serde(rename = "IPAMConfig", deserialize_with = "nd")]
    ipam_config: IpamConfigBody,
    #[serde(deserialize_with = "nd")]
    aliases: Vec<String>,
    #[serde(deserialize_with = "nd")]
    mac_address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpamConfigBody {
    #[serde(rename = "IPv4Address", deserialize_with = "nd")]
    ipv4: String,
}

impl EndpointBody {
    /// The engine's endpoint settings.
    pub fn settings(self) -> EndpointSettings {
        EndpointSettings {
            ipv4: self.ipam_config.ipv4,
            aliases: self.aliases,
            mac: self.mac_address,
        }
    }
}

/// A container's network settings from the parts of a create body.
pub fn container_net(
    h: HostNetBody,
    nc: NetworkingConfigBody,
    exposed: Vec<String>,
    mac_address: String,
) -> ApiResult<ContainerNet> {
    let port_bindings: Bindings = h
        .port_bindings
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    ports::wanted(&port_bindings, &exposed, h.publish_all_ports)
        .map_err(|e| ApiError::BadParameter(e.to_string()))?;
    Ok(ContainerNet {
        networks: nc
            .endpoints_config
            .into_iter()
            .map(|(k, v)| {
                let k = if k == "default" { "bridge".into() } else { k };
                (k, v.unwrap_or_default().settings())
            })
            .collect(),
        port_bindings,
        publish_all: h.publish_all_ports,
        exposed,
        dns: h.dns,
        dns_search: h.dns_search,
        dns_options: h.dns_options,
        extra_hosts: h.extra_hosts,
        mac_address,
        mode_disconnected: false,
    })
}

/// `NetworkSettings` of container `c` as inspect shows it.
pub fn settings(nets: Option<&berth_net::Networks>, c: &Container) -> Value {
    let mode = c.config.host.network_mode.as_str();
    let (eps, ports) = match nets {
        Some(n) => n.of_container(&c.id).unwrap_or_default(),
        None => Default::default(),
    };
    let mut networks = Map::new();
    let mut names: Vec<String> = Vec::new();
    match mode {
        "host" | "none" => names.push(mode.into()),
        m if m.starts_with("container:") => {}
        _ if c.config.host.net.mode_disconnected => {}
        "" | "default" | "bridge" => names.push("bridge".into()),
        m => names.push(m.into()),
    }
    for k in c.config.host.net.networks.keys() {
        if !names.contains(k) {
            names.push(k.clone());
        }
    }
    for name in &names {
        let ep = eps.iter().find(|(n, _)| &n.name == name);
        let asked = c.config.host.net.networks.get(name);
        networks.insert(name.clone(), endpoint_json(ep, asked, c));
    }
    let main = eps.iter().find(|(n, _)| n.predefined);
    let mut out = json!({
        "Bridge": "", "SandboxID": if eps.is_empty() { String::new() } else { c.id.clone() },
        "SandboxKey": if eps.is_empty() { String::new() } else {
            nets.map(|n| n.netns_path(&c.id).display().to_string()).unwrap_or_default()
        },
        "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "Ports": ports_json(c, &ports),
        "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null,
        "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "MacAddress": "",
        "Networks": networks,
    });
    if let Some((n, ep)) = main {
        out["EndpointID"] = json!(ep.id);
        out["Gateway"] = json!(n.gateway.to_string());
        out["IPAddress"] = json!(ep.ip.to_string());
        out["IPPrefixLen"] = json!(n.subnet.prefix_len());
        out["MacAddress"] = json!(ep.mac);
    }
    out
}

fn endpoint_json(
    ep: Option<&(Network, Endpoint)>,
    asked: Option<&EndpointSettings>,
    c: &Container,
) -> Value {
    let ipam = match asked.filter(|a| !a.ipv4.is_empty()) {
        Some(a) => json!({"IPv4Address": a.ipv4}),
        None => Value::Null,
    };
    let aliases = asked
        .filter(|a| !a.aliases.is_empty())
        .map(|a| json!(a.aliases));
    let mut v = json!({
        "IPAMConfig": ipam, "Links": null, "Aliases": aliases, "MacAddress": "",
        "DriverOpts": null, "NetworkID": "", "EndpointID": "", "Gateway": "",
        "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "DNSNames": null,
    });
    if let Some((n, e)) = ep {
        v["NetworkID"] = json!(n.id);
        v["EndpointID"] = json!(e.id);
        v["Gateway"] = json!(n.gateway.to_string());
        v["IPAddress"] = json!(e.ip.to_string());
        v["IPPrefixLen"] = json!(n.subnet.prefix_len());
        v["MacAddress"] = json!(e.mac);
        if !n.predefined {
            let mut names = vec![c.name.clone(), c.id[..12.min(c.id.len())].to_string()];
            names.extend(e.aliases.iter().cloned());
            v["DNSNames"] = json!(names);
        }
    }
    v
}

/// `Ports`: each exposed or bound port with its host bindings (null when unpublished).
pub fn ports_json(c: &Container, ports: &[berth_net::Port]) -> Value {
    let net = &c.config.host.net;
    let mut out = Map::new();
    for key in net.exposed.iter().chain(net.port_bindings.keys()) {
        out.insert(key.clone(), Value::Null);
    }
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.proto.as_str());
        let entry = out.entry(key).or_insert_with(|| json!([]));
        if entry.is_null() {
            *entry = json!([]);
        }
        if let Some(list) = entry.as_array_mut() {
            list.push(
                json!({"HostIp": p.host_ip.to_string(), "HostPort": p.host_port.to_string()}),
            );
        }
    }
    Value::Object(out)
}

/// The networking state, read without the engine (for listings).
pub fn state_of(d: &Daemon) -> std::sync::Arc<berth_net::State> {
    d.net_reader.read_shared().unwrap_or_default()
}

/// Each container's endpoints (with their networks) and published ports, from one read
/// of the networks' state: a listing looks each container up once.
pub type ByContainer =
    std::collections::HashMap<String, (Vec<(Network, Endpoint)>, Vec<berth_net::Port>)>;

/// [`ByContainer`] of `state`.
pub fn by_container(state: &berth_net::State) -> ByContainer {
    let mut out = ByContainer::new();
    for e in &state.endpoints {
        if let Some(n) = state.networks.iter().find(|n| n.id == e.network) {
            let entry = out.entry(e.container.clone()).or_default();
            entry.0.push((n.clone(), e.clone()));
        }
    }
    for p in &state.ports {
        out.entry(p.container.clone())
            .or_default()
            .1
            .push(p.clone());
    }
    out
}

/// A `/containers/json` entry with its published ports and its networks' addresses.
pub fn decorate<'a>(
    mut v: container_json::Summary<'a>,
    c: &Container,
    nets: &ByContainer,
) -> container_json::Summary<'a> {
    let (eps, ports) = match nets.get(&c.id) {
        Some((eps, ports)) => (eps.as_slice(), ports.as_slice()),
        None => (&[][..], &[][..]),
    };
    v.ports = summary_ports(c, ports);
    for ep in eps {
        v.network_settings
            .networks
            .insert(ep.0.name.clone(), endpoint_json(Some(ep), None, c));
    }
    v
}

/// The `Ports` of `/containers/json`: published ports, then exposed ones.
fn summary_ports(c: &Container, ports: &[berth_net::Port]) -> Value {
    let mut out: Vec<Value> = ports
        .iter()
        .map(|p| {
            json!({"IP": p.host_ip.to_string(), "PrivatePort": p.container_port,
                   "PublicPort": p.host_port, "Type": p.proto.as_str()})
        })
        .collect();
    for key in &c.config.host.net.exposed {
        if let Some((port, proto)) = ports::parse_key(key) {
            if !ports
                .iter()
                .any(|p| p.container_port == port && p.proto == proto)
            {
                out.push(json!({"PrivatePort": port, "Type": proto.as_str()}));
            }
        }
    }
    Value::Array(out)
}

/// Fills HostConfig's network fields of container `c` in `h`.
pub fn host_config(h: &mut Value, c: &Container) {
    let n = &c.config.host.net;
    // dockerd shows null for what a create body did not give.
    let list = |v: &[String]| if v.is_empty() { Value::Null } else { json!(v) };
    let bindings: Map<String, Value> = n
        .port_bindings
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    h["PortBindings"] = if bindings.is_empty() {
        Value::Null
    } else {
        Value::Object(bindings)
    };
    h["PublishAllPorts"] = json!(n.publish_all);
    h["Dns"] = list(&n.dns);
    h["DnsOptions"] = list(&n.dns_options);
    h["DnsSearch"] = list(&n.dns_search);
    h["ExtraHosts"] = list(&n.extra_hosts);
}

/// Fills Config's network fields of container `c` in `cfg` (set only when there are
/// exposed ports, as dockerd does).
pub fn config(cfg: &mut Value, c: &Container) {
    let n = &c.config.host.net;
    if !n.exposed.is_empty() {
        let set: Map<String, Value> = n.exposed.iter().map(|k| (k.clone(), json!({}))).collect();
        cfg["ExposedPorts"] = Value::Object(set);
    }
    if !n.mac_address.is_empty() {
        cfg["MacAddress"] = json!(n.mac_address);
    }
}

/// The warnings docker gives at create about network settings that do nothing.
pub fn create_warnings(c: &Container) -> Vec<&'static str> {
    let n = &c.config.host.net;
    let published = !n.port_bindings.is_empty() || n.publish_all;
    if c.config.host.network_mode == "host" && published {
        return vec!["Published ports are discarded when using host network mode"];
    }
    Vec::new()
}
