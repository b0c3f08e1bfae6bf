//! The layer cache key of a step: sha256 of the parent image id, the instruction with
//! its arguments expanded, the build args in use and, for COPY and ADD, the content
//! hash of what they copy. Fields are length-prefixed so no two inputs run together.

use sha2::{Digest as _, Sha256};

/// The cache key (64 hex) of a step.
pub fn key(parent: &str, instruction: &str, args: &[String], content: Option<&str>) -> String {
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    };
    field(b"berth-build-cache-v1");
    field(parent.as_bytes());
    field(instruction.as_bytes());
    for a in args {
        field(a.as_bytes());
    }
    field(content.unwrap_or("").as_bytes());
    super::copy::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::key;

    #[test]
    fn fields_do_not_run_together() {
        let a = key("p", "RUN a", &["X=1".into()], None);
        let b = key("p", "RUN aX=1", &[], None);
        assert_ne!(a, b);
        assert_eq!(a, key("p", "RUN a", &["X=1".into()], None));
        assert_ne!(a, key("p", "RUN a", &["X=1".into()], Some("h")));
    }
}
