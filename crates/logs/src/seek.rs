//! Finding where `--tail` and `--since` start.
