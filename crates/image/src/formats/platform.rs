//! Platforms (`os/arch[/variant]`), normalised as containerd's matcher does, and the
//! choice of one manifest from an index or manifest list.

use std::fmt;

use oci_spec::image::{Descriptor, ImageIndex};

use super::FormatError;

/// An `os/arch/variant` triple, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `amd64`, `arm64`, `arm`.
    pub arch: String,
    /// e.g. `v7`; empty when the architecture has no variant or its default one
    /// (`amd64` v1, `arm64` v8).
    pub variant: String,
}

impl Platform {
    /// Normalises a platform: `x86_64` is `amd64`, `aarch64` is `arm64` (v8 is its
    /// default variant), `armhf` is `arm/v7`, a bare `arm` is `arm/v7`, `i386` is `386`.
    pub fn new(os: &str, arch: &str, variant: &str) -> Self {
        let os = match os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_string(),
            other => other.to_string(),
        };
        let (arch, variant) =
            normalize_arch(&arch.to_ascii_lowercase(), &variant.to_ascii_lowercase());
        Self { os, arch, variant }
    }

    /// The platform this process runs on.
    pub fn host() -> Self {
        Self::new(std::env::consts::OS, std::env::consts::ARCH, "")
    }

    /// How well an image for `other` runs here: `Some(0)` for an exact match, a larger
    /// number for an older compatible variant (arm v6 on an arm v7 host), `None` if not.
    pub fn rank(&self, other: &Platform) -> Option<u32> {
        if self.os != other.os || self.arch != other.arch {
            return None;
        }
        if self.variant == other.variant {
            return Some(0);
        }
        let (mine, theirs) = (
            variant_number(&self.variant)?,
            variant_number(&other.variant)?,
        );
        (self.arch == "arm" && theirs < mine).then(|| mine - theirs)
    }

    fn of_descriptor(desc: &Descriptor) -> Option<Self> {
        let p = desc.platform().as_ref()?;
        Some(Self::new(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref().unwrap_or(""),
        ))
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (a, v) = match (arch, variant) {
        ("i386", _) => ("386", ""),
        ("x86_64" | "x86-64" | "amd64", "v1") => ("amd64", ""),
        ("x86_64" | "x86-64" | "amd64", v) => ("amd64", v),
        ("aarch64" | "arm64", "8" | "v8" | "v8.0") => ("arm64", ""),
        ("aarch64" | "arm64", "9" | "9.0" | "v9.0") => ("arm64", "v9"),
        ("aarch64" | "arm64", v) => ("arm64", v),
        ("armhf", _) => ("arm", "v7"),
        ("armel", _) => ("arm", "v6"),
        ("arm", "" | "7") => ("arm", "v7"),
        ("arm", "5") => ("arm", "v5"),
        ("arm", "6") => ("arm", "v6"),
        ("arm", "8") => ("arm", "v8"),
        (a, v) => (a, v),
    };
    (a.to_string(), v.to_string())
}

fn variant_number(v: &str) -> Option<u32> {
    v.strip_prefix('v')?.parse().ok()
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// Picks the manifest of `index` that best fits `want`: the lowest rank, the first in the
/// index among equals. An index with a single entry and no platform gives that entry.
pub fn select_manifest<'a>(
    index: &'a ImageIndex,
    want: &Platform,
    what: &str,
) -> Result<&'a Descriptor, FormatError> {
    let manifests = index.manifests();
    if let [only] = manifests.as_slice() {
        if only.platform().is_none() {
            return Ok(only);
        }
    }
    manifests
        .iter()
        .filter_map(|d| Some((want.rank(&Platform::of_descriptor(d)?)?, d)))
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, d)| d)
        .ok_or_else(|| FormatError::NoPlatform {
            platform: want.to_string(),
            index: what.into(),
            available: manifests
                .iter()
                .filter_map(Platform::of_descriptor)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}
