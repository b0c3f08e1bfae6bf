//! Benchmark of a container root's preparation: a writable snapshot over an image's top
//! layer (`Snapshotter::prepare`) and its overlay mounted on a directory, as the engine does
//! for every container start. Used by `bench/images.py`; prints one JSON object.
//!
//! Usage: `rootfs_bench DATA_ROOT IMAGE ROUNDS`. The image must be loaded in DATA_ROOT
//! (`berth --data-root DATA_ROOT load`). Each round times prepare + mount, and, for
//! reference, the bare mount(2) of the same overlay; the snapshot is then unmounted and
//! removed (untimed).

use std::path::{Path, PathBuf};
use std::time::Instant;

use berth_image::snapshot::{unmount, Mount};
use berth_image::store::ImageStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, image, rounds] = args.as_slice() else {
        return Err("usage: rootfs_bench DATA_ROOT IMAGE ROUNDS".into());
    };
    let rounds: usize = rounds.parse()?;
    let store = ImageStore::open(Path::new(root))?;
    let record = store.db().resolve(image)?;
    let top = record
        .layers
        .last()
        .ok_or("image has no layers")?
        .chain_id
        .to_string();
    let target = PathBuf::from(root).join("bench-rootfs");
    std::fs::create_dir_all(&target)?;
    let (mut prepare_mount, mut mount_only) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let key = format!("bench-{}-{i}", std::process::id());
        let snap = store.snapshotter();
        let begin = Instant::now();
        let mounts: Vec<Mount> = snap.prepare(&key, Some(&top))?;
        Mount::mount_at(&mounts, &target)?;
        prepare_mount.push(begin.elapsed().as_secs_f64() * 1e3);
        unmount(&target)?;
        let begin = Instant::now();
        Mount::mount_at(&mounts, &target)?;
        mount_only.push(begin.elapsed().as_secs_f64() * 1e3);
        unmount(&target)?;
        snap.remove(&key)?;
    }
    std::fs::remove_dir(&target)?;
    println!(
        "{{\"layers\":{},\"prepare_mount_ms\":{:?},\"mount_ms\":{:?}}}",
        record.layers.len(),
        prepare_mount,
        mount_only
    );
    Ok(())
}
