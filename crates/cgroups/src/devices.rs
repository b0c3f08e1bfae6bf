//! OCI device rules in a normalised form shared by the v1 `devices` controller and the
//! v2 eBPF device filter.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

/// Access bit for `mknod` (the kernel's `BPF_DEVCG_ACC_MKNOD`).
pub(crate) const ACC_MKNOD: u32 = 1;
/// Access bit for reading (`BPF_DEVCG_ACC_READ`).
pub(crate) const ACC_READ: u32 = 2;
/// Access bit for writing (`BPF_DEVCG_ACC_WRITE`).
pub(crate) const ACC_WRITE: u32 = 4;
/// All access bits.
pub(crate) const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// The device kinds a cgroup rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Every device.
    All,
    /// Block devices (`BPF_DEVCG_DEV_BLOCK`).
    Block,
    /// Character devices (`BPF_DEVCG_DEV_CHAR`).
    Char,
}

/// One rule: allow or deny `access` to devices of `kind` with the given numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    pub kind: Kind,
    /// `None` matches any major.
    pub major: Option<u32>,
    /// `None` matches any minor.
    pub minor: Option<u32>,
    /// A set of `ACC_*` bits.
    pub access: u32,
}

impl Rule {
    /// Whether the rule matches every device and every access.
    pub fn is_wildcard(&self) -> bool {
        self.kind == Kind::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == ACC_ALL
    }

    /// The v1 `devices.allow`/`devices.deny` line, e.g. `c 1:3 rwm`.
    pub fn v1_line(&self) -> String {
        if self.is_wildcard() {
            return "a".to_string();
        }
        let kind = match self.kind {
            Kind::All => 'a',
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{kind} {}:{} {}",
            num(self.major),
            num(self.minor),
            access_str(self.access)
        )
    }
}

/// Renders access bits as `rwm` letters.
fn access_str(bits: u32) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// Normalises the spec's rules (already validated). FIFO rules (`p`) are dropped: device
/// cgroups do not govern FIFOs. `u` (unbuffered character) is a character device.
pub(crate) fn rules(list: &[LinuxDeviceCgroup]) -> Vec<Rule> {
    list.iter().filter_map(rule).collect()
}

fn rule(d: &LinuxDeviceCgroup) -> Option<Rule> {
    let kind = match d.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => Kind::All,
        LinuxDeviceType::B => Kind::Block,
        LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
        LinuxDeviceType::P => return None,
    };
    let number = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
    Some(Rule {
        allow: d.allow(),
        kind,
        major: number(d.major()),
        minor: number(d.minor()),
        access: access_bits(d.access().as_deref()),
    })
}

/// Parses `rwm` letters; a missing or empty access string means all access.
fn access_bits(access: Option<&str>) -> u32 {
    let bits = access.unwrap_or("").chars().fold(0, |acc, c| match c {
        'r' => acc | ACC_READ,
        'w' => acc | ACC_WRITE,
        'm' => acc | ACC_MKNOD,
        _ => acc,
    });
    if bits == 0 {
        ACC_ALL
    } else {
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Vec<Rule> {
        let list: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).expect("rules json");
        rules(&list)
    }

    #[test]
    fn v1_lines() {
        let r = parse(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
               {"allow":true,"type":"b","major":8,"access":"m"},{"allow":true,"type":"p"}]"#,
        );
        let lines: Vec<String> = r.iter().map(Rule::v1_line).collect();
        assert_eq!(lines, ["a", "c 1:3 rw", "b 8:* m"]);
        assert!(!r[0].allow && r[1].allow);
    }
}
