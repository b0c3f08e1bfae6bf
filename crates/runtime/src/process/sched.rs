//! CPU scheduling (`process.scheduler`), I/O priority (`process.ioPriority`) and the
//! execution domain (`linux.personality`).

use nix::errno::Errno;
use nix::sys::personality::{self, Persona};
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, Scheduler,
};

use super::{syscall_err, Error};

/// `struct sched_attr` of sched_setattr(2) (SCHED_ATTR_SIZE_VER1, 56 bytes).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

/// Sets the scheduling policy and its parameters with sched_setattr(2).
///
/// `nice` applies to SCHED_OTHER and SCHED_BATCH (-20..=19), `priority` to SCHED_FIFO
/// and SCHED_RR (1..=99; 0 for the others), `runtime`/`deadline`/`period` (ns) to
/// SCHED_DEADLINE. Raising priority needs `CAP_SYS_NICE`.
pub fn set_scheduler(s: &Scheduler) -> Result<(), Error> {
    let attr = sched_attr(s)?;
    // SAFETY: `attr` is a live, fully initialised sched_attr whose `size` field matches
    // its layout; the kernel only reads it. pid 0 is the calling thread; flags must be 0.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    Errno::result(rc)
        .map(drop)
        .map_err(syscall_err("process.scheduler", "sched_setattr"))
}

/// Validates `s` and turns it into the kernel's structure.
fn sched_attr(s: &Scheduler) -> Result<SchedAttr, Error> {
    let policy = *s.policy();
    let nice = s.nice().unwrap_or(0);
    let priority = s.priority().unwrap_or(0);
    check_range("process.scheduler.nice", nice, -20, 19)?;
    let (prio_min, prio_max) = match policy {
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr => (1, 99),
        _ => (0, 0),
    };
    check_range("process.scheduler.priority", priority, prio_min, prio_max)?;
    let mut attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy_number(policy)?,
        sched_nice: nice,
        sched_priority: priority as u32,
        ..SchedAttr::default()
    };
    for flag in s.flags().iter().flatten() {
        attr.sched_flags |= flag_bits(*flag);
    }
    if policy == LinuxSchedulerPolicy::SchedDeadline {
        set_deadline(&mut attr, s)?;
    }
    Ok(attr)
}

fn set_deadline(attr: &mut SchedAttr, s: &Scheduler) -> Result<(), Error> {
    let runtime = s.runtime().unwrap_or(0);
    let deadline = s.deadline().unwrap_or(0);
    let period = s.period().unwrap_or(0);
    let effective_period = if period == 0 { deadline } else { period };
    if runtime == 0 || runtime > deadline || deadline > effective_period {
        return Err(Error::SchedulerDeadline {
            runtime,
            deadline,
            period,
        });
    }
    attr.sched_runtime = runtime;
    attr.sched_deadline = deadline;
    attr.sched_period = period;
    Ok(())
}

fn check_range(field: &'static str, v: i32, min: i64, max: i64) -> Result<(), Error> {
    let value = i64::from(v);
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(Error::OutOfRange {
        field,
        value,
        min,
        max,
    })
}

fn policy_number(p: LinuxSchedulerPolicy) -> Result<u32, Error> {
    use LinuxSchedulerPolicy as P;
    Ok(match p {
        P::SchedOther => libc::SCHED_OTHER as u32,
        P::SchedFifo => libc::SCHED_FIFO as u32,
        P::SchedRr => libc::SCHED_RR as u32,
        P::SchedBatch => libc::SCHED_BATCH as u32,
        P::SchedIdle => libc::SCHED_IDLE as u32,
        P::SchedDeadline => 6, // SCHED_DEADLINE
        P::SchedIso => return Err(Error::SchedulerPolicy("SCHED_ISO")),
    })
}

fn flag_bits(f: LinuxSchedulerFlag) -> u64 {
    use LinuxSchedulerFlag as F;
    match f {
        F::SchedResetOnFork => 0x01,
        F::SchedFlagReclaim => 0x02,
        F::SchedFlagDLOverrun => 0x04,
        F::SchedFlagKeepPolicy => 0x08,
        F::SchedFlagKeepParams => 0x10,
        F::SchedFlagUtilClampMin => 0x20,
        F::SchedFlagUtilClampMax => 0x40,
    }
}

