//! Disk use as `system df` reports it: every byte under the data root counted (apparent
//! sizes, hardlinks once, as `du -sb`), and per image its layers' bytes split into shared
//! and unique.

use std::collections::HashMap;

use super::gc::{content_bytes, tree_bytes};
use super::{ImageStore, Result};
use crate::content::Provider;
use crate::digest::Digest;
use crate::metadata::ImageSummary;
use crate::snapshot::DirStyle;

/// One image's share of the disk.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    /// The image and its names.
    pub summary: ImageSummary,
    /// Bytes of its layers (unpacked and blob) and its config and manifest.
    pub size: u64,
    /// Of those, bytes of layers other images use too.
    pub shared: u64,
    /// How many containers use it.
    pub containers: usize,
}

impl ImageUsage {
    /// Bytes only this image holds.
    pub fn unique(&self) -> u64 {
        self.size - self.shared
    }
}

/// What the store holds on disk.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Every image.
    pub images: Vec<ImageUsage>,
    /// Every byte under the data root (including containers' layers, if any).
    pub root_bytes: u64,
}

impl DiskUsage {
    /// Bytes only images that no container uses hold: what removing them frees.
    pub fn reclaimable(&self) -> u64 {
        self.images
            .iter()
            .filter(|i| i.containers == 0)
            .map(ImageUsage::unique)
            .sum()
    }
}

impl ImageStore {
    /// Measures the disk use of the store. A layer's unpacked files and a blob count as
    /// shared when more than one image uses them.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let list = self.db.list()?;
        let mut users: HashMap<String, usize> = HashMap::new();
        for s in &list {
            for part in parts(s) {
                *users.entry(part).or_default() += 1;
            }
        }
        let mut bytes: HashMap<String, u64> = HashMap::new();
        let mut images = Vec::with_capacity(list.len());
        for s in &list {
            let (mut size, mut shared) = (0, 0);
            for part in parts(s) {
                let b = *bytes
                    .entry(part.clone())
                    .or_insert_with(|| self.part_bytes(&part));
                size += b;
                if users[&part] > 1 {
                    shared += b;
                }
            }
            images.push(ImageUsage {
                summary: s.clone(),
                size,
                shared,
                containers: self.db.users(&s.image.id)?.len(),
            });
        }
        Ok(DiskUsage {
            images,
            root_bytes: tree_bytes(&self.root),
        })
    }

    /// Bytes of one part of an image: `layer:<chain id>` or `blob:<digest>`.
    fn part_bytes(&self, part: &str) -> u64 {
        let digest = |s: &str| Digest::parse(s).ok();
        match part.split_once(':') {
            Some(("layer", chain)) => digest(chain).map_or(0, |c| self.layer_bytes(&c)),
            Some(("blob", blob)) => digest(blob).map_or(0, |b| self.blob_size(&b)),
            _ => 0,
        }
    }

    /// The size of layer `chain` as docker reports it (`history`, the image's size): the
    /// bytes of the files the layer itself holds.
    pub fn layer_size(&self, chain: &Digest) -> u64 {
        let Ok(dirs) = self.snap.layer_dirs(&chain.to_string()) else {
            return 0;
        };
        let own = content_bytes(&dirs.upper);
        match (dirs.style, dirs.lowers.first()) {
            (DirStyle::Full, Some(parent)) => own.saturating_sub(content_bytes(parent)),
            _ => own,
        }
    }

    fn blob_size(&self, digest: &Digest) -> u64 {
        self.content.size(digest).unwrap_or_default()
    }

    /// Bytes of the committed snapshot `chain`'s own directory.
    fn layer_bytes(&self, chain: &Digest) -> u64 {
        self.snap
            .layer_dirs(&chain.to_string())
            .ok()
            .and_then(|d| d.upper.parent().map(tree_bytes))
            .unwrap_or_default()
    }
}

/// The parts an image's bytes are in: its layers' snapshots and its blobs (deduplicated).
fn parts(s: &ImageSummary) -> Vec<String> {
    let img = &s.image;
    let mut out: Vec<String> = img
        .layers
        .iter()
        .map(|l| format!("layer:{}", l.chain_id))
        .collect();
    out.extend(img.layers.iter().map(|l| format!("blob:{}", l.blob)));
    out.push(format!("blob:{}", img.id));
    out.push(format!("blob:{}", img.manifest_digest));
    out.sort();
    out.dedup();
    out
}
