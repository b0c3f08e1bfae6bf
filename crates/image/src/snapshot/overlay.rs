//! The overlay snapshotter: each snapshot is one layer directory (`fs/`); an active
//! snapshot is an overlay of its ancestors' layers (lower) and its own (upper).

use std::fs;
use std::path::{Path, PathBuf};

use super::store::{NameLock, Record, Store};
use super::{fsutil, DirStyle, Error, Info, Kind, LayerDirs, Mount, Result, Snapshotter, Usage};

/// Overlay snapshots under a root directory.
#[derive(Debug)]
pub struct Overlay {
    store: Store,
}

impl Overlay {
    /// Opens (creating) the overlay snapshotter rooted at `root` (absolute, without `:` or
    /// `,`). Does not check that overlayfs works: see [`overlay_supported`].
    pub fn new(root: &Path) -> Result<Self> {
        Ok(Self {
            store: Store::open(root)?,
        })
    }

    fn fs_dir(&self, key: &str) -> PathBuf {
        self.store.dir(key).join("fs")
    }

    fn mounts_of(&self, rec: &Record) -> Result<Vec<Mount>> {
        let lowers: Vec<String> = rec
            .ancestors
            .iter()
            .map(|k| self.fs_dir(k).to_string_lossy().into_owned())
            .collect();
        let own = self.store.dir(&rec.key);
        match rec.kind {
            Kind::Active if lowers.is_empty() => Ok(vec![bind(&own.join("fs"), false)]),
            Kind::Active => Ok(vec![overlay(&lowers, Some(&own))]),
            Kind::View => Ok(vec![match lowers.as_slice() {
                [] => bind(&own.join("fs"), true),
                [one] => bind(Path::new(one), true),
                _ => overlay(&lowers, None),
            }]),
            Kind::Committed => Err(Error::WrongKind {
                op: "mounts",
                key: rec.key.clone(),
                actual: rec.kind,
                wanted: "an active snapshot or a view",
            }),
        }
    }
}

fn bind(dir: &Path, readonly: bool) -> Mount {
    let rw = if readonly { "ro" } else { "rw" };
    Mount {
        typ: "bind".into(),
        source: dir.to_string_lossy().into_owned(),
        options: vec!["rbind".into(), rw.into()],
    }
}

/// An overlay of `lowers` (top first) with `own`'s `fs` and `work` as upper and work dirs,
/// or read-only without `own`.
fn overlay(lowers: &[String], own: Option<&Path>) -> Mount {
    let mut options = vec!["index=off".to_string()];
    if let Some(own) = own {
        let (upper, work) = (own.join("fs"), own.join("work"));
        options.push(format!("upperdir={}", upper.display()));
        options.push(format!("workdir={}", work.display()));
    } else {
        options.push("ro".into());
    }
    options.push(format!("lowerdir={}", lowers.join(":")));
    Mount {
        typ: "overlay".into(),
        source: "overlay".into(),
        options,
    }
}

/// What an active snapshot's directory holds: the overlay's upper and work directories.
const ACTIVE_DIRS: [&str; 2] = ["fs", "work"];

fn make_dirs(dir: &Path, names: &[&str]) -> Result<()> {
    for name in names {
        let path = dir.join(name);
        fs::create_dir(&path).map_err(Error::io("create directory", &path))?;
    }
    Ok(())
}

impl Snapshotter for Overlay {
    fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let fill = |dir: &Path, _: &[PathBuf]| make_dirs(dir, &ACTIVE_DIRS);
        let rec = self.store.create_spared(key, parent, Kind::Active, fill)?;
        self.mounts_of(&rec)
    }

    fn make_spare(&self) -> Result<bool> {
        self.store.make_spare(|dir| make_dirs(dir, &ACTIVE_DIRS))?;
        Ok(true)
    }

    fn spares(&self) -> usize {
        self.store.spares()
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>> {
        let fill = |dir: &Path, _: &[PathBuf]| make_dirs(dir, &["fs"]);
        let rec = self.store.create(key, parent, Kind::View, fill)?;
        self.mounts_of(&rec)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>> {
        self.mounts_of(&self.store.get(key)?)
    }

    fn commit(&self, name: &str, key: &str) -> Result<()> {
        self.store.commit(name, key)?;
        // The work dir only matters while the snapshot is an upper layer.
        fsutil::remove_all(&self.store.dir(name).join("work"))
    }

    fn detached_layers(&self) -> bool {
        true
    }

    fn commit_over(&self, name: &str, key: &str, parent: Option<&str>) -> Result<()> {
        self.store.commit_over(name, key, parent)?;
        fsutil::remove_all(&self.store.dir(name).join("work"))
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.store.remove(key)
    }

    fn remove_to(&self, key: &str, grave: &std::path::Path) -> Result<bool> {
        self.store.remove_to(key, grave)
    }

    fn stat(&self, key: &str) -> Result<Info> {
        Ok(self.store.get(key)?.info())
    }

    fn usage(&self, key: &str) -> Result<Usage> {
        let rec = self.store.get(key)?;
        if rec.kind == Kind::View {
            return Ok(Usage::default());
        }
        fsutil::usage(&self.fs_dir(key))
    }

    fn list(&self) -> Result<Vec<Info>> {
        Ok(self.store.records()?.iter().map(Record::info).collect())
    }

    fn layer_dirs(&self, key: &str) -> Result<LayerDirs> {
        let rec = self.store.get(key)?;
        Ok(LayerDirs {
            upper: self.fs_dir(key),
            lowers: rec.ancestors.iter().map(|k| self.fs_dir(k)).collect(),
            style: DirStyle::Overlay,
        })
    }

    fn lock(&self, name: &str) -> Result<NameLock> {
        self.store.lock_name(name)
    }

    fn driver_name(&self) -> &'static str {
        "overlay2"
    }

    fn cleanup(&self) -> Result<()> {
        self.store.cleanup()
    }
}

/// Whether overlayfs works on the file system of `root` (an existing directory): tries a
/// real two-layer overlay mount in a temporary directory there, then removes it.
pub fn overlay_supported(root: &Path) -> bool {
    let probe = root.join(format!(".overlay-probe-{:016x}", fastrand::u64(..)));
    let works = try_overlay(&probe).is_ok();
    fsutil::remove_all(&probe).is_ok() && works
}

fn try_overlay(probe: &Path) -> Result<()> {
    fs::create_dir(probe).map_err(Error::io("create directory", probe))?;
    make_dirs(probe, &["l1", "l2", "upper", "work", "merged"])?;
    let lowers = [probe.join("l1"), probe.join("l2")].map(|p| p.to_string_lossy().into_owned());
    let mut m = overlay(&lowers, None);
    m.options.retain(|o| o != "ro");
    m.options
        .push(format!("upperdir={}", probe.join("upper").display()));
    m.options
        .push(format!("workdir={}", probe.join("work").display()));
    let merged = probe.join("merged");
    Mount::mount_at(&[m], &merged)?;
    super::unmount(&merged)
}
