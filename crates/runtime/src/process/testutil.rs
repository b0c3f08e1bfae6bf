//! Test helpers: run a step that changes the process in a forked child and bring its
//! result back through a pipe, so the test process itself is never changed.

use std::fs::File;
use std::io::{Read, Write};

use nix::fcntl::OFlag;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult};

/// Runs `f` in a forked child and returns what it returned. A panic in the child comes
/// back as `Err("child panicked: ...")`.
pub(crate) fn in_child<F>(f: F) -> Result<String, String>
where
    F: FnOnce() -> Result<String, String>,
{
    let (rd, wr) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
    // SAFETY: the child only runs `f` (test code that allocates; glibc keeps malloc
    // usable after fork) and leaves with `_exit`, never returning into the test harness.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(rd);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|p| Err(format!("child panicked: {}", panic_text(&p))));
            let (tag, text) = match &result {
                Ok(s) => (b'O', s),
                Err(s) => (b'E', s),
            };
            let mut out = File::from(wr);
            let _ = out
                .write_all(&[tag])
                .and_then(|()| out.write_all(text.as_bytes()));
            drop(out);
            // SAFETY: _exit ends the forked child without running the parent's atexit
            // handlers or destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut buf = Vec::new();
            File::from(rd)
                .read_to_end(&mut buf)
                .expect("read child pipe");
            let status = waitpid(child, None).expect("waitpid");
            assert_eq!(status, WaitStatus::Exited(child, 0), "child died");
            let text = String::from_utf8_lossy(buf.get(1..).unwrap_or_default()).into_owned();
            match buf.first() {
                Some(b'O') => Ok(text),
                Some(_) => Err(text),
                None => Err("child sent nothing".into()),
            }
        }
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Returns the value of a `Key:\tvalue` line of /proc/self/status.
pub(crate) fn status_field(key: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{key} missing from /proc/self/status"))
}
