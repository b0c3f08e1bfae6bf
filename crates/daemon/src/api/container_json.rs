//! docker's JSON for containers: the inspect document and the `/containers/json` entry,
//! from the engine's record (and the image config for the effective command and
//! environment), and the list filters.

use std::time::{Duration, SystemTime};

use berth_engine::engine::read_image_config;
use berth_engine::record::{parse_time, Container, Status};
use berth_engine::store::ContainerStore;
use berth_engine::Engine;
use berth_image::content::LocalStore;
use berth_image::digest::Digest;
use berth_image::snapshot::Snapshotter;
use serde_json::{json, Map, Value};

use super::unix_time;
use crate::error::ApiResult;
use crate::query::Filters;

/// Go's zero time, what docker shows for a time that never happened.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The filters `/containers/json` takes.
pub const LIST_FILTERS: [&str; 10] = [
    "id", "name", "label", "status", "exited", "ancestor", "before", "since", "network", "health",
];

fn status_word(c: &Container) -> &'static str {
    if c.state.restarting {
        return "restarting";
    }
    match c.state.status {
        Status::Created => "created",
        Status::Running if c.state.paused => "paused",
        Status::Running => "running",
        Status::Exited => "exited",
    }
}

/// What container inspect reads besides the record: image configs, the snapshotter
/// and the containers' directories. All of it is safe to read without the engine.
pub struct Sources<'a> {
    /// The content store, for image configs.
    pub content: &'a LocalStore,
    /// The snapshotter, for the container's layers.
    pub snapshotter: &'a dyn Snapshotter,
    /// The containers' directories.
    pub containers: &'a ContainerStore,
    /// The networks, for the container's endpoints and ports.
    pub networks: Option<&'a berth_net::Networks>,
}

/// The inspect document of container `c`, whose exec instances are `execs`.
pub fn inspect(e: &Sources<'_>, c: &Container, execs: &[String]) -> ApiResult<Value> {
    let image = Digest::parse(&c.image_id)
        .ok()
        .and_then(|d| read_image_config(e.content, &d).ok());
    let image_cfg = image.as_ref().and_then(|i| i.config().clone());
    let mut m = Map::new();
    m.insert("Id".into(), json!(c.id));
    m.insert("Created".into(), json!(c.created));
    m.insert(
        "Path".into(),
        json!(c.command.first().cloned().unwrap_or_default()),
    );
    m.insert("Args".into(), json!(c.command.get(1..).unwrap_or_default()));
    m.insert("State".into(), state(c));
    m.insert("Image".into(), json!(c.image_id));
    for k in ["ResolvConfPath", "HostnamePath", "HostsPath"] {
        m.insert(k.into(), json!(""));
    }
    let log = match c.config.host.log_config.driver.as_str() {
        "none" => String::new(),
        _ => e
            .containers
            .dir(&c.id)
            .join(berth_engine::store::json_log_name(&c.id))
            .display()
            .to_string(),
    };
    m.insert("LogPath".into(), json!(log));
    m.insert("Name".into(), json!(format!("/{}", c.name)));
    m.insert("RestartCount".into(), json!(c.state.restart_count));
    m.insert("Driver".into(), json!(e.snapshotter.driver_name()));
    m.insert("Platform".into(), json!("linux"));
    for k in ["MountLabel", "ProcessLabel", "AppArmorProfile"] {
        m.insert(k.into(), json!(""));
    }
    let execs = if execs.is_empty() {
        Value::Null
    } else {
        json!(execs)
    };
    m.insert("ExecIDs".into(), execs);
    m.insert("HostConfig".into(), host_config(c));
    m.insert("GraphDriver".into(), graph_driver(e, c));
    m.insert("Mounts".into(), mounts(c));
    m.insert("Config".into(), config(c, image_cfg.as_ref()));
    m.insert(
        "NetworkSettings".into(),
        super::network_json::settings(e.networks, c),
    );
    Ok(Value::Object(m))
}

