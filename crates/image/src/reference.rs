//! Image references normalised as docker does: `busybox` is
//! `docker.io/library/busybox:latest`, `user/app` is `docker.io/user/app:latest`, a first
//! component with a dot, a colon or `localhost` is a registry (`localhost:5000/x:1`), and a
//! reference may carry a tag, a digest or both (`name:tag@sha256:...`).

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::digest::Digest;

/// Docker Hub's canonical domain.
pub const DOCKER_HUB: &str = "docker.io";
/// The namespace of Docker Hub's official images.
const OFFICIAL: &str = "library";
/// The tag a bare name means.
pub const DEFAULT_TAG: &str = "latest";
/// The longest repository name (domain and path) accepted.
const NAME_MAX: usize = 255;

/// The grammar of a reference, assembled from named parts (docker's, written out here).
static GRAMMAR: LazyLock<Regex> = LazyLock::new(|| {
    let alnum = "[a-z0-9]+";
    let sep = "(?:[._]|__|[-]+)";
    let component = format!("{alnum}(?:{sep}{alnum})*");
    let label = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let host = format!(r"(?:{label}(?:\.{label})*|\[[a-fA-F0-9:]+\])");
    let domain = format!("{host}(?::[0-9]+)?");
    let name = format!("(?:{domain}/)?{component}(?:/{component})*");
    // Go's `\w` is ASCII; the regex crate's is Unicode (and compiles to megabytes here).
    let tag = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    let full = format!("^({name})(?::({tag}))?(?:@({digest}))?$");
    Regex::new(&full).expect("the reference grammar is a valid regular expression")
});

/// A 64-hex string, which docker refuses as a repository name (it looks like an image ID).
static HEX64: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-f0-9]{64}$").expect("a valid regular expression"));

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    /// The registry, e.g. `docker.io` or `localhost:5000`.
    pub domain: String,
    /// The repository path inside the registry, e.g. `library/busybox`.
    pub path: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The manifest digest, if any.
    pub digest: Option<Digest>,
}

/// A string that is not a valid reference, worded as docker words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not follow the grammar.
    #[error("invalid reference format")]
    InvalidFormat(String),
    /// The repository part has upper-case letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// Nothing to parse.
    #[error("repository name must have at least one component")]
    Empty,
    /// Domain and path together are too long.
    #[error("repository name must not be more than {NAME_MAX} characters")]
    NameTooLong(String),
    /// A bare 64-hex string, which would be confused with an image ID.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    /// The digest's algorithm is not sha256.
    #[error("unsupported digest algorithm")]
    DigestAlgorithm(String),
    /// A digest whose hex part is not lowercase hex.
    #[error("invalid checksum digest format")]
    DigestFormat(String),
    /// A sha256 digest of the wrong length.
    #[error("invalid checksum digest length")]
    DigestLength(String),
}

impl Reference {
    /// Parses and normalises `s`; a reference with neither tag nor digest gets `:latest`
    /// (docker's `ParseNormalizedNamed` followed by `TagNameOnly`).
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let mut r = Self::parse_named(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.into());
        }
        Ok(r)
    }

    /// Parses and normalises `s` without adding a default tag.
    pub fn parse_named(s: &str) -> Result<Self, ReferenceError> {
        if HEX64.is_match(s) {
            return Err(ReferenceError::HexName(s.into()));
        }
        let (domain, remainder) = split_domain(s);
        let repo = remainder.split([':', '@']).next().unwrap_or_default();
        if repo.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(remainder_name(remainder)));
        }
        Self::parse_full(&format!("{domain}/{remainder}"))
    }

    /// Parses an already complete `domain/path[:tag][@digest]`.
    fn parse_full(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let Some(caps) = GRAMMAR.captures(s) else {
            return Err(ReferenceError::InvalidFormat(s.into()));
        };
        let name = &caps[1];
        if name.len() > NAME_MAX {
            return Err(ReferenceError::NameTooLong(name.into()));
        }
        let (domain, path) = name
            .split_once('/')
            .ok_or_else(|| ReferenceError::InvalidFormat(s.into()))?;
        Ok(Self {
            domain: domain.into(),
            path: path.into(),
            tag: caps.get(2).map(|m| m.as_str().to_string()),
            digest: caps.get(3).map(|m| parse_digest(m.as_str())).transpose()?,
        })
    }

    /// `domain/path`, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short repository name docker prints: `busybox`, `user/app`,
    /// `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DOCKER_HUB {
            return self.name();
        }
        match self.path.strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest.into(),
            _ => self.path.clone(),
        }
    }

    /// The short form with tag and digest: `busybox:latest`, `user/app:1`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffix(&mut s);
        s
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Self {
        Self {
            tag: Some(tag.into()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository with a digest and no tag (`name@sha256:...`).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    fn push_suffix(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

/// Splits off the registry as docker does: the first component is a registry only if it
/// has a dot or a colon, or is `localhost`, or has upper-case letters.
fn split_domain(s: &str) -> (&str, String) {
    let (domain, remainder) = match s.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first, rest.to_string())
        }
        _ => (DOCKER_HUB, s.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        DOCKER_HUB
    } else {
        domain
    };
    if domain == DOCKER_HUB && !remainder.contains('/') {
        return (domain, format!("{OFFICIAL}/{remainder}"));
    }
    (domain, remainder)
}

/// The repository part of a remainder, for the upper-case error message.
fn remainder_name(remainder: String) -> String {
    match remainder.find(':') {
        Some(i) => remainder[..i].to_string(),
        None => remainder,
    }
}

fn parse_digest(s: &str) -> Result<Digest, ReferenceError> {
    let (algorithm, hex) = s.split_once(':').unwrap_or((s, ""));
    if algorithm != "sha256" {
        return Err(ReferenceError::DigestAlgorithm(s.into()));
    }
    if hex.len() != 64 {
        return Err(ReferenceError::DigestLength(s.into()));
    }
    Digest::sha256_hex(hex).map_err(|_| ReferenceError::DigestFormat(s.into()))
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_suffix(&mut s);
        f.write_str(&s)
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
