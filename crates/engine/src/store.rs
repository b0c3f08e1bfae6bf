//! The container store: one directory per container under `<data-root>/containers`
//! (`<id>/container.json`, the bundle's `config.json`, the `rootfs` mount point, the
//! log of a detached container), and name reservations under `names/` (one file per name,
//! made with `O_EXCL`, so two creates can never take the same name).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{EngineError, Result};
use crate::names;
use crate::record::Container;

/// The file a container's record is kept in.
pub const RECORD_FILE: &str = "container.json";

/// The bundle's runtime spec in a container's directory.
pub const BUNDLE_CONFIG: &str = "config.json";

/// Spare container directories (see [`ContainerStore::make_spare`]) are named with this
/// prefix: no id starts with a dot, so listings and lookups never see one.
const SPARE_PREFIX: &str = ".spare-";

/// The directory of spare name reservation files (see [`ContainerStore::reserve_name`]).
const NAME_SPARES: &str = ".spare-names";

/// A spare container directory's log file, renamed to the container's
/// ([`json_log_name`]) when it logs to one.
const SPARE_LOG: &str = "spare-json.log";

/// The name of container `id`'s json-file log in its directory, as docker names it.
pub fn json_log_name(id: &str) -> String {
    format!("{id}-json.log")
}

/// Containers on disk.
///
/// Records are kept parsed in memory too, shared by every clone of the store, each with
/// the identity of the file it was read from (inode, modification time, size). A record
/// is read again only when its file changed (every save replaces the file, so a save by
/// another process is seen too), which makes listing many containers a `stat` each.
#[derive(Debug, Clone)]
pub struct ContainerStore {
    root: PathBuf,
    /// The init layer every container shares (`<data-root>/init`).
    shared_init: PathBuf,
    /// `root`, open: records are looked up from it (two path components, not the
    /// data root's many, on each of a list's `stat`s).
    root_fd: Arc<std::os::fd::OwnedFd>,
    /// The directory's names as last read.
    listing: Arc<Mutex<Listing>>,
    cache: Arc<Mutex<Records>>,
    /// Container directories made ahead of need.
    spares: Arc<Mutex<Vec<PathBuf>>>,
    /// Name reservation files made ahead of need.
    name_spares: Arc<Mutex<Vec<PathBuf>>>,
}

/// The names in the containers directory, with the directory's modification time then.
#[derive(Debug, Default)]
struct Listing {
    mtime_ns: i64,
    read_at_ns: i64,
    ids: Vec<String>,
}

/// How long after a directory's last change a listing must have been read to be trusted
/// while the modification time stays the same: file times advance in ticks of the
/// kernel's coarse clock (up to 10 ms), so a change within the tick of an earlier one
/// may leave the time unchanged.
const LISTING_MARGIN_NS: i64 = 50_000_000;

impl Listing {
    /// Whether this listing is the directory's content at modification time `mtime_ns`.
    fn fresh(&self, mtime_ns: i64) -> bool {
        self.mtime_ns == mtime_ns && self.read_at_ns - mtime_ns > LISTING_MARGIN_NS
    }
}

/// The time now in nanoseconds since the epoch.
fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Records read, by id, with the identity of the file each was read from.
type Records = HashMap<String, (Stamp, Arc<Container>)>;

/// The identity of a record file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    mtime_ns: i64,
    size: u64,
}

impl Stamp {
    fn of_stat(st: &nix::sys::stat::FileStat) -> Stamp {
        Stamp {
            ino: st.st_ino,
            mtime_ns: st.st_mtime.saturating_mul(1_000_000_000) + st.st_mtime_nsec,
            size: st.st_size.max(0) as u64,
        }
    }

    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            ino: m.ino(),
            mtime_ns: m.mtime().saturating_mul(1_000_000_000) + m.mtime_nsec(),
            size: m.size(),
        }
    }
}

