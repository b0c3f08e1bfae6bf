//! Listening addresses as dockerd takes them (`-H unix:///path`, `-H tcp://host:port`),
//! and binding them: a unix socket is made mode 0660, owned by the configured group when
//! that group exists (else root's), after removing a stale socket that nobody answers on.
//! `fd://` (systemd socket activation) is refused clearly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix socket at this path.
    Unix(PathBuf),
    /// A TCP `host:port`.
    Tcp(String),
}

/// Why an address cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Not an address berthd takes.
    #[error("invalid -H address {0:?}: use unix:///path or tcp://host:port")]
    Invalid(String),
    /// Socket activation, which berthd does not do.
    #[error("-H {0}: socket activation (fd://) is not supported by berthd; use unix:///path")]
    Fd(String),
    /// A live daemon answers on the socket.
    #[error("{0}: address already in use (another daemon answers on it)")]
    InUse(PathBuf),
    /// An OS operation failed.
    #[error("{op} {target}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path or address.
        target: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Address {
    /// Parses a `-H` value.
    pub fn parse(s: &str) -> Result<Address, ListenError> {
        if let Some(path) = s.strip_prefix("unix://") {
            let path = if path.is_empty() {
                "/run/berth/berth.sock"
            } else {
                path
            };
            return Ok(Address::Unix(path.into()));
        }
        if let Some(addr) = s.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            if addr.is_empty() || !addr.contains(':') {
                return Err(ListenError::Invalid(s.into()));
            }
            return Ok(Address::Tcp(addr.into()));
        }
        if s.starts_with("fd://") {
            return Err(ListenError::Fd(s.into()));
        }
        Err(ListenError::Invalid(s.into()))
    }
}

/// A bound listener.
pub enum Bound {
    /// A unix socket (and its path, removed at shutdown).
    Unix(tokio::net::UnixListener, PathBuf),
    /// A TCP socket.
    Tcp(tokio::net::TcpListener),
}

fn io(
    op: &'static str,
    target: impl std::fmt::Display,
) -> impl FnOnce(std::io::Error) -> ListenError {
    let target = target.to_string();
    move |source| ListenError::Io { op, target, source }
}

/// Binds `addr`; must run inside the tokio runtime.
pub async fn bind(addr: &Address, group: &str) -> Result<Bound, ListenError> {
    match addr {
        Address::Unix(path) => bind_unix(path, group).map(|l| Bound::Unix(l, path.clone())),
        Address::Tcp(a) => tokio::net::TcpListener::bind(a)
            .await
            .map(Bound::Tcp)
            .map_err(io("listen on", a)),
    }
}

fn bind_unix(path: &Path, group: &str) -> Result<tokio::net::UnixListener, ListenError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create directory", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ListenError::InUse(path.into()));
        }
        std::fs::remove_file(path).map_err(io("remove stale socket", path.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(io("listen on", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io("chmod", path.display()))?;
    if let Ok(Some(g)) = nix::unistd::Group::from_name(group) {
        nix::unistd::chown(path, None, Some(g.gid))
            .map_err(|e| io("chown", path.display())(e.into()))?;
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_like_dockerds() {
        assert_eq!(
            Address::parse("unix:///tmp/x.sock").unwrap(),
            Address::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Address::parse("tcp://127.0.0.1:2375").unwrap(),
            Address::Tcp("127.0.0.1:2375".into())
        );
        assert!(matches!(Address::parse("fd://"), Err(ListenError::Fd(_))));
        assert!(matches!(Address::parse("/x"), Err(ListenError::Invalid(_))));
        assert!(matches!(
            Address::parse("tcp://"),
            Err(ListenError::Invalid(_))
        ));
    }
}
