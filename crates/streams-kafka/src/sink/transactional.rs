//! The transactional protocol: one Kafka transaction per checkpoint epoch holding the
//! epoch's output records, its dead letters and an epoch marker (DESIGN §4.2).
//!
//! - `init_transactions` under `streams-app-<app-id>-task-<task>` fences every earlier
//!   producer of the task: a killed instance's requests still on the wire are rejected,
//!   and its open transaction is aborted (or, if its commit was already decided,
//!   completed) before the new producer may write.
//! - Recovery reads the newest marker of the task from the epochs topic with
//!   `read_committed`: epochs up to it are in Kafka, later ones are delivered again. It
//!   reads a few records at the end of one partition, whatever the output history.
//! - Any failure of a transaction replaces the producer (which fences the failed one and
//!   settles its transaction) and re-reads the marker, so a retry neither loses nor
//!   doubles an epoch.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{Producer, PurgeConfig};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::topology::TableInfo;
use streams_runtime::OutboxBatch;

use super::{
    base_producer_config, create, delivery_error, Encoded, KafkaSink, Producer_, SinkConfig,
};
use crate::error::KafkaError;
use crate::identity::{epoch_marker, last_committed_epoch};

/// How long a transaction may stay open before the broker aborts it. A checkpoint's
/// transaction lasts well under a second; a producer that stalls longer is fenced.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// The `transactional.id` of an app's task: stable across restarts, so that a new
/// instance fences the one before it.
pub fn transactional_id(app_id: &str, task: u32) -> String {
    format!("streams-app-{app_id}-task-{task}")
}

/// A transactional producer, initialised (which fences its predecessors), after proving
/// that the broker really implements transactions: a record written in an aborted
/// transaction must be invisible to `read_committed` readers and one of a committed
/// transaction visible (some brokers accept the requests without the semantics).
pub(super) fn verified_producer(cfg: &SinkConfig) -> Result<(Producer_, i32), KafkaError> {
    let partition = marker_partition(cfg)?;
    let producer = producer(cfg)?;
    let nonce = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let key = format!("{}/probe-{}", cfg.app_id, cfg.task).into_bytes();
    let client = |op: &'static str| move |e: RdError| KafkaError::Client { op, source: e };
    for (value, commit) in [
        (format!("aborted-{nonce}"), false),
        (format!("committed-{nonce}"), true),
    ] {
        producer
            .begin_transaction()
            .map_err(client("probe transactions"))?;
        let rec = rdkafka::producer::BaseRecord::<[u8], [u8]>::to(&cfg.epochs_topic)
            .partition(partition)
            .key(key.as_slice())
            .payload(value.as_bytes());
        producer
            .send(rec)
            .map_err(|(e, _)| client("probe transactions")(e))?;
        crate::flush::flush_base(&producer, cfg.delivery_timeout)
            .map_err(client("probe transactions"))?;
        if commit {
            producer
                .commit_transaction(cfg.delivery_timeout)
                .map_err(client("probe transactions"))?;
        } else {
            producer
                .abort_transaction(cfg.delivery_timeout)
                .map_err(client("probe transactions"))?;
        }
    }
    let consumer = epochs_reader(cfg)?;
    let (low, high) = consumer
        .fetch_watermarks(&cfg.epochs_topic, partition, cfg.delivery_timeout)
        .map_err(client("probe transactions"))?;
    let seen = read_from(
        &consumer,
        &cfg.epochs_topic,
        partition,
        (high - 64).max(low),
        Instant::now() + cfg.delivery_timeout,
    )?;
    let has = |v: &str| seen.iter().any(|(_, p)| p.as_slice() == v.as_bytes());
    if has(&format!("aborted-{nonce}")) || !has(&format!("committed-{nonce}")) {
        return Err(KafkaError::Delivery {
            topic: cfg.epochs_topic.clone(),
            message: "the broker accepts transactions but does not hide aborted records from read_committed readers".into(),
        });
    }
    Ok((producer, partition))
}