/// `Mounts` as inspect and the list show them.
pub fn mounts(c: &Container) -> Value {
    let out: Vec<Value> = c
        .mounts
        .iter()
        .map(|m| {
            let mut v = json!({
                "Type": m.kind,
                "Source": m.source,
                "Destination": m.destination,
                "Mode": m.mode,
                "RW": m.rw,
                "Propagation": m.propagation,
            });
            if m.kind == "volume" {
                v["Name"] = json!(m.name);
                v["Driver"] = json!(berth_engine::volumes::LOCAL);
            }
            v
        })
        .collect();
    json!(out)
}

fn state(c: &Container) -> Value {
    let s = &c.state;
    let mut out = json!({
        "Status": status_word(c),
        "Running": s.status == Status::Running,
        "Paused": s.paused,
        "Restarting": s.restarting,
        "OOMKilled": s.oom_killed,
        "Dead": false,
        "Pid": s.pid,
        "ExitCode": s.exit_code.unwrap_or(0),
        "Error": s.error,
        "StartedAt": s.started_at.as_deref().unwrap_or(ZERO_TIME),
        "FinishedAt": s.finished_at.as_deref().unwrap_or(ZERO_TIME),
    });
    if let Some(h) = &s.health {
        out["Health"] = health(h);
    }
    out
}

fn host_config(c: &Container) -> Value {
    let h = &c.config.host;
    let network = if h.network_mode.is_empty() {
        "default"
    } else {
        h.network_mode.as_str()
    };
    let ulimits: Vec<Value> = h
        .ulimits
        .iter()
        .map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard}))
        .collect();
    let list = |v: &Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
    let mounts = &c.config.mounts;
    let mut m = json!({
        "Binds": list(&mounts.binds),
        "ContainerIDFile": "",
        "LogConfig": {"Type": h.log_config.driver, "Config": h.log_config.options},
        "NetworkMode": network,
        "PortBindings": null,
        "RestartPolicy": {
            "Name": if h.restart_policy.name.is_empty() { "no" } else { h.restart_policy.name.as_str() },
            "MaximumRetryCount": h.restart_policy.maximum_retry_count,
        },
        "AutoRemove": c.config.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": list(&mounts.volumes_from),
        "ConsoleSize": [0, 0],
        "CapAdd": list(&h.cap_add),
        "CapDrop": list(&h.cap_drop),
        "CgroupnsMode": "host",
        "Dns": null, "DnsOptions": null, "DnsSearch": null,
        "ExtraHosts": null, "GroupAdd": null,
        "IpcMode": "private", "Cgroup": "", "Links": null, "OomScoreAdj": 0, "PidMode": "",
        "Privileged": h.privileged,
        "PublishAllPorts": false,
        "ReadonlyRootfs": h.readonly_rootfs,
        "SecurityOpt": list(&h.security_opt),
        "UTSMode": "", "UsernsMode": "", "ShmSize": 67108864, "Runtime": "berth", "Isolation": "",
    });
    let resources = json!({
        "CpuShares": 0,
        "Memory": h.memory,
        "NanoCpus": h.nano_cpus,
        "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": null,
        "BlkioDeviceReadBps": null, "BlkioDeviceWriteBps": null,
        "BlkioDeviceReadIOps": null, "BlkioDeviceWriteIOps": null,
        "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetCpus": "", "CpusetMems": "", "Devices": null, "DeviceCgroupRules": null,
        "DeviceRequests": null, "MemoryReservation": 0, "MemorySwap": 0,
        "MemorySwappiness": null, "OomKillDisable": false,
        "PidsLimit": h.pids_limit.filter(|p| *p > 0),
        "Ulimits": if ulimits.is_empty() { Value::Null } else { json!(ulimits) },
        "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
        "MaskedPaths": berth_engine::spec::MASKED,
        "ReadonlyPaths": berth_engine::spec::READONLY,
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut m, resources) {
        a.extend(b);
    }
    // dockerd leaves these out when they are not set.
    if !mounts.mounts.is_empty() {
        m["Mounts"] = json!(mounts.mounts);
    }
    if !mounts.tmpfs.is_empty() {
        m["Tmpfs"] = json!(mounts.tmpfs);
    }
    // Set only when asked for (a pointer in dockerd).
    if let (Some(init), Value::Object(o)) = (h.init, &mut m) {
        o.insert("Init".into(), json!(init));
    }
    super::network_json::host_config(&mut m, c);
    m
}

