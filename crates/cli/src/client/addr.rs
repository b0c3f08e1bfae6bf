//! Where berthd listens (`unix:///run/berth/berth.sock`, `tcp://host:port`) and the
//! connection to it: a unix or TCP stream with a write half that can be shut down.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use super::ClientError;

/// The socket berthd listens on by default.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A unix socket path.
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl Addr {
    /// Parses `unix:///path`, `tcp://host[:port]` (port 2375 when left out) or a bare
    /// socket path.
    pub fn parse(host: &str) -> Result<Addr, ClientError> {
        if let Some(path) = host.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(ClientError::BadHost(host.into()));
            }
            return Ok(Addr::Unix(path.into()));
        }
        if let Some(rest) = host.strip_prefix("tcp://") {
            let hostport = rest.trim_end_matches('/');
            if hostport.is_empty() || hostport.contains('/') {
                return Err(ClientError::BadHost(host.into()));
            }
            let has_port = hostport
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok() && !hostport.ends_with(']'));
            return Ok(Addr::Tcp(if has_port {
                hostport.into()
            } else {
                format!("{hostport}:2375")
            }));
        }
        if host.starts_with('/') {
            return Ok(Addr::Unix(host.into()));
        }
        Err(ClientError::BadHost(host.into()))
    }

    /// Opens a connection.
    pub fn connect(&self) -> std::io::Result<Conn> {
        match self {
            Addr::Unix(p) => UnixStream::connect(p).map(Conn::Unix),
            Addr::Tcp(a) => {
                let s = TcpStream::connect(a)?;
                s.set_nodelay(true)?;
                Ok(Conn::Tcp(s))
            }
        }
    }
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix://{}", p.display()),
            Addr::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// A connection to the daemon.
#[derive(Debug)]
pub enum Conn {
    /// Over a unix socket.
    Unix(UnixStream),
    /// Over TCP.
    Tcp(TcpStream),
}

impl Conn {
    /// A second handle on the same connection (for writing while another thread reads).
    pub fn try_clone(&self) -> std::io::Result<Conn> {
        match self {
            Conn::Unix(s) => s.try_clone().map(Conn::Unix),
            Conn::Tcp(s) => s.try_clone().map(Conn::Tcp),
        }
    }

    /// Closes one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> std::io::Result<()> {
        match self {
            Conn::Unix(s) => s.shutdown(how),
            Conn::Tcp(s) => s.shutdown(how),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_docker_takes_them() {
        assert_eq!(
            Addr::parse("unix:///run/berth/berth.sock").unwrap(),
            Addr::Unix("/run/berth/berth.sock".into())
        );
        assert_eq!(
            Addr::parse("tcp://127.0.0.1:2376").unwrap(),
            Addr::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            Addr::parse("tcp://localhost").unwrap(),
            Addr::Tcp("localhost:2375".into())
        );
        assert_eq!(
            Addr::parse("/tmp/x.sock").unwrap(),
            Addr::Unix("/tmp/x.sock".into())
        );
        assert!(Addr::parse("ssh://host").is_err());
        assert!(Addr::parse("unix://").is_err());
        assert_eq!(
            Addr::parse("tcp://h:1").unwrap().to_string(),
            "tcp://h:1".to_string()
        );
    }
}
