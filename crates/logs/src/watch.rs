//! Waiting for a followed log to change.
