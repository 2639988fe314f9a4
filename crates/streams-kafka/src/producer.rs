//! A plain producer for input records (the `produce` command and the demo): keyed
//! records with a timestamp, batched and compressed, with delivery errors counted and
//! reported instead of dropped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::error::KafkaError;
use crate::ClientConfig;

/// Acknowledgements the producer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Fire and forget.
    None,
    /// The leader wrote it.
    Leader,
    /// Every in-sync replica wrote it (idempotent: retries never duplicate).
    All,
}

/// Settings of an [`InputProducer`].
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Client settings.
    pub client: ClientConfig,
    /// Target topic.
    pub topic: String,
    /// Acknowledgements.
    pub acks: Acks,
    /// `none`, `gzip`, `snappy` or `lz4`.
    pub compression: String,
    /// How long to wait for the broker before failing (metadata and delivery).
    pub timeout: Duration,
}

#[derive(Default)]
struct Counter {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Counter {}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

/// Counts of a producer's deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivered {
    /// Acknowledged records.
    pub ok: u64,
    /// Records the broker did not take.
    pub failed: u64,
}

/// A producer of input records to one topic.
pub struct InputProducer {
    producer: ThreadedProducer<Counter>,
    topic: String,
    partitions: Vec<i32>,
    timeout: Duration,
}

impl InputProducer {
    /// Connects and checks that the topic exists ([`KafkaError::MissingTopic`] if not,
    /// [`KafkaError::Unreachable`] if the broker does not answer within the timeout).
    pub fn connect(cfg: &ProducerConfig) -> Result<Self, KafkaError> {
        let partitions = crate::admin::partitions(&cfg.client, &cfg.topic, cfg.timeout)?;
        let mut rd = cfg.client.rd();
        let timeout_ms = cfg.timeout.as_millis().max(1_000).to_string();
        rd.set("message.timeout.ms", &timeout_ms)
            .set("compression.type", &cfg.compression)
            .set("linger.ms", "20")
            // Same partitioner as the Java clients (and the app's sink): a user's events
            // land in the same partition whoever produces them.
            .set("partitioner", "murmur2_random")
            .set("queue.buffering.max.messages", "200000");
        match cfg.acks {
            Acks::All => rd.set("acks", "all").set("enable.idempotence", "true"),
            Acks::Leader => rd.set("acks", "1").set("enable.idempotence", "false"),
            Acks::None => rd.set("acks", "0").set("enable.idempotence", "false"),
        };
        let producer: ThreadedProducer<Counter> = rd
            .create_with_context(Counter::default())
            .map_err(KafkaError::client("create producer"))?;
        Ok(InputProducer {
            producer,
            topic: cfg.topic.clone(),
            partitions,
            timeout: cfg.timeout,
        })
    }

    /// Partition ids of the topic.
    pub fn partitions(&self) -> &[i32] {
        &self.partitions
    }

    /// Queues one record (partitioned by key; without a key, spread at random); waits
    /// while the local queue is full,
    /// unless `stop` is set (then returns `Ok(false)`: not queued). Fails with the
    /// broker's error once a queued record could not be delivered.
    pub fn send(
        &self,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp_ms: i64,
        stop: &AtomicBool,
    ) -> Result<bool, KafkaError> {
        self.check()?;
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic)
            .payload(value)
            .timestamp(timestamp_ms);
        if let Some(key) = key {
            record = record.key(key);
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(true),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(false);
                    }
                    if Instant::now() > deadline {
                        return Err(self.delivery_error(format!(
                            "the local queue stayed full for {:?}; is the broker up?",
                            self.timeout
                        )));
                    }
                    self.check()?;
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(KafkaError::client("produce")(e)),
            }
        }
    }

    /// The delivery timeout this producer was configured with.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Counts so far.
    pub fn delivered(&self) -> Delivered {
        let c = self.producer.context();
        Delivered {
            ok: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    /// Waits up to `timeout` until every queued record is acknowledged (or failed).
    pub fn flush(&self, timeout: Duration) -> Result<Delivered, KafkaError> {
        crate::flush::flush_threaded(&self.producer, timeout)
            .map_err(KafkaError::client("flush"))?;
        self.check()?;
        Ok(self.delivered())
    }

    fn check(&self) -> Result<(), KafkaError> {
        let c = self.producer.context();
        let failed = c.failed.load(Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first = c
            .first_error
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        Err(self.delivery_error(format!("{failed} record(s) not delivered: {first}")))
    }

    fn delivery_error(&self, message: String) -> KafkaError {
        KafkaError::Delivery {
            topic: self.topic.clone(),
            message,
        }
    }
}