fn graph_driver(e: &Sources<'_>, c: &Container) -> Value {
    let snap = e.snapshotter;
    let name = snap.driver_name();
    let Ok(dirs) = snap.layer_dirs(&c.snapshot_key) else {
        return json!({"Data": null, "Name": name});
    };
    let lowers: Vec<String> = dirs
        .lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let own = dirs.upper.parent().unwrap_or(&dirs.upper).to_path_buf();
    json!({
        "Data": {
            "LowerDir": lowers.join(":"),
            "MergedDir": e.containers.rootfs(&c.id),
            "UpperDir": dirs.upper,
            "WorkDir": own.join("work"),
        },
        "Name": name,
    })
}

/// The container's config as docker shows it: the image's values where the container
/// did not set its own, environment merged, labels merged.
fn config(c: &Container, image: Option<&oci_spec::image::Config>) -> Value {
    let cfg = &c.config;
    let mut env: Vec<String> = image.and_then(|i| i.env().clone()).unwrap_or_default();
    for e in &cfg.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    let entrypoint = cfg
        .entrypoint
        .clone()
        .or_else(|| image.and_then(|i| i.entrypoint().clone()))
        .filter(|e| !e.is_empty());
    let cmd = if !cfg.cmd.is_empty() {
        Some(cfg.cmd.clone())
    } else if cfg.entrypoint.is_some() {
        None
    } else {
        image.and_then(|i| i.cmd().clone())
    };
    let mut labels = image.and_then(|i| i.labels().clone()).unwrap_or_default();
    labels.extend(cfg.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let image_str = |f: fn(&oci_spec::image::Config) -> &Option<String>| {
        image.and_then(|i| f(i).clone()).unwrap_or_default()
    };
    let stop_signal = cfg
        .stop_signal
        .clone()
        .or_else(|| image.and_then(|i| i.stop_signal().clone()));
    let mut out = json!({
        "Hostname": cfg.hostname.clone().unwrap_or_else(|| c.short_id().to_string()),
        "Domainname": "",
        "User": cfg.user.clone().unwrap_or_else(|| image_str(|i| i.user())),
        "AttachStdin": cfg.open_stdin,
        "AttachStdout": true,
        "AttachStderr": true,
        "Tty": cfg.tty,
        "OpenStdin": cfg.open_stdin,
        "StdinOnce": cfg.stdin_once,
        "Env": if env.is_empty() { Value::Null } else { json!(env) },
        "Cmd": cmd,
        "Image": c.image_name,
        "Volumes": volumes(c, image),
        "WorkingDir": cfg.workdir.clone().unwrap_or_else(|| image_str(|i| i.working_dir())),
        "Entrypoint": entrypoint,
        "OnBuild": null,
        "Labels": labels,
    });
    // dockerd leaves these two out when they are not set.
    if let Some(sig) = stop_signal {
        out["StopSignal"] = json!(sig);
    }
    if let Some(t) = cfg.stop_timeout {
        out["StopTimeout"] = json!(t);
    }
    if let Some(h) = &cfg.healthcheck {
        out["Healthcheck"] = healthcheck(h);
    }
    super::network_json::config(&mut out, c);
    out
}

/// `Config.Healthcheck` as dockerd shows it (times left out when not set).
fn healthcheck(h: &berth_engine::health::HealthConfig) -> Value {
    let mut out = json!({ "Test": h.test });
    for (key, v) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
        ("Retries", h.retries),
    ] {
        if v != 0 {
            out[key] = json!(v);
        }
    }
    out
}

/// `State.Health`.
fn health(h: &berth_engine::health::Health) -> Value {
    json!({
        "Status": h.status.as_str(),
        "FailingStreak": h.failing_streak,
        "Log": h.log,
    })
}

