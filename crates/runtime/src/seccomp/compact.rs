//! A shorter BPF program for the same policy as libseccomp's.
//!
//! libseccomp's program for Docker's default profile (x86_64, x86, x32) is ~1250
//! instructions; the kernel checks, converts and JITs every one of them at each container
//! start (~0.45 ms here). This compiler writes, per architecture, a binary search over the
//! ranges of syscall numbers that share a decision (the allow-list is dense, so the ranges
//! are few), with argument checks only where a rule has conditions: about a third of the size.
//! It uses only what the kernel's per-syscall action cache understands (loads of `nr` and
//! `arch`, jumps on constants, returns of constants), so allowed syscalls stay cached.
//!
//! It handles the common subset (the actions but NOTIFY, the architectures in [`ARCHES`],
//! one action per syscall) and gives up on anything else, and [`compact`] uses its program
//! only when a run of both programs over every architecture, syscall number and argument
//! value where a decision can change ([`super::bpf::same_decisions`]) returns the same as
//! libseccomp's: libseccomp stays the reference and the fallback.

use super::bpf::{self, arg_offset};
use super::compile::{default_action, scmp_action};
use libc::sock_filter;
use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompArg, LinuxSeccompOperator as Op, LinuxSyscall};
use std::collections::BTreeMap;

/// x32 syscall numbers carry this bit (they share AUDIT_ARCH_X86_64 with x86_64).
const X32_BIT: u32 = 0x4000_0000;
/// The action for a foreign architecture: libseccomp's default, SCMP_ACT_KILL_THREAD.
const BAD_ARCH: u32 = libc::SECCOMP_RET_KILL_THREAD;
/// x86 syscalls multiplexed through socketcall(2) and ipc(2).
const X86_SOCKETCALL: u32 = 102;
const X86_IPC: u32 = 117;

/// An architecture this compiler knows: libseccomp's token, the AUDIT_ARCH value the kernel
/// reports, whether arguments are compared as 64-bit values, and the part of the syscall
/// number space it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ArchInfo {
    scmp: ScmpArch,
    audit: u32,
    wide: bool,
    x32: bool,
}

/// The architectures handled (all little-endian); others fall back to libseccomp.
const ARCHES: [ArchInfo; 5] = [
    arch(ScmpArch::X8664, 0xc000_003e, true, false),
    arch(ScmpArch::X32, 0xc000_003e, false, true),
    arch(ScmpArch::X86, 0x4000_0003, false, false),
    arch(ScmpArch::Aarch64, 0xc000_00b7, true, false),
    arch(ScmpArch::Arm, 0x4000_0028, false, false),
];

const fn arch(scmp: ScmpArch, audit: u32, wide: bool, x32: bool) -> ArchInfo {
    ArchInfo {
        scmp,
        audit,
        wide,
        x32,
    }
}

/// A comparison of one argument (`value & mask` against `datum` for MASKED_EQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cmp {
    index: u8,
    op: Op,
    datum: u64,
    mask: u64,
}

/// What a syscall gets: `action` when any alternative holds (all comparisons of it), or
/// always when `alternatives` is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Decision {
    action: u32,
    alternatives: Option<Vec<Vec<Cmp>>>,
}

/// The policy resolved per (architecture index, syscall number).
type Table = BTreeMap<(usize, u32), Decision>;

/// A shorter program deciding exactly as `reference` (libseccomp's program for `seccomp`),
/// or `None` when this compiler does not handle the config or the result differs.
pub(super) fn compact(
    seccomp: &LinuxSeccomp,
    reference: &[sock_filter],
) -> Option<Vec<sock_filter>> {
    let (program, audits) = build(seccomp)?;
    let shorter = program.len() < reference.len();
    (shorter && bpf::same_decisions(reference, &program, &audits)).then_some(program)
}

/// The compact program for `seccomp` (unchecked), and the AUDIT_ARCH values it admits;
/// `None` when the config uses something this compiler does not handle.
pub(super) fn build(seccomp: &LinuxSeccomp) -> Option<(Vec<sock_filter>, Vec<u32>)> {
    let arches = arches(seccomp)?;
    let default = action_value(default_action(seccomp).ok()?)?;
    let table = table(seccomp, &arches, default)?;
    let program = emit(&arches, &table, default)?;
    Some((program, arches.iter().map(|a| a.audit).collect()))
}

