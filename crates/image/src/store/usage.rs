//! Disk use as `system df` reports it: every byte under the data root counted (apparent
//! sizes, hardlinks once, as `du -sb`), and per image its layers' bytes split into shared
//! and unique.

use std::collections::HashMap;

use super::gc::tree_bytes;
use super::{ImageStore, Result};
use crate::content::Provider;
use crate::digest::Digest;
use crate::metadata::ImageSummary;

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
    /// Measures the disk use of the store.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let list = self.db.list()?;
        let mut layer_users: HashMap<&Digest, usize> = HashMap::new();
        for s in &list {
            for l in &s.image.layers {
                *layer_users.entry(&l.chain_id).or_default() += 1;
            }
        }
        let mut layer_bytes: HashMap<&Digest, u64> = HashMap::new();
        let mut images = Vec::with_capacity(list.len());
        for s in &list {
            let (mut size, mut shared) = (
                self.blob_size(&s.image.id) + self.blob_size(&s.image.manifest_digest),
                0,
            );
            for l in &s.image.layers {
                let bytes = *layer_bytes
                    .entry(&l.chain_id)
                    .or_insert_with(|| self.layer_bytes(&l.chain_id) + self.blob_size(&l.blob));
                size += bytes;
                if layer_users[&l.chain_id] > 1 {
                    shared += bytes;
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
