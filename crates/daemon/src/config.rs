//! berthd's settings: dockerd's flags where they apply, and `daemon.json` (default
//! `/etc/berth/daemon.json`; a missing file is fine). A key set both in the file and as a
//! flag, or a key the daemon does not know, is refused with dockerd's wording.
//!
//! Defaults: data root `/var/lib/berth`, exec root `/run/berth`, socket
//! `unix:///run/berth/berth.sock`, pidfile `<exec-root>/berthd.pid` (dockerd uses
//! `/var/run/docker.pid`; keeping it under the exec root lets berthds with different exec
//! roots run side by side without naming a pidfile each).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;
use serde_json::Value;

/// The default socket.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// The command line, as dockerd's.
#[derive(Parser, Debug, Default)]
#[command(
    name = "berthd",
    version,
    about = "berth's daemon: the Docker Engine API"
)]
pub struct Flags {
    /// Daemon socket(s) to connect to (unix:///path, tcp://host:port)
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root directory of persistent state
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root directory for execution state files
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Path to use for the daemon PID file
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// Daemon configuration file
    #[arg(long, default_value = "/etc/berth/daemon.json")]
    pub config_file: PathBuf,
    /// Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Default driver for container logs
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Default log driver options for containers (key=value)
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// Default ulimits for containers (name=soft[:hard])
    #[arg(long = "default-ulimit")]
    pub default_ulimits: Vec<String>,
    /// Group for the unix socket
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// On cgroup v1 hosts, hold a `favordynmods` cgroup hierarchy so that placing a
    /// container's process into its cgroups skips an RCU grace period (berth only)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub cgroup_favor_dynmods: Option<bool>,
    /// Preferred Docker registry mirror
    #[arg(long = "registry-mirror")]
    pub registry_mirrors: Vec<String>,
    /// Enable insecure registry communication
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// The default network's bridge (default: berth0 with the default data root, else a
    /// name derived from the data root, so that daemons side by side do not share one)
    #[arg(short = 'b', long)]
    pub bridge: Option<String>,
    /// The default bridge's address and prefix (e.g. 172.30.0.1/16)
    #[arg(long)]
    pub bip: Option<String>,
}

/// A default ulimit as daemon.json writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UlimitSpec {
    /// `nofile`, `nproc`, ...
    pub name: String,
    /// The soft limit.
    pub soft: i64,
    /// The hard limit.
    pub hard: i64,
}

/// What the daemon runs with: flags over file over defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Addresses to listen on.
    pub hosts: Vec<String>,
    /// Persistent state.
    pub data_root: PathBuf,
    /// Runtime state.
    pub exec_root: PathBuf,
    /// The pid file.
    pub pidfile: PathBuf,
    /// `debug`, `info`, `warn`, `error` or `fatal`.
    pub log_level: String,
    /// Debug mode.
    pub debug: bool,
    /// Containers' default log driver.
    pub log_driver: String,
    /// Its default options.
    pub log_opts: BTreeMap<String, String>,
    /// Containers' default ulimits.
    pub default_ulimits: BTreeMap<String, UlimitSpec>,
    /// The unix socket's group (used if it exists).
    pub group: String,
    /// Hold a `favordynmods` hierarchy on cgroup v1 hosts (see `berth_cgroups::FavorDynMods`).
    pub cgroup_favor_dynmods: bool,
    /// Networking: the default bridge, its address, the pools of new networks.
    pub network: crate::netconfig::NetSettings,
    /// Registry mirrors by registry domain (`registry-mirrors`: a list is Docker Hub's).
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// Registries (`host[:port]`) or networks (CIDR) reached over plain HTTP.
    pub insecure_registries: Vec<String>,
}

/// daemon.json's `registry-mirrors`: docker's list (Docker Hub's mirrors), or berth's
/// per-registry form `{"docker.io": [...], "quay.io": [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Mirrors {
    /// Docker Hub's mirrors.
    Hub(Vec<String>),
    /// Mirrors by registry.
    ByRegistry(BTreeMap<String, Vec<String>>),
}

impl Mirrors {
    fn by_registry(self) -> BTreeMap<String, Vec<String>> {
        match self {
            Mirrors::Hub(list) => BTreeMap::from([("docker.io".to_string(), list)]),
            Mirrors::ByRegistry(map) => map,
        }
    }
}

