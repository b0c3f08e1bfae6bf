//! `berth create`: docker's ContainerCreate body from the flags `create` and `run`
//! share; an image that is not there is pulled first, as docker does.

use serde_json::{json, Map, Value};

use super::opts;
use crate::client::{Client, ClientError, Query};

/// Flags shared by `create` and `run`.
#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", allow_hyphen_values = true)]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", allow_hyphen_values = true)]
    pub health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-period", allow_hyphen_values = true)]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", allow_hyphen_values = true)]
    pub health_start_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", allow_hyphen_values = true)]
    pub health_retries: Option<i64>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net")]
    pub network: Option<String>,
    /// Ports, addresses and DNS.
    #[command(flatten)]
    pub net: super::netflags::NetFlags,
    /// The image
    pub image: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cmd: Vec<String>,
}

/// How the container will be used: attached (run in the foreground) and removed at exit.
#[derive(Clone, Copy, Default)]
pub struct Use {
    /// Attached to this terminal (stdout and stderr, stdin with `-i`).
    pub attach: bool,
    /// Removed when it exits.
    pub auto_remove: bool,
}

impl Flags {
    /// docker's ContainerCreate body.
    pub fn body(&self, u: Use) -> anyhow::Result<Value> {
        let mut env: Vec<String> = Vec::new();
        for f in &self.env_file {
            env.extend(opts::env_file(f)?);
        }
        env.extend(self.env.iter().filter_map(|e| opts::env_entry(e)));
        let mut cfg = Map::new();
        let mut put = |k: &str, v: Value| {
            cfg.insert(k.into(), v);
        };
        put("Image", json!(self.image));
        put("Env", json!(env));
        put("Tty", json!(self.tty));
        put("OpenStdin", json!(self.interactive));
        put("AttachStdin", json!(u.attach && self.interactive));
        put("StdinOnce", json!(u.attach && self.interactive));
        put("AttachStdout", json!(u.attach));
        put("AttachStderr", json!(u.attach));
        put("Labels", json!(opts::labels(&self.label)));
        if !self.cmd.is_empty() {
            put("Cmd", json!(self.cmd));
        }
        if let Some(e) = &self.entrypoint {
            // docker: an empty --entrypoint resets the image's.
            let list: Vec<&str> = if e.is_empty() { vec![] } else { vec![e] };
            put("Entrypoint", json!(list));
        }
        let text = [
            ("User", &self.user),
            ("WorkingDir", &self.workdir),
            ("Hostname", &self.hostname),
            ("StopSignal", &self.stop_signal),
        ];
        for (k, v) in text {
            if let Some(v) = v {
                put(k, json!(v));
            }
        }
        if let Some(t) = self.stop_timeout {
            put("StopTimeout", json!(t));
        }
        if let Some(h) = self.healthcheck()? {
            put("Healthcheck", h);
        }
        if self.tty {
            if let Some((rows, cols)) = crate::tty::window_size() {
                put("ConsoleSize", json!([rows, cols]));
            }
        }
        put("HostConfig", self.host_config(u.auto_remove)?);
        let network = self.network.as_deref().unwrap_or("default");
        self.net.apply(&mut cfg, network)?;
        Ok(Value::Object(cfg))
    }

