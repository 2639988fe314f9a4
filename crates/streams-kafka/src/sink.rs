//! The Kafka sink: delivers outbox entries through an idempotent producer (acks=all),
//! one topic per table plus the dead-letter topic. Every record carries its identity
//! `(app id, task, epoch, seq)` in headers; after a crash or a failed delivery, the sink
//! scans each topic's tail from the last offset it is known to have written and skips
//! the identities already there (DESIGN §4.3).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{DeliveryResult, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use streams_core::topology::TableInfo;
use streams_core::value::row_to_json;
use streams_runtime::outbox::DLQ_TABLE;
use streams_runtime::{OutboxBatch, OutboxPayload};

use crate::error::KafkaError;
use crate::identity::{self, parse_identity, RecordId};
use crate::ClientConfig;

/// Settings of the sink.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Client settings.
    pub client: ClientConfig,
    /// The app id written in every record's headers.
    pub app_id: String,
    /// Output topic per table name.
    pub topics: BTreeMap<String, String>,
    /// The dead-letter topic.
    pub dlq_topic: String,
    /// How long one delivery may take before it fails (and is retried with recovery).
    pub delivery_timeout: Duration,
    /// After a recovery scan reached the end of a topic, keep reading this long: produce
    /// requests a killed predecessor had on the wire may still be landing.
    pub recovery_settle: Duration,
}

#[derive(Default)]
struct Acks {
    next_offset: HashMap<(String, i32), i64>,
    failures: Vec<String>,
}

struct DeliveryContext {
    acks: Mutex<Acks>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let Ok(mut acks) = self.acks.lock() else {
            return;
        };
        match result {
            Ok(m) => {
                let e = acks
                    .next_offset
                    .entry((m.topic().to_string(), m.partition()))
                    .or_insert(0);
                *e = (*e).max(m.offset() + 1);
            }
            Err((e, m)) => {
                let msg = format!("{} (topic {} partition {})", e, m.topic(), m.partition());
                acks.failures.push(msg);
            }
        }
    }
}

/// Delivers outbox entries to Kafka.
pub struct KafkaSink {
    producer: BaseProducer<DeliveryContext>,
    cfg: SinkConfig,
    /// Offsets this app is known to have written up to, per topic-partition.
    known: BTreeMap<(String, i32), i64>,
}

impl KafkaSink {
    /// Creates the idempotent producer.
    pub fn connect(cfg: SinkConfig) -> Result<Self, KafkaError> {
        let mut rd = cfg.client.rd();
        rd.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            // Long request timeouts: a retried request is a duplicate on brokers that do
            // not deduplicate idempotent producers' sequences.
            .set("request.timeout.ms", "60000")
            .set("compression.type", "lz4")
            // Same partitioner as the Java clients: a key lands where Kafka Streams would put it.
            .set("partitioner", "murmur2_random")
            .set(
                "message.timeout.ms",
                cfg.delivery_timeout.as_millis().max(1000).to_string(),
            );
        let producer = rd
            .create_with_context(DeliveryContext {
                acks: Mutex::new(Acks::default()),
            })
            .map_err(KafkaError::client("create producer"))?;
        Ok(KafkaSink {
            producer,
            cfg,
            known: BTreeMap::new(),
        })
    }

    /// Offsets known written per topic-partition: persist them in the checkpoint and
    /// hand them back with [`restore_positions`](Self::restore_positions) after a restart.
    pub fn positions(&self) -> Vec<(String, i32, i64)> {
        self.known
            .iter()
            .map(|((t, p), o)| (t.clone(), *p, *o))
            .collect()
    }

    /// Restores known positions (from the checkpoint).
    pub fn restore_positions(&mut self, positions: &[(String, i32, i64)]) {
        for (t, p, o) in positions {
            self.known.insert((t.clone(), *p), *o);
        }
    }

    fn topic_of(&self, tables: &[TableInfo], table: u16) -> Option<(String, String)> {
        if table == DLQ_TABLE {
            return Some(("dlq".to_string(), self.cfg.dlq_topic.clone()));
        }
        let info = tables.get(table as usize)?;
        let topic = self.cfg.topics.get(&info.name).cloned()?;
        Some((info.name.clone(), topic))
    }

