//! The summary crate's error type.

use std::path::PathBuf;

/// Errors of `daily-summary`.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An input or output Parquet file could not be read or written.
    #[error("parquet file {path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Listing, publishing or fsyncing a Parquet file failed (shared with the sink).
    #[error(transparent)]
    Storage(#[from] streams_parquet::ParquetError),
    /// The date is not a calendar date.
    #[error("`{date}` is not a date like 2026-01-31")]
    Date {
        /// What was given.
        date: String,
    },
    /// The job's own output failed a quality check (benchmark runs).
    #[error("summary of {date} failed its checks: {failed}")]
    Checks {
        /// The date.
        date: String,
        /// The failed checks.
        failed: String,
    },
    /// A summary's computation failed (a broken invariant; bad data gives NULL).
    #[error("summary: {message}")]
    Compute {
        /// What went wrong.
        message: String,
    },
    /// An input file lacks a column its table declares.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl SummaryError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SummaryError {
        let path = path.into();
        move |source| SummaryError::Io { op, path, source }
    }

    pub(crate) fn arrow(e: arrow::error::ArrowError) -> SummaryError {
        SummaryError::Compute {
            message: e.to_string(),
        }
    }

    pub(crate) fn parquet(path: impl Into<PathBuf>, e: impl std::fmt::Display) -> SummaryError {
        SummaryError::Parquet {
            path: path.into(),
            message: e.to_string(),
        }
    }
}
