//! A directory of compiled filters: libseccomp needs ~10-20 ms to build Docker's default
//! profile, so containers that share a profile should compile it once.
//!
//! Each entry holds the exact key it was built from (this crate's version, libseccomp's
//! version, the kernel release and the `linux.seccomp` JSON) and is used only when that key
//! matches byte for byte, so a hash collision can only cost a recompile. Whoever can write
//! the directory chooses the filters containers get, so entries are used only while it
//! belongs to the current user and is not writable by group or others. Entries are never
//! evicted (a new berth version or libseccomp makes new ones): clear the directory when
//! upgrading or on daemon start.

use super::compile::{compile, Filter};
use super::Error;
use oci_spec::runtime::LinuxSeccomp;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version 03: programs may come from the compact compiler (entries of 02 are recompiled).
const MAGIC: &[u8; 8] = b"BSCMPF03";

/// Compiled filters kept as files in one directory, reused across processes.
#[derive(Debug, Clone)]
pub struct FilterCache {
    dir: PathBuf,
}

impl FilterCache {
    /// A cache in `dir` (created, mode 0700, on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Like [`compile`], but returns the stored filter when this exact config was compiled
    /// before (by this libseccomp, on this kernel). A cache that cannot be read or written
    /// only costs time: the filter is then compiled, and config errors are reported as
    /// [`compile`] reports them.
    pub fn compile(&self, seccomp: &LinuxSeccomp) -> Result<Filter, Error> {
        let key = cache_key(seccomp)?;
        let path = self.dir.join(file_name(&key));
        if let Some(filter) = self.lookup(&path, &key) {
            return Ok(filter);
        }
        let filter = compile(seccomp)?;
        // Best effort by design (see above): a failed store leaves the next start to compile.
        let _ = self.store(&path, &encode(&key, &filter));
        Ok(filter)
    }

    /// The stored filter, if the directory is private to us and holds an entry for `key`.
    fn lookup(&self, path: &Path, key: &[u8]) -> Option<Filter> {
        if !self.private() {
            return None;
        }
        decode(&std::fs::read(path).ok()?, key)
    }

    /// Whether the directory is ours and nobody else can write it.
    fn private(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.dir).is_ok_and(|dir| {
            dir.uid() == nix::unistd::geteuid().as_raw() && dir.mode() & 0o022 == 0
        })
    }

    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        if !self.private() {
            return Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        }
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        drop(file);
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
    }
}

/// Everything the compiled program depends on.
fn cache_key(seccomp: &LinuxSeccomp) -> Result<Vec<u8>, Error> {
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut key = format!("{} {version} {release}\n", env!("CARGO_PKG_VERSION")).into_bytes();
    serde_json::to_writer(&mut key, seccomp).map_err(Error::CacheKey)?;
    Ok(key)
}

fn file_name(key: &[u8]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    format!("{:016x}.bpf", hasher.finish())
}

fn encode(key: &[u8], filter: &Filter) -> Vec<u8> {
    let (program, flags, default_flags, notify) = filter.parts();
    let mut out = Vec::with_capacity(32 + key.len() + program.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u64).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&[u8::from(default_flags), u8::from(notify)]);
    for insn in program {
        out.extend_from_slice(&insn.code.to_le_bytes());
        out.extend_from_slice(&[insn.jt, insn.jf]);
        out.extend_from_slice(&insn.k.to_le_bytes());
    }
    out
}

/// The stored filter, if `bytes` is a well-formed entry for exactly `key`.
fn decode(bytes: &[u8], key: &[u8]) -> Option<Filter> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<8>()?;
    let len = usize::try_from(u64::from_le_bytes(*len)).ok()?;
    let (stored_key, rest) = rest.split_at_checked(len)?;
    if stored_key != key {
        return None;
    }
    let (flags, rest) = rest.split_first_chunk::<4>()?;
    let (&[default_flags, notify], rest) = rest.split_first_chunk::<2>()?;
    let program = rest.chunks_exact(8).map(|c| libc::sock_filter {
        code: u16::from_le_bytes([c[0], c[1]]),
        jt: c[2],
        jf: c[3],
        k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
    });
    let flags = u32::from_le_bytes(*flags);
    (rest.len() % 8 == 0)
        .then(|| Filter::from_parts(program.collect(), flags, default_flags == 1, notify == 1))
        .flatten()
}
