//! Classic BPF for seccomp: the opcodes, an interpreter, and [`same_decisions`], which runs
//! two programs over every architecture, syscall number and argument value where either
//! one's decision can change, and says whether they always return the same.

use libc::sock_filter;
use std::collections::BTreeSet;

// Instruction classes, modes, operations and sources (linux/bpf_common.h).
pub(super) const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
pub(super) const ALU_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
pub(super) const JMP_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
pub(super) const JMP_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
pub(super) const JMP_JGT_K: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
pub(super) const JMP_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
pub(super) const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
const CLASS_MASK: u16 = 0x07;
const LD: u16 = libc::BPF_LD as u16;
const LDX: u16 = libc::BPF_LDX as u16;
const ST: u16 = libc::BPF_ST as u16;
const STX: u16 = libc::BPF_STX as u16;
const ALU: u16 = libc::BPF_ALU as u16;
const JMP: u16 = libc::BPF_JMP as u16;
const RET: u16 = libc::BPF_RET as u16;
const MISC: u16 = libc::BPF_MISC as u16;
const MODE_MASK: u16 = 0xe0;
const SIZE_MASK: u16 = 0x18;
const OP_MASK: u16 = 0xf0;
const SRC_X: u16 = libc::BPF_X as u16;
const MEM_WORDS: usize = libc::BPF_MEMWORDS as usize;

/// Offsets of `struct seccomp_data` fields.
pub(super) const NR_OFFSET: u32 = 0;
pub(super) const ARCH_OFFSET: u32 = 4;
const ARGS_OFFSET: u32 = 16;

/// The offset of the low (`high` false) or high 32 bits of argument `index` in
/// `seccomp_data` (little-endian).
pub(super) fn arg_offset(index: u8, high: bool) -> u32 {
    ARGS_OFFSET + 8 * u32::from(index) + if high { 4 } else { 0 }
}

/// The `struct seccomp_data` a filter sees.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Data {
    /// The syscall number.
    pub nr: u32,
    /// The AUDIT_ARCH_* value.
    pub arch: u32,
    /// The instruction pointer.
    pub ip: u64,
    /// The six arguments.
    pub args: [u64; 6],
}

impl Data {
    /// The 32-bit word at `offset`, `None` past the end or unaligned.
    fn word(&self, offset: u32) -> Option<u32> {
        let split = |v: u64, high: bool| if high { (v >> 32) as u32 } else { v as u32 };
        match offset {
            0 => Some(self.nr),
            4 => Some(self.arch),
            8 | 12 => Some(split(self.ip, offset == 12)),
            16..=60 if offset % 4 == 0 => {
                let index = ((offset - ARGS_OFFSET) / 8) as usize;
                Some(split(self.args[index], offset % 8 == 4))
            }
            _ => None,
        }
    }
}

/// What a run noticed about arguments: the indexes read and the constants the argument
/// words were compared with or masked by.
#[derive(Debug, Default)]
pub(super) struct ArgUse {
    /// Bit i: argument i was read.
    pub indexes: u8,
    /// Constants compared with (or masking) argument words.
    pub constants: BTreeSet<u32>,
}

/// Runs `prog` on `data`; `None` for an instruction this interpreter does not know, an
/// out-of-bounds load or jump, or a fall off the end (the kernel would refuse the program).
pub(super) fn run(prog: &[sock_filter], data: &Data, seen: &mut ArgUse) -> Option<u32> {
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; MEM_WORDS];
    // Whether A holds (something computed from) an argument word.
    let mut a_arg = false;
    let mut pc = 0usize;
    loop {
        let insn = prog.get(pc)?;
        pc += 1;
        let k = insn.k;
        match insn.code & CLASS_MASK {
            LD if insn.code == LD_W_ABS => {
                a = data.word(k)?;
                a_arg = k >= ARGS_OFFSET;
                if a_arg {
                    seen.indexes |= 1 << ((k - ARGS_OFFSET) / 8);
                }
            }
            LD if insn.code & (MODE_MASK | SIZE_MASK) == 0 => (a, a_arg) = (k, false),
            LD if insn.code & MODE_MASK == 0x60 => (a, a_arg) = (*mem.get(k as usize)?, false),
            LDX if insn.code & MODE_MASK == 0 => x = k,
            LDX if insn.code & MODE_MASK == 0x60 => x = *mem.get(k as usize)?,
            ST => *mem.get_mut(k as usize)? = a,
            STX => *mem.get_mut(k as usize)? = x,
            ALU => {
                let operand = if insn.code & SRC_X != 0 { x } else { k };
                if a_arg {
                    seen.constants.insert(operand);
                }
                a = alu(insn.code & OP_MASK, a, operand)?;
            }
            JMP => {
                let operand = if insn.code & SRC_X != 0 { x } else { k };
                if a_arg {
                    seen.constants.insert(operand);
                }
                pc += jump(insn, a, operand)?;
            }
            RET => return Some(if insn.code & 0x18 == 0x10 { a } else { k }),
            MISC if insn.code & 0xf8 == 0 => x = a,
            MISC if insn.code & 0xf8 == 0x80 => (a, a_arg) = (x, false),
            _ => return None,
        }
    }
}

