//! OCI hooks: each runs with the container's state as JSON on its stdin, in order, and a
//! hook that fails or outlives its timeout fails its step.

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

/// The six kinds of hook, named as in config.json.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `hooks.prestart` (deprecated; runs with createRuntime).
    Prestart,
    /// `hooks.createRuntime`.
    CreateRuntime,
    /// `hooks.createContainer`.
    CreateContainer,
    /// `hooks.startContainer`.
    StartContainer,
    /// `hooks.poststart`.
    Poststart,
    /// `hooks.poststop`.
    Poststop,
}

impl Kind {
    /// The key of this kind in config.json's `hooks`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Prestart => "prestart",
            Kind::CreateRuntime => "createRuntime",
            Kind::CreateContainer => "createContainer",
            Kind::StartContainer => "startContainer",
            Kind::Poststart => "poststart",
            Kind::Poststop => "poststop",
        }
    }

    /// The hooks of this kind in a spec.
    pub fn of(self, spec: &oci_spec::runtime::Spec) -> &[Hook] {
        let Some(h) = spec.hooks() else { return &[] };
        #[allow(deprecated)]
        let list = match self {
            Kind::Prestart => h.prestart(),
            Kind::CreateRuntime => h.create_runtime(),
            Kind::CreateContainer => h.create_container(),
            Kind::StartContainer => h.start_container(),
            Kind::Poststart => h.poststart(),
            Kind::Poststop => h.poststop(),
        };
        list.as_deref().unwrap_or_default()
    }
}

/// A hook that failed.
#[derive(Debug, thiserror::Error)]
#[error("hooks.{kind}[{index}] {path}: {reason}")]
pub struct HookError {
    kind: &'static str,
    index: usize,
    path: String,
    reason: String,
}

/// Runs `hooks` in order with `state` (the container state JSON) on stdin.
pub fn run(kind: Kind, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    for (index, hook) in hooks.iter().enumerate() {
        run_one(hook, state).map_err(|reason| HookError {
            kind: kind.name(),
            index,
            path: hook.path().display().to_string(),
            reason,
        })?;
    }
    Ok(())
}

fn command(hook: &Hook) -> Command {
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some(first) = args.first() {
            cmd.arg0(first);
        }
        cmd.args(args.iter().skip(1));
    }
    cmd.env_clear();
    for kv in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    cmd
}

fn run_one(hook: &Hook, state: &[u8]) -> Result<(), String> {
    let mut child = command(hook).spawn().map_err(|e| format!("start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook may exit without reading its stdin; that is not an error.
        let _ = stdin.write_all(state);
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    let status = loop {
        match child.try_wait().map_err(|e| format!("wait: {e}"))? {
            Some(status) => break status,
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {}s", hook.timeout().unwrap_or(0)));
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(code), _) => Err(format!("exited with status {code}")),
        (None, Some(sig)) => Err(format!("killed by signal {sig}")),
        _ => Err("ended abnormally".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::HookBuilder;

    #[test]
    fn hooks_get_state_on_stdin_and_failures_name_the_hook() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let ok = HookBuilder::default()
            .path("/bin/sh")
            .args(vec![
                "sh".into(),
                "-c".into(),
                format!("cat > {}", out.display()),
            ])
            .build()
            .unwrap();
        run(Kind::Poststart, &[ok], b"{\"id\":\"x\"}").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"{\"id\":\"x\"}");
        let bad = HookBuilder::default().path("/bin/false").build().unwrap();
        let err = run(Kind::Poststop, &[bad], b"{}").unwrap_err().to_string();
        assert_eq!(err, "hooks.poststop[0] /bin/false: exited with status 1");
        let slow = HookBuilder::default()
            .path("/bin/sleep")
            .args(vec!["sleep".into(), "5".into()])
            .timeout(1)
            .build()
            .unwrap();
        let err = run(Kind::CreateRuntime, &[slow], b"{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("timed out"), "{err}");
    }
}
