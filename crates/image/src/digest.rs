//! Content digests (`sha256:<64 hex>`) and chain IDs.

use std::fmt;

/// A content digest: algorithm and lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: String,
    hex: String,
}

/// A string that is not a valid digest.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {0:?}: want sha256:<64 lowercase hex>")]
pub struct BadDigest(pub String);

impl Digest {
    /// Parses `sha256:<64 hex>` (the only algorithm accepted for now).
    pub fn parse(s: &str) -> Result<Self, BadDigest> {
        let (algorithm, hex) = s.split_once(':').ok_or_else(|| BadDigest(s.into()))?;
        let ok = algorithm == "sha256"
            && hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(BadDigest(s.into()));
        }
        Ok(Self {
            algorithm: algorithm.into(),
            hex: hex.into(),
        })
    }

    /// A sha256 digest from its hex form (64 lowercase hex characters).
    pub fn sha256_hex(hex: &str) -> Result<Self, BadDigest> {
        Self::parse(&format!("sha256:{hex}"))
    }

    /// The algorithm, e.g. `sha256`.
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl std::str::FromStr for Digest {
    type Err = BadDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Streaming sha256: feed bytes (directly or as an [`std::io::Write`]), then take the digest.
#[derive(Debug, Clone, Default)]
pub struct Sha256Hasher {
    inner: sha2::Sha256,
    len: u64,
}

impl Sha256Hasher {
    /// A hasher with nothing fed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.inner, bytes);
        self.len += bytes.len() as u64;
    }

    /// How many bytes were fed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of the bytes fed so far (the hasher is left as it was).
    pub fn digest(&self) -> Digest {
        let out = sha2::Digest::finalize(self.inner.clone());
        Digest::from_sha256_bytes(&out)
    }
}

impl std::io::Write for Sha256Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Digest {
    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let mut h = Sha256Hasher::new();
        h.update(bytes);
        h.digest()
    }

    /// A sha256 digest from its 32 raw bytes.
    fn from_sha256_bytes(raw: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(raw.len() * 2);
        for b in raw {
            hex.push(HEX[usize::from(b >> 4)] as char);
            hex.push(HEX[usize::from(b & 0xf)] as char);
        }
        Self {
            algorithm: "sha256".into(),
            hex,
        }
    }

    /// OCI chain IDs of a stack of layers given their diff IDs, bottom first:
    /// `chain[0] = diff[0]`, `chain[n] = sha256(chain[n-1] + " " + diff[n])`.
    pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
        let mut out: Vec<Digest> = Vec::with_capacity(diff_ids.len());
        for diff in diff_ids {
            let next = match out.last() {
                None => diff.clone(),
                Some(parent) => Digest::of(format!("{parent} {diff}").as_bytes()),
            };
            out.push(next);
        }
        out
    }
}