/// `IOPRIO_WHO_PROCESS` of ioprio_set(2).
const IOPRIO_WHO_PROCESS: libc::c_long = 1;
/// Bits the class is shifted by in an I/O priority value.
const IOPRIO_CLASS_SHIFT: i64 = 13;

/// Sets the calling process's I/O scheduling class and priority (0..=7) with
/// ioprio_set(2). The realtime class needs `CAP_SYS_ADMIN`.
pub fn set_io_priority(p: &LinuxIOPriority) -> Result<(), Error> {
    let priority = p.priority();
    if !(0..=7).contains(&priority) {
        let field = "process.ioPriority.priority";
        return Err(Error::OutOfRange {
            field,
            value: priority,
            min: 0,
            max: 7,
        });
    }
    let class: i64 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let value = (class << IOPRIO_CLASS_SHIFT) | priority;
    // SAFETY: ioprio_set takes three integers and touches no memory of ours; who = 0
    // means the calling process.
    let rc = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    Errno::result(rc)
        .map(drop)
        .map_err(syscall_err("process.ioPriority", "ioprio_set"))
}

/// `PER_LINUX32` of <linux/personality.h> (not in nix's flag set).
const PER_LINUX32: i32 = 0x0008;

/// Sets the execution domain (`LINUX`, or `LINUX32`, under which uname reports a
/// 32-bit machine) plus any flags, named as in <linux/personality.h>
/// (e.g. `ADDR_NO_RANDOMIZE`).
pub fn set_personality(p: &LinuxPersonality) -> Result<(), Error> {
    let mut persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => Persona::empty(),
        LinuxPersonalityDomain::PerLinux32 => Persona::from_bits_retain(PER_LINUX32),
    };
    for (index, flag) in p.flags().iter().flatten().enumerate() {
        persona |= personality_flag(flag).ok_or_else(|| Error::PersonalityFlag {
            index,
            flag: flag.clone(),
        })?;
    }
    personality::set(persona)
        .map(drop)
        .map_err(syscall_err("linux.personality", "personality"))
}

