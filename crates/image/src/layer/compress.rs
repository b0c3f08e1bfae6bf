//! Layer compression: detection by magic bytes, decompression in a pipeline thread, and
//! compressing writers.

use std::io::{self, BufReader, Cursor, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`application/vnd.oci.image.layer.v1.tar+gzip`), the default.
    #[default]
    Gzip,
    /// zstd (`application/vnd.oci.image.layer.v1.tar+zstd`).
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// A reader that gives back the bytes [`detect`] looked at, then the rest.
pub type Peeked<R> = io::Chain<Cursor<Vec<u8>>, R>;

/// Detects the compression of a stream by its magic bytes. The returned reader yields the
/// whole stream, the inspected bytes included.
pub fn detect<R: Read>(mut reader: R) -> io::Result<(Compression, Peeked<R>)> {
    let mut head = vec![0u8; ZSTD_MAGIC.len()];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    let kind = if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    };
    Ok((kind, Cursor::new(head).chain(reader)))
}

/// Returns the uncompressed stream of a layer blob, whatever its compression. Compressed
/// streams are decoded in a separate thread (so inflating overlaps with applying).
pub fn decompress<R: Read + Send + 'static>(reader: R) -> io::Result<Box<dyn Read + Send>> {
    let (kind, reader) = detect(reader)?;
    Ok(match kind {
        Compression::None => Box::new(reader),
        Compression::Gzip => {
            let buffered = BufReader::with_capacity(CHUNK, reader);
            Box::new(Pipeline::spawn(flate2::bufread::MultiGzDecoder::new(
                buffered,
            )))
        }
        Compression::Zstd => Box::new(Pipeline::spawn(zstd::Decoder::new(reader)?)),
    })
}

const CHUNK: usize = 1 << 20;
const DEPTH: usize = 4;

enum Msg {
    Data(Vec<u8>),
    Done,
    Failed(io::Error),
}

/// The reading end of a producer thread that fills chunks from a reader.
struct Pipeline {
    rx: Receiver<Msg>,
    recycle: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Pipeline {
    fn spawn<R: Read + Send + 'static>(src: R) -> Self {
        let (tx, rx) = sync_channel(DEPTH);
        let (recycle, spare) = sync_channel(DEPTH + 2);
        std::thread::spawn(move || produce(src, &tx, &spare));
        Self {
            rx,
            recycle,
            cur: Vec::new(),
            pos: 0,
            done: false,
        }
    }

    /// Gets the next chunk; false at the end of the stream.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let old = std::mem::take(&mut self.cur);
        // A full recycle channel only means the producer has enough buffers.
        self.recycle.try_send(old).ok();
        self.pos = 0;
        match self.rx.recv() {
            Ok(Msg::Data(buf)) => self.cur = buf,
            Ok(Msg::Done) => self.done = true,
            Ok(Msg::Failed(e)) => return Err(e),
            Err(_) => return Err(io::Error::other("decompression thread ended early")),
        }
        Ok(!self.done)
    }
}

impl Read for Pipeline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.done || !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Producer loop: fills chunks until end of stream or error, or until the reader is gone.
fn produce<R: Read>(mut src: R, tx: &SyncSender<Msg>, spare: &Receiver<Vec<u8>>) {
    loop {
        let mut buf = spare.try_recv().unwrap_or_default();
        buf.resize(CHUNK, 0);
        let msg = match fill(&mut src, &mut buf) {
            Ok(0) => Msg::Done,
            Ok(n) => {
                buf.truncate(n);
                Msg::Data(buf)
            }
            Err(e) => Msg::Failed(e),
        };
        let last = !matches!(msg, Msg::Data(_));
        if tx.send(msg).is_err() || last {
            return;
        }
    }
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
pub(crate) fn fill<R: Read>(src: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// gzip level for new layers: fast; layers are compressed once per commit.
const GZIP_LEVEL: u32 = 1;
/// zstd level for new layers (zstd's default).
const ZSTD_LEVEL: i32 = 3;

/// A writer that compresses into `W`; [`Encoder::finish`] ends the stream.
pub enum Encoder<W: Write> {
    /// No compression.
    None(W),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd.
    Zstd(zstd::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    /// A compressing writer into `out`.
    pub fn new(out: W, kind: Compression) -> io::Result<Self> {
        Ok(match kind {
            Compression::None => Encoder::None(out),
            Compression::Gzip => {
                let level = flate2::Compression::new(GZIP_LEVEL);
                Encoder::Gzip(flate2::write::GzEncoder::new(out, level))
            }
            Compression::Zstd => Encoder::Zstd(zstd::Encoder::new(out, ZSTD_LEVEL)?),
        })
    }

    /// Ends the compressed stream and returns the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}
