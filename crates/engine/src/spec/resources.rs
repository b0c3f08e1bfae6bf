//! Resource settings: `--memory` (with docker's swap of twice as much), `--cpus` (a CFS
//! quota over a 100 ms period), `--pids-limit`, the device rules, and `--ulimit` as
//! `process.rlimits`; and the checks that refuse impossible values at create time.

use serde_json::{json, Value};

use super::host::Host;
use super::SpecError;
use crate::options::{HostOptions, Ulimit};

/// The smallest memory limit docker accepts.
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The CFS period docker uses for `--cpus`, in microseconds.
const CPU_PERIOD: i64 = 100_000;

/// The smallest CFS quota the kernel accepts, in microseconds (0.01 CPUs).
const MIN_QUOTA: i64 = 1_000;

/// The resource limits `--ulimit` may name (without `RLIMIT_`).
const ULIMITS: [&str; 16] = [
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Refuses what docker refuses: memory below 6 MB, CPUs outside 0.01..=host CPUs, and
/// ulimits that are unknown, negative or soft above hard.
pub fn check(s: &HostOptions, host: &dyn Host) -> Result<(), SpecError> {
    if s.memory != 0 && s.memory < MIN_MEMORY {
        return Err(SpecError::Memory { bytes: s.memory });
    }
    if s.nano_cpus != 0 {
        check_cpus(s.nano_cpus, host)?;
    }
    rlimits(&s.ulimits).map(drop)
}

/// `--cpus` within 0.01..=host CPUs. The host's count is read only then: finding it
/// (affinity, cgroup quota files) is most of what a check costs.
fn check_cpus(nano_cpus: i64, host: &dyn Host) -> Result<(), SpecError> {
    let cpus = host.cpus();
    let max = i64::try_from(cpus)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000_000);
    if nano_cpus < 0 || nano_cpus > max || quota(nano_cpus) < MIN_QUOTA {
        return Err(SpecError::Cpus {
            nano_cpus,
            available: cpus,
        });
    }
    Ok(())
}

/// The CFS quota (µs per period) for `nano_cpus` CPUs.
fn quota(nano_cpus: i64) -> i64 {
    nano_cpus.saturating_mul(CPU_PERIOD) / 1_000_000_000
}

/// `linux.resources`: device rules (all allowed when privileged), memory, CPU and pids.
pub fn resources(s: &HostOptions, host: &dyn Host) -> Value {
    let devices = if s.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        json!([{"allow": false, "access": "rwm"}])
    };
    let mut res = json!({ "devices": devices });
    if s.memory > 0 {
        let mut memory = json!({ "limit": s.memory });
        if host.swap_accounting() {
            memory["swap"] = json!(s.memory.saturating_mul(2));
        }
        res["memory"] = memory;
    }
    if s.nano_cpus > 0 {
        res["cpu"] = json!({ "quota": quota(s.nano_cpus), "period": CPU_PERIOD });
    }
    if let Some(limit) = s.pids_limit.filter(|l| *l > 0) {
        res["pids"] = json!({ "limit": limit });
    }
    res
}

/// `process.rlimits` for the `--ulimit` values (-1 is unlimited).
pub fn rlimits(ulimits: &[Ulimit]) -> Result<Vec<Value>, SpecError> {
    ulimits.iter().map(rlimit).collect()
}

fn rlimit(u: &Ulimit) -> Result<Value, SpecError> {
    let name = u.name.to_ascii_lowercase();
    let bad = |reason: String| SpecError::Ulimit {
        name: u.name.clone(),
        reason,
    };
    if !ULIMITS.contains(&name.as_str()) {
        return Err(bad(format!(
            "unknown limit (one of {})",
            ULIMITS.join(", ")
        )));
    }
    let value = |v: i64| match v {
        -1 => Ok(u64::MAX),
        v => u64::try_from(v).map_err(|_| bad(format!("{v} is negative (-1 is unlimited)"))),
    };
    let (soft, hard) = (value(u.soft)?, value(u.hard)?);
    if soft > hard {
        return Err(bad(format!(
            "soft limit {} is above the hard limit {}",
            u.soft, u.hard
        )));
    }
    let kind = format!("RLIMIT_{}", name.to_ascii_uppercase());
    Ok(json!({ "type": kind, "soft": soft, "hard": hard }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulimit(name: &str, soft: i64, hard: i64) -> Ulimit {
        Ulimit {
            name: name.into(),
            soft,
            hard,
        }
    }

    #[test]
    fn ulimits_become_rlimits() {
        let r = rlimits(&[ulimit("nofile", 1024, 2048), ulimit("core", -1, -1)]).unwrap();
        assert_eq!(
            r[0],
            json!({"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048})
        );
        assert_eq!(r[1]["hard"], json!(u64::MAX));
        for bad in [
            ulimit("bogus", 1, 2),
            ulimit("nofile", 10, 2),
            ulimit("nproc", -5, 2),
        ] {
            let err = rlimits(&[bad]).unwrap_err().to_string();
            assert!(err.starts_with("invalid ulimit"), "{err}");
        }
    }

    #[test]
    fn cpu_quota_over_docker_period() {
        assert_eq!(quota(1_500_000_000), 150_000);
        assert_eq!(quota(10_000_000), MIN_QUOTA);
    }
}