/// The epochs-topic partition of the task's markers.
fn marker_partition(cfg: &SinkConfig) -> Result<i32, KafkaError> {
    let parts = crate::admin::partitions(&cfg.client, &cfg.epochs_topic, cfg.delivery_timeout)?;
    Ok(parts
        .get(cfg.task as usize % parts.len().max(1))
        .copied()
        .unwrap_or(0))
}

/// A `read_committed` reader of the epochs topic.
fn epochs_reader(cfg: &SinkConfig) -> Result<BaseConsumer, KafkaError> {
    let mut rd = cfg.client.rd();
    rd.set("group.id", format!("{}-epochs-reader", cfg.app_id))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10");
    rd.create()
        .map_err(KafkaError::client("create epochs reader"))
}

/// A transactional producer, initialised (which fences its predecessors).
fn producer(cfg: &SinkConfig) -> Result<Producer_, KafkaError> {
    let mut rd = base_producer_config(cfg);
    rd.set("transactional.id", transactional_id(&cfg.app_id, cfg.task))
        .set(
            "transaction.timeout.ms",
            TRANSACTION_TIMEOUT.as_millis().to_string(),
        )
        // Must not exceed the transaction timeout.
        .set(
            "message.timeout.ms",
            cfg.delivery_timeout
                .min(TRANSACTION_TIMEOUT)
                .as_millis()
                .max(1000)
                .to_string(),
        );
    let producer = create(&rd)?;
    producer
        .init_transactions(cfg.delivery_timeout)
        .map_err(KafkaError::client("initialise transactions"))?;
    Ok(producer)
}

impl KafkaSink {
    pub(super) fn deliver_transactional(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
    ) -> Result<u64, KafkaError> {
        if self.needs_restart {
            self.restart_transactional()?;
        }
        // Known from `connect` or from this producer's own commits; forgotten after any
        // failure (the broker's outcome is then unknown) and read again. A recovering
        // delivery needs nothing more: no other producer of this id can commit unfenced.
        let committed = match self.committed {
            Some(c) => c,
            None => {
                let c = self.read_committed_epoch()?.unwrap_or(0);
                self.committed = Some(c);
                c
            }
        };
        let mut epochs: BTreeMap<u64, Vec<&OutboxBatch>> = BTreeMap::new();
        for b in batches.iter().filter(|b| b.epoch > committed) {
            epochs.entry(b.epoch).or_default().push(b);
        }
        let mut sent = 0;
        for (epoch, bs) in epochs {
            match self.transaction(tables, epoch, &bs) {
                Ok(n) => {
                    sent += n;
                    self.committed = Some(epoch);
                }
                Err(e) => {
                    // Abort what can be aborted now: an open transaction holds back
                    // every read_committed consumer of its partitions until it ends (the
                    // app may be about to stop on this error). Whether the broker
                    // committed it is unknown until a new producer has fenced this one
                    // and the marker is read again.
                    if let Err(abort) = self.producer.abort_transaction(Duration::from_secs(5)) {
                        tracing::debug!(error = %abort, "abort after a failed transaction");
                    }
                    self.committed = None;
                    self.needs_restart = true;
                    return Err(e);
                }
            }
        }
        Ok(sent)
    }

    fn transaction(
        &mut self,
        tables: &[TableInfo],
        epoch: u64,
        batches: &[&OutboxBatch],
    ) -> Result<u64, KafkaError> {
        self.producer
            .begin_transaction()
            .map_err(|e| txn_error(&self.cfg.epochs_topic, "begin", e))?;
        // Encoded and sent one entry at a time: a checkpoint's records are never all
        // encoded at once (a failure here aborts the transaction: the caller).
        let mut records = Vec::new();
        let mut n = 0u64;
        for b in batches {
            self.encode(tables, b, |_, _| false, &mut records)?;
            for r in records.drain(..) {
                self.send(r, None)?;
                n += 1;
                if n.is_multiple_of(1024) {
                    if let Some(e) = self.take_failures() {
                        return Err(e);
                    }
                }
            }
        }
        let partition = self.marker_partition;
        let (key, value) = epoch_marker(&self.cfg.app_id, self.cfg.task, epoch);
        self.send(
            Encoded {
                topic: self.cfg.epochs_topic.clone(),
                key: Some(key),
                value,
                headers: OwnedHeaders::new(),
            },
            Some(partition),
        )?;
        // Delivered first without rdkafka's fixed 100 ms flush slices; the commit's own
        // flush then finds nothing queued.
        let committed = crate::flush::flush_base(&self.producer, self.cfg.delivery_timeout)
            .and_then(|()| self.producer.commit_transaction(self.cfg.delivery_timeout));
        // A record the broker refused makes the commit fail; its own cause says more.
        if let Some(e) = self.take_failures() {
            return Err(e);
        }
        committed.map_err(|e| txn_error(&self.cfg.epochs_topic, "commit", e))?;
        self.take_acked();
        Ok(n)
    }