/// The architectures of the filter: the native one (a libseccomp context always has it),
/// then those listed, deduplicated.
fn arches(seccomp: &LinuxSeccomp) -> Option<Vec<ArchInfo>> {
    let listed = seccomp.architectures().as_deref().unwrap_or_default();
    let mut tokens = vec![ScmpArch::Native];
    tokens.extend(listed.iter().map(|&a| super::compile::scmp_arch(a)));
    let mut out: Vec<ArchInfo> = Vec::new();
    for token in tokens {
        let token = if token == ScmpArch::Native {
            ScmpArch::native()
        } else {
            token
        };
        let info = *ARCHES.iter().find(|a| a.scmp == token)?;
        if !out.contains(&info) {
            out.push(info);
        }
    }
    Some(out)
}

/// The seccomp return value of an action (`None` for NOTIFY, which needs libseccomp).
fn action_value(action: ScmpAction) -> Option<u32> {
    Some(match action {
        ScmpAction::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        ScmpAction::KillThread => libc::SECCOMP_RET_KILL_THREAD,
        ScmpAction::Trap => libc::SECCOMP_RET_TRAP,
        ScmpAction::Errno(e) => libc::SECCOMP_RET_ERRNO | (u32::try_from(e).ok()? & 0xffff),
        ScmpAction::Trace(e) => libc::SECCOMP_RET_TRACE | u32::from(e),
        ScmpAction::Log => libc::SECCOMP_RET_LOG,
        ScmpAction::Allow => libc::SECCOMP_RET_ALLOW,
        // NOTIFY (needs libseccomp's listener handling) and any newer action.
        _ => return None,
    })
}

fn table(seccomp: &LinuxSeccomp, arches: &[ArchInfo], default: u32) -> Option<Table> {
    let mut table = Table::new();
    for rule in seccomp.syscalls().as_deref().unwrap_or_default() {
        let action = scmp_action(rule.action(), rule.errno_ret(), String::new).ok()?;
        let action = action_value(action)?;
        // As compile(): rules with the default action add nothing.
        if action == default {
            continue;
        }
        let alternatives = alternatives(rule)?;
        for name in rule.names() {
            // As compile(): names libseccomp does not know natively are skipped.
            if ScmpSyscall::from_name(name).is_err() {
                continue;
            }
            for (i, arch) in arches.iter().enumerate() {
                add_name(&mut table, (i, arch), name, action, &alternatives)?;
            }
        }
    }
    Some(table)
}

/// The rule's conditions as alternatives: all of them together, or, when an argument is
/// compared twice, each alone (as compile() adds them).
fn alternatives(rule: &LinuxSyscall) -> Option<Vec<Vec<Cmp>>> {
    let args = rule.args().as_deref().unwrap_or_default();
    let cmps: Vec<Cmp> = args.iter().map(cmp).collect::<Option<_>>()?;
    let mut seen = 0u8;
    let repeated = cmps.iter().any(|c| {
        let again = seen & (1 << c.index) != 0;
        seen |= 1 << c.index;
        again
    });
    Some(if repeated {
        cmps.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![cmps]
    })
}

fn cmp(arg: &LinuxSeccompArg) -> Option<Cmp> {
    let index = u8::try_from(arg.index()).ok().filter(|&i| i <= 5)?;
    let (datum, mask) = match arg.op() {
        Op::ScmpCmpMaskedEq => (arg.value_two().unwrap_or(0), arg.value()),
        _ => (arg.value(), u64::MAX),
    };
    Some(Cmp {
        index,
        op: arg.op(),
        datum,
        mask,
    })
}

/// Adds `name`'s rule for one architecture, with x86's socketcall/ipc twin as libseccomp
/// adds it.
fn add_name(
    table: &mut Table,
    (i, arch): (usize, &ArchInfo),
    name: &str,
    action: u32,
    alternatives: &[Vec<Cmp>],
) -> Option<()> {
    let Ok(nr) = ScmpSyscall::from_name_by_arch(name, arch.scmp) else {
        return Some(());
    };
    let mut nr = i32::from(nr);
    if arch.scmp == ScmpArch::X86 {
        if let Some((mux, code, direct)) = x86_multiplexed(nr) {
            let muxed: Vec<Vec<Cmp>> = alternatives
                .iter()
                .map(|alt| with_arg0_eq(alt, code))
                .collect();
            insert(table, (i, mux), action, &muxed)?;
            // A pseudo number stands for the direct syscall too, where there is one.
            nr = direct.unwrap_or(nr);
        }
    }
    match u32::try_from(nr) {
        Ok(nr) => insert(table, (i, nr), action, alternatives),
        // A pseudo number: the syscall does not exist on this architecture.
        Err(_) => Some(()),
    }
}

