//! The network endpoints (list, inspect, create, remove, prune, connect, disconnect),
//! a container's network settings as create bodies give them, and `NetworkSettings` as
//! inspect shows it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::Engine;
use berth_net::{Endpoint, NetError, Network, Networks};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::{json, parse_body};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::Daemon;

/// `null` as the type's default.
fn nd<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The engine's networks (berthd always sets them).
fn nets(e: &Engine) -> ApiResult<&Networks> {
    e.networks()
        .ok_or(ApiError::NotImplemented("networks without a daemon".into()))
}

/// The id of pseudo network `name` (`host`, `none`) of the daemon whose bridge is
/// `bridge`: 64 hex digits, stable for the daemon (FNV-1a rounds, as docker's are random
/// but fixed).
fn pseudo_id(bridge: &str, name: &str) -> String {
    (0u8..4)
        .map(|round| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in [round]
                .iter()
                .chain(bridge.as_bytes())
                .chain(name.as_bytes())
            {
                h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect()
}

/// Which pseudo network `s` (a name, id or id prefix) is, if one.
fn pseudo(bridge: &str, s: &str) -> Option<&'static str> {
    ["host", "none"]
        .into_iter()
        .find(|name| *name == s || (s.len() >= 3 && pseudo_id(bridge, name).starts_with(s)))
}

/// A network as the API shows it, with `containers` (name, endpoint) when inspected.
fn network_json(n: &Network, containers: Option<&[Endpoint]>) -> Value {
    let mut options = json!(n.options);
    if n.predefined {
        options = json!({
            "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_icc": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true",
            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
            "com.docker.network.bridge.name": n.bridge,
            "com.docker.network.driver.mtu": "1500",
        });
    }
    let mut ipam = json!({"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()});
    if let Some(r) = n.ip_range {
        ipam["IPRange"] = json!(r.to_string());
    }
    let prefix = n.subnet.prefix_len();
    let members: Map<String, Value> = containers
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e.container.clone(),
                json!({"Name": e.name, "EndpointID": e.id, "MacAddress": e.mac,
                       "IPv4Address": format!("{}/{prefix}", e.ip), "IPv6Address": ""}),
            )
        })
        .collect();
    json!({
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local",
        "Driver": n.driver, "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": [ipam]},
        "Internal": n.internal, "Attachable": n.attachable, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": members, "Options": options, "Labels": n.labels,
    })
}

/// The `host` or `none` pseudo network.
fn pseudo_json(bridge: &str, name: &str) -> Value {
    let id = pseudo_id(bridge, name);
    let driver = if name == "host" { "host" } else { "null" };
    json!({
        "Name": name, "Id": id, "Created": "0001-01-01T00:00:00Z", "Scope": "local",
        "Driver": driver, "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false, "Attachable": false, "Ingress": false,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": false,
        "Containers": {}, "Options": {}, "Labels": {},
    })
}

/// Whether network JSON `v` passes `GET /networks` filters.
fn passes(v: &Value, filters: &crate::query::Filters) -> bool {
    let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let any = |key: &str, f: &dyn Fn(&str) -> bool| {
        let vals = filters.values(key);
        vals.is_empty() || vals.iter().any(|x| f(x))
    };
    any("name", &|x| field("Name").contains(x))
        && any("id", &|x| field("Id").starts_with(x))
        && any("driver", &|x| field("Driver") == x)
        && any("scope", &|x| x == "local")
        && any("type", &|x| {
            let custom = !matches!(field("Name").as_str(), "bridge" | "host" | "none");
            (x == "custom") == custom
        })
        && any("label", &|x| match x.split_once('=') {
            Some((k, val)) => v["Labels"][k].as_str() == Some(val),
            None => v["Labels"].get(x).is_some(),
        })
}

