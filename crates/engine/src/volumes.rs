//! Volumes of the `local` driver: a directory per volume under `<data-root>/volumes`,
//! `<name>/_data` holding its files (what containers mount) and `<name>/volume.json` its
//! record. A named volume is made on first use or by `volume create`; an anonymous one
//! (an image's `VOLUME`, `-v /path`) gets a random 64-hex name and goes with its
//! container when that is removed with `-v` or was started with `--rm`.

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::record::now;

/// The one driver berth has.
pub const LOCAL: &str = "local";

/// A volume's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// User labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// Made for a container without a name (removed with it).
    #[serde(default)]
    pub anonymous: bool,
}

/// Errors of the volume store, each naming the volume or the path.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// No volume by this name.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// A name the local driver cannot take.
    #[error("create {0}: \"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    BadName(String),
    /// A volume that containers still use.
    #[error("remove {name}: volume is in use - [{users}]")]
    InUse {
        /// The volume.
        name: String,
        /// The containers' ids, comma separated.
        users: String,
    },
    /// A driver or driver option berth does not have.
    #[error("create {name}: {reason}")]
    Unsupported {
        /// The volume.
        name: String,
        /// What is not supported.
        reason: String,
    },
    /// A file-system step failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A record that does not parse.
    #[error("volume record {path}: {source}")]
    Record {
        /// The record.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
    let path = path.to_path_buf();
    move |source| VolumeError::Io { op, path, source }
}

/// Whether `name` is a valid volume name (docker's rule for the local driver).
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// What `create` is asked for.
#[derive(Debug, Clone, Default)]
pub struct NewVolume {
    /// The name (random when None; then the volume is anonymous).
    pub name: Option<String>,
    /// The driver (empty: local).
    pub driver: String,
    /// Driver options (the local driver takes none here).
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// The volumes under one data root.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    root: PathBuf,
}

impl VolumeStore {
    /// The store at `root` (`<data-root>/volumes`), made if missing.
    pub fn open(root: &Path) -> Result<VolumeStore, VolumeError> {
        fs::create_dir_all(root).map_err(io("create directory", root))?;
        Ok(VolumeStore { root: root.into() })
    }

    /// The directory containers mount for volume `name`.
    pub fn data_dir(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.root.join(name).join("volume.json")
    }

    /// Makes a volume, or returns the one of that name (as docker does, whatever labels
    /// the second request gives).
    pub fn create(&self, req: &NewVolume) -> Result<Volume, VolumeError> {
        let (name, anonymous) = match &req.name {
            Some(n) => (n.clone(), false),
            None => (
                crate::store::random_id().map_err(io("read", Path::new("/dev/urandom")))?,
                true,
            ),
        };
        if !valid_name(&name) {
            return Err(VolumeError::BadName(name));
        }
        check_driver(&name, req)?;
        if let Ok(v) = self.get(&name) {
            return Ok(v);
        }
        let vol = Volume {
            name: name.clone(),
            driver: LOCAL.into(),
            labels: req.labels.clone(),
            created_at: now(),
            anonymous,
        };
        self.write_new(&vol)?;
        Ok(vol)
    }

    /// Writes a new volume's directory: made under a temporary name, then renamed into
    /// place, so a volume is either whole or absent. Losing a race to a concurrent
    /// create of the same name is fine: the other one is the volume.
    fn write_new(&self, vol: &Volume) -> Result<(), VolumeError> {
        let tmp = self
            .root
            .join(format!(".new-{}-{}", vol.name, std::process::id()));
        let data = tmp.join("_data");
        fs::create_dir_all(&data).map_err(io("create directory", &data))?;
        let raw = serde_json::to_vec_pretty(vol).map_err(|source| VolumeError::Record {
            path: tmp.clone(),
            source,
        })?;
        let rec = tmp.join("volume.json");
        let written = write_synced(&rec, &raw);
        let target = self.root.join(&vol.name);
        let placed = written.and_then(|_| match fs::rename(&tmp, &target) {
            Err(e) if !target.join("volume.json").exists() => Err(io("rename", &tmp)(e)),
            _ => Ok(()),
        });
        if placed.is_err() || tmp.exists() {
            fs::remove_dir_all(&tmp).ok();
        }
        placed
    }