/// The multiplexer, its call number and the direct syscall (Linux 4.3+, if any) of an x86
/// socket or IPC syscall, given the direct number or libseccomp's pseudo number (which it
/// gives for these names: -100 - call number for socketcall, -200 - call number for ipc).
fn x86_multiplexed(nr: i32) -> Option<(u32, u32, Option<i32>)> {
    // (direct syscall, socketcall(2) call number).
    const SOCKET: [(i32, u32); 17] = [
        (359, 1),
        (360, 8),
        (361, 2),
        (362, 3),
        (363, 4),
        (364, 18),
        (365, 15),
        (366, 14),
        (367, 6),
        (368, 7),
        (369, 11),
        (370, 16),
        (371, 12),
        (372, 17),
        (373, 13),
        (337, 19),
        (345, 20),
    ];
    // (direct syscall, ipc(2) call number).
    const IPC: [(i32, u32); 10] = [
        (393, 2),
        (394, 3),
        (395, 23),
        (396, 24),
        (397, 21),
        (398, 22),
        (399, 13),
        (400, 11),
        (401, 12),
        (402, 14),
    ];
    let direct = |table: &[(i32, u32)], code: u32| table.iter().find(|e| e.1 == code).map(|e| e.0);
    let code = nr.unsigned_abs() % 100;
    match nr {
        359..=373 => Some((X86_SOCKETCALL, SOCKET.iter().find(|e| e.0 == nr)?.1, None)),
        393..=402 => Some((X86_IPC, IPC.iter().find(|e| e.0 == nr)?.1, None)),
        -120..=-100 => Some((X86_SOCKETCALL, code, direct(&SOCKET, code))),
        -224..=-200 => Some((X86_IPC, code, direct(&IPC, code))),
        _ => None,
    }
}

/// `alt` with its argument-0 comparison replaced by `arg0 == code`.
fn with_arg0_eq(alt: &[Cmp], code: u32) -> Vec<Cmp> {
    let mut out = vec![Cmp {
        index: 0,
        op: Op::ScmpCmpEq,
        datum: code.into(),
        mask: u64::MAX,
    }];
    out.extend(alt.iter().filter(|c| c.index != 0).copied());
    out
}

/// Merges a rule into the table; `None` when the syscall already has another action.
fn insert(table: &mut Table, key: (usize, u32), action: u32, alts: &[Vec<Cmp>]) -> Option<()> {
    let unconditional = alts.iter().any(Vec::is_empty);
    let entry = table.entry(key).or_insert_with(|| Decision {
        action,
        alternatives: Some(Vec::new()),
    });
    if entry.action != action {
        return None;
    }
    match (&mut entry.alternatives, unconditional) {
        (Some(_), true) => entry.alternatives = None,
        (Some(list), false) => list.extend(alts.iter().cloned()),
        (None, _) => {}
    }
    Some(())
}

/// A jump target: the next instruction, or a label placed later.
#[derive(Debug, Clone, Copy)]
enum To {
    Next,
    Label(usize),
}

/// An instruction before jump offsets are known.
#[derive(Debug, Clone, Copy)]
enum Insn {
    Load(u32),
    And(u32),
    Jump {
        code: u16,
        k: u32,
        jt: To,
        jf: To,
    },
    Ret(u32),
    /// An unconditional jump (32-bit offset).
    Ja(usize),
    Label(usize),
}