    /// `Healthcheck` from the `--health-*` flags, as the docker CLI builds it.
    fn healthcheck(&self) -> anyhow::Result<Option<Value>> {
        let times = [
            ("interval", "Interval", &self.health_interval),
            ("timeout", "Timeout", &self.health_timeout),
            ("start-period", "StartPeriod", &self.health_start_period),
            (
                "start-interval",
                "StartInterval",
                &self.health_start_interval,
            ),
        ];
        let any = self.health_cmd.is_some()
            || self.health_retries.is_some()
            || times.iter().any(|(_, _, v)| v.is_some());
        if self.no_healthcheck {
            anyhow::ensure!(!any, "--no-healthcheck conflicts with --health-* options");
            return Ok(Some(json!({"Test": ["NONE"]})));
        }
        if !any {
            return Ok(None);
        }
        let test: Vec<&str> = match &self.health_cmd {
            Some(cmd) if !cmd.is_empty() => vec!["CMD-SHELL", cmd],
            _ => Vec::new(),
        };
        let mut h = json!({ "Test": test, "Retries": self.health_retries.unwrap_or(0) });
        for (flag, key, v) in times {
            let ns = v
                .as_deref()
                .map(opts::go_duration_ns)
                .transpose()?
                .unwrap_or(0);
            anyhow::ensure!(ns >= 0, "--health-{flag} cannot be negative");
            h[key] = json!(ns);
        }
        anyhow::ensure!(
            self.health_retries.unwrap_or(0) >= 0,
            "--health-retries cannot be negative"
        );
        Ok(Some(h))
    }

    fn host_config(&self, auto_remove: bool) -> anyhow::Result<Value> {
        let ulimits = self
            .ulimit
            .iter()
            .map(|u| opts::ulimit(u))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let log_opts = opts::labels(&self.log_opt);
        let mut h = json!({
            "AutoRemove": auto_remove,
            "Memory": self.memory.as_deref().map(opts::memory).transpose()?.unwrap_or(0),
            "NanoCpus": self.cpus.as_deref().map(opts::nano_cpus).transpose()?.unwrap_or(0),
            "CapAdd": self.cap_add,
            "CapDrop": self.cap_drop,
            "Privileged": self.privileged,
            "ReadonlyRootfs": self.read_only,
            "SecurityOpt": self.security_opt,
            "Ulimits": ulimits,
            "NetworkMode": self.network.as_deref().unwrap_or("default"),
            "LogConfig": {"Type": self.log_driver.as_deref().unwrap_or(""), "Config": log_opts},
        });
        if let Some(p) = self.pids_limit {
            h["PidsLimit"] = json!(p);
        }
        self.add_mounts(&mut h)?;
        let (name, count) = match self.restart.split_once(':') {
            Some((n, c)) => {
                let count: i64 = c.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "invalid restart policy: maximum retry count must be an integer: {c}"
                    )
                })?;
                (n, count)
            }
            None => (self.restart.as_str(), 0),
        };
        h["RestartPolicy"] = json!({"Name": name, "MaximumRetryCount": count});
        if self.init {
            h["Init"] = json!(true);
        }
        Ok(h)
    }
}

impl Flags {
    /// `Binds`, `Mounts`, `Tmpfs` and `VolumesFrom` from `-v`, `--mount`, `--tmpfs` and
    /// `--volumes-from`.
    fn add_mounts(&self, h: &mut Value) -> anyhow::Result<()> {
        if !self.volume.is_empty() {
            let binds = self
                .volume
                .iter()
                .map(|v| opts::volume(v))
                .collect::<anyhow::Result<Vec<_>>>()?;
            h["Binds"] = json!(binds);
        }
        if !self.mount.is_empty() {
            let mounts = self
                .mount
                .iter()
                .map(|m| opts::mount(m))
                .collect::<anyhow::Result<Vec<_>>>()?;
            h["Mounts"] = json!(mounts);
        }
        if !self.tmpfs.is_empty() {
            let map: Map<String, Value> = self
                .tmpfs
                .iter()
                .map(|t| {
                    let (path, opts) = opts::tmpfs(t);
                    (path, json!(opts))
                })
                .collect();
            h["Tmpfs"] = Value::Object(map);
        }
        if !self.volumes_from.is_empty() {
            h["VolumesFrom"] = json!(self.volumes_from);
        }
        Ok(())
    }
}

