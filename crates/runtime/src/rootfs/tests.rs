//! Real tests: each builds a busybox rootfs in a temporary directory, runs [`prepare`],
//! [`enter`] and [`finalize`] in a forked child with its own mount namespace, checks from
//! inside the container, and reports back through a pipe. The parent checks that nothing
//! reached its own mount table.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::fcntl::OFlag;
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{major, minor};
use nix::sys::statfs::{statfs, FsType, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC, PROC_SUPER_MAGIC};
use nix::sys::statfs::{SYSFS_MAGIC, TMPFS_MAGIC};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, pipe2, ForkResult};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

use super::*;

const IMAGE: &str = "/work/shared/images/busybox-1.35.docker.tar";
const LAYER: &str = "959a5349918bdec561e2f2aea6460793ec9abdf0d0a0040c46d0ce699da94704/layer.tar";
const RAMFS_MAGIC: i64 = 0x8584_58f6;
const MQUEUE_MAGIC: i64 = 0x1980_0202;

type Check = Result<(), String>;

/// Fails the check with a message unless `cond`.
fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Check {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

fn e2s<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// Unpacks the busybox image into `dir/rootfs`.
fn busybox(dir: &Path) -> PathBuf {
    assert!(
        Path::new(IMAGE).exists(),
        "TEST NEEDS {IMAGE} (the busybox test image) and it is missing"
    );
    let root = dir.join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    unpack(&root);
    root
}

fn unpack(root: &Path) {
    let script = format!("tar -xOf {IMAGE} {LAYER} | tar -x -C '{}'", root.display());
    let st = Command::new("sh").arg("-c").arg(&script).status().unwrap();
    assert!(st.success(), "unpacking busybox failed: {script}");
}

/// A config like `runc spec` writes, plus `extra` mounts and `linux` fields.
fn spec(extra_mounts: Value, linux: Value, readonly: bool) -> Spec {
    let mut mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
    ]);
    let list = mounts.as_array_mut().unwrap();
    list.extend(extra_mounts.as_array().unwrap().iter().cloned());
    let mut linux_obj = json!({
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
            "/proc/sysrq-trigger"]
    });
    if let (Some(o), Some(extra)) = (linux_obj.as_object_mut(), linux.as_object()) {
        o.extend(extra.clone());
    }
    let v = json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": readonly},
        "mounts": mounts,
        "linux": linux_obj,
    });
    serde_json::from_value(v).unwrap()
}

/// Only the minimal mounts (proc, /dev tmpfs, devpts) plus `extra`.
fn small_spec(extra_mounts: Value, linux: Value) -> Spec {
    let mut mounts = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "mode=755"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}
    ]);
    let list = mounts.as_array_mut().unwrap();
    list.extend(extra_mounts.as_array().unwrap().iter().cloned());
    let v = json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "mounts": mounts,
        "linux": linux,
    });
    serde_json::from_value(v).unwrap()
}

fn opts<'a>(rootfs: &'a Path, spec: &'a Spec) -> Options<'a> {
    Options {
        rootfs,
        spec,
        no_pivot: false,
        in_userns: false,
        own_netns: false,
        cgroup_ns: false,
        cgroup_dirs: None,
    }
}

/// Mountinfo lines of this (the test) process that mention `path`.
fn host_mounts_under(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.to_string_lossy();
    text.lines()
        .filter(|l| l.contains(p.as_ref()))
        .map(str::to_owned)
        .collect()
}

/// Runs `f` in a forked child after `unshare(CLONE_NEWNS | extra)`, and checks that no mount
/// under `watch` shows up in this process's mount table.
fn in_child(watch: &Path, extra: CloneFlags, f: impl FnOnce() -> Check) -> Check {
    let before = host_mounts_under(watch);
    let (r, w) = pipe2(OFlag::O_CLOEXEC).unwrap();
    // SAFETY: the child runs the check and leaves with _exit; it never returns into the test
    // harness, and glibc's malloc is usable after fork.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(r);
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                unshare(CloneFlags::CLONE_NEWNS | extra).map_err(e2s("unshare"))?;
                f()
            }));
            let msg = match res {
                Ok(Ok(())) => String::new(),
                Ok(Err(e)) => e,
                Err(_) => "the child panicked".to_owned(),
            };
            let mut file = std::fs::File::from(w);
            let _ = file.write_all(msg.as_bytes());
            drop(file);
            // SAFETY: ends the forked child without unwinding into the harness.
            unsafe { libc::_exit(i32::from(!msg.is_empty())) }
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut msg = String::new();
            std::fs::File::from(r).read_to_string(&mut msg).unwrap();
            let status = waitpid(child, None).unwrap();
            let after = host_mounts_under(watch);
            assert_eq!(before, after, "mounts leaked into the test's namespace");
            assert!(after.is_empty(), "mounts leaked: {after:?}");
            match status {
                WaitStatus::Exited(_, 0) if msg.is_empty() => Ok(()),
                s => Err(format!("child {s:?}: {msg}")),
            }
        }
    }
}

