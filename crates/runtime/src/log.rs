//! Warnings that do not stop an operation (a failed poststart or poststop hook, say).

/// Prints a warning on stderr.
pub fn warn(msg: &str) {
    eprintln!("berth-runtime: warning: {msg}");
}
