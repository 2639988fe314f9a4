//! The Kafka source: manual assignment at positions from the engine's checkpoint,
//! bounded mode, and group offset commits for lag monitoring only.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Statistics};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::record::SourceRecord;

use crate::error::KafkaError;
use crate::ClientConfig;

/// Settings of the source.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// Client settings.
    pub client: ClientConfig,
    /// Consumer group (the app id): used only to publish offsets for lag monitoring.
    pub group_id: String,
    /// Input topics.
    pub topics: Vec<String>,
    /// How long the broker may hold a fetch waiting for data (`fetch.wait.max.ms`).
    pub fetch_wait_max_ms: u32,
}

/// A topic-partition.
pub type Tp = (String, i32);

/// How often librdkafka reports the ends its fetches saw (the lag of the live view).
const STATS_INTERVAL_MS: u32 = 1000;

/// Receives librdkafka's statistics: per partition, the end of the log as the last fetch
/// response reported it (the last stable offset under `read_committed`, which is the
/// default; else the high watermark). Locked once per report, never per record.
#[derive(Default)]
pub struct FetchEnds {
    ends: Mutex<BTreeMap<Tp, i64>>,
}

impl ClientContext for FetchEnds {
    fn stats(&self, stats: Statistics) {
        let mut fresh = BTreeMap::new();
        for (topic, t) in stats.topics {
            for (p, part) in t.partitions {
                // Partition -1 is librdkafka's internal UA partition; -1001: unknown.
                let end = if part.ls_offset >= 0 {
                    part.ls_offset
                } else {
                    part.hi_offset
                };
                if p >= 0 && end >= 0 {
                    fresh.insert((topic.clone(), p), end);
                }
            }
        }
        if let Ok(mut ends) = self.ends.lock() {
            ends.extend(fresh);
        }
    }
}

impl ConsumerContext for FetchEnds {}

/// Reads the input topics.
pub struct KafkaSource {
    consumer: BaseConsumer<FetchEnds>,
    cfg: SourceConfig,
    names: HashMap<String, Arc<str>>,
    /// Next offset to read per assigned partition.
    position: BTreeMap<Tp, i64>,
    /// Bounded mode: end offsets captured at start, and whether the fetch high watermark
    /// confirmed the end (PartitionEOF at or past it).
    end: Option<BTreeMap<Tp, (i64, bool)>>,
    /// Partitions whose end the consumer reached, with no record read since.
    caught_up: BTreeMap<Tp, bool>,
    /// Changes of `caught_up` not yet taken by [`take_caught_up`](Self::take_caught_up).
    caught_up_changes: Vec<(Tp, bool)>,
}

impl KafkaSource {
    /// Creates the consumer. Nothing is assigned yet.
    pub fn connect(cfg: SourceConfig) -> Result<Self, KafkaError> {
        let mut rd = cfg.client.rd();
        rd.set("group.id", &cfg.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            // Positions come from the checkpoint: a position the broker does not have
            // (topic recreated) is an error, never a silent jump.
            .set("auto.offset.reset", "error")
            .set("fetch.wait.max.ms", cfg.fetch_wait_max_ms.to_string())
            .set("fetch.message.max.bytes", "4194304")
            .set("statistics.interval.ms", STATS_INTERVAL_MS.to_string());
        let consumer: BaseConsumer<FetchEnds> = rd
            .create_with_context(FetchEnds::default())
            .map_err(KafkaError::client("create consumer"))?;
        Ok(KafkaSource {
            consumer,
            cfg,
            names: HashMap::new(),
            position: BTreeMap::new(),
            end: None,
            caught_up: BTreeMap::new(),
            caught_up_changes: Vec::new(),
        })
    }

    /// Every partition of the input topics; a missing topic is an error. Asked through
    /// the consumer itself, so that its metadata knows partitions added since.
    pub fn discover(&self, timeout: Duration) -> Result<Vec<Tp>, KafkaError> {
        let mut all = Vec::new();
        for t in &self.cfg.topics {
            for p in crate::admin::partitions_with(&self.consumer, &self.cfg.client, t, timeout)? {
                all.push((t.clone(), p));
            }
        }
        Ok(all)
    }

    /// `(low, high)` offsets of a partition as the broker reports them.
    pub fn watermarks(&self, tp: &Tp, timeout: Duration) -> Result<(i64, i64), KafkaError> {
        self.consumer
            .fetch_watermarks(&tp.0, tp.1, timeout)
            .map_err(|source| KafkaError::Unreachable {
                bootstrap: self.cfg.client.bootstrap_servers.clone(),
                source,
            })
    }

    /// The first offset of each partition whose timestamp is at or after `ms` (the end
    /// offset when there is none).
    pub fn offsets_for_time(
        &self,
        tps: &[Tp],
        ms: i64,
        timeout: Duration,
    ) -> Result<BTreeMap<Tp, i64>, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for (t, p) in tps {
            tpl.add_partition_offset(t, *p, Offset::Offset(ms))
                .map_err(KafkaError::client("offsets for time"))?;
        }
        let found = self
            .consumer
            .offsets_for_times(tpl, timeout)
            .map_err(|source| KafkaError::Unreachable {
                bootstrap: self.cfg.client.bootstrap_servers.clone(),
                source,
            })?;
        let mut out = BTreeMap::new();
        for e in found.elements() {
            let tp = (e.topic().to_string(), e.partition());
            let offset = match e.offset() {
                Offset::Offset(o) => o,
                _ => self.watermarks(&tp, timeout)?.1,
            };
            out.insert(tp, offset);
        }
        Ok(out)
    }

