//! Helpers shared by the layer and snapshot tests: private mount namespaces, raw tar
//! building (able to write names the tar crate's safe setters refuse), tree listings.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Moves the calling test thread into its own mount namespace with private propagation,
/// so its mounts vanish with it and never reach the host.
pub fn private_mounts() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare mount namespace");
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make / private");
}

/// A unique temporary directory on the real disk (ext4 here: overlay upper dirs work).
pub fn tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("berth-{what}-{}-", std::process::id()))
        .tempdir_in("/var/tmp")
        .expect("tempdir")
}

/// Builds tars entry by entry with raw headers.
pub struct TarBuilder {
    pub out: Vec<u8>,
}

impl Default for TarBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TarBuilder {
    pub fn new() -> Self {
        Self { out: Vec::new() }
    }

    fn header(name: &[u8], kind: tar::EntryType, size: u64, link: &[u8], mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        assert!(
            name.len() <= 100 && link.len() <= 100,
            "raw names are at most 100 bytes"
        );
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        h
    }

    pub fn entry(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        data: &[u8],
        link: &str,
        mode: u32,
    ) -> &mut Self {
        let h = Self::header(
            name.as_bytes(),
            kind,
            data.len() as u64,
            link.as_bytes(),
            mode,
        );
        self.out.extend_from_slice(h.as_bytes());
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, tar::EntryType::Regular, data, "", 0o644)
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Directory, b"", "", 0o755)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Symlink, b"", target, 0o777)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Link, b"", target, 0o644)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

/// One line of a tree listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub link: Option<PathBuf>,
    pub rdev: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
    pub nlink: u64,
}

/// Lists a tree (relative path -> metadata), never following symlinks.
pub fn listing(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Entry>) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names {
        let m = fs::symlink_metadata(&path).unwrap();
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_symlink() {
            "symlink"
        } else if ft.is_file() {
            "file"
        } else if ft.is_char_device() {
            "char"
        } else if ft.is_block_device() {
            "block"
        } else if ft.is_fifo() {
            "fifo"
        } else {
            "other"
        };
        let link = ft.is_symlink().then(|| fs::read_link(&path).unwrap());
        let mut xattrs: Vec<(String, Vec<u8>)> = xattr_list(&path);
        xattrs.sort();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        out.insert(
            rel,
            Entry {
                kind,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                size: if ft.is_dir() { 0 } else { m.size() },
                mtime: m.mtime(),
                link,
                rdev: m.rdev(),
                xattrs,
                nlink: if ft.is_dir() { 0 } else { m.nlink() },
            },
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// Extended attributes of a path (not following symlinks).
pub fn xattr_list(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut buf = vec![0u8; 4096];
    let n = rustix::fs::llistxattr(path, &mut buf[..]).unwrap_or(0);
    let mut out = Vec::new();
    for name in buf[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut val = vec![0u8; 4096];
        let name_s = String::from_utf8_lossy(name).into_owned();
        if let Ok(k) = rustix::fs::lgetxattr(path, name, &mut val[..]) {
            out.push((name_s, val[..k].to_vec()));
        }
    }
    out
}

/// Whether a directory is empty.
pub fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().next().is_none()
}