/// Creates the container; an image that is missing is pulled (when the daemon can) and
/// the create tried again. Returns the container's ID.
pub fn create(c: &Client, f: &Flags, u: Use) -> anyhow::Result<String> {
    let body = f.body(u)?;
    let query = || Query::new().opt("name", f.name.as_deref());
    match c.post_json("/containers/create", query(), Some(&body)) {
        Ok(v) => Ok(created_id(&v)),
        // A missing network is a 404 too: only a missing image is pulled.
        Err(ClientError::Api {
            status: 404,
            message,
        }) if !message.starts_with("network ") => {
            eprintln!(
                "Unable to find image '{}' locally",
                crate::registry::tagged(&f.image)
            );
            pull(c, &crate::registry::tagged(&f.image))?;
            let v = c.post_json("/containers/create", query(), Some(&body))?;
            Ok(created_id(&v))
        }
        Err(e) => Err(e.into()),
    }
}

fn created_id(v: &Value) -> String {
    for w in v["Warnings"].as_array().into_iter().flatten() {
        if let Some(w) = w.as_str() {
            eprintln!("WARNING: {w}");
        }
    }
    v["Id"].as_str().unwrap_or_default().to_string()
}

/// `POST /images/create?fromImage=`: progress goes to stderr.
fn pull(c: &Client, image: &str) -> anyhow::Result<()> {
    crate::registry::pull::pull_for_create(c, image)
}

/// `create` arguments.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Args {
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    #[command(flatten)]
    flags: Flags,
}

/// `create`: prints the new container's ID.
pub fn run(c: &Client, a: &Args) -> anyhow::Result<u8> {
    match create(c, &a.flags, Use::default()) {
        Ok(id) => {
            println!("{id}");
            Ok(0)
        }
        Err(e) => {
            eprintln!("{}", crate::message(&e));
            Ok(125)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        f: Flags,
    }

    #[test]
    fn flags_become_dockers_body() {
        let t = T::parse_from([
            "x",
            "--name",
            "n",
            "-e",
            "A=1",
            "-w",
            "/w",
            "-u",
            "1:2",
            "-h",
            "host",
            "-m",
            "8m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "--cap-add",
            "NET_ADMIN",
            "--read-only",
            "--init",
            "-l",
            "k=v",
            "--log-opt",
            "max-size=1m",
            "--ulimit",
            "nofile=10:20",
            "--network",
            "none",
            "--stop-signal",
            "USR1",
            "--stop-timeout",
            "3",
            "--entrypoint",
            "",
            "busybox",
            "sh",
            "-c",
            "echo -n hi",
        ]);
        let b =
            t.f.body(Use {
                attach: true,
                auto_remove: true,
            })
            .unwrap();
        assert_eq!(b["Image"], "busybox");
        assert_eq!(b["Cmd"], json!(["sh", "-c", "echo -n hi"]));
        assert_eq!(b["Entrypoint"], json!([]));
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["WorkingDir"], "/w");
        assert_eq!(b["User"], "1:2");
        assert_eq!(b["Hostname"], "host");
        assert_eq!(b["StopSignal"], "USR1");
        assert_eq!(b["StopTimeout"], 3);
        assert_eq!(b["Labels"], json!({"k": "v"}));
        assert_eq!(b["AttachStdout"], true);
        assert_eq!(b["AttachStdin"], false);
        let h = &b["HostConfig"];
        assert_eq!(h["AutoRemove"], true);
        assert_eq!(h["Memory"], 8 << 20);
        assert_eq!(h["NanoCpus"], 500_000_000);
        assert_eq!(h["PidsLimit"], 20);
        assert_eq!(h["CapAdd"], json!(["NET_ADMIN"]));
        assert_eq!(h["ReadonlyRootfs"], true);
        assert_eq!(h["Init"], true);
        assert_eq!(h["NetworkMode"], "none");
        assert_eq!(h["LogConfig"]["Config"]["max-size"], "1m");
        assert_eq!(h["Ulimits"][0]["Soft"], 10);
    }

    #[test]
    fn images_are_looked_for_with_a_tag() {
        assert_eq!(crate::registry::tagged("busybox"), "busybox:latest");
        assert_eq!(crate::registry::tagged("busybox:1.35"), "busybox:1.35");
        assert_eq!(
            crate::registry::tagged("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(crate::registry::tagged("a@sha256:00"), "a@sha256:00");
    }
}
