//! Linux security module labels: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel`.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::Path;

use oci_spec::runtime::Process;

use super::Error;

/// The AppArmor profile that means "no confinement".
const UNCONFINED: &str = "unconfined";

/// Where the host's security modules show themselves; [`LsmHost::system`] gives the real
/// paths, tests pass their own.
#[derive(Debug, Clone, Copy)]
pub struct LsmHost<'a> {
    /// AppArmor's securityfs directory (`/sys/kernel/security/apparmor`).
    pub apparmor_dir: &'a Path,
    /// AppArmor's module parameter (`/sys/module/apparmor/parameters/enabled`, "Y").
    pub apparmor_enabled: &'a Path,
    /// SELinux's enforce file (`/sys/fs/selinux/enforce`).
    pub selinux_enforce: &'a Path,
    /// The calling process's LSM attribute directory (`/proc/self/attr`).
    pub proc_self_attr: &'a Path,
}

impl LsmHost<'static> {
    /// The real host paths.
    pub fn system() -> Self {
        LsmHost {
            apparmor_dir: Path::new("/sys/kernel/security/apparmor"),
            apparmor_enabled: Path::new("/sys/module/apparmor/parameters/enabled"),
            selinux_enforce: Path::new("/sys/fs/selinux/enforce"),
            proc_self_attr: Path::new("/proc/self/attr"),
        }
    }
}

impl LsmHost<'_> {
    /// True if AppArmor is loaded and enabled.
    fn apparmor(&self) -> bool {
        self.apparmor_dir.is_dir()
            && std::fs::read(self.apparmor_enabled).is_ok_and(|v| v.starts_with(b"Y"))
    }

    /// True if SELinux is loaded (selinuxfs is mounted).
    fn selinux(&self) -> bool {
        self.selinux_enforce.exists()
    }
}

/// The requested AppArmor profile, if any ("" counts as none).
fn apparmor_profile(process: &Process) -> Option<&str> {
    process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
}

/// The requested SELinux process label, if any ("" counts as none).
fn selinux_label(process: &Process) -> Option<&str> {
    process.selinux_label().as_deref().filter(|l| !l.is_empty())
}

/// Fails with a clear error if the config asks for an AppArmor profile (other than
/// `unconfined`) or an SELinux label (process or mount) that this host cannot apply.
/// Probes the host only for what is asked.
pub fn check_labels(
    process: &Process,
    mount_label: Option<&str>,
    host: &LsmHost<'_>,
) -> Result<(), Error> {
    if apparmor_profile(process).is_some_and(|p| p != UNCONFINED) && !host.apparmor() {
        return Err(lsm_unavailable(
            "process.apparmorProfile",
            "AppArmor",
            host.apparmor_enabled,
        ));
    }
    let selinux = |field| lsm_unavailable(field, "SELinux", host.selinux_enforce);
    if selinux_label(process).is_some() && !host.selinux() {
        return Err(selinux("process.selinuxLabel"));
    }
    if mount_label.is_some_and(|l| !l.is_empty()) && !host.selinux() {
        return Err(selinux("linux.mountLabel"));
    }
    Ok(())
}

fn lsm_unavailable(field: &'static str, lsm: &'static str, probe: &Path) -> Error {
    Error::LsmUnavailable {
        field,
        lsm,
        probe: probe.into(),
    }
}

/// Arranges for the next `execve` to enter the requested AppArmor profile (written as
/// `exec <profile>` to `attr/apparmor/exec`, or `attr/exec` on kernels without LSM
/// stacking) and SELinux label (`attr/exec`). Nothing is done for what is not asked;
/// `unconfined` on a host without AppArmor is a no-op.
pub fn apply_labels(process: &Process, host: &LsmHost<'_>) -> Result<(), Error> {
    if let Some(profile) = apparmor_profile(process) {
        if profile != UNCONFINED || host.apparmor() {
            apply_apparmor(profile, host.proc_self_attr)?;
        }
    }
    if let Some(label) = selinux_label(process) {
        let path = host.proc_self_attr.join("exec");
        write_attr(&path, label.as_bytes()).map_err(|source| Error::ProcWrite {
            field: "process.selinuxLabel",
            path,
            source,
        })?;
    }
    Ok(())
}

fn apply_apparmor(profile: &str, attr: &Path) -> Result<(), Error> {
    let value = format!("exec {profile}");
    let stacked = attr.join("apparmor/exec");
    let result = match write_attr(&stacked, value.as_bytes()) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let legacy = attr.join("exec");
            write_attr(&legacy, value.as_bytes()).map_err(|e| (legacy, e))
        }
        other => other.map_err(|e| (stacked, e)),
    };
    result.map_err(|(path, source)| Error::ProcWrite {
        field: "process.apparmorProfile",
        path,
        source,
    })
}

