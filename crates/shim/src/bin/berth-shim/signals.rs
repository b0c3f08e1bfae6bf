//! The shim's signals: SIGCHLD, SIGTERM and SIGINT arrive on a signalfd; SIGPIPE and
//! SIGHUP never hurt it. All of them are blocked, with a no-op handler installed, except
//! while the runtime forks a container process: a child inherits the signal mask, and a
//! signal set to "ignore" stays ignored across exec, so the container must see neither.
//! Handlers, on the other hand, are reset by exec, and in the shim they only swallow what
//! arrives in that short window (the caller reaps after it, in case that was a SIGCHLD).

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// Signals read from the signalfd.
const READ: [Signal; 3] = [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT];
/// Signals only kept away.
const QUIET: [Signal; 2] = [Signal::SIGPIPE, Signal::SIGHUP];

extern "C" fn swallow(_: libc::c_int) {}

/// Installs the no-op handler for `sig`.
fn swallow_with(sig: Signal) -> nix::Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(swallow),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    unsafe { sigaction(sig, &action) }.map(drop)
}

/// The blocked signals and the descriptor they arrive on.
pub struct Signals {
    mask: SigSet,
    /// Readable when a signal of interest is pending.
    pub fd: SignalFd,
}

impl Signals {
    /// Installs the handlers, blocks the signals and opens the signalfd.
    pub fn install() -> nix::Result<Signals> {
        Self::prepare()?.arm()
    }

    /// What can be done before the shim has work (a prepared shim does it while idle,
    /// when SIGTERM and SIGINT must still end it): the handlers of the signals that do
    /// not end a process by default or that an idle shim never gets (SIGCHLD: it has no
    /// child; SIGPIPE, SIGHUP), and the signalfd.
    pub fn prepare() -> nix::Result<Signals> {
        for sig in [Signal::SIGCHLD].iter().chain(QUIET.iter()) {
            swallow_with(*sig)?;
        }
        let mut read = SigSet::empty();
        READ.iter().for_each(|s| read.add(*s));
        let fd = SignalFd::with_flags(&read, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
        let mut mask = SigSet::empty();
        READ.iter().chain(QUIET.iter()).for_each(|s| mask.add(*s));
        Ok(Signals { mask, fd })
    }

    /// The rest of [`Signals::install`] after [`Signals::prepare`]: SIGTERM's and
    /// SIGINT's handlers, and every signal blocked.
    pub fn arm(self) -> nix::Result<Signals> {
        for sig in [Signal::SIGTERM, Signal::SIGINT] {
            swallow_with(sig)?;
        }
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.mask), None)?;
        Ok(self)
    }

    /// Runs `f` (which forks a container process) with no signal blocked.
    pub fn unmasked<T>(&self, f: impl FnOnce() -> T) -> T {
        let none = SigSet::empty();
        // sigprocmask fails only for a bad `how`.
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&none), None).ok();
        let out = f();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.mask), None).ok();
        out
    }

    /// The pending signals of interest, one by one.
    pub fn next(&self) -> Option<Signal> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => {
                    if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                        return Some(sig);
                    }
                }
                Ok(None) | Err(_) => return None,
            }
        }
    }
}
