//! `network create|ls|inspect|rm|prune|connect|disconnect` and `port`, as docker's.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use clap::Subcommand;
use serde_json::{json, Value};

use crate::client::{Client, Query};
use crate::containers::{each_with, filters_json, path_part};
use crate::format::{self, Format};

/// `network ...` and `port`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// List port mappings or a specific mapping for the container.
    Port(PortArgs),
}

/// The network commands.
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more networks.
    Inspect(InspectArgs),
    /// Remove one or more networks.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused networks.
    Prune(PruneArgs),
    /// Connect a container to a network.
    Connect(ConnectArgs),
    /// Disconnect a container from a network.
    Disconnect(DisconnectArgs),
}

/// Flags of `network create`.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short, long = "opt")]
    opt: Vec<String>,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// The network's name
    name: String,
}

/// Flags of `network ls`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short, long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Only display network IDs
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
}

/// Flags of `network inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// The networks
    #[arg(required = true)]
    networks: Vec<String>,
}

/// Flags of `network rm`.
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short, long)]
    force: bool,
    /// The networks
    #[arg(required = true)]
    networks: Vec<String>,
}

/// Flags of `network prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

/// Flags of `network connect`.
#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    /// The network
    network: String,
    /// The container
    container: String,
}

/// Flags of `network disconnect`.
#[derive(clap::Args, Debug)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short, long)]
    force: bool,
    /// The network
    network: String,
    /// The container
    container: String,
}

/// Flags of `port`.
#[derive(clap::Args, Debug)]
pub struct PortArgs {
    /// The container
    container: String,
    /// A private port, `PORT[/PROTO]`
    port: Option<String>,
}

/// Runs a network command or `port`.
pub fn run(c: &Client, cmd: &Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Port(a) => port(c, a),
        Command::Network(n) => match n {
            NetworkCommand::Create(a) => create(c, a),
            NetworkCommand::Ls(a) => list(c, a),
            NetworkCommand::Inspect(a) => inspect(c, a),
            NetworkCommand::Rm(a) => remove(c, a),
            NetworkCommand::Prune(a) => prune(c, a),
            NetworkCommand::Connect(a) => connect(c, a),
            NetworkCommand::Disconnect(a) => disconnect(c, a),
        },
    }
}

fn pairs(list: &[String]) -> serde_json::Map<String, Value> {
    list.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l, ""));
            (k.to_string(), json!(v))
        })
        .collect()
}

