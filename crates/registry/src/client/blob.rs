//! A blob download as a `Read`: when the connection breaks off before the blob's size
//! has arrived, the rest is asked for again with `Range: bytes=<offset>-` (a server that
//! ignores the range has the bytes already received skipped), a few times.

use std::io::{self, Read};

use reqwest::blocking::Response;
use reqwest::header::RANGE;
use reqwest::StatusCode;

use super::Session;

/// How many times a broken download is resumed.
const RESUMES: u32 = 3;

/// The bytes of one blob from a registry.
pub struct BlobReader<'a> {
    session: &'a Session,
    url: String,
    scopes: Vec<String>,
    resp: Option<Response>,
    offset: u64,
    size: u64,
    resumes: u32,
}

impl<'a> BlobReader<'a> {
    /// Starts fetching the blob at `url` (of `size` bytes), authorised for `scopes`.
    pub fn open(
        session: &'a Session,
        url: String,
        scopes: Vec<String>,
        size: u64,
    ) -> super::Result<Self> {
        let resp = session.send_ok("GET", &url, &scopes, |c| c.get(&url))?;
        Ok(Self {
            session,
            url,
            scopes,
            resp: Some(resp),
            offset: 0,
            size,
            resumes: 0,
        })
    }

    /// Asks for the rest of the blob from `offset`.
    fn resume(&mut self, cause: io::Error) -> io::Result<()> {
        if self.resumes >= RESUMES {
            return Err(cause);
        }
        self.resumes += 1;
        tracing::debug!("resume {} at {}: {cause}", self.url, self.offset);
        let range = format!("bytes={}-", self.offset);
        let url = self.url.clone();
        let resp = self
            .session
            .send_ok("GET", &url, &self.scopes, |c| {
                c.get(&url).header(RANGE, range.as_str())
            })
            .map_err(|e| io::Error::other(format!("{cause}; resuming: {e}")))?;
        let mut resp = resp;
        if resp.status() != StatusCode::PARTIAL_CONTENT {
            io::copy(&mut (&mut resp).take(self.offset), &mut io::sink())?;
        }
        self.resp = Some(resp);
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(resp) = &mut self.resp else {
                return Ok(0);
            };
            let cause = match resp.read(buf) {
                Ok(0) if self.offset >= self.size => return Ok(0),
                Ok(0) => io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("blob ended after {} of {} bytes", self.offset, self.size),
                ),
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            self.resume(cause)?;
        }
    }
}
