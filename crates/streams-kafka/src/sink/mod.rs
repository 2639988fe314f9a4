//! The Kafka sink: delivers outbox entries, one topic per table plus the dead-letter
//! topic. Every record carries its identity `(app id, task, epoch, seq)` in headers.
//!
//! Two protocols (DESIGN §4.2–4.3), chosen at start by [`Guarantee`]:
//! - **transactions** ([`transactional`]): each checkpoint epoch's records and an epoch
//!   marker go in one Kafka transaction under a `transactional.id` stable per app and
//!   task. Starting a sink fences its predecessor (a killed instance's writes can never
//!   land afterwards), and recovery reads the last committed marker instead of scanning
//!   outputs. Consumers read with `isolation.level=read_committed`.
//! - **idempotent + scan** ([`scan`]), for brokers without transactions: an idempotent
//!   producer; after a crash or a failed delivery the sink scans each topic's tail from
//!   the last offset it is known to have written and skips identities already there.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError as RdError;
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use streams_core::topology::TableInfo;
use streams_core::value::{write_date, write_row_json, write_timestamp, Value};
use streams_runtime::outbox::DLQ_TABLE;
use streams_runtime::{OutboxBatch, OutboxPayload};

use crate::error::KafkaError;
use crate::identity::{self, truncate_dead_letter, RecordId};
use crate::ClientConfig;

mod scan;
mod transactional;

pub use transactional::transactional_id;

/// A table row as its Kafka record: the key (the key columns' values joined by `|`;
/// none without key columns) and the value (the row as a JSON object).
pub fn encode_record(info: &TableInfo, row: &streams_core::Row) -> (Option<Vec<u8>>, Vec<u8>) {
    let key = (!info.key_columns.is_empty()).then(|| {
        let mut key = Vec::new();
        for (i, v) in info
            .key_columns
            .iter()
            .filter_map(|c| row.get(*c))
            .enumerate()
        {
            if i > 0 {
                key.push(b'|');
            }
            match v {
                // Strings, timestamps and dates unquoted; numbers, booleans, null as JSON.
                Value::Str(s) => key.extend_from_slice(s.as_bytes()),
                Value::Timestamp(ms) => write_timestamp(*ms, &mut key),
                Value::Date(d) => write_date(*d, &mut key),
                other => other.write_json(&mut key),
            }
        }
        key
    });
    let mut value = Vec::with_capacity(64 + 24 * row.len());
    write_row_json(&info.schema, row, &mut value);
    (key, value)
}

/// Which delivery protocol the app asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarantee {
    /// Transactions where the broker has them, else idempotent delivery with a scan.
    Auto,
    /// Kafka transactions; refuse to start on a broker without them.
    ExactlyOnce,
    /// Idempotent delivery with a recovery scan, even where transactions exist.
    IdempotentScan,
}

/// The protocol in force (what [`Guarantee::Auto`] resolved to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// One Kafka transaction per checkpoint epoch; readers use `read_committed`.
    Transactions,
    /// Idempotent producer; recovery scans the outputs' tails.
    IdempotentScan,
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Transactions => "transactions",
            Protocol::IdempotentScan => "idempotent-scan",
        })
    }
}

/// Settings of the sink.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// Client settings.
    pub client: ClientConfig,
    /// The app id written in every record's headers.
    pub app_id: String,
    /// The task whose outbox this sink delivers (part of the `transactional.id`).
    pub task: u32,
    /// Output topic per table name.
    pub topics: BTreeMap<String, String>,
    /// The dead-letter topic.
    pub dlq_topic: String,
    /// The epochs topic: the committed-epoch markers of the transactional protocol.
    pub epochs_topic: String,
    /// The protocol asked for.
    pub guarantee: Guarantee,
    /// How long one delivery may take before it fails (and is retried with recovery).
    pub delivery_timeout: Duration,
    /// Scan protocol: after a recovery scan reached the end of a topic, keep reading
    /// this long (produce requests a killed predecessor had on the wire may still land).
    pub recovery_settle: Duration,
    /// A dead letter's value is cut to this many bytes (with its original size and hash
    /// in headers) so that it fits the producer's and broker's record size limits.
    pub max_dead_letter_bytes: usize,
    /// An output row larger than its topic takes (`max.message.bytes`, or the producer's
    /// limit) goes to the DLQ (reason `output_too_large`) instead of stopping the app: a
    /// production error handler, as Kafka Streams has.
    pub oversized_to_dlq: bool,
}

