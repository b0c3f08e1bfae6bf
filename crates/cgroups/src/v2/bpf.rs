//! Thin wrappers around the bpf(2) commands the cgroup device filter needs: load a program,
//! attach it to a cgroup, list the programs attached there, and detach one by id.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Insn {
    pub code: u8,
    /// `dst_reg:4, src_reg:4` packed in the host's bit-field order.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Query {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct GetId {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `union bpf_attr`, padded well past its current kernel size; the tail stays zero, which the
/// kernel requires of bytes it does not know.
#[repr(C)]
union Attr {
    load: ProgLoad,
    attach: Attach,
    query: Query,
    get_id: GetId,
    raw: [u64; 32],
}

impl Attr {
    fn zeroed() -> Self {
        Attr { raw: [0; 32] }
    }
}

/// Issues bpf(`cmd`) with `attr`; returns the non-negative result.
fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    let size = std::mem::size_of::<Attr>();
    // SAFETY: `attr` is a live, fully initialised buffer of `size` bytes for the whole call;
    // the kernel reads and writes only within it and the buffers its fields point to, which
    // the callers keep alive until this returns.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut Attr, size) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Wraps a file descriptor the kernel just returned.
fn owned(fd: libc::c_long) -> io::Result<OwnedFd> {
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel returned this descriptor to us just now; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Loads a `BPF_PROG_TYPE_CGROUP_DEVICE` program. On failure the verifier's log is
/// returned alongside the error.
pub(crate) fn load(insns: &[Insn]) -> Result<OwnedFd, (io::Error, String)> {
    match load_with_log(insns, &mut []) {
        Ok(fd) => Ok(fd),
        Err(_) => {
            let mut log = vec![0u8; 64 * 1024];
            let err = load_with_log(insns, &mut log)
                .err()
                .unwrap_or_else(io::Error::last_os_error);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            Err((err, String::from_utf8_lossy(&log[..end]).trim().to_string()))
        }
    }
}

fn load_with_log(insns: &[Insn], log: &mut [u8]) -> io::Result<OwnedFd> {
    const LICENSE: &[u8] = b"Apache-2.0\0";
    let mut name = [0u8; 16];
    name[..13].copy_from_slice(b"berth_devices");
    let mut attr = Attr::zeroed();
    attr.load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: u32::try_from(log.len()).unwrap_or(u32::MAX),
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
    };
    bpf(BPF_PROG_LOAD, &mut attr).and_then(owned)
}

/// Attaches `prog` to the cgroup `cgroup` as a device filter, alongside any others.
pub(crate) fn attach(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = Attr::zeroed();
    attr.attach = Attach {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// Detaches `prog` from the cgroup `cgroup`.
pub(crate) fn detach(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = Attr::zeroed();
    attr.attach = Attach {
        target_fd: fd_u32(cgroup),
        attach_bpf_fd: fd_u32(prog),
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        replace_bpf_fd: 0,
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// The ids of the device programs attached directly to `cgroup` (not inherited ones).
pub(crate) fn query(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = Attr::zeroed();
    attr.query = Query {
        target_fd: fd_u32(cgroup),
        attach_type: BPF_CGROUP_DEVICE,
        query_flags: 0,
        attach_flags: 0,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: u32::try_from(ids.len()).unwrap_or(0),
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    // SAFETY: `query` is the member written above and the kernel only updates its counters;
    // every bit pattern is a valid `Query`.
    let count = unsafe { attr.query.prog_cnt } as usize;
    ids.truncate(count.min(64));
    Ok(ids)
}

/// Opens the program with `id`.
pub(crate) fn prog_fd(id: u32) -> io::Result<OwnedFd> {
    let mut attr = Attr::zeroed();
    attr.get_id = GetId {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).and_then(owned)
}

/// A descriptor as the kernel's `__u32` field (descriptors are never negative).
fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd().unsigned_abs()
}