/// `GET /networks?filters=`.
pub async fn list(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    let all = d
        .with_engine(|e| {
            let n = nets(e)?;
            Ok(n.list().map_err(berth_engine::EngineError::from)?)
        })
        .await?;
    let mut out: Vec<Value> = all.iter().map(|n| network_json(n, None)).collect();
    let bridge = &d.settings.network.bridge;
    out.push(pseudo_json(bridge, "host"));
    out.push(pseudo_json(bridge, "none"));
    out.retain(|v| passes(v, &filters));
    Ok(json(StatusCode::OK, &out))
}

/// The network named (or with id) `s`, with its endpoints.
fn find(e: &Engine, s: &str) -> ApiResult<(Network, Vec<Endpoint>)> {
    let n = nets(e)?;
    let net = n.get(s).map_err(berth_engine::EngineError::from)?;
    let state = n.read().map_err(berth_engine::EngineError::from)?;
    let eps = state.endpoints_of(&net.id).cloned().collect();
    Ok((net, eps))
}

/// `GET /networks/{id}`.
pub async fn inspect(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult<Response> {
    let bridge = &d.settings.network.bridge;
    if let Some(name) = pseudo(bridge, &id) {
        return Ok(json(StatusCode::OK, &pseudo_json(bridge, name)));
    }
    let (net, eps) = d.with_engine(move |e| find(e, &id)).await?;
    Ok(json(StatusCode::OK, &network_json(&net, Some(&eps))))
}

/// `POST /networks/create`'s body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct CreateBody {
    #[serde(deserialize_with = "nd")]
    name: String,
    #[serde(deserialize_with = "nd")]
    driver: String,
    #[serde(deserialize_with = "nd")]
    internal: bool,
    #[serde(deserialize_with = "nd")]
    attachable: bool,
    #[serde(rename = "IPAM", deserialize_with = "nd")]
    ipam: IpamBody,
    #[serde(rename = "EnableIPv6", deserialize_with = "nd")]
    enable_ipv6: bool,
    #[serde(deserialize_with = "nd")]
    options: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct IpamBody {
    #[serde(deserialize_with = "nd")]
    driver: String,
    #[serde(deserialize_with = "nd")]
    config: Vec<IpamPoolBody>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct IpamPoolBody {
    #[serde(deserialize_with = "nd")]
    subnet: String,
    #[serde(rename = "IPRange", deserialize_with = "nd")]
    ip_range: String,
    #[serde(deserialize_with = "nd")]
    gateway: String,
}

fn parse_opt<T: std::str::FromStr>(what: &str, s: &str) -> ApiResult<Option<T>> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| ApiError::BadParameter(format!("invalid {what}: {s:?}")))
}

impl CreateBody {
    fn request(self) -> ApiResult<berth_net::CreateRequest> {
        if self.name.is_empty() {
            return Err(ApiError::BadParameter("network name is required".into()));
        }
        if self.enable_ipv6 {
            return Err(ApiError::NotImplemented("IPv6 networks".into()));
        }
        if !matches!(self.ipam.driver.as_str(), "" | "default") {
            return Err(ApiError::BadParameter(format!(
                "plugin \"{}\" not found",
                self.ipam.driver
            )));
        }
        let pool = self.ipam.config.into_iter().next().unwrap_or_default();
        let subnet: Option<berth_net::ipnet::Ipv4Net> = parse_opt("subnet", &pool.subnet)?;
        if subnet.is_none() && (!pool.gateway.is_empty() || !pool.ip_range.is_empty()) {
            return Err(ApiError::BadParameter(
                "ip-range and gateway need a subnet".into(),
            ));
        }
        Ok(berth_net::CreateRequest {
            name: self.name,
            driver: self.driver,
            subnet,
            gateway: parse_opt("gateway", &pool.gateway)?,
            ip_range: parse_opt("ip-range", &pool.ip_range)?,
            internal: self.internal,
            attachable: self.attachable,
            labels: self.labels,
            options: self.options,
        })
    }
}

