//! The metadata of one tar entry (header plus PAX records), and setting it on a file.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

/// Owner, mode, time and extended attributes of an entry.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Timespec,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    pub rdev: (u32, u32),
}

/// PAX key prefix of extended attributes.
const XATTR: &[u8] = b"SCHILY.xattr.";
/// Extended attributes a layer may not set: they steer overlayfs itself.
const FORBIDDEN_XATTR: &[u8] = b"trusted.overlay.";

impl Meta {
    /// Reads the metadata of `entry`. Fails on unreadable numeric fields.
    pub fn of<R: Read>(entry: &mut tar::Entry<'_, R>) -> std::io::Result<Meta> {
        let h = entry.header();
        let mut meta = Meta {
            mode: h.mode()? & 0o7777,
            uid: id(h.uid()?)?,
            gid: id(h.gid()?)?,
            mtime: Timespec {
                tv_sec: i64::try_from(h.mtime()?).unwrap_or(i64::MAX),
                tv_nsec: 0,
            },
            xattrs: Vec::new(),
            rdev: (0, 0),
        };
        if matches!(h.entry_type(), tar::EntryType::Char | tar::EntryType::Block) {
            meta.rdev = (
                h.device_major()?.unwrap_or(0),
                h.device_minor()?.unwrap_or(0),
            );
        }
        if let Some(pax) = entry.pax_extensions()? {
            for ext in pax {
                let ext = ext?;
                meta.pax_record(ext.key_bytes(), ext.value_bytes());
            }
        }
        Ok(meta)
    }

    fn pax_record(&mut self, key: &[u8], value: &[u8]) {
        if let Some(name) = key.strip_prefix(XATTR) {
            if !name.starts_with(FORBIDDEN_XATTR) {
                self.xattrs.push((name.to_vec(), value.to_vec()));
            }
        } else if key == b"mtime" {
            if let Some(t) = parse_time(value) {
                self.mtime = t;
            }
        }
    }

    fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.mtime,
            last_modification: self.mtime,
        }
    }

    /// Sets owner, mode, extended attributes and (unless `skip_time`) times on an open
    /// regular file or directory. Owner first: chown clears set-id bits and capabilities.
    pub fn set_on_fd(
        &self,
        fd: BorrowedFd<'_>,
        skip_time: bool,
    ) -> Result<(), (&'static str, Errno)> {
        let (uid, gid) = (Uid::from_raw(self.uid), Gid::from_raw(self.gid));
        rustix::fs::fchown(fd, Some(uid), Some(gid)).map_err(|e| ("chown", e))?;
        rustix::fs::fchmod(fd, Mode::from_raw_mode(self.mode)).map_err(|e| ("chmod", e))?;
        for (name, value) in &self.xattrs {
            rustix::fs::fsetxattr(fd, name.as_slice(), value, XattrFlags::empty())
                .map_err(|e| ("set xattr", e))?;
        }
        if !skip_time {
            rustix::fs::futimens(fd, &self.times()).map_err(|e| ("set times", e))?;
        }
        Ok(())
    }

    /// Sets the metadata of `name` in `dir` without following it (symlinks, devices,
    /// fifos). Symlinks get no mode.
    pub fn set_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        symlink: bool,
    ) -> Result<(), (&'static str, Errno)> {
        let nofollow = AtFlags::SYMLINK_NOFOLLOW;
        let (uid, gid) = (Uid::from_raw(self.uid), Gid::from_raw(self.gid));
        rustix::fs::chownat(dir, name, Some(uid), Some(gid), nofollow).map_err(|e| ("chown", e))?;
        if !symlink {
            rustix::fs::chmodat(dir, name, Mode::from_raw_mode(self.mode), AtFlags::empty())
                .map_err(|e| ("chmod", e))?;
        }
        if !self.xattrs.is_empty() {
            // `/proc/self/fd/<dir>` is the directory we hold; the last component is not
            // followed by lsetxattr.
            let mut path = format!("/proc/self/fd/{}/", dir.as_fd().as_raw_fd()).into_bytes();
            path.extend_from_slice(name);
            for (key, value) in &self.xattrs {
                rustix::fs::lsetxattr(path.as_slice(), key.as_slice(), value, XattrFlags::empty())
                    .map_err(|e| ("set xattr", e))?;
            }
        }
        rustix::fs::utimensat(dir, name, &self.times(), nofollow).map_err(|e| ("set times", e))
    }
}

fn id(v: u64) -> std::io::Result<u32> {
    u32::try_from(v)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "uid/gid too large"))
}

/// Parses a PAX time `secs[.fraction]`.
fn parse_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec = secs.parse::<i64>().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32)
    };
    Some(Timespec {
        tv_sec,
        tv_nsec: if tv_sec < 0 { 0 } else { nanos as _ },
    })
}
