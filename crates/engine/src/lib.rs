//! The engine: what turns an image into a container the way docker does. It writes the
//! runtime spec docker would give the container (default capabilities, masked paths,
//! mounts, seccomp profile, the image's command, environment, user and working directory);
//! the CLI uses it now and berthd later.

pub mod spec;
pub mod user;
