//! Kernel parameters of the container's namespaces (`linux.sysctl`).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::Error;

/// Writes each `linux.sysctl` entry under `proc_sys` (normally `/proc/sys`): the key's
/// dots become slashes, so `net.ipv4.ip_forward` is `<proc_sys>/net/ipv4/ip_forward`.
///
/// Keys are dot-separated names of `[A-Za-z0-9_-]` (no `/`, no empty or `..`
/// components), so a key can never reach outside `proc_sys`. The files must already
/// exist (sysctls cannot be created). Which sysctls are safe to set for a container is
/// the caller's policy, not checked here.
pub fn apply_sysctls(sysctl: &HashMap<String, String>, proc_sys: &Path) -> Result<(), Error> {
    let mut path = PathBuf::with_capacity(proc_sys.as_os_str().len() + 64);
    for (key, value) in sysctl {
        if !valid_key(key) {
            return Err(Error::SysctlKey { key: key.clone() });
        }
        path.clear();
        path.push(proc_sys);
        path.extend(key.split('.'));
        write_value(&path, value).map_err(|source| Error::Sysctl {
            key: key.clone(),
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

fn write_value(path: &Path, value: &str) -> std::io::Result<()> {
    OpenOptions::new()
        .write(true)
        .open(path)?
        .write_all(value.as_bytes())
}

/// True if `key` is a non-empty list of dot-separated names made of `[A-Za-z0-9_-]`.
fn valid_key(key: &str) -> bool {
    key.split('.').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::testutil::in_child;
    use nix::sched::{unshare, CloneFlags};

    fn one(key: &str, value: &str) -> HashMap<String, String> {
        HashMap::from([(key.to_owned(), value.to_owned())])
    }

    #[test]
    fn writes_under_a_fake_proc_sys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net/ipv4")).unwrap();
        std::fs::create_dir_all(dir.path().join("kernel")).unwrap();
        std::fs::write(dir.path().join("net/ipv4/ip_forward"), "0").unwrap();
        std::fs::write(dir.path().join("kernel/msgmax"), "8192").unwrap();
        let map = HashMap::from([
            ("net.ipv4.ip_forward".to_owned(), "1".to_owned()),
            ("kernel.msgmax".to_owned(), "65536".to_owned()),
        ]);
        apply_sysctls(&map, dir.path()).unwrap();
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert_eq!(read("net/ipv4/ip_forward"), "1");
        assert_eq!(read("kernel/msgmax"), "65536");
    }

    #[test]
    fn missing_sysctl_names_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = apply_sysctls(&one("net.core.nope", "1"), dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("linux.sysctl[\"net.core.nope\"]: write "),
            "{msg}"
        );
        assert!(msg.contains("net/core/nope"), "{msg}");
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for key in [
            "net..ipv4",
            "../etc",
            "net/ipv4/ip_forward",
            "",
            ".net",
            "net.",
            "a b",
        ] {
            let err = apply_sysctls(&one(key, "1"), dir.path()).unwrap_err();
            assert!(matches!(err, Error::SysctlKey { .. }), "{key}: {err}");
        }
    }

    #[test]
    fn ip_forward_in_a_fresh_network_namespace() {
        // A new namespace starts from the host's value (devconf_inherit_init_net), which
        // other software on the host may have set: flip it, and the host keeps its own.
        let path = "/proc/sys/net/ipv4/ip_forward";
        let host_before = std::fs::read_to_string(path).unwrap();
        let got = in_child(|| {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare: {e}"))?;
            let before = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            let want = if before.trim() == "1" { "0" } else { "1" };
            apply_sysctls(&one("net.ipv4.ip_forward", want), Path::new("/proc/sys"))
                .map_err(|e| e.to_string())?;
            let after = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
            Ok(format!("{want} {}", after.trim()))
        });
        let got = got.unwrap();
        let (want, after) = got.split_once(' ').unwrap();
        assert_eq!(want, after, "the namespace's value is set");
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            host_before,
            "the host's stays"
        );
    }
}