fn create(c: &Client, a: &CreateArgs) -> anyhow::Result<u8> {
    let mut config = Vec::new();
    for (i, subnet) in a.subnet.iter().enumerate() {
        let mut pool = json!({"Subnet": subnet});
        if let Some(g) = a.gateway.get(i) {
            pool["Gateway"] = json!(g);
        }
        if let Some(r) = a.ip_range.get(i) {
            pool["IPRange"] = json!(r);
        }
        config.push(pool);
    }
    if a.subnet.is_empty() && !(a.gateway.is_empty() && a.ip_range.is_empty()) {
        anyhow::bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let body = json!({
        "Name": a.name, "Driver": a.driver, "CheckDuplicate": true,
        "Internal": a.internal, "Attachable": a.attachable, "EnableIPv6": a.ipv6,
        "IPAM": {"Driver": "default", "Config": config, "Options": {}},
        "Options": pairs(&a.opt), "Labels": pairs(&a.label),
    });
    let v = c.post_json("/networks/create", Query::new(), Some(&body))?;
    println!("{}", v["Id"].as_str().unwrap_or_default());
    Ok(0)
}

fn list(c: &Client, a: &ListArgs) -> anyhow::Result<u8> {
    let q = Query::new().opt("filters", filters_json(&a.filter).as_deref());
    let v = c.get_json("/networks", q)?;
    let mut nets = v.as_array().cloned().unwrap_or_default();
    nets.sort_by(|x, y| x["Name"].as_str().cmp(&y["Name"].as_str()));
    let id = |n: &Value| {
        let id = n["Id"].as_str().unwrap_or_default().to_string();
        if a.no_trunc {
            id
        } else {
            id.chars().take(12).collect()
        }
    };
    if a.quiet {
        for n in &nets {
            println!("{}", id(n));
        }
        return Ok(0);
    }
    let items: Vec<Value> = nets
        .iter()
        .map(|n| {
            json!({"ID": id(n), "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
                   "IPv6": n["EnableIPv6"].as_bool().unwrap_or(false).to_string(),
                   "Internal": n["Internal"].as_bool().unwrap_or(false).to_string(),
                   "CreatedAt": n["Created"]})
        })
        .collect();
    let headers = HashMap::from([("ID", "NETWORK ID")]);
    let fmt = Format::parse(a.format.as_deref());
    format::emit(
        &fmt,
        &items,
        "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        &headers,
    )?;
    Ok(0)
}

fn inspect(c: &Client, a: &InspectArgs) -> anyhow::Result<u8> {
    format::inspect_each(&a.networks, a.format.as_deref(), |name| {
        c.get_raw(&format!("/networks/{}", path_part(name)), Query::new())
    })
}

fn remove(c: &Client, a: &RmArgs) -> anyhow::Result<u8> {
    Ok(each_with(&a.networks, |name| {
        match c.delete(&format!("/networks/{}", path_part(name)), Query::new()) {
            Err(e) if a.force && e.status() == Some(404) => Ok(()),
            r => r.map(drop),
        }
    }))
}

fn prune(c: &Client, a: &PruneArgs) -> anyhow::Result<u8> {
    if !a.force {
        print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(0);
        }
    }
    let q = Query::new().opt("filters", filters_json(&a.filter).as_deref());
    let v = c.post_json("/networks/prune", q, None)?;
    let deleted = v["NetworksDeleted"].as_array().cloned().unwrap_or_default();
    if !deleted.is_empty() {
        println!("Deleted Networks:");
        for d in &deleted {
            println!("{}", d.as_str().unwrap_or_default());
        }
    }
    Ok(0)
}

fn connect(c: &Client, a: &ConnectArgs) -> anyhow::Result<u8> {
    let mut ep = json!({"Aliases": a.alias});
    if let Some(ip) = &a.ip {
        ep["IPAMConfig"] = json!({"IPv4Address": ip});
    }
    let body = json!({"Container": a.container, "EndpointConfig": ep});
    let path = format!("/networks/{}/connect", path_part(&a.network));
    c.post_json(&path, Query::new(), Some(&body))?;
    Ok(0)
}

fn disconnect(c: &Client, a: &DisconnectArgs) -> anyhow::Result<u8> {
    let body = json!({"Container": a.container, "Force": a.force});
    let path = format!("/networks/{}/disconnect", path_part(&a.network));
    c.post_json(&path, Query::new(), Some(&body))?;
    Ok(0)
}

/// `port CONTAINER [PORT[/PROTO]]`: `80/tcp -> 0.0.0.0:8080` lines, or with a port, its
/// host addresses.
fn port(c: &Client, a: &PortArgs) -> anyhow::Result<u8> {
    let v = c.get_json(
        &format!("/containers/{}/json", path_part(&a.container)),
        Query::new(),
    )?;
    let ports = v["NetworkSettings"]["Ports"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let wanted = a.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut found = false;
    for (key, bindings) in &ports {
        if wanted.as_ref().is_some_and(|w| w != key) {
            continue;
        }
        for b in bindings.as_array().into_iter().flatten() {
            let ip = b["HostIp"].as_str().unwrap_or_default();
            let port = b["HostPort"].as_str().unwrap_or_default();
            found = true;
            match &wanted {
                Some(_) => println!("{ip}:{port}"),
                None => println!("{key} -> {ip}:{port}"),
            }
        }
    }
    if let (Some(w), false) = (&wanted, found) {
        anyhow::bail!("No public port '{w}' published for {}", a.container);
    }
    Ok(0)
}