fn fs_type(path: &str) -> Result<FsType, String> {
    statfs(path).map(|s| s.filesystem_type()).map_err(e2s(path))
}

fn is_ro(path: &str) -> Result<bool, String> {
    Ok(statvfs(path)
        .map_err(e2s(path))?
        .flags()
        .contains(FsFlags::ST_RDONLY))
}

fn write_err(path: &str, content: &str) -> Option<i32> {
    std::fs::write(path, content)
        .err()
        .and_then(|e| e.raw_os_error())
}

fn char_dev(path: &str, ma: u64, mi: u64) -> Check {
    let m = std::fs::metadata(path).map_err(e2s(path))?;
    ensure(
        m.mode() & libc::S_IFMT == libc::S_IFCHR && major(m.rdev()) == ma && minor(m.rdev()) == mi,
        || format!("{path} is not char {ma}:{mi}: mode {:o}", m.mode()),
    )
}

fn link_is(path: &str, target: &str) -> Check {
    let t = std::fs::read_link(path).map_err(e2s(path))?;
    ensure(t == Path::new(target), || {
        format!("{path} -> {t:?}, want {target}")
    })
}

fn cgroup_procs_has_me(path: &str) -> Check {
    let procs = std::fs::read_to_string(path).map_err(e2s(path))?;
    let me = getpid().to_string();
    ensure(procs.lines().any(|l| l == me), || {
        format!("{path} does not list pid {me}")
    })
}

#[test]
fn runc_default_spec_container() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("hello"), "hi").unwrap();
    let file = tmp.path().join("hostfile");
    std::fs::write(&file, "file-content").unwrap();
    let extra = json!([
        {"destination": "/tmpsize", "type": "tmpfs", "source": "tmpfs",
         "options": ["size=1m", "mode=700"]},
        {"destination": "/data-ro", "type": "bind", "source": data, "options": ["bind", "ro"]},
        {"destination": "/etc/hostfile", "source": file, "options": ["bind", "ro"]},
        {"destination": "/ro-tmpfs", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
    ]);
    let spec = spec(extra, json!({}), true);
    let hidden = tmp.path().to_owned();
    let flags = CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS;
    in_child(tmp.path(), flags, || {
        let o = Options {
            own_netns: true,
            ..opts(&rootfs, &spec)
        };
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        check_default_container(&hidden)
    })
    .unwrap();
}

