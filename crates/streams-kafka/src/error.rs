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
    /// The broker refuses a record for good (too large for the topic, not authorised,
    /// topic deleted): retrying cannot help, so the app stops.
    #[error("cannot deliver to `{topic}`: {cause}; retrying cannot clear this, so the app stops")]
    Rejected {
        /// Target topic.
        topic: String,
        /// The broker's or client's reason.
        cause: String,
    },
    /// `--guarantee exactly-once` was asked for on a broker without transactions.
    #[error("--guarantee exactly-once needs Kafka transactions, which {bootstrap} does not offer ({message}); use `--guarantee auto` (transactions where available, else idempotent delivery with a recovery scan) or `--guarantee idempotent-scan`")]
    NoTransactions {
        /// Bootstrap servers.
        bootstrap: String,
        /// Why transactions could not be initialised.
        message: String,
    },
    /// A benchmark's reader or copy loop made no progress (or failed outside librdkafka).
    #[error("benchmark on `{topic}`: {what}")]
    Stalled {
        /// The topic read.
        topic: String,
        /// What happened.
        what: String,
    },
    /// A record could not be delivered (a transient failure: retried with recovery).
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
            KafkaError::MissingTopic { .. }
            | KafkaError::OffsetOutOfRange { .. }
            | KafkaError::Rejected { .. }
            | KafkaError::Stalled { .. }
            | KafkaError::NoTransactions { .. } => false,
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

    /// Whether a delivery error code can never clear by retrying the same record.
    pub(crate) fn cannot_clear(code: rdkafka::types::RDKafkaErrorCode) -> bool {
        use rdkafka::types::RDKafkaErrorCode as C;
        matches!(
            code,
            C::MessageSizeTooLarge
                | C::MessageBatchTooLarge
                | C::InvalidRecord
                | C::InvalidMessage
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::TransactionalIdAuthorizationFailed
                | C::UnknownTopic
                | C::InvalidTopic
                | C::PolicyViolation
        )
    }

    pub(crate) fn client(op: &'static str) -> impl FnOnce(RdError) -> KafkaError {
        move |source| KafkaError::Client { op, source }
    }
}
