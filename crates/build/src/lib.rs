//! Dockerfiles into images: the parser (`dockerfile`), variable expansion (`expand`),
//! `.dockerignore` matching (`ignore`) and the builder that runs the steps over a
//! [`builder::Backend`] with a layer cache.

pub mod ast;
pub mod builder;
pub mod digests;
pub mod dockerfile;
pub mod expand;
pub mod ignore;
pub mod pathmatch;

// Build contexts: COPY/ADD source resolution and the content hash of the layer cache.
pub mod context;
