//! OCI distribution for berth: the registry client (reference to endpoint resolution,
//! authentication, pull into the image store, push from it) and a registry server over a
//! local directory. Credentials (`auth`) and progress messages (`progress`) need neither
//! half: the CLI uses them alone (`default-features = false`).

pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod progress;
#[cfg(feature = "server")]
pub mod server;
