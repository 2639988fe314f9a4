//! Kafka I/O: the source that feeds the engine, the sink that delivers the outbox
//! idempotently (with tail-scan recovery), the dead-letter topic, and topic admin.
//!
//! Offsets that matter live in the engine's RocksDB checkpoint; the consumer group's
//! offsets are committed only so that lag monitoring works (DESIGN §4.1).
#![warn(missing_docs)]

pub mod admin;
pub mod bench;
pub mod embedded;
mod error;
mod flush;
pub mod identity;
pub mod producer;
pub mod sink;
pub mod source;

pub use error::KafkaError;
pub use sink::{Guarantee, KafkaSink, Protocol, SinkConfig};
pub use source::{KafkaSource, SourceConfig};

/// Client settings shared by every client this crate creates.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `host:port[,host:port]`.
    pub bootstrap_servers: String,
    /// Extra librdkafka settings (`key`, `value`).
    pub extra: Vec<(String, String)>,
}

impl ClientConfig {
    /// Settings for `bootstrap_servers`.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        ClientConfig {
            bootstrap_servers: bootstrap_servers.into(),
            extra: Vec::new(),
        }
    }

    pub(crate) fn rd(&self) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        // Fail fast and say so instead of retrying silently forever.
        c.set("socket.connection.setup.timeout.ms", "10000");
        for (k, v) in &self.extra {
            c.set(k, v);
        }
        c
    }
}
