//! The device rules a container's cgroup gets: the spec's own, then the devices every
//! container needs (/dev/null, zero, full, random, urandom, tty, console, ptmx, pts/*, and
//! mknod of anything) and the devices `linux.devices` creates, as runc does. Docker and
//! containerd list these themselves; a spec from `runc spec` only says "deny everything".

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxResources, Spec};

/// (type, major, minor, access) of what every container may use.
const DEFAULT_ALLOWED: [(LinuxDeviceType, Option<i64>, Option<i64>, &str); 11] = [
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(1), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"),
    (LinuxDeviceType::C, Some(136), None, "rwm"),
];

fn rule(
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(true);
    r.set_typ(Some(typ));
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

fn device_rule(d: &LinuxDevice) -> LinuxDeviceCgroup {
    rule(d.typ(), Some(d.major()), Some(d.minor()), "rwm")
}

/// The spec's resources with the default and `linux.devices` allow rules appended.
pub fn effective_resources(spec: &Spec) -> Option<LinuxResources> {
    let linux = spec.linux().as_ref()?;
    let mut res = linux.resources().clone()?;
    let mut rules = res.devices().clone().unwrap_or_default();
    rules.extend(
        DEFAULT_ALLOWED
            .iter()
            .map(|(t, ma, mi, a)| rule(*t, *ma, *mi, a)),
    );
    for d in linux.devices().as_deref().unwrap_or_default() {
        if matches!(
            d.typ(),
            LinuxDeviceType::C | LinuxDeviceType::B | LinuxDeviceType::U
        ) {
            rules.push(device_rule(d));
        }
    }
    res.set_devices(Some(rules));
    Some(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_spec_rules() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
            }
        }))
        .unwrap();
        let res = effective_resources(&spec).unwrap();
        let rules = res.devices().as_ref().unwrap();
        assert!(!rules[0].allow());
        assert_eq!(rules.len(), 1 + DEFAULT_ALLOWED.len() + 1);
        let last = rules.last().unwrap();
        assert_eq!((last.major(), last.minor()), (Some(10), Some(229)));
    }
}
