//! The runtime crate's error type.

use std::path::PathBuf;

/// Errors of the runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The topology file has problems; every one is listed.
    #[error("invalid topology:\n  {}", .0.join("\n  "))]
    Topology(Vec<String>),
    /// A processor or store failed.
    #[error(transparent)]
    Core(#[from] streams_core::CoreError),
    /// The state backend failed.
    #[error(transparent)]
    State(#[from] streams_state::StateError),
    /// The existing state was written by a different topology.
    #[error("state at {path} was written by a different topology (fingerprint {found}, this topology is {expected}); run `streams-app replay` or `reset-state` to start over")]
    IncompatibleState {
        /// State directory.
        path: PathBuf,
        /// Fingerprint stored in the checkpoint.
        found: String,
        /// Fingerprint of the loaded topology.
        expected: String,
    },
    /// The state was written in another checkpoint layout (another version of the app).
    #[error("state at {path} has checkpoint format {found}, this version reads format {expected}; run `streams-app replay` to rebuild it")]
    StateFormat {
        /// State directory.
        path: PathBuf,
        /// Format found.
        found: u32,
        /// Format this version writes.
        expected: u32,
    },
    /// A checkpoint or outbox entry could not be decoded.
    #[error("state at {path}: cannot decode {what}: {message}; run `reset-state` to start over")]
    Corrupt {
        /// State directory.
        path: PathBuf,
        /// What was being decoded.
        what: &'static str,
        /// Decoder message.
        message: String,
    },
    /// A sink failed in a way retrying cannot clear.
    #[error(transparent)]
    Sink(crate::delivery::SinkError),
    /// An earlier commit failed; the in-memory state no longer matches the checkpoint.
    #[error(
        "the engine stopped after a failed commit; restart to recover from the last checkpoint"
    )]
    Poisoned,
}
