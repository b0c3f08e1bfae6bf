//! Why a build failed. Messages follow docker's classic builder where it has one; the
//! others name the Dockerfile line.

/// An error of the engine behind the builder (its own typed error, boxed at the seam).
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A RUN step's command exited non-zero (docker's message, word for word).
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as docker shows it (`/bin/sh -c false`).
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// The client went away.
    #[error("build cancelled: the client went away")]
    Cancelled,
    /// `--target` names no stage.
    #[error("failed to reach build target {0} in Dockerfile")]
    NoTarget(String),
    /// The Dockerfile has no `FROM`.
    #[error("no build stage in current context")]
    NoStage,
    /// `COPY --from` or `FROM` names a stage index that is not before it.
    #[error("Dockerfile line {line}: invalid stage reference {name:?}: {why}")]
    BadStage {
        /// The line of the instruction.
        line: usize,
        /// The name or index as written.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A COPY or ADD source is not in the context.
    #[error("Dockerfile line {line}: {op} failed: file not found in build context or excluded by .dockerignore: stat {source_path}: file does not exist")]
    NoSource {
        /// The line.
        line: usize,
        /// COPY or ADD.
        op: &'static str,
        /// The source as written.
        source_path: String,
    },
    /// A COPY or ADD source cannot be resolved in the context.
    #[error("Dockerfile line {line}: {op} failed: {source}")]
    Resolve {
        /// The line.
        line: usize,
        /// COPY, ADD or RUN --mount.
        op: &'static str,
        /// Why.
        source: crate::context::ContextError,
    },
    /// A value in an instruction is wrong (a bad `--chmod`, port, duration, ...).
    #[error("Dockerfile line {line}: {instruction}: {why}")]
    BadValue {
        /// The line.
        line: usize,
        /// The instruction's keyword.
        instruction: &'static str,
        /// What is wrong.
        why: String,
    },
    /// Variable expansion failed (`${X:?message}`, a bad substitution).
    #[error("Dockerfile line {line}: {why}")]
    Expand {
        /// The line.
        line: usize,
        /// The expander's message.
        why: String,
    },
    /// A file in the context could not be read.
    #[error("read {path} in the build context: {source}")]
    Context {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `ADD --checksum` did not match.
    #[error("Dockerfile line {line}: ADD: checksum mismatch for {url}: expected {expected}, got {actual}")]
    Checksum {
        /// The line.
        line: usize,
        /// The URL.
        url: String,
        /// What `--checksum` said.
        expected: String,
        /// What the download hashed to.
        actual: String,
    },
    /// An ONBUILD trigger of the base image could not be parsed.
    #[error("Dockerfile line {line}: ONBUILD trigger {trigger:?}: {why}")]
    Trigger {
        /// The line of the FROM.
        line: usize,
        /// The trigger.
        trigger: String,
        /// What is wrong.
        why: String,
    },
    /// An image a FROM or COPY --from names could not be had.
    #[error("Dockerfile line {line}: image {name:?}: {source}")]
    Image {
        /// The line.
        line: usize,
        /// The image as named.
        name: String,
        /// The engine's error.
        source: BackendError,
    },
    /// The engine failed.
    #[error("{op}: {source}")]
    Backend {
        /// What was being done.
        op: &'static str,
        /// The engine's error.
        source: BackendError,
    },
}

impl BuildError {
    /// Wraps an engine error with what was being done.
    pub fn backend(op: &'static str) -> impl FnOnce(BackendError) -> BuildError {
        move |source| BuildError::Backend { op, source }
    }
}