/// A program under construction, with labels.
#[derive(Debug, Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }

    fn push(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    fn jump(&mut self, code: u16, k: u32, jt: To, jf: To) {
        self.push(Insn::Jump { code, k, jt, jf });
    }

    /// The final program: labels resolved, conditional jumps too long for their 8-bit
    /// offsets sent through a `ja` placed right after them. `None` past BPF_MAXINSNS.
    fn finish(mut self) -> Option<Vec<sock_filter>> {
        while let Some((at, positions)) = self.far_jump() {
            self.relay(at, &positions);
        }
        let positions = self.positions();
        let mut out = Vec::with_capacity(self.insns.len());
        for insn in &self.insns {
            let here = out.len() + 1;
            let offset = |to: To| match to {
                To::Next => 0,
                To::Label(l) => positions[l] - here,
            };
            let (code, jt, jf, k) = match *insn {
                Insn::Label(_) => continue,
                Insn::Load(k) => (bpf::LD_W_ABS, 0, 0, k),
                Insn::And(k) => (bpf::ALU_AND_K, 0, 0, k),
                Insn::Ret(k) => (bpf::RET_K, 0, 0, k),
                Insn::Ja(l) => (bpf::JMP_JA, 0, 0, u32::try_from(offset(To::Label(l))).ok()?),
                Insn::Jump { code, k, jt, jf } => (code, offset(jt) as u8, offset(jf) as u8, k),
            };
            out.push(sock_filter { code, jt, jf, k });
        }
        (out.len() <= libc::BPF_MAXINSNS as usize).then_some(out)
    }

    /// Each label's instruction index.
    fn positions(&self) -> Vec<usize> {
        let mut at = vec![0; self.labels];
        let mut pos = 0;
        for insn in &self.insns {
            match insn {
                Insn::Label(l) => at[*l] = pos,
                _ => pos += 1,
            }
        }
        at
    }

    /// The first conditional jump (its index in `insns`) whose target is over 255
    /// instructions ahead, with the label positions.
    fn far_jump(&self) -> Option<(usize, Vec<usize>)> {
        let positions = self.positions();
        let mut pos = 0;
        for (at, insn) in self.insns.iter().enumerate() {
            match *insn {
                Insn::Label(_) => continue,
                Insn::Jump { jt, jf, .. } => {
                    let far = |to| matches!(to, To::Label(l) if positions[l] - (pos + 1) > 255);
                    if far(jt) || far(jf) {
                        return Some((at, positions));
                    }
                }
                _ => {}
            }
            pos += 1;
        }
        None
    }

    /// Rewrites the jump at `at`: each far target goes through a `ja` placed right after
    /// it, and a fall-through becomes a jump past those.
    fn relay(&mut self, at: usize, positions: &[usize]) {
        let Insn::Jump { code, k, jt, jf } = self.insns[at] else {
            return;
        };
        let pos = self.insns[..at]
            .iter()
            .filter(|i| !matches!(i, Insn::Label(_)))
            .count();
        let after = self.label();
        let mut relays = Vec::new();
        let mut target = |to: To, asm: &mut Self| match to {
            To::Label(l) if positions[l] - (pos + 1) > 255 => {
                let relay = asm.label();
                relays.extend([Insn::Label(relay), Insn::Ja(l)]);
                To::Label(relay)
            }
            To::Next => To::Label(after),
            near => near,
        };
        let jt = target(jt, self);
        let jf = target(jf, self);
        relays.push(Insn::Label(after));
        self.insns[at] = Insn::Jump { code, k, jt, jf };
        self.insns.splice(at + 1..at + 1, relays);
    }
}

/// The program: dispatch on the architecture, then each architecture's search.
fn emit(arches: &[ArchInfo], table: &Table, default: u32) -> Option<Vec<sock_filter>> {
    let mut asm = Asm::default();
    let mut audits: Vec<u32> = Vec::new();
    for arch in arches {
        if !audits.contains(&arch.audit) {
            audits.push(arch.audit);
        }
    }
    let labels: Vec<usize> = audits.iter().map(|_| asm.label()).collect();
    asm.push(Insn::Load(bpf::ARCH_OFFSET));
    for (&audit, &label) in audits.iter().zip(&labels) {
        asm.jump(bpf::JMP_JEQ_K, audit, To::Label(label), To::Next);
    }
    asm.push(Insn::Ret(BAD_ARCH));
    let policy = Policy {
        arches,
        table,
        default,
    };
    for (&audit, &label) in audits.iter().zip(&labels) {
        asm.push(Insn::Label(label));
        asm.push(Insn::Load(bpf::NR_OFFSET));
        policy.emit_audit(&mut asm, audit);
    }
    asm.finish()
}

/// What the sections are compiled from.
struct Policy<'a> {
    arches: &'a [ArchInfo],
    table: &'a Table,
    default: u32,
}

