//! The Kafka side of `streams-app bench e2e`: what the broker and the client library
//! manage without the engine, measured on the same topic with the same client settings.
//!
//! - [`raw_consume`]: read a topic to its end, nothing else (the ceiling);
//! - [`copy_loop`]: consume each record, produce it to another topic, and commit input
//!   offsets and outputs together in one Kafka transaction per interval (what a
//!   hand-written exactly-once pipeline does, and what `run` does around its engine);
//! - [`Arrivals`]: when each record of an output topic became visible to a
//!   `read_committed` consumer (the latency benchmark).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::error::KafkaError;
use crate::ClientConfig;

/// Records read and the time it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// Records.
    pub records: u64,
    /// Wall-clock time from the first request to the last record (copy loop: to the
    /// last commit).
    pub elapsed: Duration,
}

impl Measured {
    /// Records per second.
    pub fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Wall clock, ms since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn stalled(topic: &str, waited: Duration) -> KafkaError {
    KafkaError::Stalled {
        topic: topic.to_string(),
        what: format!("no record and no end of partition for {waited:?}"),
    }
}

fn reader(
    cfg: &ClientConfig,
    group: &str,
    topic: &str,
    timeout: Duration,
) -> Result<(BaseConsumer, Vec<i32>), KafkaError> {
    let consumer: BaseConsumer = cfg
        .rd()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .create()
        .map_err(KafkaError::client("create consumer"))?;
    let partitions = crate::admin::partitions_with(&consumer, cfg, topic, timeout)?;
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(KafkaError::client("assign"))?;
    }
    consumer
        .assign(&tpl)
        .map_err(KafkaError::client("assign"))?;
    Ok((consumer, partitions))
}

/// Reads `topic` from the beginning to the end of every partition (confirmed by
/// partition EOF), counting records.
pub fn raw_consume(
    cfg: &ClientConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Measured, KafkaError> {
    let (consumer, partitions) = reader(cfg, "streams-bench-raw", topic, timeout)?;
    let started = Instant::now();
    let mut done = std::collections::BTreeSet::new();
    let mut records = 0u64;
    let mut last = started;
    let mut idle_since = Instant::now();
    while done.len() < partitions.len() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => {
                records += 1;
                last = Instant::now();
                idle_since = last;
            }
            Some(Err(RdError::PartitionEOF(p))) => {
                done.insert(p);
            }
            Some(Err(e)) => return Err(KafkaError::client("consume")(e)),
            None => {
                if idle_since.elapsed() > timeout {
                    return Err(stalled(topic, timeout));
                }
            }
        }
    }
    Ok(Measured {
        records,
        elapsed: last - started,
    })
}

/// Copies `from` into `to` with exactly-once: one Kafka transaction per
/// `commit_interval` holds the records produced and the input offsets consumed (the
/// consumer group's), as Kafka Streams does under `exactly_once_v2`.
pub fn copy_loop(
    cfg: &ClientConfig,
    from: &str,
    to: &str,
    transactional_id: &str,
    commit_interval: Duration,
    timeout: Duration,
) -> Result<Measured, KafkaError> {
    let group = format!("{transactional_id}-group");
    let (consumer, partitions) = reader(cfg, &group, from, timeout)?;
    let producer: ThreadedProducer<DefaultProducerContext> = cfg
        .rd()
        .set("transactional.id", transactional_id)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .create()
        .map_err(KafkaError::client("create producer"))?;
    producer
        .init_transactions(timeout)
        .map_err(KafkaError::client("init transactions"))?;
    producer
        .begin_transaction()
        .map_err(KafkaError::client("begin transaction"))?;
    let started = Instant::now();
    let mut last_commit = Instant::now();
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    let mut done = std::collections::BTreeSet::new();
    let mut records = 0u64;
    let mut idle_since = Instant::now();
    let commit = |positions: &BTreeMap<i32, i64>| -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for (p, o) in positions {
            tpl.add_partition_offset(from, *p, Offset::Offset(*o))
                .map_err(KafkaError::client("offsets"))?;
        }
        let meta = consumer
            .group_metadata()
            .ok_or_else(|| KafkaError::Stalled {
                topic: from.to_string(),
                what: "the consumer has no group metadata for the transaction".into(),
            })?;
        producer
            .send_offsets_to_transaction(&tpl, &meta, timeout)
            .map_err(KafkaError::client("send offsets"))?;
        crate::flush::flush_threaded(&producer, timeout)
            .and_then(|()| producer.commit_transaction(timeout))
            .map_err(KafkaError::client("commit transaction"))?;
        producer
            .begin_transaction()
            .map_err(KafkaError::client("begin transaction"))
    };
    while done.len() < partitions.len() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let mut record =
                    BaseRecord::<[u8], [u8]>::to(to).payload(m.payload().unwrap_or_default());
                if let Some(k) = m.key() {
                    record = record.key(k);
                }
                if let Some(ts) = m.timestamp().to_millis() {
                    record = record.timestamp(ts);
                }
                let mut record = record;
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((
                            RdError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                            r,
                        )) => {
                            record = r;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err((e, _)) => return Err(KafkaError::client("produce")(e)),
                    }
                }
                positions.insert(m.partition(), m.offset() + 1);
                records += 1;
                idle_since = Instant::now();
            }
            Some(Err(RdError::PartitionEOF(p))) => {
                done.insert(p);
            }
            Some(Err(e)) => return Err(KafkaError::client("consume")(e)),
            None => {
                if idle_since.elapsed() > timeout {
                    return Err(stalled(from, timeout));
                }
            }
        }
        if last_commit.elapsed() >= commit_interval && !positions.is_empty() {
            commit(&positions)?;
            last_commit = Instant::now();
        }
    }
    commit(&positions)?;
    Ok(Measured {
        records,
        elapsed: started.elapsed(),
    })
}

