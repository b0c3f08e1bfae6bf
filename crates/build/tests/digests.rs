//! File digests: remembered by stat once a file has settled, read again when its stat
//! changes; a context tar's regular files hashed as the tar streams through.

use std::io::Read;

use berth_build::digests::{read_digest, DigestCache, StatKey, TarTee, SETTLED};
use sha2::{Digest, Sha256};

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

#[test]
fn settled_files_are_remembered_and_changed_ones_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    std::fs::write(&f, "one\n").unwrap();
    let cache = DigestCache::new(8);
    let meta = StatKey::of(&std::fs::symlink_metadata(&f).unwrap());
    // Just written: read, not remembered (it could change within the clock's tick).
    assert_eq!(cache.digest(&f, &meta).unwrap(), sha(b"one\n"));
    assert!(cache.is_empty());
    std::thread::sleep(SETTLED + std::time::Duration::from_millis(100));
    assert_eq!(cache.digest(&f, &meta).unwrap(), sha(b"one\n"));
    assert_eq!(cache.len(), 1);
    // The same stat answers from memory; a changed file has a new stat and is read.
    assert_eq!(cache.digest(&f, &meta).unwrap(), sha(b"one\n"));
    std::fs::write(&f, "two\n").unwrap();
    let meta = StatKey::of(&std::fs::symlink_metadata(&f).unwrap());
    assert_eq!(cache.digest(&f, &meta).unwrap(), sha(b"two\n"));
    assert_eq!(read_digest(&f).unwrap(), sha(b"two\n"));
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let cache = DigestCache::new(4);
    let files: Vec<_> = (0..10)
        .map(|i| {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, format!("{i}\n")).unwrap();
            p
        })
        .collect();
    std::thread::sleep(SETTLED + std::time::Duration::from_millis(100));
    for (i, p) in files.iter().enumerate() {
        let meta = StatKey::of(&std::fs::symlink_metadata(p).unwrap());
        assert_eq!(
            cache.digest(p, &meta).unwrap(),
            sha(format!("{i}\n").as_bytes())
        );
        assert!(cache.len() <= 4, "{}", cache.len());
    }
}

fn tar_of(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(*kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        if kind.is_symlink() || kind.is_hard_link() {
            b.append_link(&mut h, name, link).unwrap();
        } else {
            b.append_data(&mut h, name, *data).unwrap();
        }
    }
    b.into_inner().unwrap()
}

fn through_tee(tar: &[u8]) -> berth_build::digests::TarDigests {
    let mut tee = TarTee::new(tar).unwrap();
    let mut all = Vec::new();
    tee.read_to_end(&mut all).unwrap();
    assert_eq!(all, tar, "the stream passes through unchanged");
    tee.finish()
}

#[test]
fn a_tar_streams_through_while_its_files_are_hashed() {
    use tar::EntryType::*;
    let big = vec![7u8; 300 * 1024];
    let tar = tar_of(&[
        ("./src/", Directory, b"", ""),
        ("./src/a.txt", Regular, b"a\n", ""),
        ("src/big", Regular, &big, ""),
        ("link", Symlink, b"", "src/a.txt"),
        ("hard", Link, b"", "src/a.txt"),
        ("again", Regular, b"first", ""),
        ("again", Symlink, b"", "src"),
    ]);
    let mut padded = tar.clone();
    padded.extend_from_slice(&[0u8; 300 * 1024]);
    let d = through_tee(&tar);
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(through_tee(&padded), d, "padding after the archive's end");
    assert_eq!(d[std::path::Path::new("src/a.txt")], sha(b"a\n"));
    assert_eq!(d[std::path::Path::new("src/big")], sha(&big));
}

#[test]
fn tars_whose_paths_do_not_name_files_give_no_digests() {
    use tar::EntryType::*;
    let whiteout = tar_of(&[("a", Regular, b"a", ""), (".wh.a", Regular, b"", "")]);
    assert!(through_tee(&whiteout).is_empty());
    let mut cut = tar_of(&[("a", Regular, &[1u8; 4096], "")]);
    cut.truncate(2048);
    let mut tee = TarTee::new(&cut[..]).unwrap();
    std::io::copy(&mut tee, &mut std::io::sink()).unwrap();
    assert!(tee.finish().is_empty());
}