/// Writes an LSM attribute in one write(2), as the kernel requires.
fn write_attr(path: &Path, value: &[u8]) -> std::io::Result<()> {
    OpenOptions::new().write(true).open(path)?.write_all(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::ProcessBuilder;
    use std::path::PathBuf;

    fn process(apparmor: Option<&str>, selinux: Option<&str>) -> Process {
        let mut p = ProcessBuilder::default().build().unwrap();
        p.set_apparmor_profile(apparmor.map(str::to_owned));
        p.set_selinux_label(selinux.map(str::to_owned));
        p
    }

    /// A fake host tree: `attr/` (with or without `attr/apparmor/`), and optionally the
    /// AppArmor and SELinux probe files.
    struct FakeHost {
        dir: tempfile::TempDir,
    }

    impl FakeHost {
        fn new(apparmor: bool, selinux: bool, stacked: bool) -> Self {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path();
            std::fs::create_dir_all(p.join("attr")).unwrap();
            std::fs::write(p.join("attr/exec"), "").unwrap();
            if stacked {
                std::fs::create_dir_all(p.join("attr/apparmor")).unwrap();
                std::fs::write(p.join("attr/apparmor/exec"), "").unwrap();
            }
            if apparmor {
                std::fs::create_dir_all(p.join("apparmor")).unwrap();
                std::fs::write(p.join("enabled"), "Y\n").unwrap();
            }
            if selinux {
                std::fs::write(p.join("enforce"), "1").unwrap();
            }
            FakeHost { dir }
        }

        fn paths(&self) -> [PathBuf; 4] {
            let p = self.dir.path();
            [
                p.join("apparmor"),
                p.join("enabled"),
                p.join("enforce"),
                p.join("attr"),
            ]
        }

        fn read(&self, rel: &str) -> String {
            std::fs::read_to_string(self.dir.path().join(rel)).unwrap()
        }
    }

    fn host(p: &[PathBuf; 4]) -> LsmHost<'_> {
        LsmHost {
            apparmor_dir: &p[0],
            apparmor_enabled: &p[1],
            selinux_enforce: &p[2],
            proc_self_attr: &p[3],
        }
    }

    #[test]
    fn apparmor_on_this_host_is_a_clear_error() {
        let real = LsmHost::system();
        assert!(
            !real.apparmor(),
            "this test expects a host without AppArmor"
        );
        let err = check_labels(&process(Some("docker-default"), None), None, &real).unwrap_err();
        assert_eq!(
            err.to_string(),
            "process.apparmorProfile: AppArmor is not enabled on this host \
             (/sys/module/apparmor/parameters/enabled is absent or says disabled)"
        );
        check_labels(&process(Some("unconfined"), None), None, &real).unwrap();
        check_labels(&process(Some(""), None), None, &real).unwrap();
    }

    #[test]
    fn selinux_on_this_host_is_a_clear_error() {
        let real = LsmHost::system();
        assert!(!real.selinux(), "this test expects a host without SELinux");
        let p = process(None, Some("system_u:system_r:container_t:s0"));
        let err = check_labels(&p, None, &real).unwrap_err().to_string();
        assert!(
            err.starts_with("process.selinuxLabel: SELinux is not enabled"),
            "{err}"
        );
        let err = check_labels(&process(None, None), Some("x:y:z:s0"), &real).unwrap_err();
        assert!(
            err.to_string().starts_with("linux.mountLabel: SELinux"),
            "{err}"
        );
        check_labels(&process(None, None), None, &real).unwrap();
    }

    #[test]
    fn enabled_fake_hosts_pass_the_check() {
        let fake = FakeHost::new(true, true, true);
        let paths = fake.paths();
        let p = process(Some("docker-default"), Some("a:b:c:s0"));
        check_labels(&p, Some("a:b:d:s0"), &host(&paths)).unwrap();
        let disabled = FakeHost::new(false, false, true);
        std::fs::create_dir_all(disabled.dir.path().join("apparmor")).unwrap();
        std::fs::write(disabled.dir.path().join("enabled"), "N\n").unwrap();
        let paths = disabled.paths();
        assert!(check_labels(&p, None, &host(&paths)).is_err());
    }

    #[test]
    fn apply_writes_the_attr_files() {
        let fake = FakeHost::new(true, true, true);
        let paths = fake.paths();
        apply_labels(&process(Some("docker-default"), None), &host(&paths)).unwrap();
        assert_eq!(fake.read("attr/apparmor/exec"), "exec docker-default");
        assert_eq!(fake.read("attr/exec"), "");
        apply_labels(&process(None, Some("a:b:c:s0")), &host(&paths)).unwrap();
        assert_eq!(fake.read("attr/exec"), "a:b:c:s0");
    }

    #[test]
    fn apparmor_falls_back_to_the_legacy_attr() {
        let fake = FakeHost::new(true, false, false);
        let paths = fake.paths();
        apply_labels(&process(Some("p1"), None), &host(&paths)).unwrap();
        assert_eq!(fake.read("attr/exec"), "exec p1");
    }

    #[test]
    fn apply_on_this_host_fails_clearly_or_skips() {
        let real = LsmHost::system();
        apply_labels(&process(Some("unconfined"), None), &real).unwrap();
        apply_labels(&process(None, None), &real).unwrap();
        // In a child: should the write succeed, it must not change this process.
        let got = crate::process::testutil::in_child(|| {
            let r = apply_labels(&process(Some("p1"), None), &real);
            r.map(|()| "applied".to_owned()).map_err(|e| e.to_string())
        });
        let err = got.unwrap_err();
        assert!(
            err.starts_with("process.apparmorProfile: write /proc/self/attr/"),
            "{err}"
        );
    }
}