/// What a background reader sees of a topic.
enum Seen<'a> {
    Record(&'a rdkafka::message::BorrowedMessage<'a>),
    End(i32),
}

/// A consumer polled in a thread of its own until stopped, folding what it reads into a
/// state the caller can look at meanwhile and take at the end.
struct Background<S> {
    topic: String,
    state: Arc<Mutex<S>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), KafkaError>>>,
}

impl<S: Default + Send + 'static> Background<S> {
    fn start(
        consumer: BaseConsumer,
        topic: &str,
        mut fold: impl FnMut(&mut S, Seen<'_>) + Send + 'static,
    ) -> Background<S> {
        let state: Arc<Mutex<S>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let seen = match consumer.poll(Duration::from_millis(20)) {
                    Some(Ok(m)) => {
                        if let Ok(mut s) = s.lock() {
                            fold(&mut s, Seen::Record(&m));
                        }
                        continue;
                    }
                    Some(Err(RdError::PartitionEOF(p))) => Seen::End(p),
                    None => continue,
                    Some(Err(e)) => return Err(KafkaError::client("consume")(e)),
                };
                if let Ok(mut s) = s.lock() {
                    fold(&mut s, seen);
                }
            }
            Ok(())
        });
        Background {
            topic: topic.to_string(),
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn look<R: Default>(&self, f: impl FnOnce(&S) -> R) -> R {
        self.state.lock().map(|s| f(&s)).unwrap_or_default()
    }

    /// Stops reading; returns the state.
    fn finish(mut self) -> Result<S, KafkaError> {
        self.stop.store(true, Ordering::Relaxed);
        let failed = || KafkaError::Stalled {
            topic: self.topic.clone(),
            what: "the reader thread panicked".to_string(),
        };
        if let Some(t) = self.thread.take() {
            t.join().map_err(|_| failed())??;
        }
        let mut state = self.state.lock().map_err(|_| failed())?;
        Ok(std::mem::take(&mut *state))
    }
}

impl<S> Drop for Background<S> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads an output topic with `read_committed` in a thread, noting when each key was
/// first seen (wall clock, ms): when its record became visible to consumers.
pub struct Arrivals(Background<HashMap<Vec<u8>, i64>>);

impl Arrivals {
    /// Starts reading `topic` from the beginning (it must exist).
    pub fn start(
        cfg: &ClientConfig,
        topic: &str,
        timeout: Duration,
    ) -> Result<Arrivals, KafkaError> {
        let (consumer, _) = reader(cfg, "streams-bench-latency", topic, timeout)?;
        Ok(Arrivals(Background::start(
            consumer,
            topic,
            |seen: &mut HashMap<Vec<u8>, i64>, s| {
                if let Seen::Record(m) = s {
                    if let Some(k) = m.key() {
                        seen.entry(k.to_vec()).or_insert_with(now_ms);
                    }
                }
            },
        )))
    }

    /// Keys seen so far.
    pub fn count(&self) -> usize {
        self.0.look(HashMap::len)
    }

    /// Stops reading; returns when each key was first seen.
    pub fn finish(self) -> Result<HashMap<Vec<u8>, i64>, KafkaError> {
        self.0.finish()
    }
}

/// What a [`Collector`] has read so far.
#[derive(Debug, Default)]
struct Collected {
    values: Vec<Vec<u8>>,
    /// Partitions at their end since their last record.
    at_end: std::collections::BTreeSet<i32>,
}

/// Reads every record of one topic with `read_committed` in a thread, from the
/// beginning, keeping the values: the outputs of a run while it runs (the comparison
/// benchmark watches them grow and compares them afterwards).
pub struct Collector {
    reader: Background<Collected>,
    partitions: usize,
}

impl Collector {
    /// Starts reading `topic` (it must exist).
    pub fn start(
        cfg: &ClientConfig,
        topic: &str,
        timeout: Duration,
    ) -> Result<Collector, KafkaError> {
        let (consumer, partitions) = reader(cfg, "streams-bench-collect", topic, timeout)?;
        let reader = Background::start(consumer, topic, |c: &mut Collected, s| match s {
            Seen::Record(m) => {
                c.values.push(m.payload().unwrap_or_default().to_vec());
                c.at_end.remove(&m.partition());
            }
            Seen::End(p) => {
                c.at_end.insert(p);
            }
        });
        Ok(Collector {
            reader,
            partitions: partitions.len(),
        })
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.reader.topic
    }

    /// Records read so far.
    pub fn count(&self) -> usize {
        self.reader.look(|c| c.values.len())
    }

    /// Whether every partition is at its end (as far as committed records go).
    pub fn at_end(&self) -> bool {
        self.reader.look(|c| c.at_end.len() >= self.partitions)
    }

    /// Stops reading; returns every value read.
    pub fn finish(self) -> Result<Vec<Vec<u8>>, KafkaError> {
        Ok(self.reader.finish()?.values)
    }
}