    /// Delivers every record of `batches` and waits for all acknowledgements. With
    /// `recover`, first scans the tails of the topics and skips records already there
    /// (use it for outbox entries found at start-up and after any failed delivery).
    /// Tables without a configured topic are skipped.
    pub fn deliver(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
        recover: bool,
    ) -> Result<u64, KafkaError> {
        let present = if recover {
            let topics: Vec<(String, String)> = batches
                .iter()
                .filter_map(|b| self.topic_of(tables, b.table))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            self.scan(&topics)?
        } else {
            HashSet::new()
        };
        let mut sent = 0u64;
        for b in batches {
            let Some((table, topic)) = self.topic_of(tables, b.table) else {
                continue;
            };
            let info = tables.get(b.table as usize);
            for i in 0..b.payload.len() {
                let id = RecordId {
                    task: b.task,
                    epoch: b.epoch,
                    seq: b.first_seq + i as u64,
                };
                if present.contains(&(table.clone(), id)) {
                    continue;
                }
                let task = id.task.to_string();
                let epoch = id.epoch.to_string();
                let seq = id.seq.to_string();
                let mut headers = OwnedHeaders::new_with_capacity(10)
                    .insert(Header {
                        key: identity::APP_ID,
                        value: Some(self.cfg.app_id.as_str()),
                    })
                    .insert(Header {
                        key: identity::TASK,
                        value: Some(task.as_str()),
                    })
                    .insert(Header {
                        key: identity::EPOCH,
                        value: Some(epoch.as_str()),
                    })
                    .insert(Header {
                        key: identity::SEQ,
                        value: Some(seq.as_str()),
                    })
                    .insert(Header {
                        key: identity::TABLE,
                        value: Some(table.as_str()),
                    });
                let (key, value): (Option<Vec<u8>>, Vec<u8>) =
                    match &b.payload {
                        OutboxPayload::Rows(rows) => {
                            let row = &rows[i];
                            let Some(info) = info else { continue };
                            let key = (!info.key_columns.is_empty()).then(|| {
                                info.key_columns
                                    .iter()
                                    .filter_map(|c| row.get(*c))
                                    .map(|v| match v.to_json() {
                                        serde_json::Value::String(s) => s,
                                        other => other.to_string(),
                                    })
                                    .collect::<Vec<_>>()
                                    .join("|")
                                    .into_bytes()
                            });
                            let value = serde_json::to_vec(&row_to_json(&info.schema, row))
                                .map_err(|e| KafkaError::Delivery {
                                    topic: topic.clone(),
                                    message: e.to_string(),
                                })?;
                            (key, value)
                        }
                        OutboxPayload::DeadLetters(d) => {
                            let d = &d[i];
                            let partition = d.partition.to_string();
                            let offset = d.offset.to_string();
                            headers = headers
                                .insert(Header {
                                    key: identity::DLQ_REASON,
                                    value: Some(d.reason.as_str()),
                                })
                                .insert(Header {
                                    key: identity::DLQ_DETAIL,
                                    value: Some(d.detail.as_str()),
                                })
                                .insert(Header {
                                    key: identity::DLQ_TOPIC,
                                    value: Some(d.topic.as_str()),
                                })
                                .insert(Header {
                                    key: identity::DLQ_PARTITION,
                                    value: Some(partition.as_str()),
                                })
                                .insert(Header {
                                    key: identity::DLQ_OFFSET,
                                    value: Some(offset.as_str()),
                                });
                            (d.key.clone(), d.value.clone())
                        }
                    };
                self.send(&topic, key.as_deref(), &value, headers)?;
                sent += 1;
            }
        }
        self.wait_for_acks()?;
        Ok(sent)
    }

    fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        headers: OwnedHeaders,
    ) -> Result<(), KafkaError> {
        let deadline = Instant::now() + self.cfg.delivery_timeout;
        let mut record: BaseRecord<'_, [u8], [u8]> =
            BaseRecord::to(topic).payload(value).headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    if Instant::now() > deadline {
                        return Err(KafkaError::Delivery {
                            topic: topic.to_string(),
                            message: "producer queue stayed full; is the broker reachable?".into(),
                        });
                    }
                    self.producer.poll(Duration::from_millis(50));
                    record = r;
                }
                Err((e, _)) => {
                    return Err(KafkaError::Delivery {
                        topic: topic.to_string(),
                        message: e.to_string(),
                    })
                }
            }
        }
    }

    fn wait_for_acks(&mut self) -> Result<(), KafkaError> {
        let mut flushed = self.producer.flush(self.cfg.delivery_timeout);
        if flushed.is_err() {
            // Before reporting failure, settle everything: drop what was never sent and
            // wait for requests already on the wire, so that the recovery scan of the
            // retry sees every record that will ever land (none arrives after it).
            self.producer
                .purge(rdkafka::producer::PurgeConfig::default().queue());
            let settle = Instant::now() + self.cfg.delivery_timeout * 3;
            while self.producer.in_flight_count() > 0 && Instant::now() < settle {
                self.producer.poll(Duration::from_millis(100));
            }
            flushed = Err(rdkafka::error::KafkaError::Flush(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        let mut acks = match self.producer.context().acks.lock() {
            Ok(a) => a,
            Err(p) => p.into_inner(),
        };
        for (tp, o) in acks.next_offset.drain() {
            let e = self.known.entry(tp).or_insert(0);
            *e = (*e).max(o);
        }
        if let Some(first) = acks.failures.first().cloned() {
            let n = acks.failures.len();
            acks.failures.clear();
            return Err(KafkaError::Delivery {
                topic: String::new(),
                message: format!("{n} records not acknowledged, first: {first}"),
            });
        }
        flushed.map_err(|e| KafkaError::Delivery {
            topic: String::new(),
            message: format!("not all records acknowledged in time: {e}"),
        })
    }

    /// Identities (per table) this app already wrote to `topics`, from the last known
    /// position of each partition to its end (confirmed by the fetch high watermark).
    fn scan(&self, topics: &[(String, String)]) -> Result<HashSet<(String, RecordId)>, KafkaError> {
        let mut present = HashSet::new();
        let mut ends = BTreeMap::new();
        // One topic at a time: PartitionEOF names only the partition.
        for (_, topic) in topics {
            self.scan_topic(topic, &self.known, &mut present, &mut ends)?;
        }
        // Produce requests a killed predecessor had on the wire may still be landing:
        // wait, then read what arrived past the ends just found.
        if !self.cfg.recovery_settle.is_zero() {
            std::thread::sleep(self.cfg.recovery_settle);
            // From the end found for each partition; a partition where the first pass
            // found nothing past its known position starts there again (not at the
            // beginning of the log).
            let mut from = self.known.clone();
            from.extend(ends.iter().map(|(tp, o)| (tp.clone(), *o)));
            for (_, topic) in topics {
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