/// Dead-letter reason of an output row larger than its topic takes.
pub const OUTPUT_TOO_LARGE: &str = "output_too_large";

/// What a record needs beyond its key and value in a batch of its own (batch and record
/// framing, identity headers), with room to spare.
const RECORD_OVERHEAD: usize = 1024;

/// The largest record the producer sends (`message.max.bytes`; Kafka's own default).
pub const MAX_MESSAGE_BYTES: usize = 1_000_000;

/// Room left for the key, headers and framing of a dead letter within
/// [`MAX_MESSAGE_BYTES`].
pub const DEAD_LETTER_OVERHEAD: usize = 64 * 1024;

#[derive(Default)]
struct Acks {
    next_offset: BTreeMap<(String, i32), i64>,
    failures: Vec<(RDKafkaErrorCode, String, String)>,
}

struct DeliveryContext {
    acks: Mutex<Acks>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let mut acks = match self.acks.lock() {
            Ok(a) => a,
            Err(p) => p.into_inner(),
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
                let code = e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Unknown);
                acks.failures.push((
                    code,
                    m.topic().to_string(),
                    format!("{e} (partition {})", m.partition()),
                ));
            }
        }
    }
}

type Producer_ = BaseProducer<DeliveryContext>;

/// One output record, encoded.
struct Encoded {
    topic: String,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    headers: OwnedHeaders,
}

/// Delivers outbox entries to Kafka.
pub struct KafkaSink {
    producer: Producer_,
    cfg: SinkConfig,
    protocol: Protocol,
    /// Scan protocol: offsets this app is known to have written up to, per partition.
    known: BTreeMap<(String, i32), i64>,
    /// Transactions: the newest epoch known committed (`None`: read it from the broker).
    committed: Option<u64>,
    /// Transactions: the producer failed and is replaced before the next delivery.
    needs_restart: bool,
    /// Transactions: the epochs-topic partition of this task's markers.
    marker_partition: i32,
    /// With `oversized_to_dlq`: the largest record each output topic takes.
    limits: BTreeMap<String, usize>,
}

impl KafkaSink {
    /// Creates the producer of the protocol [`SinkConfig::guarantee`] resolves to. With
    /// transactions this fences every earlier producer of the same app and task.
    pub fn connect(cfg: SinkConfig) -> Result<Self, KafkaError> {
        let scan = |cfg: &SinkConfig| -> Result<_, KafkaError> {
            Ok((scan::producer(cfg)?, Protocol::IdempotentScan, 0))
        };
        let (producer, protocol, marker_partition) = match cfg.guarantee {
            Guarantee::IdempotentScan => scan(&cfg)?,
            Guarantee::ExactlyOnce => {
                let (p, partition) = transactional::verified_producer(&cfg).map_err(|e| {
                    KafkaError::NoTransactions {
                        bootstrap: cfg.client.bootstrap_servers.clone(),
                        message: e.to_string(),
                    }
                })?;
                (p, Protocol::Transactions, partition)
            }
            Guarantee::Auto => match transactional::verified_producer(&cfg) {
                Ok((p, partition)) => (p, Protocol::Transactions, partition),
                Err(e) => {
                    tracing::warn!(error = %e, bootstrap = %cfg.client.bootstrap_servers,
                        "the broker offers no Kafka transactions; delivering with an idempotent producer and a recovery scan");
                    scan(&cfg)?
                }
            },
        };
        let limits = if cfg.oversized_to_dlq {
            let topics: Vec<String> = cfg.topics.values().cloned().collect();
            crate::admin::max_message_bytes(&cfg.client, &topics, cfg.delivery_timeout)?
        } else {
            BTreeMap::new()
        };
        let mut sink = KafkaSink {
            limits,
            producer,
            cfg,
            protocol,
            known: BTreeMap::new(),
            committed: None,
            needs_restart: false,
            marker_partition,
        };
        if protocol == Protocol::Transactions {
            // Read now, before the app consumes: the producer has fenced every
            // predecessor, so the newest committed epoch cannot change before the first
            // delivery, and that delivery (the first records' latency) does not wait for
            // a reader of the epochs topic to be created and to fetch.
            sink.committed = Some(sink.read_committed_epoch()?.unwrap_or(0));
        }
        Ok(sink)
    }

