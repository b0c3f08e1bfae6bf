//! `save`: images from the store written as a `docker save` archive or an OCI layout,
//! with the names docker would put in it.

use std::io::{Read, Write};

use super::blobs::Blobs;
use super::{ImageStore, Result, StoreError};
use crate::archive::{write_archive, ArchiveForm, ImageToSave, SaveOptions};
use crate::content::Provider;
use crate::formats::{Compression, LayerRef};
use crate::layer;
use crate::metadata::{ImageSummary, LayerRecord};
use crate::reference::Reference;

impl ImageStore {
    /// Writes the images `names` to `out` in `form`, gzipped if `gzip`. A name with a tag
    /// saves that tag; a repository name without a tag saves all its tags; an ID saves the
    /// image without names.
    pub fn save<W: Write>(
        &self,
        names: &[String],
        form: ArchiveForm,
        gzip: bool,
        out: W,
    ) -> Result<W> {
        let (images, layers) = self.images_to_save(names)?;
        let spool_root = self.root.join("tmp");
        std::fs::create_dir_all(&spool_root).map_err(|source| StoreError::Io {
            op: "create",
            path: spool_root.clone(),
            source,
        })?;
        let spool = tempfile::TempDir::new_in(&spool_root).map_err(|source| StoreError::Io {
            op: "create temporary directory in",
            path: spool_root.clone(),
            source,
        })?;
        let opts = SaveOptions {
            form,
            gzip,
            spool_dir: spool.path(),
        };
        let content = self.content.clone();
        let open = move |l: &LayerRef| -> std::io::Result<Box<dyn Read>> {
            let blob = content.open(&l.blob).map_err(std::io::Error::other)?;
            Ok(layer::decompress(blob)?)
        };
        let blobs = Blobs::new(self, &layers);
        Ok(write_archive(out, &blobs, &images, &opts, &open)?)
    }

    /// The images `names` name, and their layers.
    fn images_to_save(&self, names: &[String]) -> Result<(Vec<ImageToSave>, Vec<LayerRecord>)> {
        let all = self.db.list()?;
        let mut out: Vec<ImageToSave> = Vec::new();
        let mut layers = Vec::new();
        for name in names {
            let id = self.db.resolve_id(name)?;
            let Some(summary) = all.iter().find(|s| s.image.id == id) else {
                continue;
            };
            let tags = tags_for(name, summary);
            match out.iter_mut().find(|i| i.config == id) {
                Some(existing) => {
                    for t in tags {
                        if !existing.tags.contains(&t) {
                            existing.tags.push(t);
                        }
                    }
                }
                None => {
                    out.push(to_save(summary, tags));
                    layers.extend(summary.image.layers.iter().cloned());
                }
            }
        }
        Ok((out, layers))
    }
}

/// The names `docker save NAME` writes for the image NAME resolved to.
fn tags_for(name: &str, summary: &ImageSummary) -> Vec<Reference> {
    let Ok(given) = Reference::parse(name) else {
        return Vec::new();
    };
    if summary.tags.contains(&given) {
        let has_tag = name
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'));
        if has_tag {
            return vec![given];
        }
        return summary
            .tags
            .iter()
            .filter(|t| t.name() == given.name())
            .cloned()
            .collect();
    }
    Vec::new()
}

fn to_save(summary: &ImageSummary, tags: Vec<Reference>) -> ImageToSave {
    let img = &summary.image;
    ImageToSave {
        config: img.id.clone(),
        manifest: img.manifest_digest.clone(),
        manifest_media_type: img.manifest_media_type.clone(),
        layers: img
            .layers
            .iter()
            .map(|l| LayerRef {
                blob: l.blob.clone(),
                size: l.blob_size,
                media_type: l.media_type.clone(),
                compression: Compression::from_media_type(&l.media_type)
                    .unwrap_or(Compression::None),
                diff_id: l.diff_id.clone(),
            })
            .collect(),
        tags,
    }
}
