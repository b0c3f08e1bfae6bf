//! Container endpoints on the engine's records: create, list, inspect, remove, rename.
//! (Their life, attach, logs, top and exec are in the files beside this one.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::mounts::{MountRequest, MountRequests};
use berth_engine::options::{HostOptions, LogConfig, RestartPolicy, Ulimit};
use berth_engine::record::{Config, Container, Status};
use berth_engine::{CreateRequest, EngineError};
use serde::{Deserialize, Deserializer};
use serde_json::json;

use super::{container_json, json, parse_body};
use crate::error::{ApiError, ApiResult};
use crate::query::Query;
use crate::state::{blocking, Daemon};

/// `null` as the type's default (docker clients send `null` for empty lists and maps).
fn nd<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A command as docker takes it: a list, or (old clients) one string.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Strings {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Strings {
    fn into_vec(self) -> Option<Vec<String>> {
        match self {
            Strings::None => None,
            Strings::One(s) => Some(vec![s]),
            Strings::Many(v) => Some(v),
        }
    }
}

/// docker's ContainerCreate body (the fields berth uses; others are ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct CreateBody {
    #[serde(deserialize_with = "nd")]
    image: String,
    #[serde(deserialize_with = "nd")]
    cmd: Strings,
    #[serde(deserialize_with = "nd")]
    entrypoint: Strings,
    #[serde(deserialize_with = "nd")]
    env: Vec<String>,
    #[serde(deserialize_with = "nd")]
    working_dir: String,
    #[serde(deserialize_with = "nd")]
    user: String,
    #[serde(deserialize_with = "nd")]
    hostname: String,
    #[serde(deserialize_with = "nd")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    tty: bool,
    #[serde(deserialize_with = "nd")]
    open_stdin: bool,
    #[serde(deserialize_with = "nd")]
    stdin_once: bool,
    #[serde(deserialize_with = "nd")]
    stop_signal: String,
    #[serde(deserialize_with = "nd")]
    stop_timeout: Option<i64>,
    #[serde(deserialize_with = "nd")]
    volumes: BTreeMap<String, serde_json::Value>,
    #[serde(deserialize_with = "nd")]
    host_config: HostConfigBody,
    healthcheck: Option<berth_engine::health::HealthConfig>,
    #[serde(deserialize_with = "nd")]
    exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(deserialize_with = "nd")]
    mac_address: String,
    #[serde(deserialize_with = "nd")]
    networking_config: super::network_json::NetworkingConfigBody,
}

