//! An embedded broker for demos and tests: librdkafka's in-process mock cluster,
//! listening on 127.0.0.1. It keeps at most ~5 MiB or 100,000 batches per partition and
//! has no CreateTopics, so topics are created through [`EmbeddedBroker::create_topic`].

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::error::KafkaError;

/// A Kafka-compatible broker living in this process until dropped.
pub struct EmbeddedBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedBroker {
    /// Starts a one-broker cluster.
    pub fn start() -> Result<Self, KafkaError> {
        let cluster = MockCluster::new(1).map_err(KafkaError::client("start embedded broker"))?;
        Ok(EmbeddedBroker { cluster })
    }

    /// `host:port` of the broker.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates a topic (replication 1).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), KafkaError> {
        self.cluster
            .create_topic(name, partitions, 1)
            .map_err(KafkaError::client("create topic"))
    }
}
