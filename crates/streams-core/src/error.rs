//! The core crate's error type.

/// Errors raised while building or running a topology.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A state store failed; the store implementation describes what went wrong.
    #[error("state store `{store}`: {message}")]
    Store {
        /// Name of the store.
        store: String,
        /// What went wrong.
        message: String,
    },
    /// A stored value could not be decoded; the state was written by an incompatible version.
    #[error("state store `{store}`: cannot decode stored value ({message}); the state was written by an incompatible topology, run `reset-state`")]
    Corrupt {
        /// Name of the store.
        store: String,
        /// Decoder message.
        message: String,
    },
    /// An expression could not be evaluated.
    #[error(transparent)]
    Eval(crate::expr::EvalError),
    /// An Arrow operation failed.
    #[error("arrow: {message}")]
    Arrow {
        /// What failed.
        message: String,
    },
    /// A processor referred to a store it did not declare.
    #[error("processor `{processor}` uses store `{store}` that it did not declare")]
    UndeclaredStore {
        /// Processor name.
        processor: String,
        /// Store name.
        store: String,
    },
    /// A broken invariant of the engine (a bug, never bad input).
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::expr::EvalError> for CoreError {
    fn from(e: crate::expr::EvalError) -> Self {
        CoreError::Eval(e)
    }
}

impl CoreError {
    /// An Arrow kernel failed on data it should always accept (a broken invariant).
    pub fn arrow(e: arrow::error::ArrowError) -> Self {
        CoreError::Arrow {
            message: e.to_string(),
        }
    }

    /// A store error with a message.
    pub fn store(store: impl Into<String>, message: impl std::fmt::Display) -> Self {
        CoreError::Store {
            store: store.into(),
            message: message.to_string(),
        }
    }

    /// A decode error for a stored value.
    pub fn corrupt(store: impl Into<String>, message: impl std::fmt::Display) -> Self {
        CoreError::Corrupt {
            store: store.into(),
            message: message.to_string(),
        }
    }
}
