//! A small blocking HTTP/1.1 client: one request per connection, a response head parsed
//! with `httparse`, and a body read by length, in chunks, or to the end of the stream.

use std::io::{BufRead, BufReader, Read, Write};

use super::addr::Conn;
use super::ClientError;

/// Most bytes a response head may take.
const MAX_HEAD: usize = 64 << 10;

/// A response head and its body still on the wire.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the body's end is found.
enum Framing {
    /// `Content-Length` bytes left.
    Length(u64),
    /// Chunked: bytes left in the current chunk; `None` before the first chunk.
    Chunked { left: u64, done: bool },
    /// Until the connection closes.
    Eof,
}

/// A response body as a reader.
pub struct Body {
    conn: BufReader<Conn>,
    framing: Framing,
}

impl Body {
    /// Reads the whole body.
    pub fn bytes(mut self) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        self.read_to_end(&mut out)
            .map_err(|e| ClientError::Io("read the response", e))?;
        Ok(out)
    }

    /// The connection, with whatever it had buffered (for a hijacked stream).
    pub fn into_conn(self) -> BufReader<Conn> {
        self.conn
    }

    fn next_chunk(&mut self) -> std::io::Result<u64> {
        let mut line = String::new();
        self.conn.read_line(&mut line)?;
        if line.trim().is_empty() {
            // The CRLF after the previous chunk's data.
            line.clear();
            self.conn.read_line(&mut line)?;
        }
        let size = line.trim().split(';').next().unwrap_or("");
        u64::from_str_radix(size, 16).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad chunk size {line:?}"),
            )
        })
    }

    fn skip_trailers(&mut self) -> std::io::Result<()> {
        loop {
            let mut line = String::new();
            if self.conn.read_line(&mut line)? == 0 || line.trim().is_empty() {
                return Ok(());
            }
        }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.framing {
            Framing::Eof => self.conn.read(buf),
            Framing::Length(0) => Ok(0),
            Framing::Length(left) => {
                let max = buf.len().min(left as usize);
                let n = self.conn.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                self.framing = Framing::Length(left - n as u64);
                Ok(n)
            }
            Framing::Chunked { done: true, .. } => Ok(0),
            Framing::Chunked { left: 0, .. } => {
                let size = self.next_chunk()?;
                if size == 0 {
                    self.skip_trailers()?;
                    self.framing = Framing::Chunked {
                        left: 0,
                        done: true,
                    };
                    return Ok(0);
                }
                self.framing = Framing::Chunked {
                    left: size,
                    done: false,
                };
                self.read(buf)
            }
            Framing::Chunked { left, .. } => {
                let max = buf.len().min(left as usize);
                let n = self.conn.read(&mut buf[..max])?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                self.framing = Framing::Chunked {
                    left: left - n as u64,
                    done: false,
                };
                Ok(n)
            }
        }
    }
}

/// What a request carries.
pub enum Payload<'a> {
    /// Nothing.
    Empty,
    /// Bytes with a content type.
    Bytes(&'a [u8], &'static str),
    /// A stream of unknown length with a content type, sent chunked.
    Stream(&'a mut dyn Read, &'static str),
}

/// Writes a request head (and a body of known size) in one write.
pub fn write_request(
    conn: &mut Conn,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    payload: &mut Payload<'_>,
) -> std::io::Result<()> {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: berth-cli\r\n"
    );
    for (k, v) in extra {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    let mut out = head.into_bytes();
    match payload {
        Payload::Empty => out.extend_from_slice(b"\r\n"),
        Payload::Bytes(b, ct) => {
            out.extend_from_slice(
                format!("Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n", b.len()).as_bytes(),
            );
            out.extend_from_slice(b);
        }
        Payload::Stream(_, ct) => out.extend_from_slice(
            format!("Content-Type: {ct}\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes(),
        ),
    }
    conn.write_all(&out)?;
    if let Payload::Stream(r, _) = payload {
        write_chunked(conn, *r)?;
    }
    Ok(())
}

/// Copies `r` to `conn` as chunks, then the last chunk.
fn write_chunked(conn: &mut Conn, r: &mut dyn Read) -> std::io::Result<()> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        conn.write_all(format!("{n:x}\r\n").as_bytes())?;
        conn.write_all(&buf[..n])?;
        conn.write_all(b"\r\n")?;
    }
    conn.write_all(b"0\r\n\r\n")
}

