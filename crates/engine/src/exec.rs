//! `docker exec`: the process an exec runs in a running container (the container's own
//! process settings with the exec's command, terminal, environment, user and directory),
//! and its own shim (`berth-shim exec`) in `<container dir>/execs/<exec id>/`.

use std::path::PathBuf;

use berth_shim::args::{ExecArgs, ShimCommand};
use berth_shim::ShimClient;
use oci_spec::runtime::{LinuxCapabilities, Process};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::record::{Container, Status};
use crate::user;

/// The directory of a container's execs, in its directory.
pub const EXECS: &str = "execs";

/// What an exec runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// `KEY=value` added to (and overriding) the container's environment.
    pub env: Vec<String>,
    /// Replaces the container's user when set (`name`, `uid`, `uid:gid`, ...).
    pub user: Option<String>,
    /// Replaces the container's working directory when set.
    pub workdir: Option<String>,
    /// Give the process a terminal.
    pub tty: bool,
    /// Keep its stdin open for an attached client.
    pub stdin: bool,
    /// Every capability the container's bounding set allows.
    pub privileged: bool,
    /// The terminal's first size, `[height, width]`.
    pub console_size: Option<[u16; 2]>,
}

fn key(kv: &str) -> &str {
    kv.split('=').next().unwrap_or_default()
}

impl Engine {
    /// The state directory of exec `exec_id` of container `id`.
    pub fn exec_dir(&self, id: &str, exec_id: &str) -> PathBuf {
        self.containers().dir(id).join(EXECS).join(exec_id)
    }

    /// The process exec `req` runs in running container `c`.
    pub fn exec_process(&self, c: &Container, req: &ExecRequest) -> Result<Process> {
        if c.state.status != Status::Running {
            return Err(EngineError::NotRunning(c.id.clone()));
        }
        let spec = self
            .runtime()
            .saved_spec(&c.id)
            .map_err(EngineError::runtime("read the spec of", &c.id))?;
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_args(Some(req.cmd.clone()));
        p.set_terminal(Some(req.tty));
        p.set_console_size(None);
        if let Some([height, width]) = req.console_size.filter(|_| req.tty) {
            let size = oci_spec::runtime::BoxBuilder::default()
                .height(u64::from(height))
                .width(u64::from(width))
                .build()
                .ok();
            p.set_console_size(size);
        }
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &req.env {
            env.retain(|e| key(e) != key(kv));
            env.push(kv.clone());
        }
        if req.tty && !env.iter().any(|e| key(e) == "TERM") {
            env.push("TERM=xterm".into());
        }
        p.set_env(Some(env));
        if let Some(dir) = req.workdir.as_ref().filter(|d| !d.is_empty()) {
            p.set_cwd(dir.into());
        }
        if let Some(spec) = req.user.as_ref().filter(|u| !u.is_empty()) {
            let u = user::resolve(&self.containers().rootfs(&c.id), spec)
                .map_err(crate::spec::SpecError::from)?;
            let mut user = p.user().clone();
            user.set_uid(u.uid);
            user.set_gid(u.gid);
            user.set_additional_gids(Some(u.additional_gids));
            p.set_user(user);
        }
        if req.privileged {
            p.set_capabilities(p.capabilities().clone().map(all_bounding));
        }
        Ok(p)
    }

    /// Writes `process` for exec `exec_id` of container `c` and starts its shim; the
    /// process begins when the shim is told to start.
    pub fn spawn_exec(
        &self,
        c: &Container,
        exec_id: &str,
        process: &Process,
        req: &ExecRequest,
    ) -> Result<ShimClient> {
        let dir = self.exec_dir(&c.id, exec_id);
        std::fs::create_dir_all(&dir).map_err(EngineError::io("create directory", &dir))?;
        let path = dir.join("process.json");
        let raw = serde_json::to_vec(process).map_err(crate::spec::SpecError::Assemble)?;
        std::fs::write(&path, raw).map_err(EngineError::io("write", &path))?;
        let cmd = ShimCommand::Exec(ExecArgs {
            id: c.id.clone(),
            runtime_root: self.runtime().root.path().to_path_buf(),
            state: dir.clone(),
            process: path,
            tty: req.tty,
            stdin: req.stdin,
        });
        let shim_err = |source| EngineError::ShimLaunch {
            id: c.id.clone(),
            source,
        };
        berth_shim::launch::spawn(&self.shim_exec(), &cmd).map_err(shim_err)?;
        ShimClient::connect(&dir).map_err(|source| EngineError::Shim {
            id: c.id.clone(),
            source,
        })
    }
}

/// Capabilities with every set raised to the bounding set.
fn all_bounding(mut caps: LinuxCapabilities) -> LinuxCapabilities {
    let bounding = caps.bounding().clone();
    caps.set_effective(bounding.clone());
    caps.set_permitted(bounding.clone());
    caps.set_inheritable(bounding.clone());
    caps.set_ambient(bounding);
    caps
}
