//! `/_ping`, `/version` and `/info`: what the daemon is and what the host has, with
//! honest values (no containerd or runc components; berth's own runtime).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_engine::record::Status;
use berth_image::formats::Platform;
use serde_json::{json, Map, Value};

use super::json;
use crate::error::ApiResult;
use crate::state::Daemon;
use crate::{API_VERSION, MIN_API_VERSION, VERSION};

/// `GET|HEAD /_ping`.
pub async fn ping(method: Method) -> Response {
    let mut h = HeaderMap::new();
    let pairs = [
        ("API-Version", API_VERSION),
        ("Builder-Version", "1"),
        ("Docker-Experimental", "false"),
        ("OSType", "linux"),
        ("Swarm", "inactive"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
        ("Pragma", "no-cache"),
        // berthd's own extensions, for berth's CLI (docker's clients ignore it).
        ("Berth-Features", "build-context-dir"),
    ];
    for (k, v) in pairs {
        h.insert(k, HeaderValue::from_static(v));
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    let body = if method == Method::HEAD { "" } else { "OK" };
    (StatusCode::OK, h, body).into_response()
}

/// The kernel's release (`uname -r`).
fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `GET /version`.
pub async fn version() -> Response {
    let p = Platform::host();
    let kernel = kernel_version();
    let details = json!({
        "ApiVersion": API_VERSION,
        "Arch": p.arch,
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": "",
        "GoVersion": "",
        "KernelVersion": kernel,
        "MinAPIVersion": MIN_API_VERSION,
        "Os": p.os,
    });
    let body = json!({
        "Platform": {"Name": format!("berth {VERSION}")},
        "Components": [{"Name": "Engine", "Version": VERSION, "Details": details}],
        "Version": VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": p.os,
        "Arch": p.arch,
        "KernelVersion": kernel,
        "BuildTime": "",
    });
    json(StatusCode::OK, &body)
}

/// What `/info` counts in the stores.
struct Counts {
    containers: usize,
    running: usize,
    images: usize,
    driver: &'static str,
}

/// `GET /info`.
pub async fn info(
    State(d): State<Arc<Daemon>>,
    axum::Extension(v): axum::Extension<crate::version::ApiVersion>,
) -> ApiResult<Response> {
    let counts = d
        .with_engine(|e| {
            let list = e.list()?;
            Ok(Counts {
                containers: list.len(),
                running: list
                    .iter()
                    .filter(|c| c.state.status == Status::Running)
                    .count(),
                images: e.images().db().list()?.len(),
                driver: e.images().snapshotter().driver_name(),
            })
        })
        .await?;
    let mut m = Map::new();
    counts_part(&mut m, &counts);
    host_part(&mut m, &d);
    daemon_part(&mut m, &d);
    // Fields that came and went with API versions, as dockerd answers each version.
    if !v.at_least(1, 42) {
        m.insert("KernelMemory".into(), json!(false));
        m.insert("KernelMemoryTCP".into(), json!(false));
    }
    if !v.at_least(1, 44) {
        m.remove("CDISpecDirs");
    }
    Ok(json(StatusCode::OK, &Value::Object(m)))
}

fn counts_part(m: &mut Map<String, Value>, c: &Counts) {
    let v = json!({
        "Containers": c.containers,
        "ContainersRunning": c.running,
        "ContainersPaused": 0,
        "ContainersStopped": c.containers - c.running,
        "Images": c.images,
        "Driver": c.driver,
        "DriverStatus": [],
    });
    extend(m, v);
}

fn host_part(m: &mut Map<String, Value>, d: &Daemon) {
    let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let v = json!({
        "MemoryLimit": true,
        "SwapLimit": true,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": true,
        "PidsLimit": true,
        "OomKillDisable": !cgroup_v2,
        "IPv4Forwarding": read_trim("/proc/sys/net/ipv4/ip_forward") == "1",
        "BridgeNfIptables": false,
        "BridgeNfIp6tables": false,
        "KernelVersion": kernel_version(),
        "OperatingSystem": os_name(),
        "OSVersion": os_field("VERSION_ID"),
        "OSType": "linux",
        "Architecture": nix::sys::utsname::uname().map(|u| u.machine().to_string_lossy().into_owned()).unwrap_or_default(),
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total(),
        "Name": d.hostname,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if cgroup_v2 { "2" } else { "1" },
        "SystemTime": humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
    });
    extend(m, v);
}

fn daemon_part(m: &mut Map<String, Value>, d: &Daemon) {
    let s = &d.settings;
    let v = json!({
        "ID": d.id,
        "Debug": s.debug,
        "NFd": std::fs::read_dir("/proc/self/fd").map_or(0, |r| r.count()),
        "NGoroutines": 0,
        "NEventsListener": 0,
        "LoggingDriver": s.log_driver,
        "DockerRootDir": s.data_root,
        "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Authorization": null, "Log": ["json-file", "none"]},
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "InsecureRegistryCIDRs": ["127.0.0.0/8"],
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "Mirrors": [],
        },
        "GenericResources": null,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": VERSION,
        "Runtimes": {"berth": {"path": "berth-runtime"}},
        "DefaultRuntime": "berth",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "CDISpecDirs": [],
        // dockerd's: null when it has nothing to warn about.
        "Warnings": if read_trim("/proc/sys/net/ipv4/ip_forward") == "1" {
            Value::Null
        } else {
            json!(["WARNING: IPv4 forwarding is disabled"])
        },
    });
    extend(m, v);
}

fn extend(m: &mut Map<String, Value>, v: Value) {
    if let Value::Object(o) = v {
        m.extend(o);
    }
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A field of /etc/os-release, unquoted.
fn os_field(key: &str) -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_default()
}

fn os_name() -> String {
    match os_field("PRETTY_NAME") {
        s if s.is_empty() => "Linux".into(),
        s => s,
    }
}

/// Bytes of memory, from /proc/meminfo's MemTotal.
fn mem_total() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
