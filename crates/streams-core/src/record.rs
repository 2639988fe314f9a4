//! Records as they come from a source.

use std::sync::Arc;

/// One record read from an input partition, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// The topic it was read from.
    pub topic: Arc<str>,
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset in that partition.
    pub offset: i64,
    /// The record's Kafka timestamp, milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The record key, if any.
    pub key: Option<Vec<u8>>,
    /// The record value (the raw bytes that the decoder sees).
    pub value: Vec<u8>,
}

/// Where a record came from: the identity used in offsets and dead-letter headers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic-partition pair.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}