/// Settings that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("unable to configure the daemon with file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a JSON object of the right types.
    #[error("unable to configure the daemon with file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Keys the daemon does not know.
    #[error("unable to configure the daemon with file {path}: the following directives don't match any configuration option: {keys}")]
    Unknown {
        /// The file.
        path: PathBuf,
        /// The keys, comma separated.
        keys: String,
    },
    /// Keys set in both places.
    #[error("unable to configure the daemon with file {path}: the following directives are specified both as a flag and in the configuration file: {conflicts}")]
    Conflict {
        /// The file.
        path: PathBuf,
        /// `key: (from flag: x, from file: y)`, comma separated.
        conflicts: String,
    },
    /// A flag value that does not parse.
    #[error("invalid {flag} value {value:?}: {reason}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// The value.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

/// The keys daemon.json may hold.
const KNOWN_KEYS: [&str; 17] = [
    "bridge",
    "mtu",
    "bip",
    "default-address-pools",
    "data-root",
    "exec-root",
    "hosts",
    "pidfile",
    "log-level",
    "debug",
    "log-driver",
    "log-opts",
    "default-ulimits",
    "group",
    "cgroup-favor-dynmods",
    "registry-mirrors",
    "insecure-registries",
];

/// daemon.json, typed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    data_root: Option<PathBuf>,
    exec_root: Option<PathBuf>,
    hosts: Option<Vec<String>>,
    pidfile: Option<PathBuf>,
    log_level: Option<String>,
    debug: Option<bool>,
    log_driver: Option<String>,
    log_opts: Option<BTreeMap<String, String>>,
    default_ulimits: Option<BTreeMap<String, UlimitSpec>>,
    group: Option<String>,
    cgroup_favor_dynmods: Option<bool>,
    registry_mirrors: Option<Mirrors>,
    insecure_registries: Option<Vec<String>>,
    bridge: Option<String>,
    bip: Option<String>,
    default_address_pools: Option<Vec<crate::netconfig::AddressPool>>,
    mtu: Option<u32>,
}

impl Settings {
    /// The settings from `flags` and the config file they name.
    pub fn load(flags: &Flags) -> Result<Settings, ConfigError> {
        let file = read_file(&flags.config_file)?;
        check_conflicts(flags, &file, &flags.config_file)?;
        let data_root = pick(
            flags.data_root.clone(),
            file.data_root,
            "/var/lib/berth".into(),
        );
        let exec_root = pick(flags.exec_root.clone(), file.exec_root, "/run/berth".into());
        let pidfile = pick(
            flags.pidfile.clone(),
            file.pidfile,
            exec_root.join("berthd.pid"),
        );
        let hosts = match (&flags.hosts, file.hosts) {
            (f, _) if !f.is_empty() => f.clone(),
            (_, Some(h)) if !h.is_empty() => h,
            _ => vec![DEFAULT_HOST.into()],
        };
        let debug = flags.debug || file.debug.unwrap_or(false);
        let log_level = pick(flags.log_level.clone(), file.log_level, "info".into());
        check_level(&log_level)?;
        let log_opts = match parse_pairs(&flags.log_opts)? {
            m if !m.is_empty() => m,
            _ => file.log_opts.unwrap_or_default(),
        };
        let default_ulimits = match parse_ulimits(&flags.default_ulimits)? {
            m if !m.is_empty() => m,
            _ => file.default_ulimits.unwrap_or_default(),
        };
        let registry_mirrors = match &flags.registry_mirrors {
            m if !m.is_empty() => Mirrors::Hub(m.clone()).by_registry(),
            _ => file
                .registry_mirrors
                .map(Mirrors::by_registry)
                .unwrap_or_default(),
        };
        let insecure_registries = match &flags.insecure_registries {
            i if !i.is_empty() => i.clone(),
            _ => file.insecure_registries.unwrap_or_default(),
        };
        let network = crate::netconfig::NetSettings::new(
            &data_root,
            flags.bridge.clone().or(file.bridge),
            flags.bip.clone().or(file.bip),
            file.default_address_pools.unwrap_or_default(),
            file.mtu,
        )?;
        Ok(Settings {
            registry_mirrors,
            insecure_registries,
            hosts,
            data_root,
            exec_root,
            pidfile,
            log_level,
            debug,
            log_driver: pick(
                flags.log_driver.clone(),
                file.log_driver,
                "json-file".into(),
            ),
            log_opts,
            default_ulimits,
            group: pick(flags.group.clone(), file.group, "berth".into()),
            cgroup_favor_dynmods: pick(flags.cgroup_favor_dynmods, file.cgroup_favor_dynmods, true),
            network,
        })
    }

