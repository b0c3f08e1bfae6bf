//! Helpers of the container command tests: a temporary data root with busybox loaded, and
//! the `berth` binary run against it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `$BERTH_TEST_IMAGES`, else the first `shared/images` beside the repository or a parent.
pub fn images_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BERTH_TEST_IMAGES").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .map(|d| d.join("shared/images"))
        .find(|d| d.join("busybox-1.35.docker.tar").is_file())
        .unwrap_or_else(|| {
            panic!("TEST IMAGES MISSING: no shared/images/busybox-1.35.docker.tar above {here:?}; set BERTH_TEST_IMAGES")
        })
}

/// A data root with busybox:1.35 loaded; every container in it is removed on drop.
pub struct Root {
    pub dir: tempfile::TempDir,
}

/// The result of one `berth` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Root {
    /// A new data root with busybox loaded.
    pub fn with_busybox() -> Root {
        let dir = tempfile::Builder::new()
            .prefix(&format!("berth-ctr-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        let root = Root { dir };
        let tar = images_dir().join("busybox-1.35.docker.tar");
        let r = root.berth(&["load", "-i", tar.to_str().unwrap()]);
        assert_eq!(r.code, 0, "load: {}", r.stderr);
        root
    }

    /// The data root.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `berth --data-root <root> args...`.
    pub fn berth(&self, args: &[&str]) -> Run {
        let out: Output = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("--data-root")
            .arg(self.path())
            .args(args)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Like [`Root::berth`], asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.berth(args);
        assert_eq!(r.code, 0, "berth {args:?}: {}{}", r.stdout, r.stderr);
        r.stdout
    }

    /// Whether anything under the data root is mounted.
    pub fn has_mounts(&self) -> bool {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let root = self.path().to_str().unwrap();
        info.lines().any(|l| l.contains(root))
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let ids = self.berth(&["ps", "-aq", "--no-trunc"]).stdout;
        for id in ids.lines() {
            self.berth(&["rm", "-f", id]);
        }
    }
}
