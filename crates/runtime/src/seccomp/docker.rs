//! Docker seccomp profiles (the `docker run --security-opt seccomp=...` format) to
//! `linux.seccomp`, resolved for one container the way dockerd does it: the host's
//! architecture picks the `archMap` entry, and each rule's `includes`/`excludes` are
//! checked against the architecture, the container's capabilities and the kernel version.

use super::Error;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::Deserialize;
use std::path::PathBuf;

/// The capabilities docker gives a container by default (the set its seccomp profile's
/// capability rules are usually evaluated against).
pub const DOCKER_DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// A kernel version as Docker profiles compare it: `<major>.<minor>`, patch ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    /// The major version (the 6 in 6.18.2).
    pub major: u32,
    /// The minor version (the 18 in 6.18.2).
    pub minor: u32,
}

impl KernelVersion {
    /// The running kernel's version, from `uname`.
    pub fn current() -> Result<Self, Error> {
        let uts = nix::sys::utsname::uname()
            .map_err(|_| Error::KernelRelease(String::from("(uname failed)")))?;
        let release = uts.release().to_string_lossy();
        Self::from_release(&release).ok_or_else(|| Error::KernelRelease(release.into_owned()))
    }

    /// Parses a release such as `6.18.0-1-amd64` or `5.4-rc5` (only major and minor count).
    pub fn from_release(release: &str) -> Option<Self> {
        let mut parts = release.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor_part = parts.next()?;
        let digits = minor_part
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(minor_part.len());
        let minor = minor_part[..digits].parse().ok()?;
        Some(Self { major, minor })
    }

    /// Parses a profile's `minKernel`: exactly `<major>.<minor>`, not `0.0` (as dockerd).
    fn from_min_kernel(value: &str) -> Option<Self> {
        let (major, minor) = value.split_once('.')?;
        let version = Self {
            major: major.parse::<u8>().ok()?.into(),
            minor: minor.parse::<u8>().ok()?.into(),
        };
        (version != Self { major: 0, minor: 0 }).then_some(version)
    }
}

/// The Docker (Go) name of the architecture this program was built for, e.g. `amd64`.
pub fn host_docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "loongarch64" => "loong64",
        "mips64" if cfg!(target_endian = "little") => "mipsel64",
        "mips" if cfg!(target_endian = "little") => "mipsel",
        other => other,
    }
}

/// Converts a Docker seccomp profile into `linux.seccomp` for a container with the given
/// capabilities (`CAP_SYS_ADMIN` or `SYS_ADMIN`) on `arch` (Docker's name, e.g. `amd64`).
/// `minKernel` conditions are checked against the running kernel.
pub fn docker_profile(
    profile_json: &[u8],
    caps: &[String],
    arch: &str,
) -> Result<LinuxSeccomp, Error> {
    let mut kernel = None;
    convert(profile_json, caps, arch, &mut || match kernel {
        Some(version) => Ok(version),
        None => Ok(*kernel.insert(KernelVersion::current()?)),
    })
}

/// [`docker_profile`] for a given kernel version instead of the running one.
pub fn docker_profile_for_kernel(
    profile_json: &[u8],
    caps: &[String],
    arch: &str,
    kernel: KernelVersion,
) -> Result<LinuxSeccomp, Error> {
    convert(profile_json, caps, arch, &mut || Ok(kernel))
}

/// The host facts a rule's `includes`/`excludes` are checked against.
struct Host<'a> {
    caps: &'a [String],
    /// Docker's native architecture name (`amd64`, `x86`, `arm64`, ...).
    arch: &'static str,
    kernel: &'a mut dyn FnMut() -> Result<KernelVersion, Error>,
}

fn convert(
    json: &[u8],
    caps: &[String],
    arch: &str,
    kernel: &mut dyn FnMut() -> Result<KernelVersion, Error>,
) -> Result<LinuxSeccomp, Error> {
    let (native, seccomp_arch) = docker_arch(arch).ok_or_else(|| Error::DockerArch(arch.into()))?;
    let de = &mut serde_json::Deserializer::from_slice(json);
    let profile: Profile = serde_path_to_error::deserialize(de).map_err(Error::ProfileJson)?;
    let mut host = Host {
        caps,
        arch: native,
        kernel,
    };
    let mut out = LinuxSeccomp::default();
    out.set_default_action(parse(&profile.default_action, "defaultAction", action_err)?);
    out.set_default_errno_ret(profile.default_errno_ret);
    out.set_architectures(architectures(&profile, seccomp_arch)?);
    out.set_flags(flags(profile.flags.as_deref())?);
    out.set_listener_path(profile.listener_path);
    out.set_listener_metadata(profile.listener_metadata);
    let mut syscalls = Vec::new();
    for (i, rule) in profile.syscalls.iter().flatten().enumerate() {
        if let Some(rule) = rule {
            if applies(rule, i, &mut host)? {
                syscalls.push(syscall(rule, i)?);
            }
        }
    }
    out.set_syscalls(Some(syscalls));
    Ok(out)
}

