//! berth-runtime: an OCI runtime with runc's command line.
fn main() {}