    /// A new producer under the same `transactional.id`: fences the failed one and
    /// settles its open transaction on the broker.
    fn restart_transactional(&mut self) -> Result<(), KafkaError> {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        // The broker may still be unreachable: that clears with time (retried); a refusal
        // (e.g. not authorised for the transactional id) does not.
        self.producer = producer(&self.cfg).map_err(|e| match e {
            KafkaError::Client { source, .. } => delivery_error(&self.cfg.epochs_topic, &source),
            other => other,
        })?;
        self.needs_restart = false;
        self.committed = None;
        tracing::info!(
            transactional_id = %transactional_id(&self.cfg.app_id, self.cfg.task),
            "transactional producer replaced; the failed transaction is settled"
        );
        Ok(())
    }

    /// The newest epoch of this task committed to Kafka (`None`: none ever was). Reads
    /// backwards from the end of the task's epochs partition in growing windows: the
    /// newest marker is normally among the last few records.
    pub(super) fn read_committed_epoch(&mut self) -> Result<Option<u64>, KafkaError> {
        let partition = self.marker_partition;
        let topic = self.cfg.epochs_topic.clone();
        let consumer = epochs_reader(&self.cfg)?;
        let timeout = self.cfg.delivery_timeout;
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, timeout)
            .map_err(|e| delivery(&topic, format!("reading its end failed: {e}")))?;
        let deadline = Instant::now() + timeout;
        let (mut end, mut window, mut read) = (high, 64, 0);
        while end > low {
            let start = (end - window).max(low);
            let markers = read_from(&consumer, &topic, partition, start, deadline)?;
            read += markers.len();
            if let Some(e) = last_committed_epoch(&self.cfg.app_id, self.cfg.task, &markers) {
                tracing::info!(
                    epoch = e,
                    records_read = read,
                    "last epoch committed to Kafka"
                );
                return Ok(Some(e));
            }
            end = start;
            window *= 8;
        }
        tracing::info!(records_read = read, "no epoch committed to Kafka yet");
        Ok(None)
    }
}

/// Committed records `(key, value)` of one partition from `start` to its end.
fn read_from(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    start: i64,
    deadline: Instant,
) -> Result<Vec<(Option<Vec<u8>>, Vec<u8>)>, KafkaError> {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(start))
        .map_err(KafkaError::client("assign epochs reader"))?;
    consumer
        .assign(&tpl)
        .map_err(KafkaError::client("assign epochs reader"))?;
    let mut out = Vec::new();
    loop {
        if Instant::now() > deadline {
            return Err(delivery(
                topic,
                "reading the committed epochs did not finish in time".into(),
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => out.push((
                m.key().map(<[u8]>::to_vec),
                m.payload().unwrap_or_default().to_vec(),
            )),
            Some(Err(RdError::PartitionEOF(_))) => return Ok(out),
            Some(Err(e)) => tracing::warn!(error = %e, topic, "epochs reader error; retrying"),
        }
    }
}

fn delivery(topic: &str, message: String) -> KafkaError {
    KafkaError::Delivery {
        topic: topic.to_string(),
        message,
    }
}

fn txn_error(topic: &str, what: &str, e: RdError) -> KafkaError {
    delivery(topic, format!("transaction {what} failed: {e}"))
}