    /// The most verbose level logged.
    pub fn level(&self) -> tracing::Level {
        if self.debug {
            return tracing::Level::DEBUG;
        }
        match self.log_level.as_str() {
            "debug" => tracing::Level::DEBUG,
            "warn" => tracing::Level::WARN,
            "error" | "fatal" => tracing::Level::ERROR,
            _ => tracing::Level::INFO,
        }
    }
}

fn pick<T>(flag: Option<T>, file: Option<T>, default: T) -> T {
    flag.or(file).unwrap_or(default)
}

fn check_level(level: &str) -> Result<(), ConfigError> {
    match level {
        "debug" | "info" | "warn" | "error" | "fatal" => Ok(()),
        _ => Err(ConfigError::Flag {
            flag: "--log-level",
            value: level.into(),
            reason: "not one of debug, info, warn, error, fatal",
        }),
    }
}

/// Reads and checks daemon.json; a missing file is an empty one.
fn read_file(path: &Path) -> Result<File, ConfigError> {
    let raw = match std::fs::read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.into(),
                source,
            })
        }
    };
    let parse = |reason: String| ConfigError::Parse {
        path: path.into(),
        reason,
    };
    let v: Value = serde_json::from_slice(&raw).map_err(|e| parse(e.to_string()))?;
    let Some(obj) = v.as_object() else {
        return Err(parse("not a JSON object".into()));
    };
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !KNOWN_KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(ConfigError::Unknown {
            path: path.into(),
            keys: unknown.join(", "),
        });
    }
    serde_json::from_value(v).map_err(|e| parse(e.to_string()))
}

/// dockerd's conflict check: a directive given both as a flag and in the file.
fn check_conflicts(flags: &Flags, file: &File, path: &Path) -> Result<(), ConfigError> {
    let mut out = Vec::new();
    let mut both = |key: &str, flag: Option<String>, from_file: Option<String>| {
        if let (Some(a), Some(b)) = (flag, from_file) {
            out.push(format!("{key}: (from flag: {a}, from file: {b})"));
        }
    };
    let path_str = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let list = |v: &[String]| (!v.is_empty()).then(|| format!("[{}]", v.join(" ")));
    both(
        "data-root",
        path_str(&flags.data_root),
        path_str(&file.data_root),
    );
    both(
        "exec-root",
        path_str(&flags.exec_root),
        path_str(&file.exec_root),
    );
    both("pidfile", path_str(&flags.pidfile), path_str(&file.pidfile));
    both(
        "hosts",
        list(&flags.hosts),
        file.hosts.as_deref().and_then(list),
    );
    both("log-level", flags.log_level.clone(), file.log_level.clone());
    both(
        "debug",
        flags.debug.then(|| "true".into()),
        file.debug.map(|d| d.to_string()),
    );
    both(
        "log-driver",
        flags.log_driver.clone(),
        file.log_driver.clone(),
    );
    both(
        "log-opts",
        list(&flags.log_opts),
        file.log_opts.as_ref().map(|m| format!("{m:?}")),
    );
    both(
        "default-ulimits",
        list(&flags.default_ulimits),
        file.default_ulimits
            .as_ref()
            .map(|m| format!("{:?}", m.keys().collect::<Vec<_>>())),
    );
    both("group", flags.group.clone(), file.group.clone());
    both("bridge", flags.bridge.clone(), file.bridge.clone());
    both("bip", flags.bip.clone(), file.bip.clone());
    both(
        "cgroup-favor-dynmods",
        flags.cgroup_favor_dynmods.map(|b| b.to_string()),
        file.cgroup_favor_dynmods.map(|b| b.to_string()),
    );
    if out.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Conflict {
        path: path.into(),
        conflicts: out.join(", "),
    })
}

fn parse_pairs(values: &[String]) -> Result<BTreeMap<String, String>, ConfigError> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) if !k.is_empty() => Ok((k.to_string(), val.to_string())),
            _ => Err(ConfigError::Flag {
                flag: "--log-opt",
                value: v.clone(),
                reason: "expected key=value",
            }),
        })
        .collect()
}