impl ContainerStore {
    /// The store under `root` (`<data-root>/containers`), created if missing; the shared
    /// init layer is `init` beside it.
    pub fn open(root: &Path) -> Result<ContainerStore> {
        let names = root.join("names");
        fs::create_dir_all(&names).map_err(EngineError::io("create directory", &names))?;
        let dir = fs::File::open(root).map_err(EngineError::io("open", root))?;
        let parent = root.parent().unwrap_or(root);
        Ok(ContainerStore {
            root: root.into(),
            shared_init: parent.join(crate::rootfs::INIT_LAYER),
            root_fd: Arc::new(dir.into()),
            listing: Arc::default(),
            cache: Arc::default(),
            spares: Arc::default(),
            name_spares: Arc::default(),
        })
    }

    /// Makes a spare container directory ahead of need: the rootfs mount point and the
    /// files a start writes (the /etc files, the bundle's spec, the shim's pid file:
    /// read as no pid while empty), empty.
    /// [`ContainerStore::insert`] renames one into place instead of making them: on a
    /// file system that freed many inodes lately (ext4 without a journal skips each
    /// recently freed one when it allocates), each directory or file made can cost tens
    /// of microseconds.
    pub fn make_spare(&self) -> Result<()> {
        let dir = self
            .root
            .join(format!("{SPARE_PREFIX}{:016x}", fastrand::u64(..)));
        fs::create_dir(&dir).map_err(EngineError::io("create directory", &dir))?;
        match fill_spare(&dir) {
            Ok(()) => lock(&self.spares).push(dir),
            Err(e) => {
                fs::remove_dir_all(&dir).ok();
                return Err(e);
            }
        }
        let names = self.root.join(NAME_SPARES);
        match fs::create_dir(&names) {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => {
                return Err(EngineError::io("create directory", &names)(e))
            }
            _ => {}
        }
        let name = names.join(format!("{:016x}", fastrand::u64(..)));
        fs::File::create(&name).map_err(EngineError::io("create", &name))?;
        lock(&self.name_spares).push(name);
        Ok(())
    }

    /// Removes the spare directories an earlier daemon left (call it before making
    /// spares: only the process that keeps them may).
    pub fn sweep_spares(&self) -> Result<()> {
        remove_spares(&self.root)
    }

    /// Where container `id`'s directory goes to be made a spare again
    /// ([`ContainerStore::adopt_spare`]): beside the spares, out of every listing.
    pub fn recycle_path(&self) -> PathBuf {
        let name = format!("{SPARE_PREFIX}used-{:016x}", fastrand::u64(..));
        self.root.join(name)
    }

