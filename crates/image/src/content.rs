//! The content store: blobs addressed by digest (stub; filled by the image-side work).
