//! The runtime spec a container gets from its image, with docker's defaults around it.

use std::path::Path;

use oci_spec::image::Config;
use oci_spec::runtime::{LinuxSeccomp, Spec};
use serde_json::{json, Value};

use crate::user::{self, UserError};

/// Docker's default capability set.
pub use berth_runtime::seccomp::DOCKER_DEFAULT_CAPS as DEFAULT_CAPS;

/// The paths docker masks in a container (`HostConfig.MaskedPaths`).
pub const MASKED: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// The paths docker makes read-only in a container (`HostConfig.ReadonlyPaths`).
pub const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What the caller decides about a new container beyond its image.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Container id (its first 12 characters become the hostname).
    pub id: String,
    /// Replaces the image's Cmd when not empty.
    pub cmd: Vec<String>,
    /// Replaces the image's Entrypoint when set.
    pub entrypoint: Option<Vec<String>>,
    /// Added to (and overriding) the image's environment.
    pub env: Vec<String>,
    /// Replaces the image's User when set.
    pub user: Option<String>,
    /// Replaces the image's WorkingDir when set.
    pub workdir: Option<String>,
    /// Allocate a terminal.
    pub tty: bool,
    /// The seccomp filter (docker's default profile, converted), if any.
    pub seccomp: Option<LinuxSeccomp>,
    /// Give the container a cgroup namespace (docker does on cgroup v2 hosts).
    pub cgroupns: bool,
}

/// A spec that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the image nor the caller gives a command.
    #[error("no command specified")]
    NoCommand,
    /// The user is not known in the container.
    #[error(transparent)]
    User(#[from] UserError),
    /// The assembled spec does not parse (a bug).
    #[error("assemble spec: {0}")]
    Assemble(#[from] serde_json::Error),
}

/// The process arguments: entrypoint then cmd, each from the caller or else the image
/// (what the container runs, as `docker ps` shows it).
pub fn command(config: Option<&Config>, opts: &Options) -> Result<Vec<String>, SpecError> {
    args(config, opts)
}

/// The process arguments: entrypoint then cmd, each from the caller or else the image.
fn args(config: Option<&Config>, opts: &Options) -> Result<Vec<String>, SpecError> {
    let entrypoint = match &opts.entrypoint {
        Some(e) => e.clone(),
        None => config
            .and_then(|c| c.entrypoint().clone())
            .unwrap_or_default(),
    };
    let cmd = if !opts.cmd.is_empty() {
        opts.cmd.clone()
    } else if opts.entrypoint.is_some() {
        Vec::new()
    } else {
        config.and_then(|c| c.cmd().clone()).unwrap_or_default()
    };
    let all: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if all.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(all)
}

/// The environment: the image's, then the caller's (a caller key replaces the image's),
/// with PATH and HOSTNAME as docker adds them.
fn env(config: Option<&Config>, opts: &Options, hostname: &str) -> Vec<String> {
    let mut env: Vec<String> = config.and_then(|c| c.env().clone()).unwrap_or_default();
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    for kv in &opts.env {
        let k = key(kv);
        env.retain(|e| key(e) != k);
        env.push(kv.clone());
    }
    if !env.iter().any(|e| key(e) == "PATH") {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    env.insert(0, format!("HOSTNAME={hostname}"));
    if opts.tty && !env.iter().any(|e| key(e) == "TERM") {
        env.push("TERM=xterm".into());
    }
    env
}

fn mounts() -> Value {
    let nse = ["nosuid", "noexec", "nodev"];
    json!([
        {"destination": "/proc", "type": "proc", "source": "proc", "options": nse},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": nse},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
    ])
}

/// The spec for a container of the image whose config is `config`, rooted at `rootfs`
/// (already mounted: the user is resolved against its /etc/passwd and /etc/group).
pub fn container_spec(
    config: Option<&Config>,
    rootfs: &Path,
    opts: &Options,
) -> Result<Spec, SpecError> {
    let hostname: String = opts.id.chars().take(12).collect();
    let user_spec = match &opts.user {
        Some(u) => u.clone(),
        None => config.and_then(|c| c.user().clone()).unwrap_or_default(),
    };
    let user = user::resolve(rootfs, &user_spec)?;
    let cwd = opts
        .workdir
        .clone()
        .or_else(|| config.and_then(|c| c.working_dir().clone()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if opts.cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let spec = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": opts.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": args(config, opts)?,
            "env": env(config, opts, &hostname),
            "cwd": cwd,
            "capabilities": {"bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS},
            "noNewPrivileges": false,
            "oomScoreAdj": 0
        },
        "root": {"path": rootfs, "readonly": false},
        "hostname": hostname,
        "mounts": mounts(),
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "cgroupsPath": format!("/berth/{}", opts.id),
            "namespaces": namespaces,
            "seccomp": opts.seccomp,
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY
        }
    });
    Ok(serde_json::from_value(strip_nulls(spec))?)
}

/// Removes null members (an absent seccomp filter) so optional fields stay absent.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(v: Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn command_env_and_defaults_come_from_the_image() {
        let root = tempfile::tempdir().unwrap();
        let c = config(json!({"Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/srv"}));
        let opts = Options {
            id: "0123456789abcdef".into(),
            env: vec!["A=2".into()],
            ..Default::default()
        };
        let spec = container_spec(Some(&c), root.path(), &opts).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["sh"]);
        assert_eq!(
            p.env().as_ref().unwrap(),
            &["HOSTNAME=0123456789ab", "PATH=/bin", "A=2"]
        );
        assert_eq!(p.cwd().to_str(), Some("/srv"));
        assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
    }

    #[test]
    fn entrypoint_and_cmd_combine_as_docker_does() {
        let root = tempfile::tempdir().unwrap();
        let c = config(json!({"Entrypoint": ["/bin/app"], "Cmd": ["--serve"]}));
        let run = |opts: Options| {
            let spec = container_spec(Some(&c), root.path(), &opts).unwrap();
            spec.process().as_ref().unwrap().args().clone().unwrap()
        };
        assert_eq!(run(Options::default()), ["/bin/app", "--serve"]);
        let cmd = Options {
            cmd: vec!["--debug".into()],
            ..Default::default()
        };
        assert_eq!(run(cmd), ["/bin/app", "--debug"]);
        let ep = Options {
            entrypoint: Some(vec!["sh".into()]),
            ..Default::default()
        };
        assert_eq!(run(ep), ["sh"]);
        let none = config(json!({}));
        assert!(matches!(
            container_spec(Some(&none), root.path(), &Options::default()),
            Err(SpecError::NoCommand)
        ));
    }
}
