//! Resource limits (`process.rlimits`) and the OOM score adjustment.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use super::Error;

/// The kernel file behind `process.oomScoreAdj`.
const OOM_SCORE_ADJ: &str = "/proc/self/oom_score_adj";

/// Applies `process.rlimits` in order.
///
/// Without `CAP_SYS_RESOURCE` a hard limit cannot be raised. A request above the
/// current hard limit is then clamped to it (and the soft limit to the new hard limit)
/// instead of failing, so a config written for a more generous host still runs. A soft
/// limit above the hard limit in the config is an error, found before any limit is set.
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<(), Error> {
    if let Some((index, rl)) = rlimits
        .iter()
        .enumerate()
        .find(|(_, rl)| rl.soft() > rl.hard())
    {
        let (resource, soft, hard) = (resource(rl.typ()).1, rl.soft(), rl.hard());
        return Err(Error::RlimitSoftAboveHard {
            index,
            resource,
            soft,
            hard,
        });
    }
    for (index, rl) in rlimits.iter().enumerate() {
        set_rlimit(index, rl)?;
    }
    Ok(())
}

fn set_rlimit(index: usize, rl: &PosixRlimit) -> Result<(), Error> {
    let (resource, name) = resource(rl.typ());
    let (soft, hard) = (rl.soft(), rl.hard());
    let err = |soft, hard, source| Error::Rlimit {
        index,
        resource: name,
        soft,
        hard,
        source,
    };
    match setrlimit(resource, soft, hard) {
        Err(Errno::EPERM) => {
            // Raising a hard limit needs CAP_SYS_RESOURCE: clamp to what we have.
            let (_, cur_hard) = getrlimit(resource).map_err(|e| err(soft, hard, e))?;
            let hard = hard.min(cur_hard);
            let soft = soft.min(hard);
            setrlimit(resource, soft, hard).map_err(|e| err(soft, hard, e))
        }
        other => other.map_err(|e| err(soft, hard, e)),
    }
}

/// Maps an OCI rlimit type to the kernel resource and its `RLIMIT_*` name.
fn resource(typ: PosixRlimitType) -> (Resource, &'static str) {
    use PosixRlimitType as T;
    match typ {
        T::RlimitCpu => (Resource::RLIMIT_CPU, "RLIMIT_CPU"),
        T::RlimitFsize => (Resource::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        T::RlimitData => (Resource::RLIMIT_DATA, "RLIMIT_DATA"),
        T::RlimitStack => (Resource::RLIMIT_STACK, "RLIMIT_STACK"),
        T::RlimitCore => (Resource::RLIMIT_CORE, "RLIMIT_CORE"),
        T::RlimitRss => (Resource::RLIMIT_RSS, "RLIMIT_RSS"),
        T::RlimitNproc => (Resource::RLIMIT_NPROC, "RLIMIT_NPROC"),
        T::RlimitNofile => (Resource::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        T::RlimitMemlock => (Resource::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        T::RlimitAs => (Resource::RLIMIT_AS, "RLIMIT_AS"),
        T::RlimitLocks => (Resource::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        T::RlimitSigpending => (Resource::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        T::RlimitMsgqueue => (Resource::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        T::RlimitNice => (Resource::RLIMIT_NICE, "RLIMIT_NICE"),
        T::RlimitRtprio => (Resource::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        T::RlimitRttime => (Resource::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    }
}

/// Writes `process.oomScoreAdj` to `/proc/self/oom_score_adj` (after checking it is in
/// -1000..=1000). Lowering it below the current value needs `CAP_SYS_RESOURCE`.
pub fn set_oom_score_adj(v: i32) -> Result<(), Error> {
    const FIELD: &str = "process.oomScoreAdj";
    if !(-1000..=1000).contains(&v) {
        let value = i64::from(v);
        return Err(Error::OutOfRange {
            field: FIELD,
            value,
            min: -1000,
            max: 1000,
        });
    }
    let mut buf = [0u8; 12];
    let len = format_i32(v, &mut buf);
    OpenOptions::new()
        .write(true)
        .open(OOM_SCORE_ADJ)
        .and_then(|mut f| f.write_all(&buf[..len]))
        .map_err(|source| Error::ProcWrite {
            field: FIELD,
            path: Path::new(OOM_SCORE_ADJ).into(),
            source,
        })
}

/// Formats `v` in decimal into `buf` without allocating; returns the length.
fn format_i32(v: i32, buf: &mut [u8; 12]) -> usize {
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // 12 bytes hold any i32 ("-2147483648" is 11), so this cannot fail.
    let _ = write!(cursor, "{v}");
    cursor.position() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::testutil::in_child;
    use oci_spec::runtime::PosixRlimitBuilder;

    fn nofile(soft: u64, hard: u64) -> PosixRlimit {
        PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    }

    #[test]
    fn hard_limit_above_ours_is_clamped() {
        let (_, host_hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert!(
            host_hard < 1_048_576,
            "test needs a hard NOFILE limit below 1048576"
        );
        let got = in_child(|| {
            set_rlimits(&[nofile(1_048_576, 1_048_576)]).map_err(|e| e.to_string())?;
            Ok(format!("{:?}", getrlimit(Resource::RLIMIT_NOFILE).unwrap()))
        });
        assert_eq!(got, Ok(format!("{:?}", (host_hard, host_hard))));
    }

    #[test]
    fn lower_limit_is_applied_exactly() {
        let got = in_child(|| {
            set_rlimits(&[nofile(100, 200)]).map_err(|e| e.to_string())?;
            Ok(format!("{:?}", getrlimit(Resource::RLIMIT_NOFILE).unwrap()))
        });
        assert_eq!(got.as_deref(), Ok("(100, 200)"));
    }

    #[test]
    fn soft_above_hard_names_the_field_and_sets_nothing() {
        let got = in_child(|| {
            let err = set_rlimits(&[nofile(10, 10), nofile(300, 200)]).unwrap_err();
            let now = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
            Ok(format!("{err} / untouched: {}", now.0 != 10))
        });
        assert_eq!(
            got.as_deref(),
            Ok(
                "process.rlimits[1]: RLIMIT_NOFILE soft limit 300 is above the hard limit 200 \
                / untouched: true"
            )
        );
    }

    #[test]
    fn oom_score_adj_is_written_and_range_checked() {
        let got = in_child(|| {
            set_oom_score_adj(500).map_err(|e| e.to_string())?;
            std::fs::read_to_string(OOM_SCORE_ADJ).map_err(|e| e.to_string())
        });
        assert_eq!(got.as_deref(), Ok("500\n"));
        let err = set_oom_score_adj(1001).unwrap_err().to_string();
        assert_eq!(
            err,
            "process.oomScoreAdj: must be in -1000..=1000, got 1001"
        );
        assert!(set_oom_score_adj(-1001).is_err());
    }

    #[test]
    fn format_i32_handles_extremes() {
        let mut buf = [0u8; 12];
        let n = format_i32(i32::MIN, &mut buf);
        assert_eq!(&buf[..n], b"-2147483648");
        let n = format_i32(0, &mut buf);
        assert_eq!(&buf[..n], b"0");
    }
}
