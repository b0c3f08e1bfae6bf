//! Capabilities (docker's default set, `--cap-add`, `--cap-drop`, `ALL`), `--security-opt`
//! and the seccomp filter, as dockerd puts them in a container's spec.

use std::path::PathBuf;

use berth_runtime::seccomp;
use oci_spec::runtime::LinuxSeccomp;

use super::host::Host;
use super::{SpecError, DEFAULT_CAPS};

/// Docker's default seccomp profile (moby's `profiles/seccomp/default.json`, Apache-2.0):
/// the filter of every container that is not privileged and names no other profile.
pub const DEFAULT_PROFILE: &[u8] = include_bytes!("docker-default-seccomp.json");

/// The seccomp filter asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
    /// A docker-format profile, as JSON.
    Profile(String),
}

/// What the `--security-opt` values ask for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Security {
    /// `no-new-privileges`: the process cannot gain privileges through execve.
    pub no_new_privileges: bool,
    /// The seccomp filter.
    pub seccomp: Seccomp,
    /// `systempaths=unconfined`: no masked or read-only /proc and /sys paths.
    pub unmasked_paths: bool,
}

/// Parses `--security-opt` values: `no-new-privileges[:true|false]` (or `=`),
/// `seccomp=unconfined|builtin|<profile JSON>`, `systempaths=unconfined`, and the no-ops
/// `apparmor=unconfined` and `label=disable` (this host has neither LSM). Anything else is
/// refused.
pub fn parse(opts: &[String]) -> Result<Security, SpecError> {
    let mut sec = Security::default();
    for opt in opts {
        parse_one(opt, &mut sec)?;
    }
    Ok(sec)
}

fn parse_one(opt: &str, sec: &mut Security) -> Result<(), SpecError> {
    let bad = |reason| SpecError::SecurityOpt {
        opt: opt.into(),
        reason,
    };
    if opt == "no-new-privileges" {
        sec.no_new_privileges = true;
        return Ok(());
    }
    let split = opt.find(['=', ':']).ok_or(bad("expected <key>=<value>"))?;
    let (key, value) = (&opt[..split], &opt[split + 1..]);
    match (key, value) {
        ("no-new-privileges", "true") => sec.no_new_privileges = true,
        ("no-new-privileges", "false") => sec.no_new_privileges = false,
        ("no-new-privileges", _) => return Err(bad("no-new-privileges is true or false")),
        ("seccomp", "unconfined") => sec.seccomp = Seccomp::Unconfined,
        ("seccomp", "builtin") => sec.seccomp = Seccomp::Default,
        ("seccomp", json) if json.trim_start().starts_with('{') => {
            sec.seccomp = Seccomp::Profile(json.into())
        }
        ("seccomp", _) => return Err(bad("seccomp takes unconfined, builtin or a profile")),
        ("systempaths", "unconfined") => sec.unmasked_paths = true,
        ("apparmor", "unconfined") | ("label", "disable") => {}
        ("apparmor" | "label", _) => {
            return Err(bad(
                "this host has neither AppArmor nor SELinux: only apparmor=unconfined and label=disable apply",
            ))
        }
        _ => {
            return Err(bad(
                "berth knows no-new-privileges, seccomp, systempaths, apparmor and label",
            ))
        }
    }
    Ok(())
}

/// Replaces a `seccomp=<file>` option with `seccomp=<the file's JSON>`, so the container
/// keeps the profile it was created with (docker's client sends the file's content; a
/// path is accepted here for callers that pass one).
pub fn inline_profile_files(opts: &mut [String]) -> Result<(), SpecError> {
    for opt in opts.iter_mut() {
        let Some(value) = opt
            .strip_prefix("seccomp=")
            .or(opt.strip_prefix("seccomp:"))
        else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('{') || value == "unconfined" || value == "builtin" {
            continue;
        }
        let path = PathBuf::from(value);
        let json = std::fs::read_to_string(&path)
            .map_err(|source| SpecError::SeccompFile { path, source })?;
        *opt = format!("seccomp={json}");
    }
    Ok(())
}

