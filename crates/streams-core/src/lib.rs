//! The stream engine's core: schemas, the declared input and its decoder, the SQL
//! expression language, batches, event time, watermarks, windows, the batch
//! [`Processor`](dataflow::Processor) trait, the topology builder and aggregate
//! functions. No I/O happens here and no field of any application: every decision is a
//! function of its inputs, so a replay of the same input from the same checkpoint makes
//! the same decisions.
//!
//! Data flow of a batch of records (the runtime crate drives it):
//!
//! ```text
//! SourceRecords ─▶ input::Decoder ─▶ Batch ─▶ processors (filter ▸ map ▸ dedup ▸ lookup_join ▸ window_aggregate) ─▶ sinks (tables)
//!       │               └─▶ dead letters (reason)            ▲
//!       └─ offsets, event times ─▶ WatermarkTracker ─▶ per-row watermark, punctuate(W)
//! ```
#![warn(missing_docs)]

pub mod aggregate;
pub mod batch;
pub mod dataflow;
pub mod error;
pub mod expr;
pub mod input;
pub mod record;
pub mod store;
pub mod time;
pub mod topology;
pub mod value;
pub mod window;

pub use error::CoreError;
pub use record::SourceRecord;
pub use value::{Column, ColumnType, KeyPart, Row, Schema, Value};
