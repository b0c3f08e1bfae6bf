//! Images and their storage: a content store of blobs by digest, snapshotters that hold
//! unpacked layers (shared by chain ID) and containers' writable layers, layer apply and
//! creation, image metadata in SQLite, references, manifests and archives.
//!
//! Two halves meet at a narrow seam: the image side (content, metadata, formats,
//! archives) hands uncompressed layer streams to [`layer::unpack`], which the filesystem side
//! (layers and snapshotters) turns into committed snapshots keyed by chain ID. A load also
//! hands the layers over while the archive is still being read ([`archive::StageHook`],
//! [`layer::EarlyUnpack`]): with overlay, each layer is unpacked on a worker thread as its
//! bytes arrive and committed over its parent once the manifest is known.

pub mod archive;
pub mod content;
pub mod digest;
pub mod formats;
pub mod layer;
pub mod metadata;
pub mod reference;
pub mod snapshot;
pub mod store;
