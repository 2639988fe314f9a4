//! Parquet output: Arrow schemas for output tables, the Parquet sink (hidden staged
//! files, fsync, atomic publish, deterministic names, rolling by size or age), and
//! helpers to read a table back.
//!
//! Layout: `<output-dir>/<app-id>/<table>/event_date=YYYY-MM-DD/part-<first>-<last>-<task>.parquet`
//! where `<first>`/`<last>` are the checkpoint epochs whose rows the file holds. A file
//! always holds whole epochs of its (table, date), so after a crash the sink knows
//! exactly which outbox rows are already published: a reader listing the directory never
//! sees a partial or duplicate file.
#![warn(missing_docs)]

mod error;
pub mod layout;
pub mod read;
pub mod schema;
pub mod sink;

pub use error::ParquetError;
pub use sink::{FileFormat, ParquetSink, ParquetSinkConfig, StagedFile};