/// `nofile=1024:2048` (a single number sets both limits).
fn parse_ulimits(values: &[String]) -> Result<BTreeMap<String, UlimitSpec>, ConfigError> {
    let bad = |v: &String| ConfigError::Flag {
        flag: "--default-ulimit",
        value: v.clone(),
        reason: "expected name=soft[:hard]",
    };
    let mut out = BTreeMap::new();
    for v in values {
        let (name, limits) = v.split_once('=').ok_or_else(|| bad(v))?;
        let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
        let soft: i64 = soft.parse().map_err(|_| bad(v))?;
        let hard: i64 = hard.parse().map_err(|_| bad(v))?;
        let spec = UlimitSpec {
            name: name.into(),
            soft,
            hard,
        };
        out.insert(name.to_string(), spec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_with(file: &Path, args: &[&str]) -> Flags {
        let mut all = vec!["berthd", "--config-file", file.to_str().unwrap()];
        all.extend_from_slice(args);
        Flags::parse_from(all)
    }

    #[test]
    fn missing_file_gives_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let s = Settings::load(&flags_with(&dir.path().join("none.json"), &[])).unwrap();
        assert_eq!(s.hosts, [DEFAULT_HOST]);
        assert_eq!(s.data_root, Path::new("/var/lib/berth"));
        assert_eq!(s.pidfile, Path::new("/run/berth/berthd.pid"));
        assert_eq!(s.log_driver, "json-file");
    }

    #[test]
    fn file_values_apply_and_flags_conflict() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("daemon.json");
        std::fs::write(&f, r#"{"data-root":"/d","hosts":["unix:///x.sock"],"log-opts":{"max-size":"1m"},"default-ulimits":{"nofile":{"Name":"nofile","Soft":10,"Hard":20}}}"#).unwrap();
        let s = Settings::load(&flags_with(&f, &["--exec-root", "/e"])).unwrap();
        assert_eq!(s.data_root, Path::new("/d"));
        assert_eq!(s.pidfile, Path::new("/e/berthd.pid"));
        assert_eq!(s.hosts, ["unix:///x.sock"]);
        assert_eq!(s.log_opts["max-size"], "1m");
        assert_eq!(s.default_ulimits["nofile"].hard, 20);
        let e = Settings::load(&flags_with(&f, &["--data-root", "/other"])).unwrap_err();
        assert!(e.to_string().contains("specified both as a flag and in the configuration file: data-root: (from flag: /other, from file: /d)"), "{e}");
    }

    #[test]
    fn favor_dynmods_defaults_on_and_can_be_turned_off() {
        let dir = tempfile::tempdir().unwrap();
        let none = dir.path().join("none.json");
        assert!(
            Settings::load(&flags_with(&none, &[]))
                .unwrap()
                .cgroup_favor_dynmods
        );
        let off = flags_with(&none, &["--cgroup-favor-dynmods=false"]);
        assert!(!Settings::load(&off).unwrap().cgroup_favor_dynmods);
        let f = dir.path().join("daemon.json");
        std::fs::write(&f, r#"{"cgroup-favor-dynmods":false}"#).unwrap();
        assert!(
            !Settings::load(&flags_with(&f, &[]))
                .unwrap()
                .cgroup_favor_dynmods
        );
    }

    #[test]
    fn unknown_keys_and_bad_types_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("daemon.json");
        std::fs::write(&f, r#"{"bogus":1}"#).unwrap();
        let e = Settings::load(&flags_with(&f, &[])).unwrap_err();
        assert!(
            e.to_string()
                .contains("don't match any configuration option: bogus"),
            "{e}"
        );
        std::fs::write(&f, r#"{"debug":"yes"}"#).unwrap();
        assert!(Settings::load(&flags_with(&f, &[])).is_err());
        std::fs::write(&f, r#"{"log-level":"loud"}"#).unwrap();
        assert!(Settings::load(&flags_with(&f, &[])).is_err());
    }

    #[test]
    fn ulimit_flags_parse() {
        let m = parse_ulimits(&["nofile=100:200".into(), "nproc=5".into()]).unwrap();
        assert_eq!((m["nofile"].soft, m["nofile"].hard), (100, 200));
        assert_eq!((m["nproc"].soft, m["nproc"].hard), (5, 5));
        assert!(parse_ulimits(&["x".into()]).is_err());
    }
}
