//! Making a layer tar from a writable layer: sorted entries, OCI whiteouts, PAX records
//! for long names and xattrs, compressed, with the diffID and the digest computed in the
//! same single pass.

use std::collections::HashMap;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use tar::EntryType;

use super::changes::{walk, Event};
use super::compress::{Compression, Encoder};
use super::hash::HashWriter;
use super::{Error, Result};
use crate::digest::Digest;
use crate::snapshot::{fsutil, LayerDirs};

/// A layer made by [`diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// sha256 of the compressed blob (the descriptor digest).
    pub digest: Digest,
    /// sha256 of the uncompressed tar (the diffID).
    pub diff_id: Digest,
    /// Bytes of the compressed blob.
    pub size: u64,
}

const BUF: usize = 1 << 20;
const COPY_BUF: usize = 256 << 10;

type Sink<W> = BufWriter<HashWriter<Encoder<HashWriter<BufWriter<W>>>>>;

/// Writes the changes of a writable layer as a layer tar into `out`, compressed.
///
/// Overlay layers (the upper dir) turn whiteout devices into `.wh.<name>` and opaque
/// directories into `.wh..wh..opq`; full trees (vfs) are compared with their parent and
/// deletions become `.wh.<name>`. Entries are in path order, times in whole seconds and
/// owner names empty, so the same tree always gives the same digest. Sockets are skipped.
pub fn diff<W: Write>(dirs: &LayerDirs, out: W, compression: Compression) -> Result<Created> {
    diff_skipping(dirs, out, compression, &|_| false)
}

/// [`diff`] leaving out the paths (relative to the layer's root) `skip` names: files the
/// engine put in a container's layer only as mount points.
pub fn diff_skipping<W: Write>(
    dirs: &LayerDirs,
    out: W,
    compression: Compression,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<Created> {
    let out = BufWriter::with_capacity(BUF, out);
    // Uncompressed, the blob is the tar: its digest is the diffID, hashed once.
    let blob = match compression {
        Compression::None => HashWriter::counting(out),
        _ => HashWriter::new(out),
    };
    let encoder = Encoder::new(blob, compression).map_err(Error::Write)?;
    let mut tw = TarWriter {
        w: BufWriter::with_capacity(BUF, HashWriter::new(encoder)),
        links: HashMap::new(),
        buf: vec![0; COPY_BUF],
    };
    walk(dirs, &mut |ev| match ev {
        Event::Present { rel, .. } if skip(rel) => Ok(()),
        ev => tw.event(ev),
    })?;
    tw.w.write_all(&[0; 1024]).map_err(Error::Write)?;
    let tar_hash =
        tw.w.into_inner()
            .map_err(|e| Error::Write(e.into_error()))?;
    let (diff_id, _, encoder) = tar_hash.finish();
    let diff_id = diff_id.unwrap_or_else(|| unreachable!("the tar is always hashed"));
    let blob = encoder.finish().map_err(Error::Write)?;
    let (digest, size, mut out) = blob.finish();
    let digest = digest.unwrap_or_else(|| diff_id.clone());
    out.flush().map_err(Error::Write)?;
    Ok(Created {
        digest,
        diff_id,
        size,
    })
}

struct TarWriter<W: Write> {
    w: Sink<W>,
    /// First name written for each multiply-linked inode.
    links: HashMap<(u64, u64), Vec<u8>>,
    buf: Vec<u8>,
}

/// The fields of one header.
struct Head<'a> {
    name: &'a [u8],
    kind: EntryType,
    meta: Option<&'a Metadata>,
    size: u64,
    link: &'a [u8],
    xattrs: &'a [(Vec<u8>, Vec<u8>)],
}

impl<W: Write> TarWriter<W> {
    fn event(&mut self, ev: Event<'_>) -> Result<()> {
        match ev {
            Event::Present { rel, full, meta } => self.present(rel, full, meta),
            Event::Deleted { rel } => self.marker(rel.parent(), &whiteout_name(rel)),
            Event::Opaque { rel } => self.marker(Some(rel), b".wh..wh..opq"),
        }
    }

    /// An empty regular-file marker entry `dir/name` (whiteouts).
    fn marker(&mut self, dir: Option<&Path>, name: &[u8]) -> Result<()> {
        let mut path = dir
            .map(|d| d.as_os_str().as_bytes().to_vec())
            .unwrap_or_default();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        self.header(&Head {
            name: &path,
            kind: EntryType::Regular,
            meta: None,
            size: 0,
            link: b"",
            xattrs: &[],
        })
    }

