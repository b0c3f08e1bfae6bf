//! Snapshotters: read-only layers and writable container layers (stub; filled by the
//! filesystem-side work).