    /// The protocol in force.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Scan protocol: offsets known written per topic-partition. Persist them in the
    /// checkpoint and hand them back with [`restore_positions`](Self::restore_positions)
    /// after a restart. Empty with transactions (recovery needs no positions).
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

    /// Delivers every record of `batches` and waits until the broker holds them durably.
    /// With `recover`, first learns what an earlier attempt or instance already delivered
    /// and skips it (use it for outbox entries found at start-up and after any failed
    /// delivery). Scan: the topics' tails. Transactions skip epochs up to the last one
    /// committed whether or not `recover` is set: it is read when the sink connects
    /// (after fencing) and after any failed transaction.
    /// Tables without a configured topic are skipped. Returns the records sent.
    pub fn deliver(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
        recover: bool,
    ) -> Result<u64, KafkaError> {
        match self.protocol {
            Protocol::Transactions => self.deliver_transactional(tables, batches),
            Protocol::IdempotentScan => self.deliver_scan(tables, batches, recover),
        }
    }

    /// The records of one outbox entry, each with its identity, encoded for Kafka.
    fn encode(
        &self,
        tables: &[TableInfo],
        b: &OutboxBatch,
        mut skip: impl FnMut(&str, RecordId) -> bool,
        out: &mut Vec<Encoded>,
    ) -> Result<(), KafkaError> {
        let Some((table, topic)) = self.topic_of(tables, b.table) else {
            return Ok(());
        };
        let info = tables.get(b.table as usize);
        // The entry's rows, made once from its columns.
        let rows = match &b.payload {
            OutboxPayload::Rows(r) | OutboxPayload::Updates(r) => r.rows(),
            OutboxPayload::DeadLetters(_) => Default::default(),
        };
        for i in 0..b.payload.len() {
            let id = RecordId {
                task: b.task,
                epoch: b.epoch,
                seq: b.first_seq + i as u64,
            };
            if skip(&table, id) {
                continue;
            }
            let (task, epoch, seq) = (
                id.task.to_string(),
                id.epoch.to_string(),
                id.seq.to_string(),
            );
            let mut headers = OwnedHeaders::new_with_capacity(12);
            for (key, value) in [
                (identity::APP_ID, self.cfg.app_id.as_str()),
                (identity::TASK, task.as_str()),
                (identity::EPOCH, epoch.as_str()),
                (identity::SEQ, seq.as_str()),
                (identity::TABLE, table.as_str()),
            ] {
                headers = headers.insert(Header {
                    key,
                    value: Some(value),
                });
            }
            if matches!(b.payload, OutboxPayload::Updates(_)) {
                headers = headers.insert(Header {
                    key: identity::EMIT,
                    value: Some("update"),
                });
            }
            let (key, value) = match &b.payload {
                OutboxPayload::Rows(_) | OutboxPayload::Updates(_) => {
                    let Some(info) = info else { continue };
                    let (key, value) = encode_record(info, &rows[i]);
                    let size = value.len() + key.as_ref().map_or(0, Vec::len) + RECORD_OVERHEAD;
                    let limit = || {
                        self.limits
                            .get(&topic)
                            .copied()
                            .unwrap_or(MAX_MESSAGE_BYTES)
                            .min(MAX_MESSAGE_BYTES)
                    };
                    if self.cfg.oversized_to_dlq && size > limit() {
                        let limit = limit();
                        let cause = format!(
                            "a record of about {size} bytes; `{topic}` takes at most {limit}"
                        );
                        tracing::warn!(topic = %topic, size, limit, "output row too large for its topic; sent to the dead-letter topic");
                        out.push(self.dead_letter_row(headers, &topic, &cause, key, &value));
                        continue;
                    }
                    (key, value)
                }
                OutboxPayload::DeadLetters(d) => {
                    let d = &d[i];
                    let (partition, offset) = (d.partition.to_string(), d.offset.to_string());
                    for (key, value) in [
                        (identity::DLQ_REASON, d.reason.as_str()),
                        (identity::DLQ_DETAIL, d.detail.as_str()),
                        (identity::DLQ_TOPIC, d.topic.as_str()),
                        (identity::DLQ_PARTITION, partition.as_str()),
                        (identity::DLQ_OFFSET, offset.as_str()),
                    ] {
                        headers = headers.insert(Header {
                            key,
                            value: Some(value),
                        });
                    }
                    let (value, h) = self.dead_letter_value(headers, d.key.as_deref(), &d.value);
                    headers = h;
                    (d.key.clone(), value)
                }
            };
            out.push(Encoded {
                topic: topic.clone(),
                key,
                value,
                headers,
            });
        }
        Ok(())
    }

