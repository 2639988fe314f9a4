//! Test support: the [`TopologyTestDriver`] runs a topology file against real RocksDB
//! state in a temporary directory, with in-memory input and output, a simulated wall
//! clock, and crashes at any step of the commit protocol.
#![warn(missing_docs)]

mod driver;
pub mod kafka;
mod sink;

pub use driver::{CrashPoint, TopologyTestDriver};
pub use kafka::{BrokerOptions, KafkaBroker};
pub use sink::MemorySink;

/// The reference topology file of this repository.
pub fn reference_topology() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topology/clickstream.toml")
}