fn check_default_container(hidden: &Path) -> Check {
    // In the rootfs, with the old root gone.
    let cwd = std::env::current_dir().map_err(e2s("cwd"))?;
    ensure(cwd == Path::new("/"), || format!("cwd is {cwd:?}"))?;
    ensure(Path::new("/bin/busybox").exists(), || {
        "no /bin/busybox".into()
    })?;
    ensure(!hidden.exists(), || format!("host path {hidden:?} visible"))?;
    let mi = std::fs::read_to_string("/proc/self/mountinfo").map_err(e2s("mountinfo"))?;
    ensure(!mi.contains(" /work"), || {
        format!("old root mounts remain:\n{mi}")
    })?;
    // proc, /dev.
    ensure(fs_type("/proc")? == PROC_SUPER_MAGIC, || {
        "/proc is not proc".into()
    })?;
    char_dev("/dev/null", 1, 3)?;
    char_dev("/dev/zero", 1, 5)?;
    char_dev("/dev/tty", 5, 0)?;
    let mode = std::fs::metadata("/dev/urandom")
        .map_err(e2s("urandom"))?
        .mode()
        & 0o777;
    ensure(mode == 0o666, || format!("/dev/urandom mode {mode:o}"))?;
    link_is("/dev/fd", "/proc/self/fd")?;
    link_is("/dev/stderr", "/proc/self/fd/2")?;
    link_is("/dev/ptmx", "pts/ptmx")?;
    ensure(Path::new("/dev/pts/ptmx").exists(), || {
        "no /dev/pts/ptmx".into()
    })?;
    ensure(fs_type("/dev/shm")? == TMPFS_MAGIC, || {
        "/dev/shm not tmpfs".into()
    })?;
    ensure(fs_type("/dev/mqueue")?.0 == MQUEUE_MAGIC, || {
        "no mqueue".into()
    })?;
    // Masked and read-only paths.
    // (This kernel has no /proc/kcore; timer_list and keys stand in for masked files.)
    for f in ["/proc/timer_list", "/proc/keys"] {
        char_dev(f, 1, 3)?;
        let content = std::fs::read(f).map_err(e2s(f))?;
        ensure(content.is_empty(), || format!("{f} readable"))?;
    }
    ensure(fs_type("/proc/acpi")? == TMPFS_MAGIC, || {
        "/proc/acpi not masked".into()
    })?;
    ensure(is_ro("/proc/acpi")?, || {
        "/proc/acpi mask not read-only".into()
    })?;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map_err(e2s("hostname"))?;
    let err = write_err("/proc/sys/kernel/hostname", &hostname);
    ensure(err == Some(libc::EROFS), || {
        format!("/proc/sys writable: {err:?}")
    })?;
    // Read-only root; tmpfs with size; read-only binds of a directory and a file.
    let err = write_err("/newfile", "x");
    ensure(err == Some(libc::EROFS), || format!("/ writable: {err:?}"))?;
    let st = statvfs("/tmpsize").map_err(e2s("statvfs /tmpsize"))?;
    let size = st.blocks() * st.fragment_size();
    ensure(size == 1 << 20, || format!("/tmpsize has {size} bytes"))?;
    let mode = std::fs::metadata("/tmpsize")
        .map_err(e2s("/tmpsize"))?
        .mode()
        & 0o7777;
    ensure(mode == 0o700, || format!("/tmpsize mode {mode:o}"))?;
    std::fs::write("/tmpsize/f", "x").map_err(e2s("write /tmpsize/f"))?;
    ensure(is_ro("/ro-tmpfs")?, || "/ro-tmpfs is writable".into())?;
    let hello = std::fs::read_to_string("/data-ro/hello").map_err(e2s("/data-ro/hello"))?;
    ensure(hello == "hi", || format!("/data-ro/hello = {hello:?}"))?;
    let err = write_err("/data-ro/new", "x");
    ensure(err == Some(libc::EROFS), || {
        format!("/data-ro writable: {err:?}")
    })?;
    let content = std::fs::read_to_string("/etc/hostfile").map_err(e2s("/etc/hostfile"))?;
    ensure(content == "file-content", || {
        format!("/etc/hostfile = {content:?}")
    })?;
    let err = write_err("/etc/hostfile", "x");
    ensure(err == Some(libc::EROFS), || {
        format!("/etc/hostfile writable: {err:?}")
    })?;
    // sysfs of the new netns, read-only; cgroup v1 tmpfs with the container's own cgroups.
    ensure(fs_type("/sys")? == SYSFS_MAGIC && is_ro("/sys")?, || {
        "/sys".into()
    })?;
    ensure(Path::new("/sys/class/net/lo").exists(), || {
        "no lo in /sys".into()
    })?;
    ensure(fs_type("/sys/firmware")? == TMPFS_MAGIC, || {
        "/sys/firmware".into()
    })?;
    ensure(fs_type("/sys/fs/cgroup")? == TMPFS_MAGIC, || {
        "cgroup tmpfs".into()
    })?;
    ensure(is_ro("/sys/fs/cgroup")?, || "cgroup tmpfs writable".into())?;
    let mem = "/sys/fs/cgroup/memory";
    ensure(fs_type(mem)? == CGROUP_SUPER_MAGIC && is_ro(mem)?, || {
        mem.into()
    })?;
    cgroup_procs_has_me("/sys/fs/cgroup/memory/cgroup.procs")?;
    cgroup_procs_has_me("/sys/fs/cgroup/pids/cgroup.procs")
}