    /// Queues one record, waiting (and serving delivery reports) while the queue is full.
    fn send(&self, rec: Encoded, partition: Option<i32>) -> Result<(), KafkaError> {
        let deadline = Instant::now() + self.cfg.delivery_timeout;
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&rec.topic)
            .payload(rec.value.as_slice())
            .headers(rec.headers);
        if let Some(k) = rec.key.as_deref() {
            record = record.key(k);
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    if Instant::now() > deadline {
                        return Err(KafkaError::Delivery {
                            topic: rec.topic.clone(),
                            message: "producer queue stayed full; is the broker reachable?".into(),
                        });
                    }
                    // (a short wait: rdkafka's poll always waits out its timeout)
                    self.producer.poll(Duration::from_millis(2));
                    record = r;
                }
                Err((e, _)) => return Err(delivery_error(&rec.topic, &e)),
            }
        }
    }

    /// Takes the delivery failures reported since the last call: the first one that can
    /// never clear wins (it stops the app), else the first transient one.
    fn take_failures(&self) -> Option<KafkaError> {
        let mut acks = match self.producer.context().acks.lock() {
            Ok(a) => a,
            Err(p) => p.into_inner(),
        };
        let failures = std::mem::take(&mut acks.failures);
        let n = failures.len();
        if let Some((_, topic, cause)) = failures
            .iter()
            .find(|(code, _, _)| KafkaError::cannot_clear(*code))
        {
            return Some(KafkaError::Rejected {
                topic: topic.clone(),
                cause: cause.clone(),
            });
        }
        failures
            .into_iter()
            .next()
            .map(|(_, topic, cause)| KafkaError::Delivery {
                topic,
                message: format!("{n} records not acknowledged, first: {cause}"),
            })
    }

    fn take_acked(&self) -> BTreeMap<(String, i32), i64> {
        let mut acks = match self.producer.context().acks.lock() {
            Ok(a) => a,
            Err(p) => p.into_inner(),
        };
        std::mem::take(&mut acks.next_offset)
    }
}

