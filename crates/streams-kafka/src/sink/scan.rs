//! The scan protocol, for brokers without transactions: an idempotent producer, and
//! recovery by reading each output partition's tail from the last offset this app is
//! known to have written, skipping identities already there (DESIGN §4.3).
//!
//! Its limit: nothing fences a killed instance, so a produce request it had on the wire
//! can land after the restarted instance's scan (the scan waits `recovery_settle` for
//! such writes). Within one process a failed delivery first settles every request of
//! its own (queue purged, in-flight requests answered) before the retry scans.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{Producer, PurgeConfig};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::topology::TableInfo;
use streams_runtime::OutboxBatch;

use super::{base_producer_config, create, KafkaSink, Producer_, SinkConfig};
use crate::error::KafkaError;
use crate::identity::{self, parse_identity, RecordId};

/// How long one produce request may wait for the broker's answer. A failed delivery
/// waits this long (and a little more) for its requests to settle before a retry scans.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The idempotent producer of the scan protocol.
pub(super) fn producer(cfg: &SinkConfig) -> Result<Producer_, KafkaError> {
    let mut rd = base_producer_config(cfg);
    rd.set(
        "request.timeout.ms",
        REQUEST_TIMEOUT.as_millis().to_string(),
    )
    // A message times out only after its request could have been answered: a
    // record reported failed is then not still on the wire.
    .set(
        "message.timeout.ms",
        cfg.delivery_timeout
            .max(REQUEST_TIMEOUT * 2)
            .as_millis()
            .to_string(),
    );
    create(&rd)
}

impl KafkaSink {
    pub(super) fn deliver_scan(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
        recover: bool,
    ) -> Result<u64, KafkaError> {
        let present = if recover {
            let topics: BTreeSet<String> = batches
                .iter()
                .filter_map(|b| self.topic_of(tables, b.table))
                .map(|(_, topic)| topic)
                .collect();
            self.scan(&topics)?
        } else {
            HashSet::new()
        };
        // Encoded and sent one entry at a time (a checkpoint's records are never all
        // encoded at once).
        let mut records = Vec::new();
        let mut sent = 0u64;
        let mut failed = None;
        'entries: for b in batches {
            if let Err(e) = self.encode(
                tables,
                b,
                |table, id| present.contains(&(table.to_string(), id)),
                &mut records,
            ) {
                failed = Some(e);
                break;
            }
            for r in records.drain(..) {
                if let Err(e) = self.send(r, None) {
                    failed = Some(e);
                    break 'entries;
                }
                sent += 1;
            }
        }
        // Even after a failed send: nothing of this attempt may still land once the
        // caller retries (its recovery scan must see every record that ever will).
        let settled = self.settle();
        match failed {
            Some(e) => Err(e),
            None => settled.map(|_| sent),
        }
    }

    /// Waits for every queued record's acknowledgement. On a failure, drops what was never
    /// sent and waits for the requests already on the wire, then reports. Known positions
    /// advance only when every record was acknowledged.
    fn settle(&mut self) -> Result<(), KafkaError> {
        let flushed = crate::flush::flush_base(&self.producer, self.cfg.delivery_timeout);
        let failure = self.take_failures();
        if flushed.is_err() || failure.is_some() {
            self.producer.purge(PurgeConfig::default().queue());
            let deadline = Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(5);
            while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
                self.producer.poll(Duration::from_millis(100));
            }
            self.take_acked();
            let _ = self.take_failures();
            // An idempotent producer in a fatal state (e.g. a broken sequence) never
            // sends again: the retry gets a new one.
            if let Some((code, reason)) = self.producer.client().fatal_error() {
                tracing::warn!(%code, reason, "idempotent producer failed fatally; replacing it");
                self.producer = producer(&self.cfg)?;
            }
            return Err(failure.unwrap_or_else(|| KafkaError::Delivery {
                topic: self.cfg.dlq_topic.clone(),
                message: "not all records were acknowledged in time".into(),
            }));
        }
        for (tp, o) in self.take_acked() {
            let e = self.known.entry(tp).or_insert(0);
            *e = (*e).max(o);
        }
        Ok(())
    }

    /// Identities (per table) this app already wrote to `topics`, from the last known
    /// position of each partition to its end (confirmed by the fetch high watermark).
    fn scan(&self, topics: &BTreeSet<String>) -> Result<HashSet<(String, RecordId)>, KafkaError> {
        let mut present = HashSet::new();
        let mut ends = BTreeMap::new();
        // One topic at a time: PartitionEOF names only the partition.
        for topic in topics {
            self.scan_topic(topic, &self.known, &mut present, &mut ends)?;
        }
        // Produce requests a killed predecessor had on the wire may still be landing:
        // wait, then read what arrived past the ends just found.
        if !self.cfg.recovery_settle.is_zero() {
            std::thread::sleep(self.cfg.recovery_settle);
            let mut from = self.known.clone();
            from.extend(ends.iter().map(|(tp, o)| (tp.clone(), *o)));
            for topic in topics {
                self.scan_topic(topic, &from, &mut present, &mut ends)?;
            }
        }
        tracing::info!(
            records = present.len(),
            "recovery scan found records already delivered"
        );
        Ok(present)
    }

    fn scan_topic(
        &self,
        topic: &str,
        from: &BTreeMap<(String, i32), i64>,
        present: &mut HashSet<(String, RecordId)>,
        ends: &mut BTreeMap<(String, i32), i64>,
    ) -> Result<(), KafkaError> {
        let mut rd = self.cfg.client.rd();
        rd.set("group.id", format!("{}-recovery", self.cfg.app_id))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            // A known position the log no longer has (retention): scan what is left.
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "10");
        let consumer: BaseConsumer = rd
            .create()
            .map_err(KafkaError::client("create recovery consumer"))?;
        let mut tpl = TopicPartitionList::new();
        let mut pending: HashSet<i32> = HashSet::new();
        for p in crate::admin::partitions(&self.cfg.client, topic, self.cfg.delivery_timeout)? {
            let offset = match from.get(&(topic.to_string(), p)) {
                Some(o) => Offset::Offset(*o),
                None => Offset::Beginning,
            };
            tpl.add_partition_offset(topic, p, offset)
                .map_err(KafkaError::client("recovery assign"))?;
            pending.insert(p);
        }
        consumer
            .assign(&tpl)
            .map_err(KafkaError::client("recovery assign"))?;
        let deadline = Instant::now() + self.cfg.delivery_timeout;
        while !pending.is_empty() {
            if Instant::now() > deadline {
                return Err(KafkaError::Delivery {
                    topic: topic.to_string(),
                    message: "recovery scan did not reach the end of the topic in time".into(),
                });
            }
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Ok(m)) => {
                    let end = ends.entry((topic.to_string(), m.partition())).or_insert(0);
                    *end = (*end).max(m.offset() + 1);
                    let Some(h) = m.headers() else { continue };
                    let pairs: Vec<(&str, &[u8])> = h
                        .iter()
                        .filter_map(|h| h.value.map(|v| (h.key, v)))
                        .collect();
                    if let Some(id) = parse_identity(&self.cfg.app_id, &pairs) {
                        let table = pairs
                            .iter()
                            .find(|(k, _)| *k == identity::TABLE)
                            .and_then(|(_, v)| std::str::from_utf8(v).ok())
                            .unwrap_or_default()
                            .to_string();
                        present.insert((table, id));
                    }
                }
                Some(Err(RdError::PartitionEOF(p))) => {
                    pending.remove(&p);
                }
                Some(Err(e)) => tracing::warn!(error = %e, topic, "recovery scan error; retrying"),
            }
        }
        Ok(())
    }
}
