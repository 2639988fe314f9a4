//! The Parquet crate's error type.

use std::path::PathBuf;

/// Errors of the Parquet sink and readers.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// A file system operation failed (disk full, permissions, ...).
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Encoding or decoding Parquet failed.
    #[error("parquet file {path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl ParquetError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ParquetError {
        let path = path.into();
        move |source| ParquetError::Io { op, path, source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> ParquetError {
        ParquetError::Format {
            path: path.into(),
            message: e.to_string(),
        }
    }
}
