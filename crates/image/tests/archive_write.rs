//! Writing archives in both forms, reading them back, and checking them with skopeo.

mod archive_support;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use archive_support::*;
use berth_image::archive::{
    read_archive, write_archive, ArchiveError, ArchiveForm, ImageToSave, LoadedImage, SaveOptions,
};
use berth_image::content::{LocalStore, Provider};
use berth_image::digest::Digest;
use berth_image::formats::{Compression, LayerRef, Platform};

fn load_file(path: &Path) -> (tempfile::TempDir, LocalStore, Vec<LoadedImage>) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(&dir.path().join("content")).unwrap();
    let imgs = read_archive(File::open(path).unwrap(), &store, &Platform::host())
        .unwrap_or_else(|e| panic!("read {path:?}: {e}"));
    (dir, store, imgs)
}

/// Writes `imgs` from `store` to `<dir>/<name>` and returns its path.
fn save(
    dir: &Path,
    name: &str,
    store: &LocalStore,
    imgs: &[LoadedImage],
    form: ArchiveForm,
    gzip: bool,
) -> std::path::PathBuf {
    let out = dir.join(name);
    let to_save: Vec<ImageToSave> = imgs.iter().map(ImageToSave::from).collect();
    let opts = SaveOptions {
        form,
        gzip,
        spool_dir: dir,
    };
    let gunzip = |l: &LayerRef| -> std::io::Result<Box<dyn Read>> {
        assert_eq!(l.compression, Compression::Gzip);
        let f = store.open(&l.blob).map_err(std::io::Error::other)?;
        Ok(Box::new(flate2::read::MultiGzDecoder::new(f)))
    };
    write_archive(File::create(&out).unwrap(), store, &to_save, &opts, &gunzip)
        .unwrap_or_else(|e| panic!("save {name}: {e}"));
    out
}

fn same_image(a: &LoadedImage, b: &LoadedImage) {
    assert_eq!(a.config.digest().to_string(), BUSYBOX_ID);
    assert_eq!(b.config.digest(), a.config.digest());
    assert_eq!(b.config.bytes(), a.config.bytes());
    let diffs = |i: &LoadedImage| {
        i.layers
            .iter()
            .map(|l| l.diff_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(diffs(a), diffs(b));
    assert_eq!(a.tags, b.tags);
}

#[test]
fn round_trips_in_both_forms() {
    for src in [docker_tar(), oci_tar()] {
        let (dir, store, imgs) = load_file(&src);
        for (form, gzip) in [
            (ArchiveForm::Docker, false),
            (ArchiveForm::Docker, true),
            (ArchiveForm::Oci, false),
            (ArchiveForm::Oci, true),
        ] {
            let name = format!("out-{form:?}-{gzip}.tar");
            let path = save(dir.path(), &name, &store, &imgs, form, gzip);
            let (rdir, _store, again) = load_file(&path);
            assert_eq!(again.len(), 1);
            same_image(&imgs[0], &again[0]);
            if form == ArchiveForm::Docker {
                let l = &again[0].layers[0];
                assert_eq!(
                    l.compression,
                    Compression::None,
                    "docker layers are plain tars"
                );
                assert_eq!(l.blob, l.diff_id);
            } else {
                // The OCI layout copies the manifest and blobs as they are.
                assert_eq!(again[0].manifest_digest, imgs[0].manifest_digest);
                assert_eq!(again[0].layers, imgs[0].layers);
            }
            assert_store_sound(&rdir.path().join("content"));
        }
    }
}

#[test]
fn a_layer_not_matching_its_diff_id_is_not_written() {
    let (dir, store, imgs) = load_file(&oci_tar());
    let to_save: Vec<ImageToSave> = imgs.iter().map(ImageToSave::from).collect();
    let opts = SaveOptions {
        form: ArchiveForm::Docker,
        gzip: false,
        spool_dir: dir.path(),
    };
    let wrong =
        |_: &LayerRef| -> std::io::Result<Box<dyn Read>> { Ok(Box::new(&b"not the layer"[..])) };
    let err = write_archive(Vec::new(), &store, &to_save, &opts, &wrong).unwrap_err();
    assert!(matches!(err, ArchiveError::LayerDigest { .. }), "{err}");
}

fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo").args(args).output().unwrap_or_else(|e| {
        panic!("SKOPEO MISSING ({e}): this test checks archives with the real skopeo; apt-get install skopeo")
    });
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn skopeo_reads_what_berth_writes() {
    let (dir, store, imgs) = load_file(&oci_tar());
    let diff_id = imgs[0].layers[0].diff_id.to_string();

    let docker = save(
        dir.path(),
        "d.tar",
        &store,
        &imgs,
        ArchiveForm::Docker,
        false,
    );
    let src = format!("docker-archive:{}", docker.display());
    let config = skopeo(&["inspect", "--raw", "--config", &src]);
    assert_eq!(Digest::of(&config).to_string(), BUSYBOX_ID);
    let info: serde_json::Value = serde_json::from_slice(&skopeo(&["inspect", &src])).unwrap();
    assert_eq!(info["Layers"][0], diff_id.as_str(), "{info}");
    // skopeo's RepoTags are a registry's tag list (empty here); the archive's own:
    let manifest_json = entries(&std::fs::read(&docker).unwrap())
        .into_iter()
        .find(|(p, _, _)| p == "manifest.json")
        .unwrap()
        .2;
    let m: serde_json::Value = serde_json::from_slice(&manifest_json).unwrap();
    assert_eq!(m[0]["RepoTags"][0], "busybox:1.35", "{m}");

    let oci = save(dir.path(), "o.tar", &store, &imgs, ArchiveForm::Oci, false);
    let src = format!("oci-archive:{}", oci.display());
    let manifest = skopeo(&["inspect", "--raw", &src]);
    assert_eq!(Digest::of(&manifest), imgs[0].manifest_digest);
    let config = skopeo(&["inspect", "--raw", "--config", &src]);
    assert_eq!(Digest::of(&config).to_string(), BUSYBOX_ID);
    // The same layout unpacked, addressed by its tag.
    let layout = dir.path().join("layout");
    std::fs::create_dir(&layout).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&oci)
        .arg("-C")
        .arg(&layout)
        .status()
        .unwrap();
    assert!(st.success());
    let src = format!("oci:{}:1.35", layout.display());
    let info: serde_json::Value = serde_json::from_slice(&skopeo(&["inspect", &src])).unwrap();
    assert_eq!(
        info["Digest"],
        imgs[0].manifest_digest.to_string().as_str(),
        "{info}"
    );
}
