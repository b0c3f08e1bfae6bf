//! The runtime spec a container gets, as dockerd writes it: the image's command,
//! environment, user and working directory; docker's defaults (capabilities, masked paths,
//! mounts, the seccomp profile); and the settings the container was created with
//! (resources, capabilities, privileges, security options, ulimits, hostname, network
//! mode, `--init`). Starting a container also writes its /etc/hostname, /etc/hosts and
//! /etc/resolv.conf beside its root (see [`network`]). What the spec needs to know about
//! the machine comes through [`Host`]; impossible settings are refused at create time by
//! [`check`].

mod host;
pub mod network;
pub mod resources;
pub mod security;

use std::path::{Path, PathBuf};

use oci_spec::image::Config;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

pub use self::host::{default_init_binary, Host, SystemHost};
use self::network::NetworkMode;
use crate::options::HostOptions;
use crate::record::Container;
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

/// Where `--init` mounts the init binary in the container (where docker mounts its own).
pub const INIT_PATH: &str = "/sbin/docker-init";

/// What the caller decides about a new container beyond its image.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Container id (its first 12 characters are the default hostname).
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
    /// The hostname (default: see [`network::hostname`]).
    pub hostname: Option<String>,
    /// Resources, security and network settings.
    pub settings: HostOptions,
    /// Give the container a cgroup namespace (docker does on cgroup v2 hosts).
    pub cgroupns: bool,
    /// Volumes, binds and tmpfs mounts (resolved).
    pub mounts: Vec<crate::mounts::MountPoint>,
    /// The network namespace to join (set at start for a container on networks).
    pub joined: Option<network::Joined>,
}

impl Options {
    /// The options container `c`'s record gives.
    pub fn from_record(c: &Container) -> Options {
        Options {
            id: c.id.clone(),
            cmd: c.config.cmd.clone(),
            entrypoint: c.config.entrypoint.clone(),
            env: c.config.env.clone(),
            user: c.config.user.clone(),
            workdir: c.config.workdir.clone(),
            tty: c.config.tty,
            hostname: c.config.hostname.clone(),
            settings: c.config.host.clone(),
            cgroupns: false,
            mounts: c.mounts.clone(),
            joined: None,
        }
    }
}

