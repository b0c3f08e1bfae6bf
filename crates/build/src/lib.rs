//! Dockerfiles into images: the parser (`dockerfile`), variable expansion (`expand`),
//! `.dockerignore` matching (`ignore`) and the builder that runs the steps over a
//! [`builder::Backend`] with a layer cache.

pub mod ast;
pub mod context;
pub mod dockerfile;
pub mod expand;
pub mod ignore;
pub mod pathmatch;
