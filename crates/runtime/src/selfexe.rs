//! Protection of the runtime binary against CVE-2019-5736 (stub until the real one lands).

/// Errors while protecting the runtime binary.
#[derive(Debug, thiserror::Error)]
#[error("protect runtime binary: {0}")]
pub struct Error(String);

/// Re-executes the runtime from a protected copy when needed.
pub fn ensure_protected_exe() -> Result<(), Error> {
    Ok(())
}
