//! Reading `/proc/self/mountinfo` and `/proc/self/cgroup` (only for cgroup mounts and the
//! `--no-pivot` path; the common start path never reads them).

use std::borrow::Cow;
use std::io::Read as _;
use std::path::Path;

use super::Error;

/// One line of mountinfo, borrowed from the file's text.
#[derive(Debug, Clone, Copy)]
pub(super) struct MountInfo<'a> {
    /// The root of the mount within its filesystem.
    pub root: &'a str,
    /// Where it is mounted (octal escapes as in the file).
    pub mountpoint: &'a str,
    /// The filesystem type.
    pub fstype: &'a str,
    /// The superblock options.
    pub super_opts: &'a str,
}

impl MountInfo<'_> {
    /// The mount point with `\040`-style escapes decoded.
    pub(super) fn mount_point(&self) -> Cow<'_, str> {
        unescape(self.mountpoint)
    }
}

/// Reads a whole kernel file. The buffer starts large: these files report no size, and
/// growing from a small probe would cost a read (and a regeneration of lines) per doubling.
pub(super) fn read(path: &str) -> Result<String, Error> {
    let err = |source| Error::File {
        op: "read",
        path: Path::new(path).to_owned(),
        source,
    };
    let mut text = String::with_capacity(READ_CAPACITY);
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(err)?;
    Ok(text)
}

/// The first buffer for [`read`]: a mountinfo of ~100 mounts fits.
const READ_CAPACITY: usize = 16 * 1024;

/// Parses mountinfo text; malformed lines are skipped.
pub(super) fn parse(text: &str) -> impl Iterator<Item = MountInfo<'_>> {
    text.lines().filter_map(parse_line)
}

fn parse_line(line: &str) -> Option<MountInfo<'_>> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let root = l.nth(3)?;
    let mountpoint = l.next()?;
    let mut r = right.split(' ');
    Some(MountInfo {
        root,
        mountpoint,
        fstype: r.next()?,
        super_opts: r.nth(1)?,
    })
}

/// Decodes the octal escapes (`\040` for a space, ...) mountinfo uses in paths.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b.get(i + 1..i + 4).and_then(|d| {
            let d = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(d, 8).ok()
        });
        match (b[i], code) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// One line of `/proc/self/cgroup`: hierarchy controllers (`cpu,cpuacct`, `name=systemd`, or
/// empty for v2) and the path.
pub(super) fn cgroup_lines(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| {
        let mut it = l.splitn(3, ':');
        let _id = it.next()?;
        Some((it.next()?, it.next()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines() {
        let text = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    41 31 0:38 /x /a\\040b rw shared:3 - cgroup2 cgroup2 rw\nbad\n";
        let v: Vec<_> = parse(text).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].mountpoint, "/sys/fs/cgroup/cpu");
        assert_eq!((v[0].fstype, v[0].super_opts), ("cgroup", "rw,cpu"));
        assert_eq!(v[1].root, "/x");
        assert_eq!(v[1].mount_point(), "/a b");
        let c: Vec<_> = cgroup_lines("4:memory:/a/b\n0::/\n").collect();
        assert_eq!(c, vec![("memory", "/a/b"), ("", "/")]);
    }
}
