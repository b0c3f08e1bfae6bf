//! OCI distribution for berth: the registry client (reference to endpoint resolution,
//! authentication, pull into the image store, push from it) and a registry server over a
//! local directory.

pub mod server;
pub mod auth;
pub mod client;
pub mod progress;
