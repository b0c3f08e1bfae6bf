//! What the process sees of files: reads, writes, stat, mounts, open fds, cgroup files.

use crate::{arg, errno, Report};
use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// How many bytes `read` and `cgroup` report of a file.
const READ_LIMIT: u64 = 64 * 1024;

/// Reads up to [`READ_LIMIT`] bytes of `path` as (lossy) UTF-8.
fn read_text(path: &str) -> std::io::Result<String> {
    let mut data = Vec::new();
    std::fs::File::open(path)?
        .take(READ_LIMIT)
        .read_to_end(&mut data)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// `{"ok": true, "data": ...}` or the errno of the failure.
fn read_report(path: &str) -> Value {
    match read_text(path) {
        Ok(data) => json!({ "ok": true, "data": data }),
        Err(e) => errno::failure(&e),
    }
}

/// `read <path>`: whether the file can be read, and its first bytes.
pub fn read(args: &[String]) -> Report {
    Ok(read_report(arg(args, 0, "read", "path")?))
}

/// `open <path>`: opens for reading and writing without doing I/O (a device cgroup check).
pub fn open(args: &[String]) -> Report {
    let path = arg(args, 0, "open", "path")?;
    Ok(
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
        {
            Ok(_) => json!({ "ok": true }),
            Err(e) => errno::failure(&e),
        },
    )
}

/// `mknod-open <path> <major> <minor>`: makes a character device node and opens it.
pub fn mknod_open(args: &[String]) -> Report {
    let path = arg(args, 0, "mknod-open", "path")?;
    let major: u32 = crate::num_arg(args, 1, "mknod-open", "major")?;
    let minor: u32 = crate::num_arg(args, 2, "mknod-open", "minor")?;
    let c = std::ffi::CString::new(path).map_err(|_| crate::Usage("path has a NUL".into()))?;
    // SAFETY: mknod reads a NUL-terminated path that outlives the call.
    let r = unsafe {
        libc::mknod(
            c.as_ptr(),
            libc::S_IFCHR | 0o600,
            libc::makedev(major, minor),
        )
    };
    if r != 0 {
        return Ok(errno::failure(&std::io::Error::last_os_error()));
    }
    open(&args[..1])
}

/// `write <path> <data>`: opens (creating if needed) and writes `data`.
pub fn write(args: &[String]) -> Report {
    let path = arg(args, 0, "write", "path")?;
    let data = arg(args, 1, "write", "data")?;
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(data.as_bytes()));
    Ok(match result {
        Ok(()) => json!({ "ok": true }),
        Err(e) => errno::failure(&e),
    })
}

/// `stat <path>` (not following a final symlink): type, permission bits, owner, device.
pub fn stat(args: &[String]) -> Report {
    let path = arg(args, 0, "stat", "path")?;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return Ok(errno::failure(&e)),
    };
    let ft = meta.file_type();
    let kind = [
        (ft.is_file(), "file"),
        (ft.is_dir(), "dir"),
        (ft.is_symlink(), "symlink"),
        (ft.is_char_device(), "char"),
        (ft.is_block_device(), "block"),
        (ft.is_fifo(), "fifo"),
        (ft.is_socket(), "socket"),
    ]
    .iter()
    .find_map(|&(is, name)| is.then_some(name))
    .unwrap_or("unknown");
    let rdev = meta.rdev();
    Ok(json!({
        "ok": true,
        "type": kind,
        "mode": meta.mode() & 0o7777,
        "uid": meta.uid(),
        "gid": meta.gid(),
        "size": meta.size(),
        "major": libc::major(rdev),
        "minor": libc::minor(rdev),
    }))
}

/// `mounts`: the lines of /proc/self/mountinfo.
pub fn mounts(_: &[String]) -> Report {
    Ok(match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(text) => json!({ "mounts": text.lines().collect::<Vec<_>>() }),
        Err(e) => errno::failure(&e),
    })
}

/// `fds`: every open descriptor with its link target (the directory listing's own fd
/// is left out), to catch descriptors leaked from the host into the container.
pub fn fds(_: &[String]) -> Report {
    let dir = match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => d,
        Err(e) => return Ok(errno::failure(&e)),
    };
    let own = format!("/proc/{}/fd", std::process::id());
    let mut list: Vec<(u32, String)> = dir
        .flatten()
        .filter_map(|entry| {
            let fd = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            let target = target.to_string_lossy().into_owned();
            (target != own).then_some((fd, target))
        })
        .collect();
    list.sort();
    let fds: Vec<Value> = list
        .into_iter()
        .map(|(fd, target)| json!({ "fd": fd, "target": target }))
        .collect();
    Ok(json!({ "fds": fds }))
}

/// `cwd`: the working directory.
pub fn cwd(_: &[String]) -> Report {
    Ok(match std::env::current_dir() {
        Ok(dir) => json!({ "cwd": dir.to_string_lossy() }),
        Err(e) => errno::failure(&e),
    })
}

/// `cgroup [file...]`: /proc/self/cgroup lines, plus the content of each named file.
pub fn cgroup(args: &[String]) -> Report {
    let lines = match std::fs::read_to_string("/proc/self/cgroup") {
        Ok(text) => text.lines().map(Value::from).collect(),
        Err(e) => return Ok(errno::failure(&e)),
    };
    let files: Map<String, Value> = args
        .iter()
        .map(|path| (path.clone(), read_report(path)))
        .collect();
    Ok(json!({ "cgroup": Value::Array(lines), "files": files }))
}

/// `oom`: /proc/self/oom_score_adj as a number.
pub fn oom(_: &[String]) -> Report {
    Ok(match read_text("/proc/self/oom_score_adj") {
        Ok(text) => json!({ "oom_score_adj": text.trim().parse::<i64>().ok() }),
        Err(e) => errno::failure(&e),
    })
}

/// `sysctl <key>`: the value of /proc/sys/<key with dots as slashes>, trimmed.
pub fn sysctl(args: &[String]) -> Report {
    let key = arg(args, 0, "sysctl", "key")?;
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    Ok(match read_text(&path) {
        Ok(text) => json!({ "ok": true, "key": key, "value": text.trim() }),
        Err(e) => errno::failure(&e),
    })
}
