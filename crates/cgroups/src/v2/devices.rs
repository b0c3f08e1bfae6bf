//! The cgroup v2 device filter: an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE`,
//! assembled by hand from the OCI device rules and attached to the container's cgroup.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! where `access_type` is `(access << 16) | type` and returns 1 to allow, 0 to deny. Rules
//! are checked last to first, so the last matching rule decides, as with v1's
//! `devices.allow`/`devices.deny` written in order; a wildcard rule (`a *:* rwm`) ends the
//! search. With no match the access is allowed, as in a fresh v1 child cgroup: specs start
//! with a deny-all rule to get a default of deny.
//!
//! Updating replaces the filter: the new program is attached (`BPF_F_ALLOW_MULTI`) before
//! the previous ones are detached, so during the swap both apply and access is never wider
//! than either set of rules allows.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::bpf::{self, Insn};
use crate::devices::{Kind, Rule, ACC_ALL};

/// Errors from building, loading or attaching the device filter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused the program.
    #[error("linux.resources.devices: load eBPF device filter ({insns} instructions): {source}; verifier log: {log}")]
    Load {
        /// Program length.
        insns: usize,
        /// The errno.
        source: io::Error,
        /// The verifier's explanation.
        log: String,
    },
    /// A bpf(2) or open call on the cgroup failed.
    #[error("linux.resources.devices: {op} on {path}: {source}")]
    Cgroup {
        /// What was being done.
        op: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Builds the filter for `rules`, attaches it to the cgroup `dir`, and detaches the
/// device programs that were attached there before.
pub(crate) fn apply(dir: &Path, rules: &[Rule]) -> Result<(), Error> {
    let insns = program(rules);
    let prog = bpf::load(&insns).map_err(|(source, log)| Error::Load {
        insns: insns.len(),
        source,
        log,
    })?;
    let cgroup = open_dir(dir)?;
    let err = |op| {
        let path = dir.to_path_buf();
        move |source| Error::Cgroup { op, path, source }
    };
    let old = bpf::query(cgroup.as_fd()).map_err(err("query attached programs"))?;
    bpf::attach(cgroup.as_fd(), prog.as_fd()).map_err(err("attach device filter"))?;
    for id in old {
        let fd = bpf::prog_fd(id).map_err(err("open previous device filter"))?;
        bpf::detach(cgroup.as_fd(), fd.as_fd()).map_err(err("detach previous device filter"))?;
    }
    Ok(())
}

/// The ids of device programs attached to `dir` (for tests and diagnostics).
pub fn attached(dir: &Path) -> Result<Vec<u32>, Error> {
    let cgroup = open_dir(dir)?;
    bpf::query(cgroup.as_fd()).map_err(|source| Error::Cgroup {
        op: "query attached programs",
        path: dir.to_path_buf(),
        source,
    })
}

fn open_dir(dir: &Path) -> Result<OwnedFd, Error> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)
        .map_err(|source| Error::Cgroup {
            op: "open cgroup",
            path: dir.to_path_buf(),
            source,
        })?;
    Ok(file.into())
}

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

/// Kernel device type codes in `access_type`'s low half.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The instructions of the filter for `rules`.
pub(crate) fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        ldx_w(R2, R1, 0),            // r2 = access_type
        alu32_imm(0x50, R2, 0xffff), // r2 &= 0xffff: device type
        ldx_w(R3, R1, 0),
        alu32_imm(0x70, R3, 16), // r3 >>= 16: requested access
        ldx_w(R4, R1, 4),        // r4 = major
        ldx_w(R5, R1, 8),        // r5 = minor
    ];
    for rule in rules.iter().rev() {
        p.extend(block(rule));
        if rule.is_wildcard() {
            // Unconditional: anything after it would be unreachable, which the verifier rejects.
            return p;
        }
    }
    p.extend([mov64_imm(R0, 1), exit()]);
    p
}