/// A capability name as docker writes it (`CAP_` and upper case), or `ALL`; an unknown
/// one is refused, naming `field` (`CapAdd` or `CapDrop`).
pub fn normalize_cap(name: &str, field: &'static str) -> Result<String, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = match upper.strip_prefix("CAP_") {
        Some(_) => upper,
        None => format!("CAP_{upper}"),
    };
    match full.parse::<caps::Capability>() {
        Ok(_) => Ok(full),
        Err(_) => Err(SpecError::Capability { field, name: full }),
    }
}

fn normalize_all(names: &[String], field: &'static str) -> Result<Vec<String>, SpecError> {
    names.iter().map(|n| normalize_cap(n, field)).collect()
}

/// The container's capabilities: every one the host has when privileged; else docker's
/// default set, or every one with `--cap-add ALL`, or none with `--cap-drop ALL`, less the
/// dropped ones, plus the added ones.
pub fn capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
    host: &dyn Host,
) -> Result<Vec<String>, SpecError> {
    let add = normalize_all(add, "CapAdd")?;
    let drop = normalize_all(drop, "CapDrop")?;
    if privileged {
        return Ok(host.capabilities());
    }
    let all = |list: &[String]| list.iter().any(|c| c == "ALL");
    let base: Vec<String> = if all(&add) {
        host.capabilities()
    } else if all(&drop) {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    };
    let mut caps: Vec<String> = base.into_iter().filter(|c| !drop.contains(c)).collect();
    for c in add.into_iter().filter(|c| c != "ALL") {
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    Ok(caps)
}

/// The seccomp filter for a container with capabilities `caps`: none when privileged or
/// unconfined, else its profile (docker's default unless another is named) resolved for
/// this architecture, kernel and those capabilities.
pub fn filter(
    sec: &Security,
    privileged: bool,
    caps: &[String],
) -> Result<Option<LinuxSeccomp>, SpecError> {
    let json: &[u8] = match &sec.seccomp {
        _ if privileged => return Ok(None),
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Default => DEFAULT_PROFILE,
        Seccomp::Profile(p) => p.as_bytes(),
    };
    seccomp::docker_profile(json, caps, seccomp::host_docker_arch())
        .map(Some)
        .map_err(SpecError::Seccomp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn security_options_as_docker_takes_them() {
        let s = parse(&opts(&["no-new-privileges"])).unwrap();
        assert!(s.no_new_privileges);
        let s = parse(&opts(&[
            "no-new-privileges:true",
            "no-new-privileges=false",
        ]))
        .unwrap();
        assert!(!s.no_new_privileges);
        let s = parse(&opts(&["seccomp=unconfined", "systempaths=unconfined"])).unwrap();
        assert_eq!(s.seccomp, Seccomp::Unconfined);
        assert!(s.unmasked_paths);
        let s = parse(&opts(&[r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#])).unwrap();
        assert!(matches!(s.seccomp, Seccomp::Profile(_)));
        assert!(parse(&opts(&["apparmor=unconfined", "label:disable"])).is_ok());
        for bad in [
            "bogus",
            "no-new-privileges:maybe",
            "apparmor=docker-default",
            "seccomp=x",
        ] {
            let err = parse(&opts(&[bad])).unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn profile_files_are_read_into_the_option() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
        let mut list = vec![
            format!("seccomp={}", path.display()),
            "seccomp=unconfined".into(),
        ];
        inline_profile_files(&mut list).unwrap();
        assert_eq!(list[0], r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert_eq!(list[1], "seccomp=unconfined");
        let mut missing = vec!["seccomp=/no/such/profile.json".to_string()];
        assert!(matches!(
            inline_profile_files(&mut missing),
            Err(SpecError::SeccompFile { .. })
        ));
    }
}
