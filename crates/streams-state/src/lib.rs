//! The RocksDB state backend: one database per app id under `checkpoints/<app-id>/`,
//! a column family per state store, plus `meta` (the checkpoint record: input offsets,
//! watermark state, ledger) and `outbox` (output records not yet known delivered).
//!
//! A checkpoint is ONE synced [`rocksdb::WriteBatch`] ([`StateDb::commit`]): store
//! changes, the checkpoint record and the outbox land together or not at all.
#![warn(missing_docs)]

mod db;
mod error;
mod store;

pub use db::{
    read_snapshot, size_on_disk, CheckpointWrites, KeyValue, StateConfig, StateDb, StateSnapshot,
    StateWriter,
};
pub use error::StateError;
pub use store::RocksStore;
