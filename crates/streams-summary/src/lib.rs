//! `daily-summary`: the batch jobs a topology declares in `[[summaries]]`, over its
//! Parquet output (DESIGN §6; they replace the Airflow + pandas DAG).
//!
//! A summary reads a table (all of it, or one `date_column=D` partition), joins an
//! optional dimension, groups, aggregates with the streaming aggregate functions, ranks,
//! writes `<output>/<app>/<name>/[<date_column>=D/]summary.parquet` atomically, and
//! checks its own output (one row per group, ranks 1..n, declared reconciliations with
//! the input). The clickstream's daily summary is `topology/clickstream.toml`'s
//! `daily_segment_metrics` and `premium_summary`.
#![warn(missing_docs)]

pub mod bench;
pub mod declared;
mod error;

pub use declared::{read_table, run_declared, Check, DeclaredReport};
pub use error::SummaryError;
