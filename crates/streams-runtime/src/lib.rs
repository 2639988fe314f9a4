//! The runtime: loads a topology file, opens the RocksDB state and runs records through
//! the topology with checkpoints and an outbox (DESIGN §4).
//!
//! ```text
//! source ─▶ Engine::process ─▶ Topology (processors, stores) ─▶ rows, dead letters
//!                                                                   │
//! Engine::commit: one atomic batch = store writes + offsets + watermark + ledger + outbox
//!                                                                   │
//! Delivery: the outbox to every Sink (idempotent by task/epoch/seq) ─▶ mark_delivered
//! ```
#![warn(missing_docs)]

pub mod checkpoint;
pub mod delivery;
pub mod engine;
mod error;
pub mod ledger;
pub mod outbox;
pub mod tasks;
pub mod topology_file;

pub use delivery::{ConsoleSink, Delivery, Sink, SinkError};
pub use engine::{CheckpointStats, Engine, EngineOptions, PartitionStatus};
pub use error::RuntimeError;
pub use ledger::Ledger;
pub use outbox::{DeadLetterRecord, EntryRows, OutboxBatch, OutboxPayload};
pub use topology_file::{load_topology, TopologyDef};
