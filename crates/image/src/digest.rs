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
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
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