    /// Takes container `id`'s directory out of the store, to `to` (see
    /// [`ContainerStore::recycle_path`]); false when there was none.
    pub fn move_dir(&self, id: &str, to: &Path) -> Result<bool> {
        self.forget(id);
        let dir = self.dir(id);
        match fs::rename(&dir, to) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(EngineError::io("rename", &dir)(e)),
        }
    }

    /// Makes `used`, the directory of a removed container, a spare again: the files a
    /// spare holds are emptied (other files of the container take the names of those
    /// missing, emptied too), the rest is deleted. A spare keeps its inodes from one
    /// container to the next: none is freed and made again. An error (anything a spare
    /// would not hold, such as a rootfs that is not empty) leaves `used` to the caller.
    pub fn adopt_spare(&self, used: &Path) -> Result<()> {
        refill_spare(used)?;
        let dir = self
            .root
            .join(format!("{SPARE_PREFIX}{:016x}", fastrand::u64(..)));
        fs::rename(used, &dir).map_err(EngineError::io("rename", used))?;
        lock(&self.spares).push(dir);
        Ok(())
    }

    /// How many spare directories (each with a spare name reservation) are ready.
    pub fn spares(&self) -> usize {
        lock(&self.spares).len().min(lock(&self.name_spares).len())
    }

    /// Renames a spare directory to `dir`; false when none is ready (or it could not be
    /// used, and is removed).
    fn use_spare(&self, dir: &Path) -> bool {
        let Some(spare) = lock(&self.spares).pop() else {
            return false;
        };
        if !dir.exists() && fs::rename(&spare, dir).is_ok() {
            return true;
        }
        fs::remove_dir_all(&spare).ok();
        false
    }

    /// Renames the spare log of new container `c`'s directory to its json-file log, or
    /// removes it when `c` logs elsewhere.
    fn place_log(&self, c: &Container) {
        let dir = self.dir(&c.id);
        let spare = dir.join(SPARE_LOG);
        let driver = c.config.host.log_config.driver.as_str();
        if matches!(driver, "" | "json-file")
            && fs::rename(&spare, dir.join(json_log_name(&c.id))).is_ok()
        {
            return;
        }
        fs::remove_file(&spare).ok();
    }

    /// Reserves `name` for `id` with a spare reservation file: Some(false) when the
    /// name is taken, None when there is no spare (or it failed: then it is removed).
    fn reserve_spared(&self, path: &Path, id: &str) -> Option<bool> {
        let spare = lock(&self.name_spares).pop()?;
        let written = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&spare)
            .and_then(|mut f| f.write_all(id.as_bytes()));
        if written.is_ok() {
            use rustix::fs::{renameat_with, RenameFlags, CWD};
            match renameat_with(CWD, &spare, CWD, path, RenameFlags::NOREPLACE) {
                Ok(()) => return Some(true),
                Err(rustix::io::Errno::EXIST) => {
                    lock(&self.name_spares).push(spare);
                    return Some(false);
                }
                Err(_) => {}
            }
        }
        fs::remove_file(&spare).ok();
        None
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Where container `id`'s root filesystem is mounted.
    pub fn rootfs(&self, id: &str) -> PathBuf {
        self.dir(id).join("rootfs")
    }

    /// The init layer container `id`'s root is mounted over (see [`crate::rootfs`]): its
    /// own `<container dir>/init` if an older version made one, else the one every
    /// container shares, `init` beside the containers directory (made at the first mount).
    pub fn init_layer(&self, id: &str) -> PathBuf {
        let own = self.dir(id).join(crate::rootfs::INIT_LAYER);
        if own.is_dir() {
            return own;
        }
        self.shared_init.clone()
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir(id).join(RECORD_FILE)
    }

    /// A new random id: 64 hex characters from the kernel's random source.
    pub fn new_id(&self) -> Result<String> {
        random_id().map_err(EngineError::io("read", Path::new(RANDOM)))
    }

    /// Reserves `name` for container `id`, or a random name when `name` is None.
    pub fn reserve_name(&self, name: Option<&str>, id: &str) -> Result<String> {
        if let Some(n) = name {
            let n = n.strip_prefix('/').unwrap_or(n);
            if !names::valid(n) {
                return Err(EngineError::BadName(n.into()));
            }
            return match self.try_reserve(n, id)? {
                true => Ok(n.into()),
                false => Err(EngineError::NameInUse {
                    name: n.into(),
                    id: self.name_owner(n).unwrap_or_default(),
                }),
            };
        }
        for attempt in 0.. {
            let n = names::random_name(attempt);
            if self.try_reserve(&n, id)? {
                return Ok(n);
            }
        }
        unreachable!("an unbounded loop only ends by returning")
    }

    fn try_reserve(&self, name: &str, id: &str) -> Result<bool> {
        let path = self.root.join("names").join(name);
        if let Some(reserved) = self.reserve_spared(&path, id) {
            return Ok(reserved);
        }
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(id.as_bytes())
                    .map_err(EngineError::io("write", &path))?;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(EngineError::io("create", &path)(e)),
        }
    }

    fn name_owner(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.root.join("names").join(name)).ok()
    }

    /// Frees `name`.
    pub fn release_name(&self, name: &str) -> Result<()> {
        let path = self.root.join("names").join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(EngineError::io("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// Makes the directory of a new container and writes its record: synced, unless the
    /// container is removed when it exits (a power failure ends it anyway).
    pub fn insert(&self, c: &Container) -> Result<()> {
        let dir = self.dir(&c.id);
        if self.use_spare(&dir) {
            self.place_log(c);
        } else {
            fs::create_dir(&dir).map_err(EngineError::io("create directory", &dir))?;
        }
        if c.config.auto_remove {
            self.save_state(c)
        } else {
            self.save(c)
        }
    }

    /// Writes a container's record (atomically) and syncs it: for what a user asked for
    /// (its creation, a rename, new settings), which must survive a power loss.
    pub fn save(&self, c: &Container) -> Result<()> {
        c.save(&self.record_path(&c.id), true)
    }

    /// Writes a container's record (atomically) without syncing it: for changes of its
    /// run state (running, paused, exited), which a power loss ends anyway and which
    /// berthd reconciles with what it finds when it starts. A sync on a busy file system
    /// can take tens of milliseconds, on every start and exit.
    pub fn save_state(&self, c: &Container) -> Result<()> {
        c.save(&self.record_path(&c.id), false)
    }

    /// Reads container `id`'s record (a full id): from memory when its file is the one
    /// read last time.
    pub fn load(&self, id: &str) -> Result<Container> {
        self.load_shared(id).map(|c| (*c).clone())
    }

    /// [`ContainerStore::load`] without a copy: the record as remembered, shared.
    pub fn load_shared(&self, id: &str) -> Result<Arc<Container>> {
        let path = self.record_path(id);
        let relative = format!("{id}/{RECORD_FILE}");
        let at = nix::fcntl::AtFlags::empty();
        let stamp = match nix::sys::stat::fstatat(&*self.root_fd, relative.as_str(), at) {
            Ok(st) => Stamp::of_stat(&st),
            Err(nix::errno::Errno::ENOENT) => {
                self.forget(id);
                return Err(EngineError::NoSuchContainer(id.into()));
            }
            Err(e) => return Err(EngineError::io("stat", &path)(e.into())),
        };
        if let Some((s, c)) = self.cached().get(id) {
            if *s == stamp {
                return Ok(Arc::clone(c));
            }
        }
        self.read_record(id, &path)
    }

    /// Reads a record from its file and remembers it under the stamp of the file read.
    fn read_record(&self, id: &str, path: &Path) -> Result<Arc<Container>> {
        let file = match fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.forget(id);
                return Err(EngineError::NoSuchContainer(id.into()));
            }
            Err(e) => return Err(EngineError::io("open", path)(e)),
        };
        let meta = file.metadata().map_err(EngineError::io("stat", path))?;
        if meta.len() == 0 {
            // The first write of a record that a crash cut short (records of containers
            // removed at exit are not synced): the create never finished.
            return Err(EngineError::NoSuchContainer(id.into()));
        }
        let c = Arc::new(Container::read_from(file, path)?);
        self.cached()
            .insert(id.to_string(), (Stamp::of(&meta), Arc::clone(&c)));
        Ok(c)
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Records> {
        // The map holds only copies of what is on disk: a poisoned one is still right.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, id: &str) {
        self.cached().remove(id);
    }

    /// Removes container `id`'s directory (it must hold no mount any more).
    pub fn remove_dir(&self, id: &str) -> Result<()> {
        self.forget(id);
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(EngineError::io("remove", &dir)(e)),
            _ => Ok(()),
        }
    }

    /// Removes container `id`'s directory (it must hold no mount any more) by throwing it
    /// into `trash`: the container is gone (its id free, out of every listing) once it is
    /// renamed there.
    pub fn throw_dir(&self, id: &str, trash: &crate::trash::Trash) -> Result<()> {
        self.forget(id);
        trash.throw(&self.dir(id), &format!("container-{id}"))
    }

    /// Every container, newest first.
    pub fn list(&self) -> Result<Vec<Container>> {
        Ok(self
            .list_shared()?
            .into_iter()
            .map(|c| (*c).clone())
            .collect())
    }

    /// [`ContainerStore::list`] without copies of the records.
    pub fn list_shared(&self) -> Result<Vec<Arc<Container>>> {
        let rd = fs::read_dir(&self.root).map_err(EngineError::io("read directory", &self.root))?;
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(EngineError::io("read directory", &self.root))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().filter(|n| is_id(n)) else {
                continue;
            };
            match self.load_shared(id) {
                Ok(c) => out.push(c),
                // A directory whose record is not written yet (a create in progress).
                Err(EngineError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Finds a container by full id, name (with or without a leading `/`) or unique id
    /// prefix, as docker does.
    pub fn find(&self, s: &str) -> Result<Container> {
        if is_id(s) {
            if let Ok(c) = self.load(s) {
                return Ok(c);
            }
        }
        let name = s.strip_prefix('/').unwrap_or(s);
        if names::valid(name) {
            if let Some(id) = self.name_owner(name) {
                return self.load(&id);
            }
        }
        self.by_prefix(s)
    }

    /// The container directories whose names start with `prefix`, from the listing
    /// remembered last time while the directory has not changed since (stats and
    /// inspect of many containers by short id look up a prefix each).
    fn ids_starting_with(&self, prefix: &str) -> Result<Vec<String>> {
        let st = nix::sys::stat::fstat(&*self.root_fd)
            .map_err(|e| EngineError::io("stat", &self.root)(e.into()))?;
        let mtime_ns = st.st_mtime.saturating_mul(1_000_000_000) + st.st_mtime_nsec;
        let mut listing = self.listing.lock().unwrap_or_else(|p| p.into_inner());
        if !listing.fresh(mtime_ns) {
            let read_at_ns = now_ns();
            let mut ids = Vec::new();
            let entries =
                fs::read_dir(&self.root).map_err(EngineError::io("read directory", &self.root))?;
            for entry in entries {
                let name = entry
                    .map_err(EngineError::io("read directory", &self.root))?
                    .file_name();
                if let Some(id) = name.to_str().filter(|n| is_id(n)) {
                    ids.push(id.to_string());
                }
            }
            *listing = Listing {
                mtime_ns,
                read_at_ns,
                ids,
            };
        }
        Ok(listing
            .ids
            .iter()
            .filter(|id| id.starts_with(prefix))
            .cloned()
            .collect())
    }

    fn by_prefix(&self, prefix: &str) -> Result<Container> {
        let hex = !prefix.is_empty()
            && prefix
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        if !hex {
            return Err(EngineError::NoSuchContainer(prefix.into()));
        }
        let mut found = Vec::new();
        for id in self.ids_starting_with(prefix)? {
            match self.load_shared(&id) {
                Ok(c) => found.push(c),
                // A directory whose record is not written yet (a create in progress).
                Err(EngineError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
            if found.len() > 1 {
                return Err(EngineError::Ambiguous(prefix.into()));
            }
        }
        found
            .pop()
            .map(Arc::unwrap_or_clone)
            .ok_or_else(|| EngineError::NoSuchContainer(prefix.into()))
    }
}

/// The kernel's random source.
const RANDOM: &str = "/dev/urandom";

/// 64 hex characters from the kernel's random source (container ids, anonymous volume
/// names).
pub(crate) fn random_id() -> std::io::Result<String> {
    let mut raw = [0u8; 32];
    fs::File::open(RANDOM).and_then(|mut f| f.read_exact(&mut raw))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `s` is a full container id.
fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The files a spare container directory holds (all but the rootfs and the log).
fn spare_files(dir: &Path) -> Vec<PathBuf> {
    let record = dir.join(RECORD_FILE);
    let fixed = [
        RECORD_FILE,
        BUNDLE_CONFIG,
        berth_shim::PID_FILE,
        berth_shim::EXIT_TMP_FILE,
    ];
    let etc = crate::spec::network::ETC_FILES.iter().copied();
    let mut paths: Vec<PathBuf> = fixed.into_iter().chain(etc).map(|n| dir.join(n)).collect();
    paths.push(crate::record::save_tmp(&record));
    paths
}

/// Makes `dir`, a removed container's directory, hold what [`fill_spare`] makes.
fn refill_spare(dir: &Path) -> Result<()> {
    let root = dir.join("rootfs");
    match fs::read_dir(&root).map(|mut rd| rd.next().is_none()) {
        Ok(true) => {}
        // A container never started has none yet.
        Err(e) if e.kind() == ErrorKind::NotFound => {
            fs::create_dir(&root).map_err(EngineError::io("create directory", &root))?;
        }
        _ => {
            let full = ErrorKind::DirectoryNotEmpty.into();
            return Err(EngineError::io("reuse", &root)(full));
        }
    }
    let mut wanted = spare_files(dir);
    wanted.push(dir.join(SPARE_LOG));
    let mut extras = Vec::new();
    let rd = fs::read_dir(dir).map_err(EngineError::io("read directory", dir))?;
    for entry in rd {
        let entry = entry.map_err(EngineError::io("read directory", dir))?;
        let path = entry.path();
        if path == root {
            continue;
        }
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        match wanted.iter().position(|w| *w == path) {
            Some(i) if regular => {
                empty_file(&path)?;
                wanted.swap_remove(i);
            }
            _ if regular => extras.push(path),
            _ => remove_entry(&path)?,
        }
    }
    for path in wanted {
        match extras.pop() {
            Some(extra) => {
                fs::rename(&extra, &path).map_err(EngineError::io("rename", &extra))?;
                empty_file(&path)?;
            }
            None => {
                fs::File::create(&path).map_err(EngineError::io("create", &path))?;
            }
        }
    }
    for extra in extras {
        fs::remove_file(&extra).map_err(EngineError::io("remove", &extra))?;
    }
    let log = dir.join(SPARE_LOG);
    let mode = fs::Permissions::from_mode(berth_logs::writer::FILE_MODE);
    fs::set_permissions(&log, mode).map_err(EngineError::io("chmod", &log))
}

/// Empties the regular file at `path` (its mode made a plain file's, 0644).
fn empty_file(path: &Path) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(EngineError::io("truncate", path))?;
    f.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(EngineError::io("chmod", path))
}

/// Deletes what is at `path`, a directory with its content.
fn remove_entry(path: &Path) -> Result<()> {
    let removed = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        _ => fs::remove_file(path),
    };
    removed.map_err(EngineError::io("remove", path))
}

/// A list of spares' paths, locked: still right after a panic elsewhere.
fn lock(spares: &Mutex<Vec<PathBuf>>) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
    spares.lock().unwrap_or_else(|p| p.into_inner())
}

/// Makes what a spare container directory holds in `dir`: the rootfs mount point; the
/// record (empty: no container yet) and the file its saves write first
/// (`record::save_tmp`); the /etc files and the bundle's spec; the shim's pid file (read
/// as no pid while empty) and the file its exit status is written to first; the log.
fn fill_spare(dir: &Path) -> Result<()> {
    let root = dir.join("rootfs");
    fs::create_dir(&root).map_err(EngineError::io("create directory", &root))?;
    for path in spare_files(dir) {
        fs::File::create(&path).map_err(EngineError::io("create", &path))?;
    }
    let log = dir.join(SPARE_LOG);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(berth_logs::writer::FILE_MODE)
        .open(&log)
        .map_err(EngineError::io("create", &log))?;
    Ok(())
}

/// Removes the spare directories a daemon that ended left in `root`.
fn remove_spares(root: &Path) -> Result<()> {
    let rd = fs::read_dir(root).map_err(EngineError::io("read directory", root))?;
    for entry in rd.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(SPARE_PREFIX)
        {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(EngineError::io("remove", &path))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{now, Config, State, Status, RECORD_VERSION};

    fn record(id: &str) -> Container {
        Container {
            version: RECORD_VERSION,
            id: id.into(),
            name: "n".into(),
            image_id: "sha256:00".into(),
            image_name: "busybox".into(),
            created: now(),
            snapshot_key: id.into(),
            command: vec!["true".into()],
            config: Config::default(),
            state: State::created(),
            mounts: Vec::new(),
        }
    }

    #[test]
    fn a_create_takes_a_spare_directory_and_listings_never_see_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(dir.path()).unwrap();
        store.make_spare().unwrap();
        store.make_spare().unwrap();
        assert_eq!(store.spares(), 2);
        assert!(store.list().unwrap().is_empty(), "spares are no containers");
        assert!(matches!(
            store.find("."),
            Err(EngineError::NoSuchContainer(_))
        ));
        let id = "cd".repeat(32);
        store.insert(&record(&id)).unwrap();
        assert_eq!(store.spares(), 1);
        let made = store.dir(&id);
        assert!(made.join("rootfs").is_dir());
        for name in [
            "hostname",
            "hosts",
            "resolv.conf",
            BUNDLE_CONFIG,
            "shim.pid",
        ] {
            assert_eq!(fs::read(made.join(name)).unwrap(), b"", "{name}");
        }
        assert!(
            made.join(json_log_name(&id)).is_file(),
            "the log is in place"
        );
        assert!(!made.join(SPARE_LOG).exists());
        // Saved again: the earlier record is swapped aside, not freed.
        let rec = made.join(RECORD_FILE);
        let first = fs::metadata(&rec).unwrap().ino();
        let mut c = store.load(&id).unwrap();
        c.state.status = Status::Running;
        store.save_state(&c).unwrap();
        assert_eq!(store.load(&id).unwrap().state.status, Status::Running);
        let tmp = crate::record::save_tmp(&rec);
        assert_eq!(fs::metadata(&tmp).unwrap().ino(), first);
        // Names come from spares too; a taken one is refused and the spare kept.
        assert_eq!(store.reserve_name(Some("web"), &id).unwrap(), "web");
        assert_eq!(
            fs::read_to_string(dir.path().join("names/web")).unwrap(),
            id
        );
        assert!(store.reserve_name(Some("web"), "x").is_err());
        assert_eq!(store.spares(), 1);
        assert_eq!(store.find(&id[..4]).unwrap().id, id);
        // The spare left is removed by the next keeper's sweep.
        let again = ContainerStore::open(dir.path()).unwrap();
        again.sweep_spares().unwrap();
        assert_eq!(again.spares(), 0);
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(SPARE_PREFIX))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // Without spares, a create makes the directory.
        let other = "ef".repeat(32);
        again.insert(&record(&other)).unwrap();
        assert!(again.dir(&other).join(RECORD_FILE).is_file());
    }

    #[test]
    fn a_removed_containers_directory_becomes_an_empty_spare() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(dir.path()).unwrap();
        let id = "ab".repeat(32);
        store.insert(&record(&id)).unwrap();
        let made = store.dir(&id);
        fs::write(made.join("hosts"), "10.0.0.1 secret\n").unwrap();
        fs::write(made.join(json_log_name(&id)), "{\"log\":\"x\"}\n").unwrap();
        fs::write(made.join("exit.json"), "{}").unwrap();
        fs::create_dir_all(made.join("checkpoints/one")).unwrap();
        std::os::unix::net::UnixListener::bind(made.join("shim.sock")).unwrap();
        let used = store.recycle_path();
        assert!(store.move_dir(&id, &used).unwrap());
        assert!(matches!(
            store.load(&id),
            Err(EngineError::NoSuchContainer(_))
        ));
        store.adopt_spare(&used).unwrap();
        assert_eq!(store.spares(), 0, "no name spare yet");
        store.make_spare().unwrap();
        assert_eq!(store.spares(), 2.min(lock(&store.name_spares).len()));
        let next = "cd".repeat(32);
        store.insert(&record(&next)).unwrap();
        let again = store.dir(&next);
        let mut names: Vec<String> = fs::read_dir(&again)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut want = vec![
            ".exit.json.tmp".to_string(),
            BUNDLE_CONFIG.into(),
            RECORD_FILE.into(),
            crate::record::save_tmp(Path::new(RECORD_FILE))
                .to_string_lossy()
                .into_owned(),
            json_log_name(&next),
            "hostname".into(),
            "hosts".into(),
            "resolv.conf".into(),
            "rootfs".into(),
            "shim.pid".into(),
        ];
        want.sort();
        assert_eq!(names, want);
        for name in ["hosts", "resolv.conf", &json_log_name(&next)] {
            assert_eq!(fs::read(again.join(name)).unwrap(), b"", "{name}");
        }
        let mode = fs::metadata(again.join(json_log_name(&next)))
            .unwrap()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        // A rootfs with something in it (still mounted, say) is not reused.
        let used = store.recycle_path();
        fs::write(again.join("rootfs/f"), "x").unwrap();
        assert!(store.move_dir(&next, &used).unwrap());
        assert!(store.adopt_spare(&used).is_err());
    }

    #[test]
    fn prefixes_see_containers_made_and_removed_since_the_last_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let a = ContainerStore::open(dir.path()).unwrap();
        let b = ContainerStore::open(dir.path()).unwrap();
        let first = format!("ab{}", "1".repeat(62));
        a.insert(&record(&first)).unwrap();
        assert_eq!(b.find("ab").unwrap().id, first);
        // Made right after the lookup (within one tick of the directory's time), by
        // another store: the prefix is now ambiguous.
        let second = format!("ab{}", "2".repeat(62));
        a.insert(&record(&second)).unwrap();
        assert!(matches!(b.find("ab"), Err(EngineError::Ambiguous(_))));
        assert_eq!(b.find("ab2").unwrap().id, second);
        a.remove_dir(&first).unwrap();
        assert_eq!(b.find("ab").unwrap().id, second);
        // Once the directory is older than the margin, listings are remembered and a new
        // container still shows up.
        std::thread::sleep(std::time::Duration::from_millis(120));
        assert_eq!(b.find("ab").unwrap().id, second);
        let third = format!("ab{}", "3".repeat(62));
        a.insert(&record(&third)).unwrap();
        assert!(matches!(b.find("ab"), Err(EngineError::Ambiguous(_))));
        assert!(matches!(b.find("cd"), Err(EngineError::NoSuchContainer(_))));
    }

    #[test]
    fn records_are_read_again_only_when_their_file_changed() {
        let dir = tempfile::tempdir().unwrap();
        let a = ContainerStore::open(dir.path()).unwrap();
        let b = ContainerStore::open(dir.path()).unwrap();
        let id = "a".repeat(64);
        let mut c = record(&id);
        a.insert(&c).unwrap();
        assert_eq!(b.load(&id).unwrap(), c);
        c.state.status = Status::Running;
        a.save_state(&c).unwrap();
        assert_eq!(
            b.load(&id).unwrap().state.status,
            Status::Running,
            "another store's save is seen"
        );
        assert_eq!(b.list().unwrap(), vec![c.clone()]);
        a.remove_dir(&id).unwrap();
        assert!(matches!(b.load(&id), Err(EngineError::NoSuchContainer(_))));
        assert!(b.list().unwrap().is_empty());
    }
}