impl Policy<'_> {
    /// The search for one AUDIT_ARCH value (the syscall number loaded). x86_64 and x32
    /// share one: the x32 bit picks the part.
    fn emit_audit(&self, asm: &mut Asm, audit: u32) {
        let section = |x32: bool| {
            self.arches
                .iter()
                .position(|a| a.audit == audit && a.x32 == x32)
        };
        let (low, high) = (section(false), section(true));
        if audit != ARCHES[0].audit {
            emit_section(asm, self, low, (0, u32::MAX));
            return;
        }
        let x32 = asm.label();
        asm.jump(bpf::JMP_JGE_K, X32_BIT, To::Label(x32), To::Next);
        emit_section(asm, self, low, (0, X32_BIT - 1));
        asm.push(Insn::Label(x32));
        if high.is_none() && low.is_some() {
            // x86_64 alone: numbers with the x32 bit are a foreign ABI, but -1 (a syscall
            // skipped by a tracer) gets the default action, as libseccomp does.
            let bad = asm.label();
            asm.jump(bpf::JMP_JEQ_K, u32::MAX, To::Next, To::Label(bad));
            asm.push(Insn::Ret(self.default));
            asm.push(Insn::Label(bad));
        }
        emit_section(asm, self, high, (X32_BIT, u32::MAX));
    }
}

/// The search over one architecture's syscall numbers in `range` (`BAD_ARCH` for all of
/// them when the architecture is not in the filter).
fn emit_section(asm: &mut Asm, policy: &Policy, arch: Option<usize>, range: (u32, u32)) {
    let Some(i) = arch else {
        asm.push(Insn::Ret(BAD_ARCH));
        return;
    };
    let fallback = Decision {
        action: policy.default,
        alternatives: None,
    };
    let mut ranges: Vec<(u32, &Decision)> = vec![(range.0, &fallback)];
    for (&(_, nr), decision) in policy.table.range((i, range.0)..=(i, range.1)) {
        push_range(&mut ranges, nr, decision);
        if let Some(next) = nr.checked_add(1).filter(|&n| n <= range.1) {
            push_range(&mut ranges, next, &fallback);
        }
    }
    emit_tree(asm, policy.arches[i].wide, &ranges, policy.default);
}

/// Appends a range starting at `start` (replacing one that starts there), merged into
/// the previous one when it decides alike.
fn push_range<'a>(ranges: &mut Vec<(u32, &'a Decision)>, start: u32, decision: &'a Decision) {
    if ranges.last().is_some_and(|&(s, _)| s == start) {
        ranges.pop();
    }
    if ranges.last().is_some_and(|&(_, d)| d == decision) {
        return;
    }
    ranges.push((start, decision));
}

/// Ranges searched with one shared set of return instructions (placed after them, so
/// their jumps stay within the 8-bit offsets); bigger sets are split first.
const SHARED_RETURNS_RANGES: usize = 48;

/// The return instructions a part of the search jumps to: (action, label).
type Returns = Vec<(u32, usize)>;

/// A balanced search: `nr >= start of the middle range` splits the ranges in halves. Big
/// halves are searched as blocks of their own (each with its return instructions).
fn emit_tree(asm: &mut Asm, wide: bool, ranges: &[(u32, &Decision)], default: u32) {
    if ranges.len() <= SHARED_RETURNS_RANGES {
        let mut returns = Returns::new();
        let start = emit_search(asm, wide, ranges, default, &mut returns);
        if let To::Label(l) = start {
            // The search is a single shared return: jump to it.
            if returns.iter().any(|&(_, r)| r == l) {
                asm.push(Insn::Ja(l));
            }
        }
        for (action, label) in returns {
            asm.push(Insn::Label(label));
            asm.push(Insn::Ret(action));
        }
        return;
    }
    let mid = ranges.len() / 2;
    let upper = asm.label();
    asm.jump(bpf::JMP_JGE_K, ranges[mid].0, To::Label(upper), To::Next);
    emit_tree(asm, wide, &ranges[..mid], default);
    asm.push(Insn::Label(upper));
    emit_tree(asm, wide, &ranges[mid..], default);
}

