//! What docker's create API asks of a container beyond its command and environment: the
//! config's extras (hostname, labels, stdin) and the host-side settings (resources,
//! security, logging, network mode). They are kept in the container's record, so inspect
//! and listings show them; the start path turns them into the runtime spec.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A container's log driver and its options (`--log-driver`, `--log-opt`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// `json-file`, `none`, ... (empty: the daemon's default).
    pub driver: String,
    /// Driver options (`max-size`, `max-file`, ...).
    pub options: BTreeMap<String, String>,
}

/// One resource limit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ulimit {
    /// The limit's name without `RLIMIT_` (`nofile`, `nproc`, ...).
    pub name: String,
    /// The soft limit.
    pub soft: i64,
    /// The hard limit.
    pub hard: i64,
}

/// When a container is started again after it exits (`--restart`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestartPolicy {
    /// `no` (or empty), `always`, `unless-stopped` or `on-failure`.
    pub name: String,
    /// Most restarts for `on-failure` (0: no limit).
    pub maximum_retry_count: i64,
}

impl RestartPolicy {
    /// The names docker knows.
    pub const NAMES: [&'static str; 5] = ["", "no", "always", "unless-stopped", "on-failure"];

    /// Whether a container that ended with `exit_code`, after `restarts` restarts by
    /// this policy, is started again. A container stopped by the user
    /// (`manually_stopped`) never is.
    pub fn wants_restart(&self, exit_code: i32, restarts: u32, manually_stopped: bool) -> bool {
        if manually_stopped {
            return false;
        }
        match self.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                exit_code != 0
                    && (self.maximum_retry_count <= 0
                        || i64::from(restarts) < self.maximum_retry_count)
            }
            _ => false,
        }
    }

    /// Whether the policy restarts at all.
    pub fn is_set(&self) -> bool {
        !matches!(self.name.as_str(), "" | "no")
    }
}

/// docker's HostConfig settings that berth records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostOptions {
    /// Memory limit in bytes (0: none).
    pub memory: i64,
    /// CPU quota in units of 10^-9 CPUs (0: none).
    pub nano_cpus: i64,
    /// Most processes (None or <= 0: none).
    pub pids_limit: Option<i64>,
    /// Capabilities added to docker's default set.
    pub cap_add: Vec<String>,
    /// Capabilities dropped from docker's default set.
    pub cap_drop: Vec<String>,
    /// Every capability, every device, no seccomp or masked paths.
    pub privileged: bool,
    /// Mount the root file system read-only.
    pub readonly_rootfs: bool,
    /// `--security-opt` values (`no-new-privileges`, `seccomp=...`).
    pub security_opt: Vec<String>,
    /// Run an init process as pid 1 (None: the daemon's default).
    pub init: Option<bool>,
    /// Where the container's output goes.
    pub log_config: LogConfig,
    /// Resource limits.
    pub ulimits: Vec<Ulimit>,
    /// `none`, `host`, `container:<name>`, a network's name (empty: the default).
    pub network_mode: String,
    /// The terminal's first size, `[height, width]` (docker's `ConsoleSize`), so that
    /// the process sees it from its first instruction.
    pub console_size: Option<[u16; 2]>,
    /// When it is started again after it exits.
    pub restart_policy: RestartPolicy,
    /// Networks, published ports, DNS and /etc/hosts settings.
    pub net: berth_net::settings::ContainerNet,
}