/// A spec that cannot be made. All but [`SpecError::Write`] and
/// [`SpecError::Assemble`] are the caller's settings ([`SpecError::is_bad_input`]).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the image nor the caller gives a command.
    #[error("no command specified")]
    NoCommand,
    /// A healthcheck dockerd would refuse.
    #[error(transparent)]
    Health(#[from] crate::health::HealthConfigError),
    /// A restart policy docker would refuse.
    #[error("{0}")]
    Restart(String),
    /// The user is not known in the container.
    #[error(transparent)]
    User(#[from] UserError),
    /// A memory limit below docker's minimum.
    #[error("Minimum memory limit allowed is 6MB (asked for {bytes} bytes)")]
    Memory {
        /// The limit asked for.
        bytes: i64,
    },
    /// A CPU quota out of range.
    #[error("Range of CPUs is from 0.01 to {available}.00, as there are only {available} CPUs available (asked for {nano_cpus} nano CPUs)")]
    Cpus {
        /// `NanoCpus` as asked.
        nano_cpus: i64,
        /// The host's CPUs.
        available: usize,
    },
    /// A capability name Linux does not have.
    #[error("invalid {field}: unknown capability: {name:?}")]
    Capability {
        /// `CapAdd` or `CapDrop`.
        field: &'static str,
        /// The name, normalized (`CAP_...`).
        name: String,
    },
    /// A `--security-opt` berth does not take.
    #[error("invalid --security-opt {opt:?}: {reason}")]
    SecurityOpt {
        /// The option as given.
        opt: String,
        /// Why.
        reason: &'static str,
    },
    /// A `seccomp=<file>` whose file cannot be read.
    #[error("invalid --security-opt seccomp={}: {source}", path.display())]
    SeccompFile {
        /// The profile file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A seccomp profile that does not convert.
    #[error("seccomp profile: {0}")]
    Seccomp(#[source] berth_runtime::seccomp::Error),
    /// A `--ulimit` that cannot be set.
    #[error("invalid ulimit {name}: {reason}")]
    Ulimit {
        /// The limit's name as given.
        name: String,
        /// Why.
        reason: String,
    },
    /// A network mode berth does not have.
    #[error("network mode {0:?} is not available (no such network here)")]
    NetworkMode(String),
    /// `--init` without an init binary.
    #[error("--init: no berth-init binary beside the engine's executable; set BERTH_INIT to one")]
    NoInit,
    /// The rootfs has no directory above it to hold the container's /etc files.
    #[error("rootfs {0} has no parent directory for the container's files")]
    NoContainerDir(PathBuf),
    /// Writing one of the container's /etc files failed.
    #[error("write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The assembled spec does not parse (a bug).
    #[error("assemble spec: {0}")]
    Assemble(#[from] serde_json::Error),
}

impl SpecError {
    /// Whether the caller's settings are at fault (docker answers 400), rather than this
    /// host or berth (500).
    pub fn is_bad_input(&self) -> bool {
        !matches!(
            self,
            SpecError::Write { .. } | SpecError::Assemble(_) | SpecError::NoContainerDir(_)
        )
    }
}

/// Checks a new container's settings as dockerd does at create time, and keeps a
/// `seccomp=<file>` profile as its content. Impossible values are refused: memory below
/// 6 MB, CPUs out of range, unknown capabilities, security options, ulimits or network
/// modes, a profile that does not convert, `--init` without an init binary.
pub fn check(settings: &mut HostOptions, host: &dyn Host) -> Result<(), SpecError> {
    resources::check(settings, host)?;
    network::mode(&settings.network_mode)?;
    security::inline_profile_files(&mut settings.security_opt)?;
    let sec = security::parse(&settings.security_opt)?;
    let s = &*settings;
    let caps = security::capabilities(&s.cap_add, &s.cap_drop, s.privileged, host)?;
    if let security::Seccomp::Profile(_) = sec.seccomp {
        security::filter(&sec, s.privileged, &caps)?;
    }
    if s.init == Some(true) && host.init_binary().is_none() {
        return Err(SpecError::NoInit);
    }
    check_restart(&s.restart_policy)
}

fn check_restart(p: &crate::options::RestartPolicy) -> Result<(), SpecError> {
    if !crate::options::RestartPolicy::NAMES.contains(&p.name.as_str()) {
        return Err(SpecError::Restart(format!(
            "invalid restart policy '{}'",
            p.name
        )));
    }
    if p.maximum_retry_count < 0 {
        return Err(SpecError::Restart(
            "invalid restart policy: maximum retry count can't be negative".into(),
        ));
    }
    if p.maximum_retry_count > 0 && p.name != "on-failure" {
        return Err(SpecError::Restart(format!(
            "invalid restart policy: maximum retry count can only be used with 'on-failure' (policy '{}')",
            p.name
        )));
    }
    Ok(())
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

/// docker's default mounts; a privileged container's /sys and cgroups are writable.
fn mounts(privileged: bool) -> Vec<Value> {
    let nse = ["nosuid", "noexec", "nodev"];
    let sys: &[&str] = if privileged {
        &nse
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let cgroup: &[&str] = if privileged {
        &nse
    } else {
        &["ro", "nosuid", "noexec", "nodev"]
    };
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": nse}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": cgroup}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": nse}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}),
    ]
}

/// The spec for a container of the image whose config is `config`, rooted at `rootfs`
/// (already mounted: the user is resolved against its /etc/passwd and /etc/group), on
/// this machine. Writes the container's /etc files into the rootfs's parent directory.
pub fn container_spec(
    config: Option<&Config>,
    rootfs: &Path,
    opts: &Options,
) -> Result<Spec, SpecError> {
    container_spec_on(config, rootfs, opts, &SystemHost)
}

/// [`container_spec`] on the given host.
pub fn container_spec_on(
    config: Option<&Config>,
    rootfs: &Path,
    opts: &Options,
    host: &dyn Host,
) -> Result<Spec, SpecError> {
    let s = &opts.settings;
    let net = match opts.joined {
        Some(_) => NetworkMode::Joined,
        None => network::mode(&s.network_mode)?,
    };
    let dir = rootfs
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| SpecError::NoContainerDir(rootfs.into()))?;
    let (hostname, files_dir) = network::etc_files(dir, opts, net, host)?;
    let mut mounts = mounts(s.privileged);
    let mut args = args(config, opts)?;
    if s.init == Some(true) {
        let init = host.init_binary().ok_or(SpecError::NoInit)?;
        mounts.push(json!({"destination": INIT_PATH, "type": "bind", "source": init, "options": ["bind", "ro"]}));
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    mounts.extend(network::mounts(&files_dir, s.readonly_rootfs));
    add_user_mounts(&mut mounts, &opts.mounts);
    let security = security::parse(&s.security_opt)?;
    let caps = security::capabilities(&s.cap_add, &s.cap_drop, s.privileged, host)?;
    let process = process(config, rootfs, opts, &hostname, args, &caps, &security)?;
    let linux = linux(opts, net, &security, &caps, host)?;
    let spec = json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": rootfs, "readonly": s.readonly_rootfs},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux
    });
    Ok(serde_json::from_value(strip_nulls(spec))?)
}

/// Adds the container's own mounts after the default ones; a default mount at a
/// destination the user mounts something on (`/dev/shm`, `/etc/hosts`) gives way, as
/// in docker. Then, as docker orders them, shallower destinations first (a volume on
/// `/etc` before the bind on `/etc/hosts`), the order among equals kept.
fn add_user_mounts(mounts: &mut Vec<Value>, user: &[crate::mounts::MountPoint]) {
    if user.is_empty() {
        return;
    }
    mounts.retain(|m| {
        !user
            .iter()
            .any(|u| m["destination"].as_str() == Some(u.destination.as_str()))
    });
    mounts.extend(crate::mounts::oci_mounts(user));
    let depth = |m: &Value| {
        m["destination"]
            .as_str()
            .map_or(0, |d| d.trim_end_matches('/').matches('/').count())
    };
    mounts.sort_by_key(depth);
}

/// `process`: what runs, as whom, with which capabilities and limits.
fn process(
    config: Option<&Config>,
    rootfs: &Path,
    opts: &Options,
    hostname: &str,
    args: Vec<String>,
    caps: &[String],
    security: &security::Security,
) -> Result<Value, SpecError> {
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
    Ok(json!({
        "terminal": opts.tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        "args": args,
        "env": env(config, opts, hostname),
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": resources::rlimits(&opts.settings.ulimits)?,
        "noNewPrivileges": security.no_new_privileges,
        "oomScoreAdj": 0
    }))
}

/// `linux`: namespaces, resources, devices, seccomp, masked paths, sysctls.
fn linux(
    opts: &Options,
    net: NetworkMode,
    security: &security::Security,
    caps: &[String],
    host: &dyn Host,
) -> Result<Value, SpecError> {
    let s = &opts.settings;
    let mut namespaces = vec![json!({"type": "pid"})];
    match (net, &opts.joined) {
        (NetworkMode::Private, _) => namespaces.push(json!({"type": "network"})),
        (NetworkMode::Joined, Some(j)) => {
            namespaces.push(json!({"type": "network", "path": j.netns}))
        }
        _ => {}
    }
    namespaces.extend([
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ]);
    if opts.cgroupns {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let confined = !s.privileged && !security.unmasked_paths;
    let (masked, readonly): (&[&str], &[&str]) = if confined {
        (&MASKED, &READONLY)
    } else {
        (&[], &[])
    };
    let devices = if s.privileged {
        host.devices()
    } else {
        Vec::new()
    };
    Ok(json!({
        "resources": resources::resources(s, host),
        "cgroupsPath": format!("/berth/{}", opts.id),
        "namespaces": namespaces,
        "devices": devices,
        "seccomp": security::filter(security, s.privileged, caps)?,
        "sysctl": network::sysctls(net),
        "maskedPaths": masked,
        "readonlyPaths": readonly
    }))
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
    use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceType};

    fn config(v: Value) -> Config {
        serde_json::from_value(v).unwrap()
    }

    /// A host with two capabilities beyond docker's defaults, 2 CPUs, swap accounting,
    /// one device, a loopback-only resolv.conf and an init binary.
    struct FakeHost;

    impl Host for FakeHost {
        fn capabilities(&self) -> Vec<String> {
            let mut all: Vec<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
            all.extend(["CAP_SYS_ADMIN".into(), "CAP_NET_ADMIN".into()]);
            all
        }
        fn swap_accounting(&self) -> bool {
            true
        }
        fn cpus(&self) -> usize {
            2
        }
        fn hostname(&self) -> String {
            "the-host".into()
        }
        fn hosts(&self) -> String {
            "127.0.0.1 localhost the-host\n".into()
        }
        fn resolv_conf(&self) -> String {
            "search example.test\nnameserver 127.0.0.53\n".into()
        }
        fn devices(&self) -> Vec<oci_spec::runtime::LinuxDevice> {
            let fuse = LinuxDeviceBuilder::default()
                .path("/dev/fuse")
                .typ(LinuxDeviceType::C)
                .major(10)
                .minor(229)
                .build()
                .unwrap();
            vec![fuse]
        }
        fn init_binary(&self) -> Option<PathBuf> {
            Some("/opt/berth/berth-init".into())
        }
    }

    /// A container directory with an (empty) rootfs in it.
    struct Dir {
        tmp: tempfile::TempDir,
    }

    impl Dir {
        fn new() -> Dir {
            let tmp = tempfile::tempdir().unwrap();
            std::fs::create_dir(tmp.path().join("rootfs")).unwrap();
            Dir { tmp }
        }
        fn rootfs(&self) -> PathBuf {
            self.tmp.path().join("rootfs")
        }
        fn read(&self, name: &str) -> String {
            std::fs::read_to_string(self.tmp.path().join(name)).unwrap()
        }
    }

    fn spec_with(settings: HostOptions) -> (Dir, Spec) {
        let dir = Dir::new();
        let c = config(json!({"Cmd": ["sh"]}));
        let opts = Options {
            id: "0123456789abcdef".into(),
            settings,
            ..Default::default()
        };
        let spec = container_spec_on(Some(&c), &dir.rootfs(), &opts, &FakeHost).unwrap();
        (dir, spec)
    }

    fn to_json(spec: &Spec) -> Value {
        serde_json::to_value(spec).unwrap()
    }

    /// A list of strings as a set (the spec keeps capabilities in a hash set).
    fn set(v: &Value) -> std::collections::BTreeSet<String> {
        serde_json::from_value(v.clone()).unwrap()
    }

    #[test]
    fn command_env_and_defaults_come_from_the_image() {
        let dir = Dir::new();
        let c = config(json!({"Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/srv"}));
        let opts = Options {
            id: "0123456789abcdef".into(),
            env: vec!["A=2".into()],
            ..Default::default()
        };
        let spec = container_spec_on(Some(&c), &dir.rootfs(), &opts, &FakeHost).unwrap();
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["sh"]);
        assert_eq!(
            p.env().as_ref().unwrap(),
            &["HOSTNAME=0123456789ab", "PATH=/bin", "A=2"]
        );
        assert_eq!(p.cwd().to_str(), Some("/srv"));
        assert_eq!(spec.hostname().as_deref(), Some("0123456789ab"));
        assert!(spec.linux().as_ref().unwrap().seccomp().is_some());
    }

    #[test]
    fn entrypoint_and_cmd_combine_as_docker_does() {
        let dir = Dir::new();
        let c = config(json!({"Entrypoint": ["/bin/app"], "Cmd": ["--serve"]}));
        let run = |opts: Options| {
            let spec = container_spec_on(Some(&c), &dir.rootfs(), &opts, &FakeHost).unwrap();
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
            container_spec_on(Some(&none), &dir.rootfs(), &Options::default(), &FakeHost),
            Err(SpecError::NoCommand)
        ));
    }

    #[test]
    fn defaults_are_dockers() {
        let (dir, spec) = spec_with(HostOptions::default());
        let v = to_json(&spec);
        assert_eq!(
            set(&v["process"]["capabilities"]["bounding"]),
            set(&json!(DEFAULT_CAPS))
        );
        assert_eq!(v["process"]["noNewPrivileges"], false);
        assert_eq!(v["root"]["readonly"], false);
        assert_eq!(v["linux"]["maskedPaths"], json!(MASKED));
        assert_eq!(v["linux"]["readonlyPaths"], json!(READONLY));
        assert_eq!(
            v["linux"]["resources"],
            json!({"devices": [{"allow": false, "access": "rwm"}]})
        );
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert!(v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!({"type": "network"})));
        assert_eq!(
            v["linux"]["sysctl"]["net.ipv4.ip_unprivileged_port_start"],
            "0"
        );
        assert_eq!(dir.read("hostname"), "0123456789ab\n");
        assert!(dir.read("hosts").starts_with("127.0.0.1\tlocalhost\n"));
        // The loopback server is unreachable from the container's namespace.
        assert_eq!(
            dir.read("resolv.conf"),
            "search example.test\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let etc: Vec<&Value> = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["destination"].as_str().unwrap().starts_with("/etc/"))
            .collect();
        assert_eq!(etc.len(), 3);
        assert_eq!(etc[0]["options"], json!(["rbind", "rprivate"]));
    }

    #[test]
    fn resources_and_limits() {
        let settings = HostOptions {
            memory: 64 << 20,
            nano_cpus: 1_500_000_000,
            pids_limit: Some(50),
            ulimits: vec![crate::options::Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            }],
            ..Default::default()
        };
        let (_dir, spec) = spec_with(settings);
        let v = to_json(&spec);
        let res = &v["linux"]["resources"];
        assert_eq!(res["memory"], json!({"limit": 64 << 20, "swap": 128 << 20}));
        assert_eq!(res["cpu"], json!({"quota": 150000, "period": 100000}));
        assert_eq!(res["pids"], json!({"limit": 50}));
        assert_eq!(
            v["process"]["rlimits"],
            json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}])
        );
    }

    #[test]
    fn capabilities_add_drop_and_all() {
        let caps = |add: &[&str], drop: &[&str]| {
            let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            security::capabilities(&v(add), &v(drop), false, &FakeHost).unwrap()
        };
        let c = caps(&["net_admin"], &["CAP_CHOWN", "kill"]);
        assert!(c.contains(&"CAP_NET_ADMIN".into()));
        assert!(!c.contains(&"CAP_CHOWN".into()) && !c.contains(&"CAP_KILL".into()));
        assert_eq!(c.len(), DEFAULT_CAPS.len() - 1);
        assert_eq!(
            caps(&["ALL"], &["NET_RAW"]).len(),
            FakeHost.capabilities().len() - 1
        );
        assert_eq!(caps(&["CHOWN"], &["all"]), ["CAP_CHOWN"]);
        let err = security::capabilities(&["FOO".into()], &[], false, &FakeHost).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid CapAdd: unknown capability: \"CAP_FOO\""
        );
    }

    #[test]
    fn privileged_gets_everything() {
        let settings = HostOptions {
            privileged: true,
            ..Default::default()
        };
        let (_dir, spec) = spec_with(settings);
        let v = to_json(&spec);
        assert_eq!(
            set(&v["process"]["capabilities"]["effective"]),
            set(&json!(FakeHost.capabilities()))
        );
        assert!(v["linux"].get("seccomp").is_none());
        assert!(v["linux"]
            .get("maskedPaths")
            .is_none_or(|m| m == &json!([])));
        assert_eq!(v["linux"]["devices"][0]["path"], "/dev/fuse");
        assert_eq!(
            v["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        let sys = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/sys");
        assert!(!sys.unwrap()["options"]
            .as_array()
            .unwrap()
            .contains(&json!("ro")));
    }

    #[test]
    fn security_options_readonly_root_and_init() {
        let settings = HostOptions {
            readonly_rootfs: true,
            security_opt: vec!["no-new-privileges".into(), "seccomp=unconfined".into()],
            init: Some(true),
            ..Default::default()
        };
        let (_dir, spec) = spec_with(settings);
        let v = to_json(&spec);
        assert_eq!(v["root"]["readonly"], true);
        assert_eq!(v["process"]["noNewPrivileges"], true);
        assert!(v["linux"].get("seccomp").is_none());
        assert_eq!(v["process"]["args"], json!([INIT_PATH, "--", "sh"]));
        let mounts = v["mounts"].as_array().unwrap();
        let init = mounts
            .iter()
            .find(|m| m["destination"] == INIT_PATH)
            .unwrap();
        assert_eq!(init["source"], "/opt/berth/berth-init");
        let hosts = mounts
            .iter()
            .find(|m| m["destination"] == "/etc/hosts")
            .unwrap();
        assert_eq!(hosts["options"], json!(["rbind", "ro", "rprivate"]));
    }

    #[test]
    fn host_network_shares_the_hosts() {
        let settings = HostOptions {
            network_mode: "host".into(),
            ..Default::default()
        };
        let (dir, spec) = spec_with(settings);
        let v = to_json(&spec);
        assert_eq!(v["hostname"], "the-host");
        let ns = v["linux"]["namespaces"].as_array().unwrap();
        assert!(!ns.contains(&json!({"type": "network"})));
        assert!(ns.contains(&json!({"type": "uts"})));
        assert_eq!(dir.read("hosts"), FakeHost.hosts());
        assert_eq!(dir.read("resolv.conf"), FakeHost.resolv_conf());
        assert!(v["linux"].get("sysctl").is_none_or(|s| s == &json!({})));
    }

    #[test]
    fn the_cost_of_the_seccomp_profile_in_the_spec_is_printed() {
        let dir = Dir::new();
        let c = config(json!({"Cmd": ["sh"]}));
        let time = |security_opt: Vec<String>| {
            let opts = Options {
                id: "0123456789abcdef".into(),
                settings: HostOptions {
                    security_opt,
                    ..Default::default()
                },
                ..Default::default()
            };
            let mut times: Vec<std::time::Duration> = (0..21)
                .map(|_| {
                    let begin = std::time::Instant::now();
                    let spec = container_spec_on(Some(&c), &dir.rootfs(), &opts, &FakeHost);
                    serde_json::to_vec(&spec.unwrap()).unwrap();
                    begin.elapsed()
                })
                .collect();
            times.sort();
            times[10]
        };
        let filtered = time(Vec::new());
        let unconfined = time(vec!["seccomp=unconfined".into()]);
        println!("container_spec + serialize, median of 21: default seccomp {filtered:?}, unconfined {unconfined:?}");
    }

    #[test]
    fn impossible_settings_are_refused_at_create() {
        let check_one = |settings: HostOptions| check(&mut settings.clone(), &FakeHost);
        let bad = [
            HostOptions {
                memory: 1_000_000,
                ..Default::default()
            },
            HostOptions {
                memory: -1,
                ..Default::default()
            },
            HostOptions {
                nano_cpus: -1,
                ..Default::default()
            },
            HostOptions {
                nano_cpus: 3_000_000_000,
                ..Default::default()
            },
            HostOptions {
                nano_cpus: 1_000,
                ..Default::default()
            },
            HostOptions {
                cap_drop: vec!["CAP_BAR".into()],
                ..Default::default()
            },
            HostOptions {
                security_opt: vec!["bogus".into()],
                ..Default::default()
            },
            HostOptions {
                security_opt: vec![r#"seccomp={"defaultAction":"NOPE"}"#.into()],
                ..Default::default()
            },
            HostOptions {
                network_mode: "container:".into(),
                ..Default::default()
            },
        ];
        for settings in bad {
            let err = check_one(settings.clone()).expect_err(&format!("{settings:?}"));
            assert!(err.is_bad_input(), "{err}");
        }
        let err = check_one(HostOptions {
            memory: 1 << 20,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Minimum memory limit allowed is 6MB"),
            "{err}"
        );
        let err = check_one(HostOptions {
            nano_cpus: -1,
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
            ),
            "{err}"
        );
        let good = HostOptions {
            memory: 6 << 20,
            nano_cpus: 2_000_000_000,
            cap_add: vec!["ALL".into()],
            security_opt: vec![r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#.into()],
            network_mode: "none".into(),
            init: Some(true),
            ..Default::default()
        };
        check_one(good).unwrap();
    }
}
