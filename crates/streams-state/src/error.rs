//! The state crate's error type.

use std::path::PathBuf;

/// Errors of the RocksDB state backend.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database could not be opened.
    #[error("cannot open state at {path}: {source}; check that the directory is writable and not used by another process")]
    Open {
        /// State directory.
        path: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// The state directory could not be created.
    #[error("cannot create state directory {path}: {source}")]
    CreateDir {
        /// State directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A read or write failed.
    #[error("state at {path}: {op} failed: {source}")]
    Io {
        /// State directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A column family the topology needs is missing (cannot happen after a successful open).
    #[error("state at {path}: column family `{cf}` is missing")]
    MissingColumnFamily {
        /// State directory.
        path: PathBuf,
        /// Column family name.
        cf: String,
    },
}