#[test]
fn symlinked_destinations_stay_inside_the_rootfs() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let outside = PathBuf::from(format!("/tmp/berth-outside-{}-xyz", std::process::id()));
    let host_dir = tmp.path().join("host-dir");
    std::fs::create_dir(&host_dir).unwrap();
    std::os::unix::fs::symlink(&outside, rootfs.join("evil")).unwrap();
    std::os::unix::fs::symlink(&host_dir, rootfs.join("evil2")).unwrap();
    std::os::unix::fs::symlink("../../../../../../berth-rel", rootfs.join("rel")).unwrap();
    let extra = json!([
        {"destination": "/evil", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/evil2", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/rel/sub", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/evil/../evil2/bound", "type": "bind", "source": "/etc",
         "options": ["rbind"]},
    ]);
    let spec = small_spec(extra, json!({}));
    let (outside_c, host_c) = (outside.clone(), host_dir.clone());
    in_child(tmp.path(), CloneFlags::empty(), || {
        let o = opts(&rootfs, &spec);
        prepare(&o).map_err(e2s("prepare"))?;
        // Seen from the host side of the child: nothing landed outside.
        ensure(!outside_c.exists(), || {
            format!("{outside_c:?} created on the host")
        })?;
        let host_type = fs_type(host_c.to_str().unwrap())?;
        ensure(host_type != TMPFS_MAGIC, || {
            "tmpfs landed on the host dir".into()
        })?;
        let inner = rootfs.join(host_c.strip_prefix("/").unwrap());
        let inner_type = fs_type(inner.to_str().unwrap())?;
        ensure(inner_type == TMPFS_MAGIC, || {
            format!("{inner:?} is not the tmpfs")
        })?;
        enter(&o).map_err(e2s("enter"))?;
        for p in [
            outside_c.to_str().unwrap(),
            host_c.to_str().unwrap(),
            "/berth-rel/sub",
        ] {
            ensure(fs_type(p)? == TMPFS_MAGIC, || {
                format!("{p} is not a tmpfs inside")
            })?;
        }
        let passwd = host_c.join("bound/passwd");
        ensure(passwd.exists(), || format!("{passwd:?} missing"))
    })
    .unwrap();
    assert!(!outside.exists(), "{outside:?} exists on the host");
    assert_eq!(std::fs::read_dir(&host_dir).unwrap().count(), 0);
}

#[test]
fn destinations_refused_with_named_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    std::os::unix::fs::symlink("/proc/sys", rootfs.join("p")).unwrap();
    let cases = [
        (
            json!({"destination": "/p/kernel", "type": "tmpfs", "source": "tmpfs"}),
            "inside /proc",
        ),
        (
            json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
            "only a proc",
        ),
        (
            json!({"destination": "/..", "type": "tmpfs", "source": "tmpfs"}),
            "rootfs itself",
        ),
        (
            json!({"destination": "/x", "type": "nosuchfs", "source": "x"}),
            "mount nosuchfs on /x",
        ),
    ];
    for (i, (m, want)) in cases.into_iter().enumerate() {
        let spec = small_spec(json!([m]), json!({}));
        let rootfs = &rootfs;
        in_child(tmp.path(), CloneFlags::empty(), move || {
            let err = prepare(&opts(rootfs, &spec)).err().ok_or("no error")?;
            let msg = err.to_string();
            let named = msg.contains(want) && (msg.contains("mounts[3]") || msg.contains("rootfs"));
            ensure(named, || format!("case {i}: {msg:?} lacks {want:?}"))
        })
        .unwrap();
    }
    let msg = {
        let spec = small_spec(
            json!([]),
            json!({"devices": [{"path": "/dev/x", "type": "a", "major": 1, "minor": 1}]}),
        );
        let rootfs = &rootfs;
        in_child(tmp.path(), CloneFlags::empty(), move || {
            let err = prepare(&opts(rootfs, &spec)).err().ok_or("no error")?;
            Err(err.to_string())
        })
        .unwrap_err()
    };
    assert!(
        msg.contains("linux.devices[0].type: device type \"a\""),
        "{msg}"
    );
}

