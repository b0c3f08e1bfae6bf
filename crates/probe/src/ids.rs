//! Who the process is: ids, groups, umask, capabilities, host name, namespaces.

use crate::{errno, Report};
use serde_json::{json, Map, Value};
use std::ffi::CStr;

/// `ids`: real/effective/saved uid and gid, supplementary groups, umask.
pub fn ids(_: &[String]) -> Report {
    let (mut ruid, mut euid, mut suid) = (0, 0, 0);
    let (mut rgid, mut egid, mut sgid) = (0, 0, 0);
    // SAFETY: getresuid only writes through the three valid, exclusive pointers.
    let uids = unsafe { libc::getresuid(&mut ruid, &mut euid, &mut suid) };
    // SAFETY: getresgid only writes through the three valid, exclusive pointers.
    let gids = unsafe { libc::getresgid(&mut rgid, &mut egid, &mut sgid) };
    if uids != 0 || gids != 0 {
        return Ok(errno::failure(&errno::last()));
    }
    Ok(json!({
        "uid": ruid, "euid": euid, "suid": suid,
        "gid": rgid, "egid": egid, "sgid": sgid,
        "groups": groups(),
        "umask": umask(),
    }))
}

fn groups() -> Vec<libc::gid_t> {
    let mut list = vec![0 as libc::gid_t; 65536];
    // SAFETY: the buffer holds `list.len()` gids and getgroups writes at most that many.
    let n = unsafe { libc::getgroups(list.len() as libc::c_int, list.as_mut_ptr()) };
    list.truncate(usize::try_from(n).unwrap_or(0));
    list
}

/// The umask, read without changing it (from /proc/self/status, which has it since 4.7).
fn umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// `caps`: capability sets (hex, as in /proc/self/status), NoNewPrivs and seccomp mode.
pub fn caps(_: &[String]) -> Report {
    let status = match std::fs::read_to_string("/proc/self/status") {
        Ok(s) => s,
        Err(e) => return Ok(errno::failure(&e)),
    };
    let mut out = Map::new();
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if key.starts_with("Cap") {
            out.insert(key.into(), Value::from(value));
        } else if matches!(key, "NoNewPrivs" | "Seccomp" | "Seccomp_filters") {
            out.insert(
                key.into(),
                value.parse::<u64>().map_or(Value::Null, Value::from),
            );
        }
    }
    Ok(Value::Object(out))
}

/// `hostname`: node name and NIS domain name from uname(2).
pub fn hostname(_: &[String]) -> Report {
    // SAFETY: utsname is plain old data; all-zero bytes are a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes into the valid, exclusive utsname buffer.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Ok(errno::failure(&errno::last()));
    }
    Ok(json!({
        "hostname": field(&uts.nodename),
        "domainname": field(&uts.domainname),
    }))
}

fn field(raw: &[libc::c_char]) -> String {
    // SAFETY: c_char and u8 have the same size and alignment; the slice stays borrowed.
    let bytes = unsafe { std::slice::from_raw_parts(raw.as_ptr().cast::<u8>(), raw.len()) };
    CStr::from_bytes_until_nul(bytes)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `ns`: the target of each /proc/self/ns/* link, e.g. `"pid": "pid:[4026531836]"`.
pub fn namespaces(_: &[String]) -> Report {
    let dir = match std::fs::read_dir("/proc/self/ns") {
        Ok(d) => d,
        Err(e) => return Ok(errno::failure(&e)),
    };
    let mut out = Map::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let target = std::fs::read_link(entry.path())
            .map(|t| Value::from(t.to_string_lossy().into_owned()))
            .unwrap_or_else(|e| errno::failure(&e));
        out.insert(name, target);
    }
    Ok(Value::Object(out))
}