    /// Commits `offsets` as the group's offsets (used by `reset-state`).
    pub fn commit_offsets(&self, offsets: &BTreeMap<Tp, i64>) -> Result<(), KafkaError> {
        self.commit(offsets, CommitMode::Sync)
    }

    fn commit(&self, offsets: &BTreeMap<Tp, i64>, mode: CommitMode) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in offsets {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))
                .map_err(KafkaError::client("commit offsets"))?;
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        self.consumer
            .commit(&tpl, mode)
            .map_err(KafkaError::client("commit offsets"))
    }

    /// Assigns the partitions, each starting at the given offset.
    pub fn assign(&mut self, starts: &[(Tp, i64)]) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in starts {
            tpl.add_partition_offset(t, *p, Offset::Offset(*o))
                .map_err(KafkaError::client("assign"))?;
            self.position.insert((t.clone(), *p), *o);
            self.names
                .entry(t.clone())
                .or_insert_with(|| Arc::from(t.as_str()));
        }
        self.consumer
            .assign(&tpl)
            .map_err(KafkaError::client("assign"))
    }

    /// Adds partitions (created on the input while running) at the given offsets; the
    /// others continue where they are.
    pub fn add_partitions(&mut self, added: &[(Tp, i64)]) -> Result<(), KafkaError> {
        let mut all: Vec<(Tp, i64)> = self
            .position
            .iter()
            .map(|(tp, o)| (tp.clone(), *o))
            .collect();
        all.extend(added.iter().cloned());
        self.assign(&all)
    }

    /// After an offset-out-of-range error: compares every position with its partition's
    /// retained range `[low, high]`. A position past the end is an error (the topic was
    /// truncated or recreated). A position before the start means retention deleted
    /// records the app had not read: those partitions move to the start, and the
    /// `(partition, records)` lost are returned for the caller to refuse or count.
    /// Otherwise the error was transient (a restarting broker reports ranges it has not
    /// loaded yet). The partitions are assigned again at their positions.
    pub fn recover_out_of_range(
        &mut self,
        timeout: Duration,
    ) -> Result<Vec<(Tp, i64, u64)>, KafkaError> {
        let mut lost = Vec::new();
        let tps: Vec<Tp> = self.position.keys().cloned().collect();
        for tp in tps {
            let pos = self.position.get(&tp).copied().unwrap_or(0);
            let (low, high) = self.watermarks(&tp, timeout)?;
            if pos > high {
                return Err(KafkaError::OffsetOutOfRange {
                    message: format!(
                        "{} partition {} is at offset {pos} but the broker holds offsets {low}..{high}",
                        tp.0, tp.1
                    ),
                });
            }
            if pos < low {
                lost.push((tp.clone(), pos, (low - pos) as u64));
                self.position.insert(tp, low);
            }
        }
        // Everything again at the (moved) positions.
        self.add_partitions(&[])?;
        Ok(lost)
    }

    /// Bounded mode: records up to these end offsets (exclusive) are read, then
    /// [`reached_end`](Self::reached_end) turns true. An end is confirmed by the fetch
    /// high watermark (PartitionEOF), because some brokers under-report `ListOffsets`.
    pub fn set_end(&mut self, ends: BTreeMap<Tp, i64>) {
        self.end = Some(ends.into_iter().map(|(tp, e)| (tp, (e, false))).collect());
    }

    /// Whether every assigned partition reached its end (bounded mode only).
    pub fn reached_end(&self) -> bool {
        let Some(end) = &self.end else {
            return false;
        };
        end.iter().all(|(tp, (e, confirmed))| {
            let pos = self.position.get(tp).copied().unwrap_or(0);
            pos >= *e && *confirmed
        })
    }

    /// Next offset per assigned partition.
    pub fn positions(&self) -> &BTreeMap<Tp, i64> {
        &self.position
    }

    /// Waits up to `timeout` for the next record. `Ok(None)`: nothing arrived (or a
    /// partition reached its end). Transient broker errors are logged and retried by
    /// librdkafka; they come back as `Ok(None)`.
    pub fn poll(&mut self, timeout: Duration) -> Result<Option<SourceRecord>, KafkaError> {
        match self.consumer.poll(timeout) {
            None => Ok(None),
            Some(Ok(m)) => {
                let topic = match self.names.get(m.topic()) {
                    Some(t) => t.clone(),
                    None => Arc::from(m.topic()),
                };
                let tp = (m.topic().to_string(), m.partition());
                if self.caught_up.get(&tp) == Some(&true) {
                    self.caught_up.insert(tp.clone(), false);
                    self.caught_up_changes.push((tp.clone(), false));
                }
                self.position.insert(tp, m.offset() + 1);
                Ok(Some(SourceRecord {
                    topic,
                    partition: m.partition(),
                    offset: m.offset(),
                    timestamp: m.timestamp().to_millis().unwrap_or(0),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                }))
            }
            Some(Err(RdError::PartitionEOF(p))) => {
                // The fetch reached the partition's end (the last stable offset, with
                // read_committed). Control records of transactions take offsets that no
                // record is delivered for: the consumer's own position is past them.
                let fetched = self.consumer.position().ok();
                let tps: Vec<Tp> = self
                    .position
                    .keys()
                    .filter(|(_, q)| *q == p)
                    .cloned()
                    .collect();
                for tp in tps {
                    if let Some(Offset::Offset(o)) = fetched
                        .as_ref()
                        .and_then(|l| l.find_partition(&tp.0, tp.1))
                        .map(|e| e.offset())
                    {
                        let pos = self.position.entry(tp.clone()).or_insert(o);
                        *pos = (*pos).max(o);
                    }
                    if self.caught_up.insert(tp.clone(), true) != Some(true) {
                        self.caught_up_changes.push((tp.clone(), true));
                    }
                    let pos = self.position.get(&tp).copied().unwrap_or(0);
                    if let Some((e, confirmed)) = self.end.as_mut().and_then(|end| end.get_mut(&tp))
                    {
                        if pos >= *e {
                            *confirmed = true;
                        }
                    }
                }
                Ok(None)
            }
            Some(Err(e))
                if e.rdkafka_error_code()
                    == Some(rdkafka::types::RDKafkaErrorCode::AutoOffsetReset) =>
            {
                Err(KafkaError::OffsetOutOfRange {
                    message: e.to_string(),
                })
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "kafka consumer error; librdkafka retries");
                Ok(None)
            }
        }
    }

    /// Partitions that reached their end (`true`) or showed records past it (`false`)
    /// since the last call: the engine lets only caught-up partitions go idle.
    pub fn take_caught_up(&mut self) -> Vec<(Tp, bool)> {
        std::mem::take(&mut self.caught_up_changes)
    }

    /// Publishes positions as the group's offsets (lag monitoring only; never read back).
    pub fn commit_group_offsets(&self) -> Result<(), KafkaError> {
        self.commit(&self.position, CommitMode::Async)
    }

    /// Per assigned partition: records between the position and the end of the log the
    /// last fetch reported (`None` before the first report; 0 once the partition's end
    /// was reached). No request to the broker: the live view's lag.
    pub fn fetch_lag(&self) -> BTreeMap<Tp, Option<i64>> {
        let ends = self
            .consumer
            .context()
            .ends
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        self.position
            .iter()
            .map(|(tp, pos)| {
                let lag = if self.caught_up.get(tp) == Some(&true) {
                    Some(0)
                } else {
                    ends.get(tp).map(|end| (end - pos).max(0))
                };
                (tp.clone(), lag)
            })
            .collect()
    }

    /// Records between the current positions and each partition's high watermark (one
    /// ListOffsets request per partition, each waiting at most `timeout`; partitions that
    /// do not answer in time count 0). A lower bound on brokers that under-report ends.
    pub fn lag(&self, timeout: Duration) -> i64 {
        self.position
            .iter()
            .map(|(tp, pos)| {
                self.watermarks(tp, timeout)
                    .map(|(_, high)| (high - pos).max(0))
                    .unwrap_or(0)
            })
            .sum()
    }
}