#[test]
fn devices_by_mknod_and_by_bind() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let devices = json!({"devices": [
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
         "uid": 1000, "gid": 1001},
        {"path": "/dev/sub/loop7", "type": "b", "major": 7, "minor": 7},
        {"path": "/dev/myfifo", "type": "p"},
    ]});
    let spec = small_spec(json!([]), devices);
    in_child(tmp.path(), CloneFlags::empty(), || {
        let o = opts(&rootfs, &spec);
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        char_dev("/dev/fuse", 10, 229)?;
        let m = std::fs::metadata("/dev/fuse").map_err(e2s("fuse"))?;
        let ok = m.mode() & 0o7777 == 0o640 && m.uid() == 1000 && m.gid() == 1001;
        ensure(ok, || {
            format!("/dev/fuse {:o} {}:{}", m.mode(), m.uid(), m.gid())
        })?;
        let m = std::fs::metadata("/dev/sub/loop7").map_err(e2s("loop7"))?;
        ensure(
            m.mode() & libc::S_IFMT == libc::S_IFBLK && m.rdev() == nix::sys::stat::makedev(7, 7),
            || "/dev/sub/loop7 is not block 7:7".into(),
        )?;
        let m = std::fs::metadata("/dev/myfifo").map_err(e2s("fifo"))?;
        ensure(m.mode() & libc::S_IFMT == libc::S_IFIFO, || {
            "/dev/myfifo".into()
        })
    })
    .unwrap();

    let spec = small_spec(json!([]), json!({}));
    in_child(tmp.path(), CloneFlags::empty(), || {
        let o = Options {
            in_userns: true,
            ..opts(&rootfs, &spec)
        };
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        char_dev("/dev/null", 1, 3)?;
        char_dev("/dev/tty", 5, 0)?;
        let mi = std::fs::read_to_string("/proc/self/mountinfo").map_err(e2s("mountinfo"))?;
        ensure(mi.contains(" /dev/null "), || {
            "/dev/null is not a bind mount".into()
        })
    })
    .unwrap();
}

#[test]
fn console_binds_the_pty_slave() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let spec = small_spec(json!([]), json!({}));
    in_child(tmp.path(), CloneFlags::empty(), || {
        let o = opts(&rootfs, &spec);
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        let master =
            nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY).map_err(e2s("openpt"))?;
        nix::pty::grantpt(&master).map_err(e2s("grantpt"))?;
        nix::pty::unlockpt(&master).map_err(e2s("unlockpt"))?;
        let slave = nix::pty::ptsname_r(&master).map_err(e2s("ptsname"))?;
        ensure(slave.starts_with("/dev/pts/"), || format!("slave {slave}"))?;
        bind_console(Path::new(&slave)).map_err(e2s("bind_console"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        let (c, s) = (std::fs::metadata("/dev/console"), std::fs::metadata(&slave));
        let (c, s) = (c.map_err(e2s("console"))?, s.map_err(e2s("slave"))?);
        ensure(
            c.rdev() == s.rdev() && c.file_type() == s.file_type(),
            || "/dev/console is not the pty slave".into(),
        )
    })
    .unwrap();
}

