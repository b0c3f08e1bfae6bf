//! The channel between the runtime and the container init it forked: a SOCK_SEQPACKET pair
//! carrying one-byte-tagged messages, so each side can wait for the other's next step and
//! the init can report an error in words before it exits.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType};

/// One step reported over the channel.
#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Parent to init: ids are mapped and the cgroup joined; go on.
    Go,
    /// Init to parent: mounts are prepared; run the createRuntime hooks now.
    RunCreateRuntimeHooks,
    /// Parent to init: hooks done; go on. Carries the container state JSON for the hooks
    /// the init runs itself.
    Continue(Vec<u8>),
    /// Init to parent: everything is set up; it now waits for `start`.
    Ready,
    /// Init to parent: setup failed with this message.
    Failed(String),
}

const GO: u8 = 1;
const HOOKS: u8 = 2;
const CONTINUE: u8 = 3;
const READY: u8 = 4;
const FAILED: u8 = 5;

/// One end of the channel.
pub struct Channel {
    fd: OwnedFd,
}

/// Makes a connected pair (parent end, child end); both ends are close-on-exec.
pub fn pair() -> io::Result<(Channel, Channel)> {
    let (a, b) = socket::socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Sends one message.
    pub fn send(&self, msg: &Msg) -> io::Result<()> {
        let mut buf = Vec::with_capacity(16);
        match msg {
            Msg::Go => buf.push(GO),
            Msg::RunCreateRuntimeHooks => buf.push(HOOKS),
            Msg::Continue(state) => {
                buf.push(CONTINUE);
                buf.extend_from_slice(state);
            }
            Msg::Ready => buf.push(READY),
            Msg::Failed(text) => {
                buf.push(FAILED);
                buf.extend_from_slice(text.as_bytes());
            }
        }
        socket::send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL)?;
        Ok(())
    }

    /// Receives one message; `None` when the other end has closed.
    ///
    /// A peer that exits with a message of ours still unread makes the kernel report
    /// ECONNRESET once, ahead of what the peer sent before it went (the runtime queues the
    /// init's go-ahead early): the error is taken and the queue read again.
    pub fn recv(&self) -> io::Result<Option<Msg>> {
        let mut buf = [0u8; 65536];
        let mut reset_seen = false;
        let n = loop {
            match socket::recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::ECONNRESET) if !reset_seen => reset_seen = true,
                r => break r?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let msg = match buf[0] {
            GO => Msg::Go,
            HOOKS => Msg::RunCreateRuntimeHooks,
            CONTINUE => Msg::Continue(buf[1..n].to_vec()),
            READY => Msg::Ready,
            FAILED => Msg::Failed(String::from_utf8_lossy(&buf[1..n]).into_owned()),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown sync message tag {other}"),
                ))
            }
        };
        Ok(Some(msg))
    }

    /// Waits for exactly `want`; anything else is an error describing what came instead.
    pub fn expect(&self, want: Msg) -> Result<(), String> {
        self.expect_with(|m| *m == want, &format!("{want:?}"))
            .map(|_| ())
    }

    /// Waits for a message `pick` accepts and returns it.
    pub fn expect_with(&self, pick: impl Fn(&Msg) -> bool, want: &str) -> Result<Msg, String> {
        match self.recv() {
            Ok(Some(m)) if pick(&m) => Ok(m),
            Ok(Some(Msg::Failed(text))) => Err(text),
            Ok(Some(other)) => Err(format!(
                "expected {want} from the other side, got {other:?}"
            )),
            Ok(None) => Err("the other side exited before finishing setup".into()),
            Err(e) => Err(format!("sync channel: {e}")),
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().unwrap();
        a.send(&Msg::Go).unwrap();
        a.send(&Msg::Failed("mount x: EPERM".into())).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::Go));
        assert_eq!(b.expect(Msg::Ready), Err("mount x: EPERM".into()));
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    /// The init may fail and exit with the runtime's early go-ahead unread: its last words
    /// still arrive, then the end.
    #[test]
    fn peer_gone_with_unread_message() {
        let (parent, child) = pair().unwrap();
        parent.send(&Msg::Go).unwrap();
        parent.send(&Msg::Continue(b"{}".to_vec())).unwrap();
        assert_eq!(child.recv().unwrap(), Some(Msg::Go));
        child.send(&Msg::Failed("hostname: no UTS".into())).unwrap();
        drop(child);
        assert_eq!(parent.expect(Msg::Ready), Err("hostname: no UTS".into()));
        assert_eq!(parent.recv().unwrap(), None);
    }
}
