//! Exec instances: what `POST /containers/{id}/exec` made, kept in memory and in
//! `<container dir>/execs/<exec id>/exec.json` (so `GET /exec/{id}/json` and a
//! container's `ExecIDs` survive a daemon restart). Each started exec runs under its own
//! shim in that directory, which records its exit in `exit.json` there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_engine::exec::ExecRequest;
use serde::{Deserialize, Serialize};

/// The record file in an exec's directory.
pub const EXEC_FILE: &str = "exec.json";

/// One exec instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Exec {
    /// 64 hex characters.
    pub id: String,
    /// The container's full id.
    pub container_id: String,
    /// The command.
    pub cmd: Vec<String>,
    /// Extra environment.
    pub env: Vec<String>,
    /// The user asked for ("" for the container's).
    pub user: String,
    /// The working directory asked for ("" for the container's).
    pub workdir: String,
    /// A terminal.
    pub tty: bool,
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// The detach keys asked for ("" for the default).
    pub detach_keys: String,
    /// All capabilities of the container's bounding set.
    pub privileged: bool,
    /// Started (an exec runs once).
    pub started: bool,
    /// Its process runs.
    pub running: bool,
    /// Host pid while it runs (0 before).
    pub pid: i32,
    /// Its exit code, once it has exited.
    pub exit_code: Option<i32>,
    /// The terminal's first size asked for at create, `[height, width]`.
    pub console_size: Option<[u16; 2]>,
}

impl Exec {
    /// The engine's request for this exec.
    pub fn request(&self) -> ExecRequest {
        let some = |s: &String| (!s.is_empty()).then(|| s.clone());
        ExecRequest {
            cmd: self.cmd.clone(),
            env: self.env.clone(),
            user: some(&self.user),
            workdir: some(&self.workdir),
            tty: self.tty,
            stdin: self.attach_stdin,
            privileged: self.privileged,
            console_size: self.console_size,
        }
    }
}

/// Why an exec record could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct ExecIoError {
    /// What was being done.
    pub op: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The system's answer.
    pub source: std::io::Error,
}

/// Every exec berthd knows, by id.
#[derive(Debug, Default)]
pub struct Execs {
    map: Mutex<HashMap<String, Exec>>,
}

impl Execs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Exec>> {
        // Plain values: a panic elsewhere leaves the map consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The exec `id`.
    pub fn get(&self, id: &str) -> Option<Exec> {
        self.lock().get(id).cloned()
    }

    /// Stores `e` in memory and writes it into `dir` (its exec directory).
    pub fn put(&self, e: Exec, dir: &Path) -> Result<(), ExecIoError> {
        save(&e, dir)?;
        self.lock().insert(e.id.clone(), e);
        Ok(())
    }

    /// Changes exec `id` with `f` and writes it into `dir`; the changed record.
    pub fn update(
        &self,
        id: &str,
        dir: &Path,
        f: impl FnOnce(&mut Exec),
    ) -> Result<Option<Exec>, ExecIoError> {
        let changed = {
            let mut map = self.lock();
            let Some(e) = map.get_mut(id) else {
                return Ok(None);
            };
            f(e);
            e.clone()
        };
        save(&changed, dir)?;
        Ok(Some(changed))
    }

    /// The ids of container `container_id`'s execs.
    pub fn of_container(&self, container_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lock()
            .values()
            .filter(|e| e.container_id == container_id)
            .map(|e| e.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Forgets container `container_id`'s execs (it was removed).
    pub fn forget_container(&self, container_id: &str) {
        self.lock().retain(|_, e| e.container_id != container_id);
    }

    /// Loads every exec record under `containers` (`<id>/execs/<exec id>/exec.json`).
    pub fn load(&self, containers: &Path) -> Vec<Exec> {
        let mut found = Vec::new();
        for c in read_dirs(containers) {
            for dir in read_dirs(&c.join(berth_engine::exec::EXECS)) {
                let Ok(raw) = std::fs::read(dir.join(EXEC_FILE)) else {
                    continue;
                };
                match serde_json::from_slice::<Exec>(&raw) {
                    Ok(e) => found.push(e),
                    Err(err) => tracing::warn!("exec record in {}: {err}", dir.display()),
                }
            }
        }
        let mut map = self.lock();
        for e in &found {
            map.insert(e.id.clone(), e.clone());
        }
        found
    }
}

fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn save(e: &Exec, dir: &Path) -> Result<(), ExecIoError> {
    let err = |op: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ExecIoError { op, path, source }
    };
    std::fs::create_dir_all(dir).map_err(err("create directory", dir))?;
    let path = dir.join(EXEC_FILE);
    // Two tasks may save one exec at once (its start and its end, on two threads):
    // each writes its own file.
    let thread = format!("{:?}", std::thread::current().id());
    let n: String = thread.chars().filter(char::is_ascii_digit).collect();
    let tmp = dir.join(format!(".exec.json.{n}.tmp"));
    // Plain data: serializing cannot fail.
    let raw = serde_json::to_vec(e).unwrap_or_default();
    std::fs::write(&tmp, raw).map_err(err("write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(err("rename", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_reload() {
        let root = tempfile::tempdir().unwrap();
        let cid = "c".repeat(64);
        let dir = root.path().join(&cid).join("execs").join("e1");
        let execs = Execs::default();
        let e = Exec {
            id: "e1".into(),
            container_id: cid.clone(),
            cmd: vec!["true".into()],
            ..Exec::default()
        };
        execs.put(e.clone(), &dir).unwrap();
        execs
            .update("e1", &dir, |e| {
                e.started = true;
                e.exit_code = Some(3);
            })
            .unwrap();
        let again = Execs::default();
        let loaded = again.load(root.path());
        assert_eq!(loaded.len(), 1);
        assert_eq!(again.get("e1").unwrap().exit_code, Some(3));
        assert_eq!(again.of_container(&cid), ["e1"]);
        again.forget_container(&cid);
        assert!(again.get("e1").is_none());
    }
}
