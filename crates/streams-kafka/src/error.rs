//! The Kafka crate's error type.

use rdkafka::error::KafkaError as RdError;

/// Errors of the Kafka source, sink and admin.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The broker could not be reached in time.
    #[error("cannot reach Kafka at {bootstrap} ({source}); check --bootstrap-servers and that the broker is up")]
    Unreachable {
        /// Bootstrap servers.
        bootstrap: String,
        /// librdkafka's error.
        source: RdError,
    },
    /// A topic the app needs does not exist.
    #[error(
        "topic `{topic}` does not exist on {bootstrap}; create it with `streams-app topics create`"
    )]
    MissingTopic {
        /// Topic name.
        topic: String,
        /// Bootstrap servers.
        bootstrap: String,
    },
    /// A client operation failed.
    #[error("kafka {op} failed: {source}")]
    Client {
        /// What was being done.
        op: &'static str,
        /// librdkafka's error.
        source: RdError,
    },
    /// A checkpointed position is not in the log (the topic was recreated or truncated).
    #[error("input position out of range ({message}); the topic was recreated or truncated: run `streams-app replay`")]
    OffsetOutOfRange {
        /// librdkafka's message.
        message: String,
    },
    /// A record could not be delivered.
    #[error("delivery to `{topic}` failed: {message}")]
    Delivery {
        /// Target topic.
        topic: String,
        /// What went wrong.
        message: String,
    },
}

impl KafkaError {
    /// Whether retrying the same operation later may succeed (broker down, timeouts).
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Unreachable { .. } => true,
            KafkaError::MissingTopic { .. } | KafkaError::OffsetOutOfRange { .. } => false,
            KafkaError::Client { source, .. } => source.rdkafka_error_code().is_some_and(|c| {
                use rdkafka::types::RDKafkaErrorCode as C;
                matches!(
                    c,
                    C::BrokerTransportFailure
                        | C::AllBrokersDown
                        | C::OperationTimedOut
                        | C::RequestTimedOut
                        | C::NetworkException
                        | C::NotLeaderForPartition
                        | C::LeaderNotAvailable
                        | C::MessageTimedOut
                )
            }),
            KafkaError::Delivery { .. } => true,
        }
    }

    pub(crate) fn client(op: &'static str) -> impl FnOnce(RdError) -> KafkaError {
        move |source| KafkaError::Client { op, source }
    }
}