/// One rule: a run of "jump to the next rule unless this matches" tests, then the verdict.
fn block(rule: &Rule) -> Vec<Insn> {
    let mut b = Vec::new();
    match rule.kind {
        Kind::All => {}
        Kind::Block => b.push(jne32_imm(R2, DEV_BLOCK)),
        Kind::Char => b.push(jne32_imm(R2, DEV_CHAR)),
    }
    if rule.access != ACC_ALL {
        // Matches only when every requested access bit is one the rule names.
        b.extend([
            mov32_reg(R1, R3),
            alu32_imm(0x50, R1, bits(rule.access)),
            jne32_reg(R1, R3),
        ]);
    }
    if let Some(major) = rule.major {
        b.push(jne32_imm(R4, bits(major)));
    }
    if let Some(minor) = rule.minor {
        b.push(jne32_imm(R5, bits(minor)));
    }
    b.extend([mov64_imm(R0, i32::from(rule.allow)), exit()]);
    let len = b.len();
    for (i, insn) in b.iter_mut().enumerate() {
        if is_jump(insn) {
            insn.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
        }
    }
    b
}

/// Reinterprets a u32 as the instruction's signed immediate (the 32-bit compare uses the bits).
fn bits(v: u32) -> i32 {
    i32::from_ne_bytes(v.to_ne_bytes())
}

fn regs(dst: u8, src: u8) -> u8 {
    if cfg!(target_endian = "little") {
        dst | (src << 4)
    } else {
        (dst << 4) | src
    }
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: regs(dst, src),
        off,
        imm,
    }
}

/// `dst = *(u32 *)(src + off)` (BPF_LDX | BPF_MEM | BPF_W).
fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61, dst, src, off, 0)
}

/// 32-bit ALU with an immediate (BPF_ALU | op | BPF_K).
fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    insn(0x04 | op, dst, 0, 0, imm)
}

/// `dst = src` (32-bit, BPF_ALU | BPF_MOV | BPF_X).
fn mov32_reg(dst: u8, src: u8) -> Insn {
    insn(0xbc, dst, src, 0, 0)
}

/// `dst = imm` (64-bit, BPF_ALU64 | BPF_MOV | BPF_K).
fn mov64_imm(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm)
}

/// `if (u32)dst != imm goto +off` (BPF_JMP32 | BPF_JNE | BPF_K); `off` is patched later.
fn jne32_imm(dst: u8, imm: i32) -> Insn {
    insn(0x56, dst, 0, 0, imm)
}

/// `if (u32)dst != (u32)src goto +off` (BPF_JMP32 | BPF_JNE | BPF_X).
fn jne32_reg(dst: u8, src: u8) -> Insn {
    insn(0x5e, dst, src, 0, 0)
}

fn is_jump(i: &Insn) -> bool {
    i.code == 0x56 || i.code == 0x5e
}

/// `return r0` (BPF_JMP | BPF_EXIT).
fn exit() -> Insn {
    insn(0x95, 0, 0, 0, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{ACC_READ, ACC_WRITE};

    fn rule(allow: bool, kind: Kind, major: Option<u32>, minor: Option<u32>, access: u32) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access,
        }
    }

    #[test]
    fn jumps_land_on_the_next_rule() {
        let r = rule(true, Kind::Char, Some(1), Some(3), ACC_READ | ACC_WRITE);
        let b = block(&r);
        // type, 3 access insns, major, minor, mov, exit
        assert_eq!(b.len(), 8);
        assert_eq!(b[0].off, 7);
        assert_eq!(b[3].off, 4);
        assert_eq!(b[5].off, 2);
        assert_eq!(b[6], mov64_imm(R0, 1));
    }

    #[test]
    fn wildcard_ends_the_program() {
        let deny_all = rule(false, Kind::All, None, None, ACC_ALL);
        let allow_null = rule(true, Kind::Char, Some(1), Some(3), ACC_ALL);
        let p = program(&[deny_all, allow_null]);
        // prologue 6 + null block 5 + wildcard 2; no default tail after the wildcard
        assert_eq!(p.len(), 13);
        assert_eq!(p[11], mov64_imm(R0, 0));
        assert_eq!(p[12], exit());
    }
}