/// Where pivot_root refuses (EINVAL: here the current root's parent mount is shared, as it
/// cannot be moved on an initramfs root either), the rootfs is entered with MS_MOVE + chroot.
/// The runtime's root and the rootfs are both on ramfs.
#[test]
fn chroot_fallback_on_ramfs() {
    let tmp = tempfile::tempdir().unwrap();
    let outer = tmp.path().join("ram");
    std::fs::create_dir(&outer).unwrap();
    let spec = small_spec(json!([]), json!({"maskedPaths": ["/proc/timer_list"]}));
    in_child(tmp.path(), CloneFlags::empty(), || {
        let none: Option<&str> = None;
        let ramfs = |at: &Path| {
            mount(Some("ramfs"), at, Some("ramfs"), MsFlags::empty(), none).map_err(e2s("ramfs"))
        };
        ramfs(&outer)?;
        mount(none, &outer, none, MsFlags::MS_SHARED, none).map_err(e2s("make shared"))?;
        let host = outer.join("host");
        std::fs::create_dir(&host).map_err(e2s("mkdir"))?;
        ramfs(&host)?;
        std::fs::create_dir_all(host.join("rootfs")).map_err(e2s("mkdir"))?;
        std::fs::create_dir_all(host.join("proc")).map_err(e2s("mkdir"))?;
        unpack(&host.join("rootfs"));
        let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
        mount(Some("/proc"), &host.join("proc"), none, rec, none).map_err(e2s("bind /proc"))?;
        nix::unistd::chroot(&host).map_err(e2s("chroot"))?;
        nix::unistd::chdir("/").map_err(e2s("chdir"))?;
        let pivot = nix::unistd::pivot_root(".", ".");
        ensure(pivot == Err(nix::errno::Errno::EINVAL), || {
            format!("pivot_root: {pivot:?}")
        })?;
        let o = opts(Path::new("/rootfs"), &spec);
        prepare(&o).map_err(e2s("prepare"))?;
        // Still refused after prepare, so enter must take the fallback.
        nix::unistd::chdir("/rootfs").map_err(e2s("chdir"))?;
        let pivot = nix::unistd::pivot_root(".", ".");
        ensure(pivot == Err(nix::errno::Errno::EINVAL), || {
            format!("pivot_root: {pivot:?}")
        })?;
        enter(&o).map_err(e2s("enter"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        ensure(Path::new("/bin/busybox").exists(), || {
            "not in the rootfs".into()
        })?;
        let root = fs_type("/")?.0;
        ensure(root == RAMFS_MAGIC, || {
            format!("/ is fs {root:x}, not ramfs")
        })?;
        ensure(fs_type("/proc")? == PROC_SUPER_MAGIC, || "/proc".into())?;
        char_dev("/proc/timer_list", 1, 3)?;
        ensure(!Path::new("/rootfs").exists(), || {
            "the old root is visible".into()
        })
    })
    .unwrap();
}

#[test]
fn no_pivot_moves_and_chroots() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let spec = small_spec(json!([]), json!({}));
    let hidden = tmp.path().to_owned();
    in_child(tmp.path(), CloneFlags::empty(), || {
        let o = Options {
            no_pivot: true,
            ..opts(&rootfs, &spec)
        };
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        ensure(Path::new("/bin/busybox").exists(), || {
            "not in the rootfs".into()
        })?;
        ensure(!hidden.exists(), || "host path visible".into())?;
        let mi = std::fs::read_to_string("/proc/self/mountinfo").map_err(e2s("mountinfo"))?;
        let host_proc = mi.lines().filter(|l| l.contains(" - proc ")).count();
        ensure(host_proc == 1, || format!("host proc mounts remain:\n{mi}"))
    })
    .unwrap();
}

/// maskedPaths of every kind: a file gets /dev/null, a directory (also through a symlink) an
/// empty read-only tmpfs, a symlink to a file the null device; missing paths and dangling
/// symlinks are skipped.
#[test]
fn masked_paths_by_type() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let m = rootfs.join("m");
    std::fs::create_dir_all(m.join("dir")).unwrap();
    std::fs::write(m.join("dir/secret"), "x").unwrap();
    std::fs::write(m.join("file"), "secret").unwrap();
    std::os::unix::fs::symlink("dir", m.join("dirlink")).unwrap();
    std::os::unix::fs::symlink("/m/file", m.join("filelink")).unwrap();
    std::os::unix::fs::symlink("/m/nothing", m.join("dangling")).unwrap();
    let masked = [
        "/m/dirlink",
        "/m/filelink",
        "/m/dangling",
        "/m/missing",
        "/proc/acpi",
    ];
    let spec = small_spec(json!([]), json!({ "maskedPaths": masked }));
    in_child(tmp.path(), CloneFlags::empty(), || {
        let o = opts(&rootfs, &spec);
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        char_dev("/m/file", 1, 3)?;
        let content = std::fs::read("/m/filelink").map_err(e2s("/m/filelink"))?;
        ensure(content.is_empty(), || "/m/file readable".into())?;
        for d in ["/m/dir", "/proc/acpi"] {
            ensure(fs_type(d)? == TMPFS_MAGIC && is_ro(d)?, || {
                format!("{d} not masked")
            })?;
        }
        ensure(!Path::new("/m/dir/secret").exists(), || {
            "secret visible".into()
        })?;
        ensure(!Path::new("/m/nothing").exists(), || {
            "dangling target made".into()
        })?;
        ensure(!Path::new("/m/missing").exists(), || {
            "missing path made".into()
        })
    })
    .unwrap();
}

#[test]
fn bind_flags_recursive_and_propagation() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let extra = json!([
        {"destination": "/keep", "source": src.join("sub"), "options": ["bind", "ro"]},
        {"destination": "/rro", "source": src, "options": ["rbind", "rro", "rshared"]},
        {"destination": "/plain", "source": src, "options": ["rbind", "ro"]},
    ]);
    let spec = small_spec(extra, json!({"rootfsPropagation": "shared"}));
    let src_c = src.clone();
    in_child(tmp.path(), CloneFlags::empty(), || {
        let none: Option<&str> = None;
        let locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let sub = src_c.join("sub");
        mount(Some("tmpfs"), &sub, Some("tmpfs"), locked, none).map_err(e2s("tmpfs"))?;
        let o = opts(&rootfs, &spec);
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        // ro added, the source's nosuid/nodev/noexec kept.
        let f = statvfs("/keep").map_err(e2s("/keep"))?.flags();
        let want = FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_NOEXEC;
        ensure(f.contains(want), || format!("/keep flags {f:?}"))?;
        ensure(is_ro("/rro")? && is_ro("/rro/sub")?, || {
            "rro is not recursive".into()
        })?;
        ensure(is_ro("/plain")? && !is_ro("/plain/sub")?, || {
            "plain ro is recursive".into()
        })?;
        let mi = std::fs::read_to_string("/proc/self/mountinfo").map_err(e2s("mountinfo"))?;
        let line = |p: &str| {
            mi.lines()
                .find(|l| l.split(' ').nth(4) == Some(p))
                .unwrap_or("")
                .to_owned()
        };
        ensure(line("/").contains("shared:"), || {
            format!("/ not shared: {}", line("/"))
        })?;
        ensure(line("/rro/sub").contains("shared:"), || {
            format!("rshared: {}", line("/rro/sub"))
        })
    })
    .unwrap();
}

