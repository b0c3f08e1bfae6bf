//! Parsing of `mounts[].options` (config.md "Mounts"): mount(2) flags to set and to clear,
//! propagation changes, recursive attributes for `mount_setattr(2)`, `idmap`/`ridmap`, and the
//! rest joined into the filesystem's data string.

use nix::mount::MsFlags;

/// Whether and how a bind mount is idmapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdMap {
    /// Not idmapped.
    No,
    /// `idmap`: the top mount only.
    Top,
    /// `ridmap`: every mount of the tree.
    Recursive,
}

/// The parsed options of one mount.
#[derive(Debug)]
pub(super) struct MountOptions {
    /// mount(2) flags to set (includes `MS_BIND`, `MS_REC` for bind/rbind).
    pub flags: MsFlags,
    /// mount(2) flags the options clear explicitly (`rw`, `suid`, `dev`, ...).
    pub cleared: MsFlags,
    /// Propagation changes in order, each `MS_PRIVATE`/`MS_SHARED`/... possibly `| MS_REC`.
    pub propagation: Vec<MsFlags>,
    /// `MOUNT_ATTR_*` to set on the whole tree (`rro`, `rnosuid`, ...).
    pub rec_set: u64,
    /// `MOUNT_ATTR_*` to clear on the whole tree (`rrw`, `rsuid`, ...).
    pub rec_clr: u64,
    /// `idmap` / `ridmap`.
    pub idmap: IdMap,
    /// Everything else, comma-joined, for the filesystem.
    pub data: String,
}

/// (option, set it?, flag) for plain mount(2) flags.
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("async", false, MsFlags::MS_SYNCHRONOUS),
    ("atime", false, MsFlags::MS_NOATIME),
    ("bind", true, MsFlags::MS_BIND),
    ("defaults", true, MsFlags::empty()),
    ("dev", false, MsFlags::MS_NODEV),
    ("diratime", false, MsFlags::MS_NODIRATIME),
    ("dirsync", true, MsFlags::MS_DIRSYNC),
    ("exec", false, MsFlags::MS_NOEXEC),
    ("iversion", true, MsFlags::MS_I_VERSION),
    ("lazytime", true, MsFlags::MS_LAZYTIME),
    ("loud", false, MsFlags::MS_SILENT),
    ("mand", true, MsFlags::MS_MANDLOCK),
    ("noatime", true, MsFlags::MS_NOATIME),
    ("nodev", true, MsFlags::MS_NODEV),
    ("nodiratime", true, MsFlags::MS_NODIRATIME),
    ("noexec", true, MsFlags::MS_NOEXEC),
    ("noiversion", false, MsFlags::MS_I_VERSION),
    ("nolazytime", false, MsFlags::MS_LAZYTIME),
    ("nomand", false, MsFlags::MS_MANDLOCK),
    ("norelatime", false, MsFlags::MS_RELATIME),
    ("nostrictatime", false, MsFlags::MS_STRICTATIME),
    ("nosuid", true, MsFlags::MS_NOSUID),
    ("nosymfollow", true, NOSYMFOLLOW),
    ("rbind", true, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", true, MsFlags::MS_RELATIME),
    ("remount", true, MsFlags::MS_REMOUNT),
    ("ro", true, MsFlags::MS_RDONLY),
    ("rw", false, MsFlags::MS_RDONLY),
    ("silent", true, MsFlags::MS_SILENT),
    ("strictatime", true, MsFlags::MS_STRICTATIME),
    ("suid", false, MsFlags::MS_NOSUID),
    ("symfollow", false, NOSYMFOLLOW),
    ("sync", true, MsFlags::MS_SYNCHRONOUS),
];

/// `MS_NOSYMFOLLOW`, which nix does not name.
pub(super) const NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);

/// Propagation options.
const PROPAGATION: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// (option, attributes to set, attributes to clear) for the recursive `r*` options. An atime
/// mode is a field, not a bit: setting one means clearing the whole field.
const RECURSIVE: &[(&str, u64, u64)] = &[
    ("rro", libc::MOUNT_ATTR_RDONLY, 0),
    ("rrw", 0, libc::MOUNT_ATTR_RDONLY),
    ("rnosuid", libc::MOUNT_ATTR_NOSUID, 0),
    ("rsuid", 0, libc::MOUNT_ATTR_NOSUID),
    ("rnodev", libc::MOUNT_ATTR_NODEV, 0),
    ("rdev", 0, libc::MOUNT_ATTR_NODEV),
    ("rnoexec", libc::MOUNT_ATTR_NOEXEC, 0),
    ("rexec", 0, libc::MOUNT_ATTR_NOEXEC),
    ("rnodiratime", libc::MOUNT_ATTR_NODIRATIME, 0),
    ("rdiratime", 0, libc::MOUNT_ATTR_NODIRATIME),
    (
        "rrelatime",
        libc::MOUNT_ATTR_RELATIME,
        libc::MOUNT_ATTR__ATIME,
    ),
    (
        "rnorelatime",
        libc::MOUNT_ATTR_STRICTATIME,
        libc::MOUNT_ATTR__ATIME,
    ),
    (
        "rnoatime",
        libc::MOUNT_ATTR_NOATIME,
        libc::MOUNT_ATTR__ATIME,
    ),
    ("ratime", libc::MOUNT_ATTR_RELATIME, libc::MOUNT_ATTR__ATIME),
    (
        "rstrictatime",
        libc::MOUNT_ATTR_STRICTATIME,
        libc::MOUNT_ATTR__ATIME,
    ),
    (
        "rnostrictatime",
        libc::MOUNT_ATTR_RELATIME,
        libc::MOUNT_ATTR__ATIME,
    ),
    ("rnosymfollow", libc::MOUNT_ATTR_NOSYMFOLLOW, 0),
    ("rsymfollow", 0, libc::MOUNT_ATTR_NOSYMFOLLOW),
];

