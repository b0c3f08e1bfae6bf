//! What the engine's integration tests share: where the test images and the shim are.

use std::path::{Path, PathBuf};

/// The directory of the test images: `$BERTH_TEST_IMAGES`, else the `shared/images` above
/// the repository (CI clones it with `shared/` beside it).
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

/// The shim binary of this build: `$BERTH_SHIM`, else `berth-shim` in the target directory
/// that holds this test (`cargo build -p berth-shim` puts it there; CI builds the
/// workspace first).
pub fn shim_path() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_SHIM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .map(|d| d.join("berth-shim"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("SHIM MISSING: no berth-shim above {exe:?}; run `cargo build -p berth-shim` or set BERTH_SHIM")
        })
}