fn alu(op: u16, a: u32, v: u32) -> Option<u32> {
    Some(match u32::from(op) {
        libc::BPF_ADD => a.wrapping_add(v),
        libc::BPF_SUB => a.wrapping_sub(v),
        libc::BPF_MUL => a.wrapping_mul(v),
        libc::BPF_DIV => a.checked_div(v)?,
        libc::BPF_MOD => a.checked_rem(v)?,
        libc::BPF_OR => a | v,
        libc::BPF_AND => a & v,
        libc::BPF_XOR => a ^ v,
        libc::BPF_LSH => a.checked_shl(v).unwrap_or(0),
        libc::BPF_RSH => a.checked_shr(v).unwrap_or(0),
        libc::BPF_NEG => a.wrapping_neg(),
        _ => return None,
    })
}

/// How far past the next instruction a jump goes.
fn jump(insn: &sock_filter, a: u32, v: u32) -> Option<usize> {
    let taken = match u32::from(insn.code & OP_MASK) {
        libc::BPF_JA => return Some(insn.k as usize),
        libc::BPF_JEQ => a == v,
        libc::BPF_JGT => a > v,
        libc::BPF_JGE => a >= v,
        libc::BPF_JSET => a & v != 0,
        _ => return None,
    };
    Some(usize::from(if taken { insn.jt } else { insn.jf }))
}

/// Whether `a` and `b` return the same for every probe: each of `arches` (and two values
/// that are no architecture), every syscall number near a constant either program holds
/// (or below 1100, with and without the x32 bit), and, where a program reads arguments,
/// every argument near a constant it compares them with, one and two arguments at a time.
pub(super) fn same_decisions(a: &[sock_filter], b: &[sock_filter], arches: &[u32]) -> bool {
    let numbers = syscall_probes(a, b);
    let mut arch_probes: BTreeSet<u32> = arches.iter().copied().collect();
    arch_probes.extend([0, u32::MAX]);
    arch_probes.iter().all(|&arch| {
        numbers.iter().all(|&nr| {
            let data = Data {
                nr,
                arch,
                ..Data::default()
            };
            same_for_syscall(a, b, &data)
        })
    })
}

fn syscall_probes(a: &[sock_filter], b: &[sock_filter]) -> BTreeSet<u32> {
    const X32_BIT: u32 = 0x4000_0000;
    let mut numbers: BTreeSet<u32> = (0..1100).chain(X32_BIT..X32_BIT + 1100).collect();
    numbers.extend([u32::MAX, 0x7fff_ffff, 0x8000_0000]);
    for insn in a.iter().chain(b) {
        numbers.extend([insn.k.wrapping_sub(1), insn.k, insn.k.wrapping_add(1)]);
    }
    numbers
}

/// Compares the runs on `base` (arguments zero), then, if either program read arguments,
/// on the argument values that matter; again while the runs find new constants.
fn same_for_syscall(a: &[sock_filter], b: &[sock_filter], base: &Data) -> bool {
    let mut seen = ArgUse::default();
    if !same_run(a, b, base, &mut seen) {
        return false;
    }
    let mut done = (0u8, BTreeSet::new());
    for _round in 0..4 {
        if seen.indexes == 0 || (seen.indexes, &seen.constants) == (done.0, &done.1) {
            return true;
        }
        done = (seen.indexes, seen.constants.clone());
        if !same_for_args(a, b, base, &done.1, done.0, &mut seen) {
            return false;
        }
    }
    true
}

/// One round of argument probes: every read argument alone over `constants`' probe words
/// (as high and low word), then every pair of them.
fn same_for_args(
    a: &[sock_filter],
    b: &[sock_filter],
    base: &Data,
    constants: &BTreeSet<u32>,
    read: u8,
    seen: &mut ArgUse,
) -> bool {
    let words = word_probes(constants);
    let values: Vec<u64> = words
        .iter()
        .flat_map(|&hi| {
            words
                .iter()
                .map(move |&lo| (u64::from(hi) << 32) | u64::from(lo))
        })
        .collect();
    let indexes: Vec<usize> = (0..6).filter(|i| read & (1 << i) != 0).collect();
    let mut check = |args: [u64; 6]| same_run(a, b, &Data { args, ..*base }, seen);
    let singles = indexes.iter().all(|&i| {
        values.iter().all(|&v| {
            let mut args = [0; 6];
            args[i] = v;
            check(args)
        })
    });
    singles && same_for_pairs(&indexes, &words, &mut check)
}

/// Two arguments at a time, each over the low words (high words zero).
fn same_for_pairs(
    indexes: &[usize],
    words: &BTreeSet<u32>,
    check: &mut impl FnMut([u64; 6]) -> bool,
) -> bool {
    for (n, &i) in indexes.iter().enumerate() {
        for &j in &indexes[n + 1..] {
            for &vi in words {
                for &vj in words {
                    let mut args = [0; 6];
                    args[i] = vi.into();
                    args[j] = vj.into();
                    if !check(args) {
                        return false;
                    }
                }
            }
        }
    }
    true
}

/// 32-bit words worth trying against comparisons with `constants`: each constant, its
/// neighbours and complement, and the edges and single bits.
fn word_probes(constants: &BTreeSet<u32>) -> BTreeSet<u32> {
    let mut words: BTreeSet<u32> = (0..32).map(|bit| 1u32 << bit).collect();
    words.extend([0, u32::MAX, 0x7fff_ffff]);
    for &k in constants {
        words.extend([k.wrapping_sub(1), k, k.wrapping_add(1), !k]);
    }
    words
}

fn same_run(a: &[sock_filter], b: &[sock_filter], data: &Data, seen: &mut ArgUse) -> bool {
    match (run(a, data, seen), run(b, data, seen)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}