/// `POST /networks/create`.
pub async fn create(State(d): State<Arc<Daemon>>, body: Bytes) -> ApiResult<Response> {
    let req = parse_body::<CreateBody>(&body)?.request()?;
    let net = d
        .with_engine(move |e| {
            Ok(nets(e)?
                .create(&req)
                .map_err(berth_engine::EngineError::from)?)
        })
        .await?;
    Ok(json(
        StatusCode::CREATED,
        &json!({"Id": net.id, "Warning": ""}),
    ))
}

/// `DELETE /networks/{id}`.
pub async fn remove(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> ApiResult<Response> {
    if let Some(name) = pseudo(&d.settings.network.bridge, &id) {
        return Err(NetError::Predefined(name.into()).into_api());
    }
    d.with_engine(move |e| {
        Ok(nets(e)?
            .remove(&id)
            .map_err(berth_engine::EngineError::from)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/prune`: every user network no container is on (nor names).
pub async fn prune(State(d): State<Arc<Daemon>>) -> ApiResult<Response> {
    let gone = d
        .with_engine(|e| {
            let n = nets(e)?;
            let used = used_networks(e)?;
            let mut gone = Vec::new();
            for net in n.list().map_err(berth_engine::EngineError::from)? {
                if net.predefined || used.contains(&net.name) || used.contains(&net.id) {
                    continue;
                }
                if n.remove(&net.id).is_ok() {
                    gone.push(net);
                }
            }
            Ok(gone)
        })
        .await?;
    for net in &gone {
        event(&d, "destroy", net, None);
    }
    let names: Vec<&str> = gone.iter().map(|n| n.name.as_str()).collect();
    Ok(json(StatusCode::OK, &json!({"NetworksDeleted": names})))
}

/// The network names containers' settings name (running or not).
fn used_networks(e: &Engine) -> ApiResult<std::collections::HashSet<String>> {
    let mut used = std::collections::HashSet::new();
    for c in e.list()? {
        used.insert(c.config.host.network_mode.clone());
        used.extend(c.config.host.net.networks.keys().cloned());
    }
    Ok(used)
}

/// `POST /networks/{id}/connect` and `/disconnect` bodies.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ConnectBody {
    #[serde(deserialize_with = "nd")]
    container: String,
    #[serde(deserialize_with = "nd")]
    endpoint_config: super::network_json::EndpointBody,
    #[serde(deserialize_with = "nd")]
    force: bool,
}

/// `POST /networks/{id}/connect`.
pub async fn connect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: ConnectBody = parse_body(&body)?;
    let (net, who) = d
        .with_engine(move |e| {
            let net = nets(e)?.get(&id).map_err(berth_engine::EngineError::from)?;
            e.connect_network(&b.container, &net.name, b.endpoint_config.settings())?;
            Ok((net, e.find(&b.container)?.id))
        })
        .await?;
    event(&d, "connect", &net, Some(&who));
    Ok(StatusCode::OK.into_response())
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: ConnectBody = parse_body(&body)?;
    let _ = b.force;
    let (net, who) = d
        .with_engine(move |e| {
            let net = nets(e)?.get(&id).map_err(berth_engine::EngineError::from)?;
            e.disconnect_network(&b.container, &net.name)?;
            Ok((net, e.find(&b.container)?.id))
        })
        .await?;
    event(&d, "disconnect", &net, Some(&who));
    Ok(StatusCode::OK.into_response())
}

/// Publishes a network event (with the container for connect and disconnect).
fn event(d: &Daemon, action: &str, net: &Network, container: Option<&str>) {
    let mut e = crate::events::Event::new("network", action, &net.id)
        .with("name", net.name.clone())
        .with("type", net.driver.clone());
    if let Some(c) = container {
        e = e.with("container", c);
    }
    d.events.publish(e);
}

trait IntoApi {
    fn into_api(self) -> ApiError;
}

impl IntoApi for NetError {
    fn into_api(self) -> ApiError {
        ApiError::Engine(berth_engine::EngineError::Network(self))
    }
}