#[test]
fn idmapped_binds() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let src = tmp.path().join("owned");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    let ram = tmp.path().join("ram");
    std::fs::create_dir(&ram).unwrap();
    let maps = |host: u32| json!([{"containerID": 0, "hostID": host, "size": 1}]);
    let extra = json!([
        {"destination": "/idm", "source": src, "options": ["bind", "idmap"],
         "uidMappings": maps(1000), "gidMappings": maps(2000)},
        {"destination": "/ridm", "source": src, "options": ["rbind", "ridmap"],
         "uidMappings": maps(3000), "gidMappings": maps(3000)},
    ]);
    let spec = small_spec(extra, json!({}));
    in_child(tmp.path(), CloneFlags::empty(), || {
        let o = opts(&rootfs, &spec);
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        let m = std::fs::metadata("/idm/f").map_err(e2s("/idm/f"))?;
        ensure((m.uid(), m.gid()) == (1000, 2000), || {
            format!("{}:{}", m.uid(), m.gid())
        })?;
        let m = std::fs::metadata("/ridm/f").map_err(e2s("/ridm/f"))?;
        ensure(m.uid() == 3000, || format!("ridmap uid {}", m.uid()))
    })
    .unwrap();
    // ramfs cannot be idmapped: a clear error.
    let bad = json!([{"destination": "/idm", "source": ram, "options": ["bind", "idmap"],
         "uidMappings": maps(1000), "gidMappings": maps(1000)}]);
    let spec = small_spec(bad, json!({}));
    let msg = in_child(tmp.path(), CloneFlags::empty(), || {
        let none: Option<&str> = None;
        mount(Some("ramfs"), &ram, Some("ramfs"), MsFlags::empty(), none).map_err(e2s("ramfs"))?;
        let err = prepare(&opts(&rootfs, &spec)).err().ok_or("no error")?;
        Err(err.to_string())
    })
    .unwrap_err();
    assert!(msg.contains("does not support idmapped mounts"), "{msg}");
    // idmap without mappings outside a user namespace is a config error.
    let bad = json!([{"destination": "/idm", "source": "/etc", "options": ["bind", "idmap"]}]);
    let spec = small_spec(bad, json!({}));
    let msg = in_child(tmp.path(), CloneFlags::empty(), || {
        let err = prepare(&opts(&rootfs, &spec)).err().ok_or("no error")?;
        Err(err.to_string())
    })
    .unwrap_err();
    assert!(msg.contains("mounts[3].uidMappings"), "{msg}");
}

#[test]
fn cgroup_mounts_with_and_without_namespace() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let v2 = json!([
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
    ]);
    let spec2 = small_spec(v2, json!({}));
    for cgroup_ns in [false, true] {
        let extra = if cgroup_ns {
            CloneFlags::CLONE_NEWCGROUP
        } else {
            CloneFlags::empty()
        };
        in_child(tmp.path(), extra, || {
            let o = Options {
                cgroup_ns,
                ..opts(&rootfs, &spec2)
            };
            prepare(&o).map_err(e2s("prepare"))?;
            enter(&o).map_err(e2s("enter"))?;
            let cg = "/sys/fs/cgroup";
            ensure(fs_type(cg)? == CGROUP2_SUPER_MAGIC && is_ro(cg)?, || {
                "cgroup2".into()
            })?;
            cgroup_procs_has_me("/sys/fs/cgroup/cgroup.procs")
        })
        .unwrap();
    }
    // v1 with a cgroup namespace: fresh hierarchies.
    let v1 = json!([
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]},
    ]);
    let spec1 = small_spec(v1, json!({}));
    in_child(tmp.path(), CloneFlags::CLONE_NEWCGROUP, || {
        let o = Options {
            cgroup_ns: true,
            ..opts(&rootfs, &spec1)
        };
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        let mem = "/sys/fs/cgroup/memory";
        ensure(fs_type(mem)? == CGROUP_SUPER_MAGIC && is_ro(mem)?, || {
            mem.into()
        })?;
        ensure(is_ro("/sys/fs/cgroup")?, || "tmpfs writable".into())?;
        cgroup_procs_has_me("/sys/fs/cgroup/memory/cgroup.procs")?;
        let sub = std::fs::read_dir(mem).map_err(e2s(mem))?.count();
        ensure(sub > 3, || "empty memory hierarchy".into())
    })
    .unwrap();
}

