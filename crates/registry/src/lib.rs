//! OCI distribution for berth: the registry client (reference to endpoint resolution,
//! authentication, pull into the image store, push from it, search) and a registry
//! server over a local directory (`berth-registry`). Credentials (`auth`) and progress
//! messages (`progress`) need neither half: the CLI uses them alone
//! (`default-features = false`).
//!
//! The client speaks HTTP through reqwest's blocking client (rustls with the ring
//! provider, system roots plus `certs.d` CAs) rather than oci-client: a pull streams each
//! layer straight into [`berth_image::store::Pull::ingest`], which verifies, stores and
//! unpacks the same bytes on worker threads, and the image store is synchronous;
//! oci-client's async streams would need a bridge per layer and hide the Range resume
//! and the per-scope token handling this crate needs to control. Pulls and pushes run
//! on the daemon's blocking threads; layers go in parallel on scoped threads.

pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod progress;
#[cfg(feature = "server")]
pub mod server;