/// docker's HostConfig (the fields berth uses).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct HostConfigBody {
    #[serde(deserialize_with = "nd")]
    auto_remove: bool,
    #[serde(deserialize_with = "nd")]
    memory: i64,
    #[serde(deserialize_with = "nd")]
    nano_cpus: i64,
    pids_limit: Option<i64>,
    #[serde(deserialize_with = "nd")]
    cap_add: Vec<String>,
    #[serde(deserialize_with = "nd")]
    cap_drop: Vec<String>,
    #[serde(deserialize_with = "nd")]
    privileged: bool,
    #[serde(deserialize_with = "nd")]
    readonly_rootfs: bool,
    #[serde(deserialize_with = "nd")]
    security_opt: Vec<String>,
    init: Option<bool>,
    #[serde(deserialize_with = "nd")]
    log_config: LogConfigBody,
    #[serde(deserialize_with = "nd")]
    ulimits: Vec<UlimitBody>,
    #[serde(deserialize_with = "nd")]
    network_mode: String,
    #[serde(deserialize_with = "nd")]
    console_size: Vec<u16>,
    #[serde(deserialize_with = "nd")]
    binds: Vec<String>,
    #[serde(deserialize_with = "nd")]
    mounts: Vec<MountRequest>,
    #[serde(deserialize_with = "nd")]
    tmpfs: BTreeMap<String, String>,
    #[serde(deserialize_with = "nd")]
    volumes_from: Vec<String>,
    #[serde(deserialize_with = "nd")]
    restart_policy: RestartPolicyBody,
    #[serde(flatten)]
    net: super::network_json::HostNetBody,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct RestartPolicyBody {
    #[serde(deserialize_with = "nd")]
    name: String,
    #[serde(deserialize_with = "nd")]
    maximum_retry_count: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct LogConfigBody {
    #[serde(deserialize_with = "nd")]
    r#type: String,
    #[serde(deserialize_with = "nd")]
    config: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct UlimitBody {
    #[serde(deserialize_with = "nd")]
    name: String,
    #[serde(deserialize_with = "nd")]
    soft: i64,
    #[serde(deserialize_with = "nd")]
    hard: i64,
}

impl CreateBody {
    /// The engine's request for this body and container name.
    pub fn request(self, name: Option<String>) -> ApiResult<CreateRequest> {
        if self.image.is_empty() {
            return Err(ApiError::BadParameter(
                "no image specified (Image is empty)".into(),
            ));
        }
        let h = self.host_config;
        let net = super::network_json::container_net(
            h.net,
            self.networking_config,
            self.exposed_ports.into_keys().collect(),
            self.mac_address,
        )?;
        let empty = |s: String| (!s.is_empty()).then_some(s);
        let restart = RestartPolicy {
            name: h.restart_policy.name,
            maximum_retry_count: h.restart_policy.maximum_retry_count,
        };
        if h.auto_remove && restart.is_set() {
            return Err(ApiError::BadParameter(
                "can't create 'AutoRemove' container with restart policy".into(),
            ));
        }
        let mounts = MountRequests {
            binds: h.binds,
            mounts: h.mounts,
            tmpfs: h.tmpfs,
            volumes_from: h.volumes_from,
            volumes: self.volumes.into_keys().collect(),
        };
        let host = HostOptions {
            memory: h.memory,
            nano_cpus: h.nano_cpus,
            pids_limit: h.pids_limit,
            cap_add: h.cap_add,
            cap_drop: h.cap_drop,
            privileged: h.privileged,
            readonly_rootfs: h.readonly_rootfs,
            security_opt: h.security_opt,
            init: h.init,
            log_config: LogConfig {
                driver: h.log_config.r#type,
                options: h.log_config.config,
            },
            ulimits: h
                .ulimits
                .into_iter()
                .map(|u| Ulimit {
                    name: u.name,
                    soft: u.soft,
                    hard: u.hard,
                })
                .collect(),
            network_mode: h.network_mode,
            console_size: match h.console_size[..] {
                [height, width] if height > 0 && width > 0 => Some([height, width]),
                _ => None,
            },
            restart_policy: restart,
            net,
        };
        if !self.stop_signal.is_empty() {
            super::lifecycle::parse_signal(&self.stop_signal)?;
        }
        let config = Config {
            cmd: self.cmd.into_vec().unwrap_or_default(),
            entrypoint: self.entrypoint.into_vec(),
            env: self.env,
            user: empty(self.user),
            workdir: empty(self.working_dir),
            tty: self.tty,
            auto_remove: h.auto_remove,
            hostname: empty(self.hostname),
            labels: self.labels,
            open_stdin: self.open_stdin,
            stdin_once: self.stdin_once,
            stop_signal: empty(self.stop_signal),
            stop_timeout: self.stop_timeout,
            host,
            mounts,
            healthcheck: self.healthcheck,
        };
        Ok(CreateRequest {
            image: self.image,
            name,
            config,
        })
    }
}

/// `POST /containers/create?name=`.
pub async fn create(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let parsed: CreateBody = parse_body(&body)?;
    let name = q.get("name").filter(|n| !n.is_empty()).map(String::from);
    let mut req = parsed.request(name)?;
    let defaults = d.settings.clone();
    if req.config.host.log_config.driver.is_empty() {
        req.config.host.log_config = LogConfig {
            driver: defaults.log_driver.clone(),
            options: defaults.log_opts.clone(),
        };
    }
    let log = &req.config.host.log_config;
    berth_logs::LogConfig::parse(&log.driver, &log.options)
        .map_err(|e| ApiError::BadParameter(e.to_string()))?;
    let (c, made) = d
        .with_engine(move |e| {
            // Only binds, mounts and volumes-from can name a volume that exists already
            // (anonymous ones are always new): no directory read otherwise.
            let m = &req.config.mounts;
            let named = !m.binds.is_empty() || !m.mounts.is_empty() || !m.volumes_from.is_empty();
            let before = if named {
                e.volumes().names()?
            } else {
                Default::default()
            };
            let c = e.create(&req)?;
            let made: Vec<String> = c
                .mounts
                .iter()
                .filter(|m| m.kind == "volume" && !before.contains(&m.name))
                .map(|m| m.name.clone())
                .collect();
            Ok((c, made))
        })
        .await?;
    for v in &made {
        d.object_event("volume", "create", v, None);
    }
    d.container_event(&c, "create", &[]);
    Ok(json(
        StatusCode::CREATED,
        &json!({"Id": c.id, "Warnings": super::network_json::create_warnings(&c)}),
    ))
}

/// `GET /containers/{id}/json`.
pub async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    axum::Extension(v): axum::Extension<crate::version::ApiVersion>,
) -> ApiResult<Response> {
    let me = d.clone();
    // Without the engine: a create or stop in progress does not hold inspect up.
    let mut doc = blocking(move || {
        let c = me.current(&id)?;
        // Like dockerd, the execs that still run.
        let execs: Vec<String> = me
            .execs
            .of_container(&c.id)
            .into_iter()
            .filter(|x| me.execs.get(x).is_some_and(|e| e.running))
            .collect();
        container_json::inspect(&me.sources(), &c, &execs)
    })
    .await?;
    if !v.at_least(1, 42) {
        doc["HostConfig"]["KernelMemory"] = json!(0);
        doc["HostConfig"]["KernelMemoryTCP"] = json!(0);
    }
    Ok(json(StatusCode::OK, &doc))
}

/// `GET /containers/json?all=&limit=&size=&filters=`. Answered from the container
/// store without the engine's lock (so a slow create or stop elsewhere does not hold up
/// `ps`); the engine is asked only to resolve `ancestor` images and to check a running
/// container no task watches.
pub async fn list(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let filters = q.filters()?;
    filters.accept(&container_json::LIST_FILTERS)?;
    let limit = q.int("limit")?.filter(|n| *n > 0);
    let all = q.bool("all") || limit.is_some();
    let wanted: Vec<String> = filters.values("ancestor").to_vec();
    let ancestors = match wanted.is_empty() {
        true => Vec::new(),
        false => {
            d.with_engine(move |e| Ok(container_json::resolve_images(e, &wanted)))
                .await?
        }
    };
    let me = d.clone();
    blocking(move || {
        let list = me.current_containers_shared()?;
        let nets = super::network_json::by_container(&super::network_json::state_of(&me));
        let f = container_json::ListFilter::new(&filters, &list, &me.containers, ancestors)?;
        let mut out: Vec<&Container> = list
            .iter()
            .map(|c| &**c)
            .filter(|c| f.keeps(c, all))
            .collect();
        if let Some(n) = limit {
            out.truncate(n as usize);
        }
        let items: Vec<_> = out
            .iter()
            .map(|c| super::network_json::decorate(container_json::Summary::of(c), c, &nets))
            .collect();
        Ok(json(StatusCode::OK, &items))
    })
    .await
}

/// `DELETE /containers/{id}?force=&v=`. A running container is refused without
/// `force`; with it, it is killed and its exit awaited without the engine lock. `v`
/// removes its anonymous volumes too.
pub async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let q = Query::parse(q.as_deref());
    let (force, volumes) = (q.bool("force"), q.bool("v"));
    let c = d.with_engine(move |e| Ok(e.find(&id)?)).await?;
    if c.state.status == Status::Running {
        if !force {
            return Err(EngineError::Running { name: c.name }.into());
        }
        super::lifecycle::stop_container(&d, c.id.clone(), libc::SIGKILL, Some(Duration::ZERO))
            .await?;
    }
    d.execs_ended(&c.id).await;
    let mut tries = 0;
    loop {
        let cid = c.id.clone();
        let r = d
            .with_engine(move |e| match e.find(&cid) {
                Ok(c) => Ok(e.remove(&c, force)?),
                Err(EngineError::NoSuchContainer(_)) => Ok(()),
                Err(err) => Err(err.into()),
            })
            .await;
        match r {
            // An exec's shim may still write its last file into the directory.
            Err(ApiError::Engine(EngineError::Io { .. })) if tries < 5 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            r => break r?,
        }
    }
    d.forget(&c.id);
    d.container_event(&c, "destroy", &[]);
    if volumes {
        d.with_engine(move |e| Ok(e.remove_anonymous_volumes(&c)?))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/{id}/update` body (the fields berth can change).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UpdateBody {
    memory: Option<i64>,
    nano_cpus: Option<i64>,
    pids_limit: Option<i64>,
    restart_policy: Option<RestartPolicyBody>,
}

/// `POST /containers/{id}/update`: new limits (applied at once to a running container)
/// and restart policy.
pub async fn update(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: UpdateBody = parse_body(&body)?;
    let u = berth_engine::lifecycle::Update {
        memory: b.memory.filter(|m| *m != 0),
        nano_cpus: b.nano_cpus.filter(|n| *n != 0),
        pids_limit: b.pids_limit.filter(|p| *p != 0),
        restart_policy: b
            .restart_policy
            .filter(|r| !r.name.is_empty())
            .map(|r| RestartPolicy {
                name: r.name,
                maximum_retry_count: r.maximum_retry_count,
            }),
    };
    d.with_engine(move |e| Ok(e.update(&e.find(&id)?, &u)?))
        .await?;
    Ok(json(StatusCode::OK, &json!({"Warnings": []})))
}

/// `POST /containers/prune?filters=`: every container that does not run (labels and
/// `until` filter which), with its writable layer and directory.
pub async fn prune(State(d): State<Arc<Daemon>>, RawQuery(q): RawQuery) -> ApiResult<Response> {
    let filters = Query::parse(q.as_deref()).filters()?;
    filters.accept(&["label", "until"])?;
    let until = match filters.values("until").first() {
        Some(u) => Some(container_json::parse_until(u)?),
        None => None,
    };
    let list = d.current_containers_async().await?;
    let mut deleted = Vec::new();
    let mut reclaimed: u64 = 0;
    for c in list {
        let old_enough = until.is_none_or(|t| {
            berth_engine::record::parse_time(&c.created).is_some_and(|created| created < t)
        });
        if c.state.status == Status::Running
            || !old_enough
            || !filters.labels_match(&c.config.labels)
        {
            continue;
        }
        let cid = c.id.clone();
        let size = d
            .with_engine(move |e| {
                let size = e
                    .images()
                    .snapshotter()
                    .usage(&c.snapshot_key)
                    .map(|u| u.bytes)
                    .unwrap_or(0);
                match e.remove(&c, false) {
                    Ok(()) => Ok(Some(size)),
                    Err(EngineError::Running { .. }) => Ok(None),
                    Err(err) => Err(err.into()),
                }
            })
            .await?;
        if let Some(size) = size {
            d.forget(&cid);
            reclaimed += size;
            deleted.push(cid);
        }
    }
    let body = json!({
        "ContainersDeleted": if deleted.is_empty() { serde_json::Value::Null } else { json!(deleted) },
        "SpaceReclaimed": reclaimed,
    });
    Ok(json(StatusCode::OK, &body))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let name = Query::parse(q.as_deref()).str("name").to_string();
    d.with_engine(move |e| {
        let c = e.find(&id)?;
        Ok(e.rename(&c, &name)?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_map_onto_the_engine_request() {
        let body: CreateBody = serde_json::from_str(
            r#"{"Image":"busybox","Cmd":["echo","hi"],"Entrypoint":null,"Env":null,"Labels":{"a":"b"},
                "HostConfig":{"AutoRemove":true,"Memory":1048576,"PidsLimit":null,"CapAdd":["NET_ADMIN"],
                "LogConfig":{"Type":"none","Config":{}},"Ulimits":[{"Name":"nofile","Soft":1,"Hard":2}],"NetworkMode":"none"}}"#,
        )
        .unwrap();
        let r = body.request(Some("x".into())).unwrap();
        assert_eq!(r.config.cmd, ["echo", "hi"]);
        assert_eq!(r.config.entrypoint, None);
        assert!(r.config.auto_remove);
        assert_eq!(r.config.host.memory, 1 << 20);
        assert_eq!(r.config.host.log_config.driver, "none");
        assert_eq!(r.config.host.ulimits[0].hard, 2);
        assert_eq!(r.config.labels["a"], "b");
    }

    #[test]
    fn bad_bodies_are_refused() {
        let empty: CreateBody = serde_json::from_str("{}").unwrap();
        assert!(empty.request(None).is_err());
        let net: CreateBody = serde_json::from_str(
            r#"{"Image":"x","HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"x"}]}}}"#,
        )
        .unwrap();
        assert!(net.request(None).is_err());
        assert!(serde_json::from_str::<CreateBody>(r#"{"Image":5}"#).is_err());
    }
}
