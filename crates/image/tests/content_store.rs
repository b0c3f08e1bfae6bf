//! The local content store on a real filesystem: commit, verification, abort, cleanup of
//! files left by a killed writer.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use berth_image::content::{ContentError, ContentWriter, Expected, Ingester, LocalStore, Provider};
use berth_image::digest::Digest;

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn blobs(root: &Path) -> Vec<String> {
    entries(&root.join("blobs/sha256"))
}

fn ingest(root: &Path) -> Vec<String> {
    entries(&root.join("ingest"))
}

#[test]
fn commit_open_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let data = b"hello blob";
    let digest = Digest::of(data);
    let c = store
        .put(data, Expected::exact(digest.clone(), data.len() as u64))
        .unwrap();
    assert_eq!(c.digest, digest);
    assert!(c.created);
    assert!(store.exists(&digest).unwrap());
    assert_eq!(store.size(&digest).unwrap(), data.len() as u64);
    let mut got = Vec::new();
    store.open(&digest).unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, data);
    assert_eq!(store.list().unwrap(), vec![(digest.clone(), 10)]);
    let u = store.usage().unwrap();
    assert_eq!((u.blobs, u.bytes, u.ingest_bytes), (1, 10, 0));
    // A second identical commit is accepted and reported as not new.
    assert!(!store.put(data, Expected::unknown()).unwrap().created);
    assert!(ingest(dir.path()).is_empty());
    store.delete(&digest).unwrap();
    assert!(!store.exists(&digest).unwrap());
    assert!(matches!(
        store.delete(&digest),
        Err(ContentError::NotFound(_))
    ));
    assert!(matches!(
        store.open(&digest),
        Err(ContentError::NotFound(_))
    ));
}

#[test]
fn unknown_digest_commits_under_computed_digest() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let mut w = store.writer(Expected::unknown()).unwrap();
    for _ in 0..1000 {
        w.write_all(&[7u8; 1000]).unwrap();
    }
    assert_eq!(w.written(), 1_000_000);
    let c = w.commit().unwrap();
    assert_eq!(c.digest, Digest::of(&vec![7u8; 1_000_000]));
    assert_eq!(blobs(dir.path()), vec![c.digest.hex().to_string()]);
}

#[test]
fn wrong_digest_names_both_and_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let claimed = Digest::of(b"something else");
    let err = store
        .put(b"actual bytes", Expected::exact(claimed.clone(), 12))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&claimed.to_string()), "{msg}");
    assert!(
        msg.contains(&Digest::of(b"actual bytes").to_string()),
        "{msg}"
    );
    assert!(blobs(dir.path()).is_empty());
    assert!(ingest(dir.path()).is_empty());
}

#[test]
fn short_and_long_blobs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let full = b"0123456789";
    let d = Digest::of(full);
    let mut w = store.writer(Expected::exact(d.clone(), 10)).unwrap();
    w.write_all(&full[..4]).unwrap();
    let err = w.commit().unwrap_err();
    assert!(
        matches!(
            err,
            ContentError::SizeMismatch {
                expected: 10,
                actual: 4,
                ..
            }
        ),
        "{err}"
    );
    let mut w = store.writer(Expected::exact(d, 10)).unwrap();
    assert!(w.write_all(b"0123456789abc").is_err());
    drop(w);
    assert!(blobs(dir.path()).is_empty());
    assert!(ingest(dir.path()).is_empty());
}

#[test]
fn abort_removes_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let mut w = store.writer(Expected::unknown()).unwrap();
    w.write_all(b"partial").unwrap();
    w.flush().unwrap();
    assert_eq!(ingest(dir.path()).len(), 1);
    w.abort().unwrap();
    assert!(ingest(dir.path()).is_empty());
    assert!(blobs(dir.path()).is_empty());
}

#[test]
fn cleanup_spares_a_live_writer() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let mut w = store.writer(Expected::unknown()).unwrap();
    w.write_all(b"in progress").unwrap();
    w.flush().unwrap();
    // A second opener (another process in real life) must not remove a live write.
    let other = LocalStore::open(dir.path()).unwrap();
    assert_eq!(other.cleanup().unwrap(), 0);
    assert_eq!(ingest(dir.path()).len(), 1);
    let c = w.commit().unwrap();
    assert!(store.exists(&c.digest).unwrap());
}

#[test]
fn concurrent_writers_of_one_blob_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path()).unwrap();
    let data = vec![42u8; 3 << 20];
    let d = Digest::of(&data);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (store, data, d) = (&store, &data, &d);
                s.spawn(move || {
                    store
                        .put(data, Expected::exact(d.clone(), data.len() as u64))
                        .unwrap()
                })
            })
            .collect();
        let created = handles
            .into_iter()
            .map(|h| h.join().unwrap().created)
            .filter(|c| *c)
            .count();
        assert!(created >= 1);
    });
    assert_eq!(blobs(dir.path()), vec![d.hex().to_string()]);
    assert!(ingest(dir.path()).is_empty());
}

const CHILD_ENV: &str = "BERTH_CONTENT_TEST_KILLED_WRITER_ROOT";

/// Runs only as the child of `killed_writer_leaves_only_a_temp_file`: writes half a blob,
/// then kills itself with SIGKILL, so nothing in it runs any cleanup.
#[test]
fn killed_writer_child() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = LocalStore::open(Path::new(&root)).unwrap();
    let mut w = store.writer(Expected::unknown()).unwrap();
    w.write_all(&[1u8; 1 << 20]).unwrap();
    w.flush().unwrap();
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).unwrap();
}

#[test]
fn killed_writer_leaves_only_a_temp_file_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    LocalStore::open(dir.path()).unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "killed_writer_child", "--nocapture"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "the child must have been killed");
    assert!(blobs(dir.path()).is_empty());
    assert_eq!(ingest(dir.path()).len(), 1, "the dead writer's temp file");
    let store = LocalStore::open(dir.path()).unwrap();
    assert!(ingest(dir.path()).is_empty());
    assert_eq!(store.usage().unwrap().ingest_bytes, 0);
}
