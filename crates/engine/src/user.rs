//! Resolving an image's `User` (`name`, `uid`, `uid:gid`, `name:group`) against the
//! container's own /etc/passwd and /etc/group, as docker does.

use std::path::Path;

/// A resolved user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups the user belongs to in /etc/group.
    pub additional_gids: Vec<u32>,
}

/// A user that cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The name is not in the container's /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    /// The group is not in the container's /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

/// Reads a file of the container's root without following a symlink out of it: a link at
/// the final component is refused (read as empty), as are missing files.
fn read_in_root(rootfs: &Path, rel: &str) -> String {
    let path = rootfs.join(rel);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_file() => std::fs::read_to_string(&path).unwrap_or_default(),
        _ => String::new(),
    }
}

fn passwd_entry<'a>(passwd: &'a str, user: &str) -> Option<Vec<&'a str>> {
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user))
}

fn group_gid(group: &str, name: &str) -> Option<u32> {
    group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 3 && (f[0] == name || f[2] == name))
        .and_then(|f| f[2].parse().ok())
}

fn member_of(group: &str, user: &str) -> Vec<u32> {
    group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == user))
        .filter_map(|f| f[2].parse().ok())
        .collect()
}

/// Resolves `spec` ("" means root) in the container whose root is `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<Resolved, UserError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let passwd = read_in_root(rootfs, "etc/passwd");
    let groups = read_in_root(rootfs, "etc/group");
    let entry = passwd_entry(&passwd, user);
    let (uid, mut gid, name) = match (&entry, user.parse::<u32>()) {
        (Some(f), _) => (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0), f[0]),
        (None, Ok(n)) => (n, 0, user),
        (None, Err(_)) => return Err(UserError::NoUser(user.into())),
    };
    if let Some(g) = group {
        gid = match (group_gid(&groups, g), g.parse::<u32>()) {
            (Some(id), _) | (None, Ok(id)) => id,
            (None, Err(_)) => return Err(UserError::NoGroup(g.into())),
        };
    }
    let mut additional_gids = if group.is_none() {
        member_of(&groups, name)
    } else {
        Vec::new()
    };
    additional_gids.retain(|g| *g != gid);
    Ok(Resolved {
        uid,
        gid,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nwww:x:33:\nadm:x:4:www\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn names_numbers_and_groups() {
        let d = root();
        let r = |s| resolve(d.path(), s);
        assert_eq!(r("").unwrap(), Resolved::default());
        let www = r("www").unwrap();
        assert_eq!(
            (www.uid, www.gid, www.additional_gids.clone()),
            (33, 33, vec![4])
        );
        assert_eq!(r("1000").unwrap().uid, 1000);
        let both = r("www:adm").unwrap();
        assert_eq!((both.uid, both.gid), (33, 4));
        assert_eq!(r("5:7").unwrap().gid, 7);
        assert!(r("nobody-here").is_err());
        assert!(r("www:nogroup").is_err());
    }
}