/// The word the `health` filter and the STATUS column use for `c`.
fn health_word(c: &Container) -> &'static str {
    match (&c.state.health, &c.config.healthcheck) {
        (Some(h), Some(check)) if check.probes() => h.status.as_str(),
        (None, Some(check)) if check.probes() => "starting",
        _ => "none",
    }
}

fn endpoint() -> Value {
    json!({
        "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
        "DriverOpts": null, "NetworkID": "", "EndpointID": "", "Gateway": "",
        "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "DNSNames": null,
    })
}

/// `Config.Volumes`: the container's and the image's, as a set (`{"/path": {}}`).
fn volumes(c: &Container, image: Option<&oci_spec::image::Config>) -> Value {
    let mut all: Map<String, Value> = Map::new();
    let from_image = image.and_then(|i| i.volumes().clone()).unwrap_or_default();
    for p in c.config.mounts.volumes.iter().chain(from_image.iter()) {
        all.insert(p.clone(), json!({}));
    }
    if all.is_empty() {
        Value::Null
    } else {
        Value::Object(all)
    }
}

/// An `until` filter value: a Go duration before now (`24h`), Unix seconds, or an RFC
/// 3339 time.
pub fn parse_until(s: &str) -> ApiResult<SystemTime> {
    let now = SystemTime::now();
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH));
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs >= 0.0 {
            return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
    }
    humantime::parse_rfc3339_weak(s)
        .map_err(|_| crate::error::ApiError::BadParameter(format!("invalid filter 'until={s}'")))
}

/// One `/containers/json` entry.
pub fn summary(c: &Container) -> Value {
    serde_json::to_value(Summary::of(c)).unwrap_or(Value::Null)
}

/// A `/containers/json` entry, written straight to JSON (a list of hundreds is built
/// on every `ps`).
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Summary<'a> {
    id: &'a str,
    names: [String; 1],
    image: &'a str,
    #[serde(rename = "ImageID")]
    image_id: &'a str,
    command: String,
    created: i64,
    /// Published and exposed ports (see `network_json::decorate`).
    pub ports: Value,
    labels: &'a std::collections::BTreeMap<String, String>,
    state: &'static str,
    status: String,
    host_config: SummaryHost<'a>,
    /// The networks the container is on.
    pub network_settings: SummaryNetworks,
    mounts: Value,
}

/// `HostConfig` of a list entry.
#[derive(Debug, serde::Serialize)]
struct SummaryHost<'a> {
    #[serde(rename = "NetworkMode")]
    network_mode: &'a str,
}

/// `NetworkSettings` of a list entry.
#[derive(Debug, serde::Serialize)]
pub struct SummaryNetworks {
    /// Endpoint settings by network name.
    #[serde(rename = "Networks")]
    pub networks: Map<String, Value>,
}

impl<'a> Summary<'a> {
    /// The entry of `c`, without its bridge networks' endpoints and ports.
    pub fn of(c: &'a Container) -> Summary<'a> {
        let mode = c.config.host.network_mode.as_str();
        let mut networks = Map::new();
        if matches!(mode, "host" | "none") {
            networks.insert(mode.into(), endpoint());
        }
        Summary {
            id: &c.id,
            names: [format!("/{}", c.name)],
            image: &c.image_name,
            image_id: &c.image_id,
            command: c.command.join(" "),
            created: unix_time(Some(&c.created)),
            ports: Value::Array(Vec::new()),
            labels: &c.config.labels,
            state: status_word(c),
            status: status_text(c, SystemTime::now()),
            host_config: SummaryHost {
                network_mode: if mode.is_empty() { "default" } else { mode },
            },
            network_settings: SummaryNetworks { networks },
            mounts: mounts(c),
        }
    }
}

/// docker's STATUS column: `Created`, `Up 3 minutes`, `Exited (0) 2 hours ago`.
pub fn status_text(c: &Container, now: SystemTime) -> String {
    let since = |t: Option<&String>| {
        let t = t.and_then(|t| parse_time(t)).unwrap_or(now);
        human_duration(now.duration_since(t).unwrap_or(Duration::ZERO))
    };
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Running if c.state.paused => {
            format!("Up {} (Paused)", since(c.state.started_at.as_ref()))
        }
        Status::Running => {
            let up = since(c.state.started_at.as_ref());
            match health_word(c) {
                "none" => format!("Up {up}"),
                "starting" => format!("Up {up} (health: starting)"),
                word => format!("Up {up} ({word})"),
            }
        }
        Status::Exited if c.state.restarting => format!(
            "Restarting ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            since(c.state.finished_at.as_ref())
        ),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            c.state.exit_code.unwrap_or(0),
            since(c.state.finished_at.as_ref())
        ),
    }
}