impl MountOptions {
    /// Parses a mount's options; unknown ones become filesystem data, as mount(8) does.
    pub(super) fn parse(options: &[String]) -> Self {
        let mut o = Self {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clr: 0,
            idmap: IdMap::No,
            data: String::new(),
        };
        for opt in options {
            o.add(opt);
        }
        o
    }

    fn add(&mut self, opt: &str) {
        if let Some(&(_, set, flag)) = FLAGS.iter().find(|(n, ..)| *n == opt) {
            if set {
                self.flags |= flag;
                self.cleared &= !flag;
            } else {
                self.flags &= !flag;
                self.cleared |= flag;
            }
        } else if let Some(&(_, flag)) = PROPAGATION.iter().find(|(n, _)| *n == opt) {
            self.propagation.push(flag);
        } else if let Some(&(_, set, clr)) = RECURSIVE.iter().find(|(n, ..)| *n == opt) {
            self.rec_set = (self.rec_set & !clr) | set;
            self.rec_clr = (self.rec_clr & !set) | clr;
        } else if opt == "idmap" {
            self.idmap = IdMap::Top;
        } else if opt == "ridmap" {
            self.idmap = IdMap::Recursive;
        } else {
            if !self.data.is_empty() {
                self.data.push(',');
            }
            self.data.push_str(opt);
        }
    }

    /// Whether this is a bind mount (`bind` or `rbind`).
    pub(super) fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Whether the options ask for a read-only mount.
    pub(super) fn is_ro(&self) -> bool {
        self.flags.contains(MsFlags::MS_RDONLY)
    }

    /// The per-mount flag change, as `mount_setattr` attributes, that the options ask of a
    /// bind mount (which keeps its source's flags otherwise, locked or not).
    pub(super) fn bind_attr(&self) -> (u64, u64) {
        bind_attr(self.flags, self.cleared)
    }
}

/// Translates mount(2) flags set and cleared into `MOUNT_ATTR_*` set and clear masks.
pub(super) fn bind_attr(flags: MsFlags, cleared: MsFlags) -> (u64, u64) {
    const BITS: &[(MsFlags, u64)] = &[
        (MsFlags::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
        (NOSYMFOLLOW, libc::MOUNT_ATTR_NOSYMFOLLOW),
    ];
    let (mut set, mut clr) = (0, 0);
    for &(ms, attr) in BITS {
        if flags.contains(ms) {
            set |= attr;
        } else if cleared.contains(ms) {
            clr |= attr;
        }
    }
    let atime = if flags.contains(MsFlags::MS_NOATIME) {
        Some(libc::MOUNT_ATTR_NOATIME)
    } else if flags.contains(MsFlags::MS_STRICTATIME) {
        Some(libc::MOUNT_ATTR_STRICTATIME)
    } else if flags.contains(MsFlags::MS_RELATIME) || cleared.contains(MsFlags::MS_NOATIME) {
        Some(libc::MOUNT_ATTR_RELATIME)
    } else {
        None
    };
    if let Some(a) = atime {
        set |= a;
        clr |= libc::MOUNT_ATTR__ATIME;
    }
    (set, clr)
}

/// Parses `linux.rootfsPropagation`.
pub(super) fn propagation(value: &str) -> Option<MsFlags> {
    PROPAGATION
        .iter()
        .find(|(n, _)| *n == value)
        .map(|&(_, f)| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(opts: &[&str]) -> MountOptions {
        let v: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        MountOptions::parse(&v)
    }

    #[test]
    fn flags_set_and_clear() {
        let o = parse(&[
            "nosuid",
            "noexec",
            "ro",
            "strictatime",
            "mode=755",
            "size=65536k",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY | MsFlags::MS_STRICTATIME
        );
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(o.is_ro() && !o.is_bind());
        let o = parse(&["ro", "rw", "suid"]);
        assert_eq!(o.flags, MsFlags::empty());
        assert_eq!(o.cleared, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
    }

    #[test]
    fn bind_propagation_recursive_idmap() {
        let o = parse(&[
            "rbind",
            "rprivate",
            "rro",
            "rnoatime",
            "ridmap",
            "unbindable",
        ]);
        assert!(o.is_bind() && o.flags.contains(MsFlags::MS_REC));
        assert_eq!(
            o.propagation,
            vec![
                MsFlags::MS_PRIVATE | MsFlags::MS_REC,
                MsFlags::MS_UNBINDABLE
            ]
        );
        assert_eq!(
            o.rec_set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.rec_clr, libc::MOUNT_ATTR__ATIME);
        assert_eq!(o.idmap, IdMap::Recursive);
        assert!(o.data.is_empty());
        let o = parse(&["rro", "rrw"]);
        assert_eq!((o.rec_set, o.rec_clr), (0, libc::MOUNT_ATTR_RDONLY));
    }

    #[test]
    fn bind_attr_translation() {
        let o = parse(&["bind", "ro", "nosuid", "dev", "noatime"]);
        let (set, clr) = o.bind_attr();
        assert_eq!(
            set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(clr, libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR__ATIME);
        assert_eq!(parse(&["bind"]).bind_attr(), (0, 0));
    }

    #[test]
    fn root_propagation_values() {
        assert_eq!(
            propagation("rslave"),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        assert_eq!(propagation("bogus"), None);
    }
}