/// Docker's native name and libseccomp's architecture for a Docker/Go architecture name.
fn docker_arch(arch: &str) -> Option<(&'static str, &'static str)> {
    Some(match arch {
        "amd64" | "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "x86" | "386" => ("x86", "SCMP_ARCH_X86"),
        "arm64" | "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        "mips64" => ("mips64", "SCMP_ARCH_MIPS64"),
        "mips64n32" | "mips64p32" => ("mips64n32", "SCMP_ARCH_MIPS64N32"),
        "mipsel64" | "mips64le" => ("mipsel64", "SCMP_ARCH_MIPSEL64"),
        "mips3l64n32" | "mips64p32le" => ("mips3l64n32", "SCMP_ARCH_MIPSEL64N32"),
        "mipsel" | "mipsle" => ("mipsel", "SCMP_ARCH_MIPSEL"),
        "ppc" => ("ppc", "SCMP_ARCH_PPC"),
        "ppc64" => ("ppc64", "SCMP_ARCH_PPC64"),
        "ppc64le" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        "s390" => ("s390", "SCMP_ARCH_S390"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        "loong64" | "loongarch64" => ("loong64", "SCMP_ARCH_LOONGARCH64"),
        _ => return None,
    })
}

/// `architectures` as given, or the host's `archMap` entry with its sub-architectures.
fn architectures(profile: &Profile, seccomp_arch: &str) -> Result<Option<Vec<Arch>>, Error> {
    let arch_map = profile.arch_map.as_deref().unwrap_or_default();
    if let Some(list) = &profile.architectures {
        if !list.is_empty() && !arch_map.is_empty() {
            return Err(Error::ProfileConflict {
                field: "archMap".into(),
                reason: "both architectures and archMap are set; use one",
            });
        }
        let parsed = list
            .iter()
            .enumerate()
            .map(|(i, a)| parse(a, &format!("architectures[{i}]"), arch_err));
        return parsed.collect::<Result<Vec<_>, _>>().map(Some);
    }
    let Some((i, entry)) = arch_map
        .iter()
        .enumerate()
        .find(|(_, e)| e.architecture == seccomp_arch)
    else {
        return Ok(None);
    };
    let mut arches = vec![parse(
        &entry.architecture,
        &format!("archMap[{i}].architecture"),
        arch_err,
    )?];
    for (j, sub) in entry.sub_architectures.iter().flatten().enumerate() {
        arches.push(parse(
            sub,
            &format!("archMap[{i}].subArchitectures[{j}]"),
            arch_err,
        )?);
    }
    Ok(Some(arches))
}

fn flags(flags: Option<&[String]>) -> Result<Option<Vec<LinuxSeccompFilterFlag>>, Error> {
    let Some(flags) = flags else { return Ok(None) };
    let parsed = flags.iter().enumerate().map(|(i, f)| {
        parse(f, &format!("flags[{i}]"), |field, flag| {
            Error::UnknownFlag { field, flag }
        })
    });
    parsed.collect::<Result<Vec<_>, _>>().map(Some)
}

/// Whether `syscalls[i]` applies to this host and container (dockerd's rules: any excluded
/// arch or cap, or a kernel at least `excludes.minKernel`, drops it; so does a missing
/// included arch, any missing included cap, or a kernel older than `includes.minKernel`).
fn applies(rule: &Syscall, i: usize, host: &mut Host) -> Result<bool, Error> {
    if let Some(ex) = &rule.excludes {
        if ex.arches.iter().flatten().any(|a| a == host.arch)
            || ex.caps.iter().flatten().any(|c| has_cap(host.caps, c))
            || kernel_at_least(ex.min_kernel.as_deref(), i, "excludes", host)? == Some(true)
        {
            return Ok(false);
        }
    }
    if let Some(inc) = &rule.includes {
        let arches = inc.arches.as_deref().unwrap_or_default();
        if (!arches.is_empty() && !arches.iter().any(|a| a == host.arch))
            || !inc.caps.iter().flatten().all(|c| has_cap(host.caps, c))
            || kernel_at_least(inc.min_kernel.as_deref(), i, "includes", host)? == Some(false)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Compares capability names, with or without the `CAP_` prefix, ignoring case.
fn has_cap(caps: &[String], wanted: &str) -> bool {
    fn bare(cap: &str) -> &str {
        match cap.get(..4) {
            Some(prefix) if prefix.eq_ignore_ascii_case("CAP_") => &cap[4..],
            _ => cap,
        }
    }
    let wanted = bare(wanted);
    caps.iter().any(|c| bare(c).eq_ignore_ascii_case(wanted))
}

/// `None` when no minKernel is set (an empty string counts as unset, as in dockerd).
fn kernel_at_least(
    min: Option<&str>,
    i: usize,
    which: &str,
    host: &mut Host,
) -> Result<Option<bool>, Error> {
    let Some(min) = min.filter(|m| !m.is_empty()) else {
        return Ok(None);
    };
    let wanted = KernelVersion::from_min_kernel(min).ok_or_else(|| Error::MinKernel {
        field: format!("syscalls[{i}].{which}.minKernel"),
        value: min.into(),
    })?;
    Ok(Some((host.kernel)()? >= wanted))
}

fn syscall(rule: &Syscall, i: usize) -> Result<LinuxSyscall, Error> {
    let names = match (&rule.name, &rule.names) {
        (Some(name), Some(names)) if !name.is_empty() && !names.is_empty() => {
            return Err(Error::ProfileConflict {
                field: format!("syscalls[{i}]"),
                reason: "both name and names are set; use names",
            });
        }
        (Some(name), _) if !name.is_empty() => vec![name.clone()],
        (_, names) => names.clone().unwrap_or_default(),
    };
    let mut out = LinuxSyscall::default();
    out.set_names(names);
    out.set_action(parse(
        &rule.action,
        &format!("syscalls[{i}].action"),
        action_err,
    )?);
    out.set_errno_ret(rule.errno_ret);
    if let Some(args) = &rule.args {
        let converted = args.iter().enumerate().map(|(j, a)| arg(a, i, j));
        out.set_args(Some(converted.collect::<Result<Vec<_>, _>>()?));
    }
    Ok(out)
}

fn arg(arg: &Arg, i: usize, j: usize) -> Result<LinuxSeccompArg, Error> {
    let field = |name: &str| format!("syscalls[{i}].args[{j}].{name}");
    if arg.index > 5 {
        return Err(Error::ArgIndex {
            field: field("index"),
            index: arg.index,
        });
    }
    let op: LinuxSeccompOperator = parse(&arg.op, &field("op"), |field, op| {
        Error::UnknownOperator { field, op }
    })?;
    let mut builder = LinuxSeccompArgBuilder::default()
        .index(arg.index)
        .value(arg.value)
        .op(op);
    if let Some(two) = arg.value_two {
        builder = builder.value_two(two);
    }
    builder.build().map_err(|source| Error::OciBuild {
        what: "LinuxSeccompArg",
        source,
    })
}

fn action_err(field: String, action: String) -> Error {
    Error::UnknownAction { field, action }
}

fn arch_err(field: String, arch: String) -> Error {
    Error::UnknownArch { field, arch }
}

/// Parses one of oci-spec's string enums exactly as config.json parsing would.
fn parse<T: DeserializeOwned>(
    value: &str,
    field: &str,
    err: impl FnOnce(String, String) -> Error,
) -> Result<T, Error> {
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        value.into_deserializer();
    T::deserialize(de).map_err(|_| err(field.to_owned(), value.to_owned()))
}

/// Docker's profile format (moby `profiles/seccomp`), only the fields that matter.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<String>>,
    arch_map: Option<Vec<ArchMapEntry>>,
    flags: Option<Vec<String>>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
    syscalls: Option<Vec<Option<Syscall>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMapEntry {
    architecture: String,
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    name: Option<String>,
    names: Option<Vec<String>>,
    action: String,
    errno_ret: Option<u32>,
    args: Option<Vec<Arg>>,
    includes: Option<Condition>,
    excludes: Option<Condition>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Condition {
    caps: Option<Vec<String>>,
    arches: Option<Vec<String>>,
    min_kernel: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: usize,
    value: u64,
    value_two: Option<u64>,
    op: String,
}