#[test]
fn sysfs_without_netns_binds_host_sys() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let sys = json!([{"destination": "/sys", "type": "sysfs", "source": "sysfs",
        "options": ["nosuid", "ro"]}]);
    let spec = small_spec(sys, json!({}));
    in_child(tmp.path(), CloneFlags::empty(), || {
        let o = opts(&rootfs, &spec);
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        ensure(fs_type("/sys")? == SYSFS_MAGIC && is_ro("/sys")?, || {
            "/sys".into()
        })?;
        // Recursive: the host's submounts came along, read-only too.
        let cg = "/sys/fs/cgroup/memory";
        ensure(fs_type(cg)? == CGROUP_SUPER_MAGIC && is_ro(cg)?, || {
            cg.into()
        })
    })
    .unwrap();
}

/// Maps uid and gid 0 of a fresh user namespace to 0 outside (all an unprivileged writer of
/// its own maps may do).
fn map_root_to_root() -> Check {
    std::fs::write("/proc/self/setgroups", "deny").map_err(e2s("setgroups"))?;
    std::fs::write("/proc/self/uid_map", "0 0 1").map_err(e2s("uid_map"))?;
    std::fs::write("/proc/self/gid_map", "0 0 1").map_err(e2s("gid_map"))
}

/// In a user namespace: host mounts' flags are locked, mknod is refused.
#[test]
fn user_namespace_container() {
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox(tmp.path());
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let v = json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/locked-ro", "source": locked, "options": ["bind", "ro"]},
            {"destination": "/small", "type": "tmpfs", "source": "tmpfs", "options": ["size=64k"]}
        ],
        "linux": {"maskedPaths": ["/sys/firmware"], "readonlyPaths": ["/sys/kernel"]}
    });
    let spec: Spec = serde_json::from_value(v).unwrap();
    in_child(tmp.path(), CloneFlags::empty(), || {
        // A nosuid,nodev,noexec mount made outside the user namespace: locked inside it.
        let none: Option<&str> = None;
        let f = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), &locked, Some("tmpfs"), f, none).map_err(e2s("tmpfs"))?;
        let flags = CloneFlags::CLONE_NEWUSER
            | CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWNET
            | CloneFlags::CLONE_NEWIPC;
        unshare(flags).map_err(e2s("unshare"))?;
        map_root_to_root()?;
        let o = Options {
            in_userns: true,
            own_netns: true,
            ..opts(&rootfs, &spec)
        };
        prepare(&o).map_err(e2s("prepare"))?;
        enter(&o).map_err(e2s("enter"))?;
        finalize(&o).map_err(e2s("finalize"))?;
        char_dev("/dev/null", 1, 3)?;
        char_dev("/dev/urandom", 1, 9)?;
        let f = statvfs("/locked-ro").map_err(e2s("/locked-ro"))?.flags();
        let want = FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NODEV;
        ensure(f.contains(want), || format!("/locked-ro flags {f:?}"))?;
        // Bound from the host's devtmpfs, not made in the /dev tmpfs.
        let null = std::fs::metadata("/dev/null")
            .map_err(e2s("/dev/null"))?
            .dev();
        let dev = std::fs::metadata("/dev").map_err(e2s("/dev"))?.dev();
        ensure(null != dev, || {
            "/dev/null was not bound from the host".into()
        })?;
        ensure(fs_type("/sys")? == SYSFS_MAGIC && is_ro("/sys")?, || {
            "/sys".into()
        })?;
        ensure(fs_type("/sys/firmware")? == TMPFS_MAGIC, || {
            "/sys/firmware".into()
        })?;
        ensure(is_ro("/sys/kernel")?, || "/sys/kernel writable".into())?;
        let st = statvfs("/small").map_err(e2s("/small"))?;
        let size = st.blocks() * st.fragment_size();
        ensure(size == 64 << 10, || format!("/small has {size} bytes"))?;
        let err = write_err("/newfile", "x");
        ensure(err == Some(libc::EROFS), || format!("/ writable: {err:?}"))
    })
    .unwrap();
}
