//! What the spec needs to know about the host: the capabilities it can hand out, whether
//! swap can be limited, its CPUs, name, DNS and hosts files, devices, and where the
//! `--init` binary is. [`SystemHost`] reads the real machine; tests pass their own.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType};

/// The host facts a container's spec depends on.
pub trait Host {
    /// The capabilities the host can give (its bounding set), as `CAP_*` names: what a
    /// privileged container or `--cap-add ALL` gets.
    fn capabilities(&self) -> Vec<String>;
    /// Whether the memory cgroup can limit swap (`memory.memsw.*` exists).
    fn swap_accounting(&self) -> bool;
    /// The number of CPUs (`--cpus` may not ask for more).
    fn cpus(&self) -> usize;
    /// The host's name (a `--network host` container's default hostname).
    fn hostname(&self) -> String;
    /// The content of the host's /etc/hosts ("" if it has none).
    fn hosts(&self) -> String;
    /// The content of the host's resolv.conf ("" if it has none).
    fn resolv_conf(&self) -> String;
    /// Every device node under the host's /dev (what a privileged container gets).
    fn devices(&self) -> Vec<LinuxDevice>;
    /// The `--init` binary, if there is one.
    fn init_binary(&self) -> Option<PathBuf>;
}

/// The machine this runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemHost;

/// Where cgroup v1's memory controller says whether swap accounting is on.
const MEMSW: &str = "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes";

/// systemd-resolved's list of the real upstream servers (its /etc/resolv.conf names a
/// local stub that a container cannot reach), then the usual file.
const RESOLV_CONFS: [&str; 2] = ["/run/systemd/resolve/resolv.conf", "/etc/resolv.conf"];

/// Directories of /dev that hold no devices for a container (or hold the container's own).
const SKIP_DIRS: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

impl Host for SystemHost {
    fn capabilities(&self) -> Vec<String> {
        let set = caps::read(None, caps::CapSet::Bounding).unwrap_or_else(|_| caps::all());
        let mut caps: Vec<caps::Capability> = set.into_iter().collect();
        caps.sort_by_key(|c| c.index());
        caps.iter().map(ToString::to_string).collect()
    }

    fn swap_accounting(&self) -> bool {
        Path::new(MEMSW).exists()
    }

    fn cpus(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    fn hostname(&self) -> String {
        nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    fn hosts(&self) -> String {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    }

    fn resolv_conf(&self) -> String {
        RESOLV_CONFS
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    fn devices(&self) -> Vec<LinuxDevice> {
        let mut out = Vec::new();
        walk_devices(Path::new("/dev"), &mut out);
        out
    }

    fn init_binary(&self) -> Option<PathBuf> {
        default_init_binary()
    }
}

/// `$BERTH_INIT`, else `berth-init` beside the running executable, if it is a file.
pub fn default_init_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_INIT").filter(|p| !p.is_empty()) {
        return Some(p.into());
    }
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join("berth-init");
    path.is_file().then_some(path)
}

/// Appends the character and block devices under `dir`, recursively, skipping symlinks,
/// /dev/console and the directories in [`SKIP_DIRS`].
fn walk_devices(dir: &Path, out: &mut Vec<LinuxDevice>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let name = entry.file_name();
        let kind = meta.file_type();
        if kind.is_dir() {
            if !SKIP_DIRS.iter().any(|s| name == *s) {
                walk_devices(&path, out);
            }
        } else if name != "console" && (kind.is_char_device() || kind.is_block_device()) {
            out.extend(device(path, &meta, kind.is_char_device()));
        }
    }
}

fn device(path: PathBuf, meta: &std::fs::Metadata, char: bool) -> Option<LinuxDevice> {
    let rdev = meta.rdev();
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(if char {
            LinuxDeviceType::C
        } else {
            LinuxDeviceType::B
        })
        .major(nix::sys::stat::major(rdev) as i64)
        .minor(nix::sys::stat::minor(rdev) as i64)
        .file_mode(meta.mode() & 0o7777)
        .uid(meta.uid())
        .gid(meta.gid())
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_host_reads_the_machine() {
        let host = SystemHost;
        let caps = host.capabilities();
        assert!(caps.iter().any(|c| c == "CAP_CHOWN"), "{caps:?}");
        assert!(host.cpus() >= 1);
        let devices = host.devices();
        let null = devices.iter().find(|d| d.path() == Path::new("/dev/null"));
        let null = null.expect("/dev/null is a device");
        assert_eq!((null.major(), null.minor()), (1, 3));
        assert!(devices.iter().all(|d| !d.path().starts_with("/dev/pts")));
    }
}
