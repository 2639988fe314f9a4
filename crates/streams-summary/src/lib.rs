//! `daily-summary`: the batch job that replaces the Airflow + pandas DAG (DESIGN §6).
//!
//! For a date D it reads `<output>/<app>/country_segment_revenue/event_date=D/` (the
//! tumbling aggregate: summing the hopping windows would count every event twice),
//! aggregates per (country, segment), ranks segments by revenue within each country,
//! joins `is_premium` from `segments.csv`, writes `daily_segment_metrics.parquet` and
//! `premium_summary.parquet` atomically to `<output>/<app>/daily_summary/event_date=D/`,
//! and checks its own output.
#![warn(missing_docs)]

mod aggregate;
pub mod bench;
pub mod declared;
mod error;
mod io;

pub use aggregate::{
    aggregate, check, premium_summary, rank, Check, InputTotals, PremiumRow, SegmentRow,
};
pub use error::SummaryError;
pub use io::{
    load_segments, read_day, summarize_day, summarize_day_with, write_day, DayReport, SummaryConfig,
};
