//! The stream engine's core: records, event time, watermarks, windows, the
//! [`Processor`](processor::Processor) trait, the topology builder and aggregate
//! functions. No I/O happens here: every decision is a function of its inputs, so a
//! replay of the same input from the same checkpoint makes the same decisions.
//!
//! Data flow of one record (the runtime crate drives it):
//!
//! ```text
//! SourceRecord ─▶ Decoder ─▶ Event ─▶ processors (dedup ▸ enrich ▸ aggregates / sinks) ─▶ rows
//!      │             └─▶ dead letter (reason)                   ▲
//!      └─ offset, Kafka timestamp ─▶ WatermarkTracker ─▶ punctuate(W)
//! ```
#![warn(missing_docs)]

pub mod aggregate;
pub mod batch;
pub mod clickstream;
pub mod dataflow;
pub mod error;
pub mod event;
pub mod expr;
pub mod input;
pub mod processor;
pub mod processors;
pub mod record;
pub mod store;
pub mod time;
pub mod topology;
pub mod value;
pub mod window;

pub use error::CoreError;
pub use event::{Event, EventRef, Field};
pub use processor::{Context, Processor};
pub use record::SourceRecord;
pub use value::{Column, ColumnType, KeyPart, Row, Schema, Value};
