//! Handing the seccomp listener fd to the agent at `linux.seccomp.listenerPath`
//! (runtime-spec "The Container Process State").

use super::Error;
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType};
use oci_spec::runtime::{ContainerProcessState, State, SECCOMP_FD_NAME};
use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

/// Builds the container process state JSON the agent expects: `fds: ["seccompFd"]`, the
/// container process `pid` (as the runtime sees it), `metadata` (`listenerMetadata`) and
/// the container `state`.
pub fn process_state_json(
    pid: i32,
    metadata: Option<&str>,
    state: &State,
) -> Result<Vec<u8>, Error> {
    let mut process_state = ContainerProcessState::default();
    process_state
        .set_version(state.version().clone())
        .set_fds(vec![SECCOMP_FD_NAME.to_owned()])
        .set_pid(pid)
        .set_metadata(metadata.map(str::to_owned))
        .set_state(state.clone());
    serde_json::to_vec(&process_state).map_err(Error::StateJson)
}

/// Connects to the agent's unix stream socket at `listener_path`, sends `state_json` (see
/// [`process_state_json`]) with `fd` attached as `SCM_RIGHTS` to the first `sendmsg`, and
/// closes the connection, as the runtime-spec requires (one state per connection).
pub fn send_notify_fd(
    listener_path: &Path,
    fd: BorrowedFd,
    state_json: &[u8],
) -> Result<(), Error> {
    let err = |op: &'static str| {
        move |source: Errno| Error::Agent {
            path: listener_path.to_path_buf(),
            op,
            source,
        }
    };
    if state_json.is_empty() {
        // A stream socket drops ancillary data sent with no payload.
        return Err(err("send")(Errno::EINVAL));
    }
    let sock = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(err("socket"))?;
    let addr = socket::UnixAddr::new(listener_path).map_err(err("socket address"))?;
    retry(|| socket::connect(sock.as_raw_fd(), &addr)).map_err(err("connect"))?;
    let fds = [fd.as_raw_fd()];
    let rights = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(state_json)];
    let flags = MsgFlags::MSG_NOSIGNAL;
    let mut sent = retry(|| socket::sendmsg::<()>(sock.as_raw_fd(), &iov, &rights, flags, None))
        .map_err(err("sendmsg"))?;
    while sent < state_json.len() {
        let rest = &state_json[sent..];
        sent += retry(|| socket::send(sock.as_raw_fd(), rest, flags)).map_err(err("send"))?;
    }
    Ok(())
}

/// Runs `f` again while it fails with EINTR.
fn retry<T>(mut f: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}