    /// Volume `name`.
    pub fn get(&self, name: &str) -> Result<Volume, VolumeError> {
        if !valid_name(name) {
            return Err(VolumeError::NotFound(name.into()));
        }
        let path = self.record_path(name);
        let raw = match fs::read(&path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.into()))
            }
            r => r.map_err(io("read", &path))?,
        };
        serde_json::from_slice(&raw).map_err(|source| VolumeError::Record { path, source })
    }

    /// The names of the volumes there are (one directory read, no records).
    pub fn names(&self) -> Result<std::collections::HashSet<String>, VolumeError> {
        let rd = fs::read_dir(&self.root).map_err(io("read directory", &self.root))?;
        Ok(rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect())
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let rd = fs::read_dir(&self.root).map_err(io("read directory", &self.root))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(io("read directory", &self.root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            match self.get(&name) {
                Ok(v) => out.push(v),
                Err(VolumeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes volume `name` and its files (callers check that no container uses it).
    /// Its record goes first, so a removal cut short leaves no half volume behind.
    pub fn remove(&self, name: &str) -> Result<(), VolumeError> {
        self.get(name)?;
        let dir = self.root.join(name);
        let grave = self.root.join(format!(".rm-{name}-{}", std::process::id()));
        fs::rename(&dir, &grave).map_err(io("rename", &dir))?;
        fs::remove_dir_all(&grave).map_err(io("remove", &grave))
    }

    /// Removes what an interrupted create or remove left (`.new-*`, `.rm-*`).
    pub fn cleanup(&self) -> Result<(), VolumeError> {
        let rd = fs::read_dir(&self.root).map_err(io("read directory", &self.root))?;
        for entry in rd.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                fs::remove_dir_all(entry.path()).ok();
            }
        }
        Ok(())
    }

    /// The disk space volume `name`'s files take (allocated bytes; hard links once).
    pub fn size(&self, name: &str) -> Result<u64, VolumeError> {
        let dir = self.data_dir(name);
        berth_image::snapshot::tree_usage(&dir)
            .map(|u| u.bytes)
            .map_err(|e| io("measure", &dir)(std::io::Error::other(e.to_string())))
    }

    /// Whether volume `name`'s files are none yet.
    pub fn is_empty(&self, name: &str) -> Result<bool, VolumeError> {
        let dir = self.data_dir(name);
        let mut rd = fs::read_dir(&dir).map_err(io("read directory", &dir))?;
        Ok(rd.next().is_none())
    }
}

fn check_driver(name: &str, req: &NewVolume) -> Result<(), VolumeError> {
    let unsupported = |reason: String| VolumeError::Unsupported {
        name: name.into(),
        reason,
    };
    if !req.driver.is_empty() && req.driver != LOCAL {
        return Err(unsupported(format!(
            "driver {:?} is not available: berth has the local driver only",
            req.driver
        )));
    }
    if let Some(key) = req.options.keys().next() {
        return Err(unsupported(format!(
            "option {key:?}: berth's local driver takes no options"
        )));
    }
    Ok(())
}

fn write_synced(path: &Path, data: &[u8]) -> Result<(), VolumeError> {
    use std::io::Write;
    let mut f = fs::File::create(path).map_err(io("create", path))?;
    f.write_all(data).map_err(io("write", path))?;
    f.sync_all().map_err(io("sync", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> NewVolume {
        NewVolume {
            name: Some(name.into()),
            ..NewVolume::default()
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["data", "a1", "my_vol.2-x"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a", "-x", "a/b", "../x", ".hidden", "a b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_get_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(dir.path()).unwrap();
        let v = s.create(&named("data")).unwrap();
        assert_eq!(v.driver, LOCAL);
        assert!(!v.anonymous);
        assert_eq!(
            s.create(&named("data")).unwrap(),
            v,
            "a second create returns it"
        );
        let anon = s.create(&NewVolume::default()).unwrap();
        assert!(anon.anonymous && anon.name.len() == 64);
        assert!(s.is_empty("data").unwrap());
        fs::write(s.data_dir("data").join("f"), "x").unwrap();
        assert!(!s.is_empty("data").unwrap());
        let names: Vec<String> = s.list().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"data".to_string()));
        s.remove("data").unwrap();
        assert!(matches!(s.get("data"), Err(VolumeError::NotFound(_))));
        assert!(!dir.path().join("data").exists());
    }

    #[test]
    fn bad_names_drivers_and_options_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = VolumeStore::open(dir.path()).unwrap();
        let e = s.create(&named("a/b")).unwrap_err();
        assert!(e.to_string().contains("includes invalid characters"), "{e}");
        let mut req = named("x1");
        req.driver = "nfs".into();
        assert!(matches!(
            s.create(&req),
            Err(VolumeError::Unsupported { .. })
        ));
        let mut req = named("x2");
        req.options.insert("type".into(), "tmpfs".into());
        assert!(matches!(
            s.create(&req),
            Err(VolumeError::Unsupported { .. })
        ));
        assert!(s.list().unwrap().is_empty(), "nothing was left");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