    fn present(&mut self, rel: &Path, full: &Path, meta: &Metadata) -> Result<()> {
        let ft = meta.file_type();
        if ft.is_socket() {
            return Ok(());
        }
        let mut name = rel.as_os_str().as_bytes().to_vec();
        if ft.is_dir() {
            name.push(b'/');
        }
        if meta.nlink() > 1 && !ft.is_dir() {
            let id = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&id).cloned() {
                return self.entry(&name, EntryType::Link, meta, 0, &first, full);
            }
            self.links.insert(id, name.clone());
        }
        let (kind, link) = if ft.is_dir() {
            (EntryType::Directory, Vec::new())
        } else if ft.is_symlink() {
            let target = std::fs::read_link(full).map_err(Error::io("read link", full))?;
            (EntryType::Symlink, target.as_os_str().as_bytes().to_vec())
        } else if ft.is_char_device() {
            (EntryType::Char, Vec::new())
        } else if ft.is_block_device() {
            (EntryType::Block, Vec::new())
        } else if ft.is_fifo() {
            (EntryType::Fifo, Vec::new())
        } else {
            (EntryType::Regular, Vec::new())
        };
        let size = if kind == EntryType::Regular {
            meta.len()
        } else {
            0
        };
        self.entry(&name, kind, meta, size, &link, full)?;
        if size > 0 {
            self.copy_file(full, size)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        name: &[u8],
        kind: EntryType,
        meta: &Metadata,
        size: u64,
        link: &[u8],
        full: &Path,
    ) -> Result<()> {
        let mut xattrs = fsutil::list_xattrs(full).map_err(Error::io("list xattrs", full))?;
        xattrs.retain(|(k, _)| !k.starts_with(b"trusted.overlay."));
        xattrs.sort();
        self.header(&Head {
            name,
            kind,
            meta: Some(meta),
            size,
            link,
            xattrs: &xattrs,
        })
    }

    /// Writes a PAX record block if needed, then the ustar header.
    fn header(&mut self, head: &Head<'_>) -> Result<()> {
        let mut records: Vec<(Vec<u8>, &[u8])> = Vec::new();
        if head.name.len() > 100 {
            records.push((b"path".to_vec(), head.name));
        }
        if head.link.len() > 100 {
            records.push((b"linkpath".to_vec(), head.link));
        }
        for (k, v) in head.xattrs {
            records.push(([b"SCHILY.xattr.".as_slice(), k].concat(), v));
        }
        if !records.is_empty() {
            self.pax(head.name, &records)?;
        }
        let h = ustar(head).map_err(Error::Write)?;
        self.w.write_all(h.as_bytes()).map_err(Error::Write)
    }

    fn pax(&mut self, name: &[u8], records: &[(Vec<u8>, &[u8])]) -> Result<()> {
        let mut data = Vec::new();
        for (k, v) in records {
            let base = k.len() + v.len() + 3;
            let mut len = base + digits(base);
            if digits(len) != digits(base) {
                len = base + digits(len);
            }
            data.extend_from_slice(format!("{len} ").as_bytes());
            data.extend_from_slice(k);
            data.push(b'=');
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let tail = &name[name.len().saturating_sub(80)..];
        let pax_name = [b"PaxHeaders.0/".as_slice(), tail].concat();
        let h = ustar(&Head {
            name: &pax_name,
            kind: EntryType::XHeader,
            meta: None,
            size: data.len() as u64,
            link: b"",
            xattrs: &[],
        })
        .map_err(Error::Write)?;
        self.w.write_all(h.as_bytes()).map_err(Error::Write)?;
        self.w.write_all(&data).map_err(Error::Write)?;
        self.pad(data.len() as u64)
    }

    /// Copies exactly `size` bytes of a regular file (never following a symlink).
    fn copy_file(&mut self, path: &Path, size: u64) -> Result<()> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(Error::io("open", path))?;
        let mut src: std::io::Take<File> = file.take(size);
        let mut left = size;
        while left > 0 {
            let n = src.read(&mut self.buf).map_err(Error::io("read", path))?;
            if n == 0 {
                let short = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "file shrank while being read",
                );
                return Err(Error::io("read", path)(short));
            }
            self.w.write_all(&self.buf[..n]).map_err(Error::Write)?;
            left -= n as u64;
        }
        self.pad(size)
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let pad = ((512 - size % 512) % 512) as usize;
        self.w.write_all(&[0; 512][..pad]).map_err(Error::Write)
    }
}

fn whiteout_name(rel: &Path) -> Vec<u8> {
    let base = rel.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    [b".wh.".as_slice(), base].concat()
}

fn digits(n: usize) -> usize {
    n.to_string().len()
}

/// A ustar header; names and link targets past 100 bytes are cut (PAX records carry them).
fn ustar(head: &Head<'_>) -> std::io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    {
        let old = h.as_old_mut();
        let n = head.name.len().min(100);
        old.name[..n].copy_from_slice(&head.name[..n]);
        let l = head.link.len().min(100);
        old.linkname[..l].copy_from_slice(&head.link[..l]);
    }
    h.set_entry_type(head.kind);
    h.set_size(head.size);
    let (mode, uid, gid, mtime, rdev) = match head.meta {
        Some(m) => (
            m.mode() & 0o7777,
            m.uid(),
            m.gid(),
            m.mtime().max(0) as u64,
            m.rdev(),
        ),
        None => (0o644, 0, 0, 0, 0),
    };
    h.set_mode(mode);
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    h.set_mtime(mtime);
    if matches!(head.kind, EntryType::Char | EntryType::Block) {
        h.set_device_major(rustix::fs::major(rdev))?;
        h.set_device_minor(rustix::fs::minor(rdev))?;
    }
    h.set_cksum();
    Ok(h)
}