/// docker's `HumanDuration`: "Less than a second", "About a minute", "3 hours", ...
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h) = (s / 60, s / 3600);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 14 => format!("{} days", h / 24),
        _ if h < 24 * 90 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 730 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

/// The ids of the images `names` name (names that resolve to none are left out).
pub fn resolve_images(e: &Engine, names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter_map(|a| e.images().db().resolve_id(a).ok())
        .map(|d| d.to_string())
        .collect()
}

/// The list filters, resolved against the containers.
pub struct ListFilter<'a> {
    filters: &'a Filters,
    before: Option<String>,
    since: Option<String>,
    ancestors: Vec<String>,
}

impl<'a> ListFilter<'a> {
    /// Resolves `before`/`since` (containers in `store`); `ancestors` are the image ids
    /// the `ancestor` filter names ([`resolve_images`]).
    pub fn new<C: std::borrow::Borrow<Container>>(
        filters: &'a Filters,
        all: &[C],
        store: &ContainerStore,
        ancestors: Vec<String>,
    ) -> ApiResult<Self> {
        let created_of = |key: &str| -> ApiResult<Option<String>> {
            match filters.values(key).first() {
                None => Ok(None),
                Some(n) => {
                    let c = store.find(n)?;
                    Ok(all
                        .iter()
                        .map(|x| x.borrow())
                        .find(|x| x.id == c.id)
                        .map(|x| x.created.clone()))
                }
            }
        };
        for h in filters.values("health") {
            if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
                return Err(crate::error::ApiError::BadParameter(format!(
                    "Unrecognised filter value for health: {h}"
                )));
            }
        }
        Ok(ListFilter {
            filters,
            before: created_of("before")?,
            since: created_of("since")?,
            ancestors,
        })
    }

    /// Whether `c` is listed (`all`: stopped ones too).
    pub fn keeps(&self, c: &Container, all: bool) -> bool {
        let f = self.filters;
        let statuses = f.values("status");
        let any = |key: &str, ok: &dyn Fn(&String) -> bool| {
            let v = f.values(key);
            v.is_empty() || v.iter().any(ok)
        };
        (all || c.state.status == Status::Running || !statuses.is_empty())
            && any("id", &|p| c.id.starts_with(p.as_str()))
            && any("name", &|n| c.name.contains(n.trim_start_matches('/')))
            && any("status", &|s| s == status_word(c))
            && any("exited", &|x| {
                c.state.status == Status::Exited && x.parse() == Ok(c.state.exit_code.unwrap_or(0))
            })
            && any("network", &|n| {
                *n == c.config.host.network_mode
                    || c.config.host.net.networks.contains_key(n.as_str())
            })
            && any("health", &|h| h == health_word(c))
            && (f.values("ancestor").is_empty() || self.ancestors.contains(&c.image_id))
            && self.before.as_ref().is_none_or(|b| c.created < *b)
            && self.since.as_ref().is_none_or(|s| c.created > *s)
            && f.labels_match(&c.config.labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dockers() {
        let d = |s| human_duration(Duration::from_secs(s));
        assert_eq!(d(0), "Less than a second");
        assert_eq!(d(5), "5 seconds");
        assert_eq!(d(70), "About a minute");
        assert_eq!(d(600), "10 minutes");
        assert_eq!(d(3700), "About an hour");
        assert_eq!(d(3 * 3600), "3 hours");
        assert_eq!(d(3 * 86400), "3 days");
    }
}
