//! Layers: applying a layer tar to a directory and making a layer tar from a writable
//! layer (stub; filled by the filesystem-side work).