impl KafkaSink {
    /// An output row its topic cannot take, as a dead letter: its identity headers, the
    /// topic and the cause, and its JSON (cut to the dead-letter limit).
    fn dead_letter_row(
        &self,
        headers: OwnedHeaders,
        topic: &str,
        cause: &str,
        key: Option<Vec<u8>>,
        value: &[u8],
    ) -> Encoded {
        // A key that large (a group key of a huge value) stays in the row's JSON only.
        let key = key.filter(|k| k.len() <= DEAD_LETTER_OVERHEAD / 4);
        let mut headers = headers;
        for (k, v) in [
            (identity::DLQ_REASON, OUTPUT_TOO_LARGE),
            (identity::DLQ_DETAIL, cause),
            (identity::DLQ_TOPIC, topic),
        ] {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let (value, headers) = self.dead_letter_value(headers, key.as_deref(), value);
        Encoded {
            topic: self.cfg.dlq_topic.clone(),
            key,
            value,
            headers,
        }
    }

    /// A dead letter's value, cut to fit the dead-letter limit next to its key; a cut one
    /// gets its original size and SHA-256 in headers.
    fn dead_letter_value(
        &self,
        mut headers: OwnedHeaders,
        key: Option<&[u8]>,
        value: &[u8],
    ) -> (Vec<u8>, OwnedHeaders) {
        let limit = self
            .cfg
            .max_dead_letter_bytes
            .saturating_sub(key.map_or(0, <[u8]>::len));
        let (value, cut) = truncate_dead_letter(value, limit);
        if let Some((size, sha)) = cut {
            let size = size.to_string();
            headers = headers
                .insert(Header {
                    key: identity::DLQ_ORIGINAL_SIZE,
                    value: Some(size.as_str()),
                })
                .insert(Header {
                    key: identity::DLQ_ORIGINAL_SHA256,
                    value: Some(sha.as_str()),
                });
        }
        (value.to_vec(), headers)
    }
}

/// A client error of one record, classified: refused for good, or transient.
fn delivery_error(topic: &str, e: &RdError) -> KafkaError {
    match e.rdkafka_error_code() {
        Some(code) if KafkaError::cannot_clear(code) => KafkaError::Rejected {
            topic: topic.to_string(),
            cause: e.to_string(),
        },
        _ => KafkaError::Delivery {
            topic: topic.to_string(),
            message: e.to_string(),
        },
    }
}

/// Settings every producer of the sink shares.
fn base_producer_config(cfg: &SinkConfig) -> rdkafka::ClientConfig {
    let mut rd = cfg.client.rd();
    rd.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("message.max.bytes", MAX_MESSAGE_BYTES.to_string())
        // Same partitioner as the Java clients: a key lands where Kafka Streams puts it.
        .set("partitioner", "murmur2_random");
    rd
}

fn create(rd: &rdkafka::ClientConfig) -> Result<Producer_, KafkaError> {
    rd.create_with_context(DeliveryContext {
        acks: Mutex::new(Acks::default()),
    })
    .map_err(KafkaError::client("create producer"))
}

/// The Kafka sink in the delivery coordinator: an error that retrying may clear (broker
/// down, timeouts) is retried with recovery; its output positions go into the
/// checkpoint for the recovery scan of a later start.
impl streams_runtime::Sink for KafkaSink {
    fn name(&self) -> &str {
        "kafka"
    }

    fn deliver(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
        recover: bool,
    ) -> Result<(), streams_runtime::SinkError> {
        KafkaSink::deliver(self, tables, batches, recover)
            .map(|_| ())
            .map_err(|e| streams_runtime::SinkError {
                retriable: e.is_retriable(),
                source: Box::new(e),
            })
    }

    fn positions(&self) -> Option<Vec<(String, i32, i64)>> {
        Some(KafkaSink::positions(self))
    }

    fn takes(&self, tables: &[TableInfo], batch: &OutboxBatch) -> bool {
        self.topic_of(tables, batch.table).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams_core::value::{row_to_json, Column, ColumnType, Schema};

    #[test]
    fn records_are_keyed_by_their_key_columns_and_valued_by_the_row_as_json() {
        let schema = Schema {
            columns: vec![
                Column::new("country", ColumnType::Str),
                Column::new("window_start", ColumnType::Timestamp),
                Column::new("day", ColumnType::Date),
                Column::new("n", ColumnType::Int),
                Column::nullable("premium", ColumnType::Bool),
                Column::nullable("avg", ColumnType::Float),
                Column::nullable("page", ColumnType::Str),
            ],
        };
        let info = TableInfo {
            name: "t".into(),
            schema: schema.clone(),
            key_columns: vec![0, 1, 2, 3, 4, 5, 6],
            partition_by: Vec::new(),
        };
        let row = vec![
            Value::Str("U\"S".into()),
            Value::Timestamp(60_000),
            Value::Date(1),
            Value::Int(-7),
            Value::Bool(true),
            Value::Float(f64::NAN),
            Value::Null,
        ];
        let (key, value) = encode_record(&info, &row);
        assert_eq!(
            String::from_utf8(key.unwrap()).unwrap(),
            "U\"S|1970-01-01T00:01:00.000Z|1970-01-02|-7|true|null|null"
        );
        assert_eq!(
            String::from_utf8(value).unwrap(),
            row_to_json(&schema, &row).to_string()
        );
        let unkeyed = TableInfo {
            key_columns: Vec::new(),
            ..info
        };
        assert_eq!(encode_record(&unkeyed, &row).0, None);
    }
}