/// The search over `ranges`, its code placed here; returns where it starts (a label of
/// `returns` when it is a single unconditional decision, which then takes no code).
fn emit_search(
    asm: &mut Asm,
    wide: bool,
    ranges: &[(u32, &Decision)],
    default: u32,
    returns: &mut Returns,
) -> To {
    let start = asm.label();
    if let [(_, decision)] = ranges {
        if decision.alternatives.is_none() {
            return To::Label(return_label(asm, returns, decision.action));
        }
        asm.push(Insn::Label(start));
        let fail = return_label(asm, returns, default);
        emit_decision(asm, wide, decision, fail);
        return To::Label(start);
    }
    asm.push(Insn::Label(start));
    let at = asm.insns.len();
    asm.jump(bpf::JMP_JGE_K, ranges[0].0, To::Next, To::Next);
    let mid = ranges.len() / 2;
    let lower = emit_search(asm, wide, &ranges[..mid], default, returns);
    let upper = emit_search(asm, wide, &ranges[mid..], default, returns);
    asm.insns[at] = Insn::Jump {
        code: bpf::JMP_JGE_K,
        k: ranges[mid].0,
        jt: upper,
        jf: lower,
    };
    To::Label(start)
}

/// The label of the shared `ret action` (made on first use).
fn return_label(asm: &mut Asm, returns: &mut Returns, action: u32) -> usize {
    if let Some(&(_, label)) = returns.iter().find(|(a, _)| *a == action) {
        return label;
    }
    let label = asm.label();
    returns.push((action, label));
    label
}

/// The argument checks of a conditional decision: its action when an alternative holds,
/// else a jump to `fail` (the default action's return).
fn emit_decision(asm: &mut Asm, wide: bool, decision: &Decision, fail: usize) {
    let alternatives = decision.alternatives.as_deref().unwrap_or_default();
    for (i, alt) in alternatives.iter().enumerate() {
        let next = if i + 1 == alternatives.len() {
            fail
        } else {
            asm.label()
        };
        for c in alt {
            emit_cmp(asm, wide, c, next);
        }
        asm.push(Insn::Ret(decision.action));
        if next != fail {
            asm.push(Insn::Label(next));
        }
    }
}

/// One comparison: falls through when it holds, jumps to `fail` when not. 64-bit values
/// compare the high words first, then the low ones (unsigned, as libseccomp).
fn emit_cmp(asm: &mut Asm, wide: bool, c: &Cmp, fail: usize) {
    let ok = asm.label();
    let (fail, pass) = (To::Label(fail), To::Label(ok));
    let (hi, lo) = ((c.datum >> 32) as u32, c.datum as u32);
    if wide {
        asm.push(Insn::Load(arg_offset(c.index, true)));
        match c.op {
            Op::ScmpCmpMaskedEq => {
                asm.push(Insn::And((c.mask >> 32) as u32));
                asm.jump(bpf::JMP_JEQ_K, hi, To::Next, fail);
            }
            Op::ScmpCmpEq => asm.jump(bpf::JMP_JEQ_K, hi, To::Next, fail),
            Op::ScmpCmpNe => asm.jump(bpf::JMP_JEQ_K, hi, To::Next, pass),
            Op::ScmpCmpGt | Op::ScmpCmpGe => {
                asm.jump(bpf::JMP_JGT_K, hi, pass, To::Next);
                asm.jump(bpf::JMP_JEQ_K, hi, To::Next, fail);
            }
            Op::ScmpCmpLt | Op::ScmpCmpLe => {
                asm.jump(bpf::JMP_JGT_K, hi, fail, To::Next);
                asm.jump(bpf::JMP_JEQ_K, hi, To::Next, pass);
            }
        }
    }
    asm.push(Insn::Load(arg_offset(c.index, false)));
    match c.op {
        Op::ScmpCmpMaskedEq => {
            asm.push(Insn::And(c.mask as u32));
            asm.jump(bpf::JMP_JEQ_K, lo, To::Next, fail);
        }
        Op::ScmpCmpEq => asm.jump(bpf::JMP_JEQ_K, lo, To::Next, fail),
        Op::ScmpCmpNe => asm.jump(bpf::JMP_JEQ_K, lo, fail, To::Next),
        Op::ScmpCmpGt => asm.jump(bpf::JMP_JGT_K, lo, To::Next, fail),
        Op::ScmpCmpGe => asm.jump(bpf::JMP_JGE_K, lo, To::Next, fail),
        Op::ScmpCmpLt => asm.jump(bpf::JMP_JGE_K, lo, fail, To::Next),
        Op::ScmpCmpLe => asm.jump(bpf::JMP_JGT_K, lo, fail, To::Next),
    }
    asm.push(Insn::Label(ok));
}