/// Reads a response head; the body is framed as its headers say (`head_only`: a
/// response to HEAD or a 101, whose body is whatever follows).
pub fn read_response(conn: Conn, head_only: bool) -> Result<Response, ClientError> {
    let mut conn = BufReader::with_capacity(16 << 10, conn);
    let mut head = Vec::new();
    loop {
        let buf = conn
            .fill_buf()
            .map_err(|e| ClientError::Io("read the response", e))?;
        if buf.is_empty() {
            return Err(ClientError::BadResponse(
                "the connection closed before a response".into(),
            ));
        }
        let before = head.len();
        head.extend_from_slice(buf);
        if let Some(end) = find_head_end(&head, before) {
            conn.consume(end - before);
            head.truncate(end);
            break;
        }
        let n = buf.len();
        conn.consume(n);
        if head.len() > MAX_HEAD {
            return Err(ClientError::BadResponse("response head too long".into()));
        }
    }
    let (status, headers) = parse_head(&head)?;
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let framing = if head_only || status == 101 || status == 204 || status == 304 {
        if status == 101 || head_only && status < 300 {
            Framing::Eof
        } else {
            Framing::Length(0)
        }
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        Framing::Chunked {
            left: 0,
            done: false,
        }
    } else if let Some(len) = get("content-length") {
        Framing::Length(
            len.trim()
                .parse()
                .map_err(|_| ClientError::BadResponse(format!("bad Content-Length {len:?}")))?,
        )
    } else {
        Framing::Eof
    };
    Ok(Response {
        status,
        headers,
        body: Body { conn, framing },
    })
}

/// Where `\r\n\r\n` ends in `head`, searching from a little before `from`.
fn find_head_end(head: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    head[start..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| start + p + 4)
}

type Head = (u16, Vec<(String, String)>);

fn parse_head(head: &[u8]) -> Result<Head, ClientError> {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut slots);
    match r.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ClientError::BadResponse("incomplete response head".into()))
        }
        Err(e) => return Err(ClientError::BadResponse(format!("response head: {e}"))),
    }
    let status = r.code.unwrap_or(0);
    let headers = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    Ok((status, headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn respond(raw: &'static [u8]) -> Response {
        let (a, mut b) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            b.write_all(raw).unwrap();
        });
        read_response(Conn::Unix(a), false).unwrap()
    }

    #[test]
    fn bodies_by_length_chunks_and_eof() {
        let r =
            respond(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nApi-Version: 1.47\r\n\r\nhelloEXTRA");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("API-Version"), Some("1.47"));
        assert_eq!(r.body.bytes().unwrap(), b"hello");
        let r = respond(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        );
        assert_eq!(r.body.bytes().unwrap(), b"abcde");
        let r = respond(b"HTTP/1.1 404 Not Found\r\n\r\n{\"message\":\"x\"}");
        assert_eq!(r.status, 404);
        assert_eq!(r.body.bytes().unwrap(), b"{\"message\":\"x\"}");
        let r = respond(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert!(r.body.bytes().unwrap().is_empty());
    }

    #[test]
    fn upgraded_streams_keep_what_followed_the_head() {
        let r = respond(b"HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n\x01\x00\x00\x00\x00\x00\x00\x01x");
        assert_eq!(r.status, 101);
        let mut rest = Vec::new();
        r.body.into_conn().read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"\x01\x00\x00\x00\x00\x00\x00\x01x");
    }

    #[test]
    fn garbage_is_an_error() {
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"SSH-2.0-x\r\n\r\n").unwrap();
        drop(b);
        assert!(read_response(Conn::Unix(a), false).is_err());
    }
}