fn personality_flag(name: &str) -> Option<Persona> {
    Some(match name {
        "ADDR_NO_RANDOMIZE" => Persona::ADDR_NO_RANDOMIZE,
        "ADDR_COMPAT_LAYOUT" => Persona::ADDR_COMPAT_LAYOUT,
        "ADDR_LIMIT_32BIT" => Persona::ADDR_LIMIT_32BIT,
        "ADDR_LIMIT_3GB" => Persona::ADDR_LIMIT_3GB,
        "FDPIC_FUNCPTRS" => Persona::FDPIC_FUNCPTRS,
        "MMAP_PAGE_ZERO" => Persona::MMAP_PAGE_ZERO,
        "READ_IMPLIES_EXEC" => Persona::READ_IMPLIES_EXEC,
        "SHORT_INODE" => Persona::SHORT_INODE,
        "STICKY_TIMEOUTS" => Persona::STICKY_TIMEOUTS,
        "UNAME26" => Persona::UNAME26,
        "WHOLE_SECONDS" => Persona::WHOLE_SECONDS,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::testutil::in_child;
    use oci_spec::runtime::{LinuxIOPriorityBuilder, LinuxPersonalityBuilder, SchedulerBuilder};

    #[test]
    fn batch_with_nice_is_applied() {
        let s = SchedulerBuilder::default()
            .policy(LinuxSchedulerPolicy::SchedBatch)
            .nice(7)
            .build()
            .unwrap();
        let got = in_child(|| {
            set_scheduler(&s).map_err(|e| e.to_string())?;
            // SAFETY: a plain query about the calling process.
            let policy = unsafe { libc::sched_getscheduler(0) };
            // SAFETY: as above.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            Ok(format!("{policy} {nice}"))
        });
        assert_eq!(got, Ok(format!("{} 7", libc::SCHED_BATCH)));
    }

    #[test]
    fn fifo_with_priority_is_applied() {
        let s = SchedulerBuilder::default()
            .policy(LinuxSchedulerPolicy::SchedFifo)
            .priority(10)
            .build()
            .unwrap();
        let got = in_child(|| {
            set_scheduler(&s).map_err(|e| e.to_string())?;
            let mut param = libc::sched_param { sched_priority: 0 };
            // SAFETY: `param` is a valid out-parameter for the calling process.
            unsafe { libc::sched_getparam(0, &mut param) };
            // SAFETY: a plain query about the calling process.
            let policy = unsafe { libc::sched_getscheduler(0) };
            Ok(format!("{policy} {}", param.sched_priority))
        });
        assert_eq!(got, Ok(format!("{} 10", libc::SCHED_FIFO)));
    }

    #[test]
    fn scheduler_errors_name_the_field() {
        let bad_nice = SchedulerBuilder::default().nice(40).build().unwrap();
        let err = set_scheduler(&bad_nice).unwrap_err().to_string();
        assert_eq!(err, "process.scheduler.nice: must be in -20..=19, got 40");
        let bad_prio = SchedulerBuilder::default()
            .policy(LinuxSchedulerPolicy::SchedRr)
            .build()
            .unwrap();
        let err = set_scheduler(&bad_prio).unwrap_err().to_string();
        assert_eq!(err, "process.scheduler.priority: must be in 1..=99, got 0");
        let bad_dl = SchedulerBuilder::default()
            .policy(LinuxSchedulerPolicy::SchedDeadline)
            .runtime(10u64)
            .deadline(5u64)
            .build()
            .unwrap();
        assert!(matches!(
            set_scheduler(&bad_dl),
            Err(Error::SchedulerDeadline { .. })
        ));
        let iso = SchedulerBuilder::default()
            .policy(LinuxSchedulerPolicy::SchedIso)
            .build()
            .unwrap();
        assert!(matches!(
            set_scheduler(&iso),
            Err(Error::SchedulerPolicy("SCHED_ISO"))
        ));
    }

    #[test]
    fn io_priority_is_applied() {
        let p = LinuxIOPriorityBuilder::default()
            .class(IOPriorityClass::IoprioClassBe)
            .priority(3)
            .build()
            .unwrap();
        let got = in_child(|| {
            set_io_priority(&p).map_err(|e| e.to_string())?;
            // SAFETY: ioprio_get takes integers only.
            let v = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
            Ok(format!(
                "class {} prio {}",
                v >> IOPRIO_CLASS_SHIFT,
                v & 0x1fff
            ))
        });
        assert_eq!(got.as_deref(), Ok("class 2 prio 3"));
        let bad = LinuxIOPriorityBuilder::default()
            .priority(8)
            .build()
            .unwrap();
        let err = set_io_priority(&bad).unwrap_err().to_string();
        assert_eq!(err, "process.ioPriority.priority: must be in 0..=7, got 8");
    }

    #[test]
    fn linux32_makes_uname_report_i686() {
        let p = LinuxPersonalityBuilder::default()
            .domain(LinuxPersonalityDomain::PerLinux32)
            .build()
            .unwrap();
        let got = in_child(|| {
            set_personality(&p).map_err(|e| e.to_string())?;
            let u = nix::sys::utsname::uname().map_err(|e| e.to_string())?;
            Ok(u.machine().to_string_lossy().into_owned())
        });
        assert_eq!(got.as_deref(), Ok("i686"));
    }

    #[test]
    fn personality_flags_are_applied_and_checked() {
        let p = LinuxPersonalityBuilder::default()
            .flags(vec!["ADDR_NO_RANDOMIZE".to_string()])
            .build()
            .unwrap();
        let got = in_child(|| {
            set_personality(&p).map_err(|e| e.to_string())?;
            let now = personality::get().map_err(|e| e.to_string())?;
            Ok(now.contains(Persona::ADDR_NO_RANDOMIZE).to_string())
        });
        assert_eq!(got.as_deref(), Ok("true"));
        let bad = LinuxPersonalityBuilder::default()
            .flags(vec!["ADDR_NO_RANDOMIZE".to_string(), "NOPE".to_string()])
            .build()
            .unwrap();
        let err = set_personality(&bad).unwrap_err().to_string();
        assert_eq!(
            err,
            "linux.personality.flags[1]: unknown personality flag \"NOPE\""
        );
    }
}
