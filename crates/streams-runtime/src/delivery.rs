//! Exactly-once delivery (DESIGN §4): **commit → deliver → forget**, in one place for
//! `run`, the test driver and the benchmark.
//!
//! ```text
//! Engine::commit ─▶ outbox entries ─▶ every Sink::deliver (in order; a retriable error
//!                                      retries that sink with `recover`)
//!                                   ─▶ Sink::durable_through (the minimum over sinks)
//!                                   ─▶ Engine::mark_delivered: the next checkpoint forgets
//!                                      those entries, with each sink's checkpoint state
//! ```
//!
//! A sink is idempotent by record identity `(task, epoch, seq)`: an entry delivered
//! again after a crash (the outbox is only forgotten by a later checkpoint) is skipped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use streams_core::topology::TableInfo;
use tracing::warn;

use crate::{Engine, OutboxBatch, OutboxPayload, RuntimeError};

/// A sink's failure: retriable (the same delivery may succeed later: broker down,
/// timeouts) or not (disk full, a record its topic refuses).
#[derive(Debug)]
pub struct SinkError {
    /// Whether retrying later may succeed.
    pub retriable: bool,
    /// What went wrong.
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl SinkError {
    /// A failure that retrying cannot clear.
    pub fn fatal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> SinkError {
        SinkError {
            retriable: false,
            source: e.into(),
        }
    }
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// A destination of the outbox: Kafka topics, Parquet or CSV files, the console, memory.
pub trait Sink {
    /// The name its checkpointed state is kept under (and logs use).
    fn name(&self) -> &str;

    /// Delivers outbox entries. With `recover`, some of them may have been delivered
    /// before (entries found at start-up, a retry after a failure): each record must
    /// still end up exactly once (skipped by its identity).
    fn deliver(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
        recover: bool,
    ) -> Result<(), SinkError>;

    /// Whether this sink writes the records of `batch` (a sink skips the tables it is not
    /// configured for); what the live view counts as emitted by it.
    fn takes(&self, _tables: &[TableInfo], _batch: &OutboxBatch) -> bool {
        true
    }

    /// Time-driven work (rolling files by age); called about once a second and after
    /// every delivery.
    fn roll(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Makes everything delivered visible and durable now (the end of a run).
    fn publish_all(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Given that every entry through epoch `delivered` was handed to it: the newest
    /// epoch this sink holds durably (`None`: not even the oldest). The outbox forgets
    /// an epoch only when every sink holds it.
    fn durable_through(&self, delivered: u64) -> Option<u64> {
        Some(delivered)
    }

    /// State that must be checkpointed with the forgetting (e.g. staged file lengths).
    fn checkpoint_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Output positions right after everything delivered so far (Kafka: where its
    /// recovery scan of a later restart must start).
    fn positions(&self) -> Option<Vec<(String, i32, i64)>> {
        None
    }
}

/// The delivery coordinator: owns the sinks, delivers each checkpoint's outbox to them
/// and tells the engine what it may forget.
pub struct Delivery {
    sinks: Vec<Box<dyn Sink>>,
    /// Positions right after each delivered epoch that the outbox still holds. The
    /// checkpoint records the positions after the newest epoch the outbox forgets: a
    /// recovery scan from there sees every record of every epoch it may re-deliver.
    positions_after: BTreeMap<u64, Vec<(String, i32, i64)>>,
    /// Records handed to each sink by this process, per (sink, table index).
    emitted: BTreeMap<(usize, u16), u64>,
}

/// The longest wait between two attempts of a sink that keeps failing retriably.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Delivery {
    /// A coordinator for `sinks`, delivered to in this order.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Delivery {
        Delivery {
            sinks,
            positions_after: BTreeMap::new(),
            emitted: BTreeMap::new(),
        }
    }

    /// The sinks' names, in delivery order.
    pub fn sink_names(&self) -> Vec<String> {
        self.sinks.iter().map(|s| s.name().to_string()).collect()
    }

    /// Records each sink took since the process started, as `(sink, table index, records)`
    /// ([`crate::outbox::DLQ_TABLE`] for dead letters). Entries re-delivered at a start
    /// count again (the sink skips those it already holds).
    pub fn emitted(&self) -> Vec<(&str, u16, u64)> {
        self.emitted
            .iter()
            .map(|((s, t), n)| (self.sinks[*s].name(), *t, *n))
            .collect()
    }

    /// Delivers what the last checkpoint's outbox still holds (after a restart): every
    /// sink in recovery mode. `Ok(false)`: stopped before it was delivered.
    pub fn recover(
        &mut self,
        engine: &mut Engine,
        stop: &AtomicBool,
    ) -> Result<bool, RuntimeError> {
        let recovered = engine.take_recovered();
        if recovered.is_empty() {
            return Ok(true);
        }
        let epochs: std::collections::BTreeSet<u64> = recovered.iter().map(|b| b.epoch).collect();
        tracing::info!(
            entries = recovered.len(),
            records = recovered.iter().map(|b| b.payload.len()).sum::<usize>(),
            epochs = epochs.len(),
            "re-delivering the outbox of the last checkpoint"
        );
        self.deliver(engine, &recovered, true, stop)
    }

    /// A checkpoint, then its delivery. `Ok(false)`: stopped while a sink was retrying;
    /// the checkpoint keeps the entries for the next start.
    pub fn commit(
        &mut self,
        engine: &mut Engine,
        wall_now: i64,
        stop: &AtomicBool,
    ) -> Result<bool, RuntimeError> {
        let batches = engine.commit(wall_now)?;
        self.deliver(engine, &batches, false, stop)
    }

    /// Delivers `batches` to every sink (a retriable failure is retried with recovery
    /// until it succeeds or `stop` is set), then marks durable what every sink holds.
    pub fn deliver(
        &mut self,
        engine: &mut Engine,
        batches: &[OutboxBatch],
        recover: bool,
        stop: &AtomicBool,
    ) -> Result<bool, RuntimeError> {
        if !batches.is_empty() {
            let tables = engine.tables();
            for (i, sink) in self.sinks.iter_mut().enumerate() {
                let mut backoff = Duration::from_millis(200);
                let mut recover = recover;
                loop {
                    match sink.deliver(tables, batches, recover) {
                        Ok(()) => {
                            for b in batches.iter().filter(|b| sink.takes(tables, b)) {
                                *self.emitted.entry((i, b.table)).or_insert(0) +=
                                    b.payload.len() as u64;
                            }
                            break;
                        }
                        Err(e) if e.retriable => {
                            warn!(sink = sink.name(), error = %e, "delivery failed; retrying with recovery");
                            if stop.load(Ordering::Relaxed) {
                                return Ok(false);
                            }
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            recover = true;
                        }
                        Err(e) => return Err(RuntimeError::Sink(e)),
                    }
                }
            }
            if let Some(e) = batches.iter().map(|b| b.epoch).max() {
                if let Some(p) = self.positions() {
                    self.positions_after.insert(e, p);
                }
            }
        }
        self.roll_sinks()?;
        self.mark_durable(engine, batches.iter().map(|b| b.epoch).max());
        Ok(true)
    }

    /// Time-driven work of every sink (rolling files by age), then what became durable
    /// is marked.
    pub fn roll(&mut self, engine: &mut Engine) -> Result<(), RuntimeError> {
        self.roll_sinks()?;
        self.mark_durable(engine, None);
        Ok(())
    }

    /// The end of a run: a final checkpoint and its delivery, every file published, and
    /// a last checkpoint that forgets the delivered outbox. `Ok(false)`: stopped while
    /// a sink was retrying (the checkpoint keeps the entries for the next start).
    pub fn finish(
        &mut self,
        engine: &mut Engine,
        wall_now: i64,
        stop: &AtomicBool,
    ) -> Result<bool, RuntimeError> {
        let delivered = self.commit(engine, wall_now, stop)?;
        if delivered {
            for sink in &mut self.sinks {
                sink.publish_all().map_err(RuntimeError::Sink)?;
            }
            self.mark_durable(engine, None);
        }
        engine.commit(wall_now)?;
        Ok(delivered)
    }

    fn roll_sinks(&mut self) -> Result<(), RuntimeError> {
        for sink in &mut self.sinks {
            sink.roll().map_err(RuntimeError::Sink)?;
        }
        Ok(())
    }

    fn positions(&self) -> Option<Vec<(String, i32, i64)>> {
        let mut all: Option<Vec<(String, i32, i64)>> = None;
        for s in &self.sinks {
            if let Some(p) = s.positions() {
                all.get_or_insert_with(Vec::new).extend(p);
            }
        }
        all
    }

    /// The outbox may forget an epoch once every sink holds it durably; the same
    /// checkpoint records the sinks' state (staged file lengths, output positions).
    fn mark_durable(&mut self, engine: &mut Engine, delivered_through: Option<u64>) {
        let mut through = Some(delivered_through.unwrap_or(engine.epoch()));
        for sink in &self.sinks {
            if let Some(state) = sink.checkpoint_state() {
                engine.set_sink_state(sink.name(), state);
            }
            through = through.and_then(|t| sink.durable_through(t));
        }
        let Some(e) = through else {
            return;
        };
        engine.mark_delivered(e);
        let newer = self.positions_after.split_off(&(e + 1));
        let forgotten = std::mem::replace(&mut self.positions_after, newer);
        if let Some((_, positions)) = forgotten.into_iter().next_back() {
            engine.set_sink_positions(positions);
        }
    }
}

/// The console tap: every row (and update) of the tables that ask for it, as
/// `table {json}` lines on a writer (stdout), when it is delivered. At-least-once: the
/// outbox of a checkpoint is printed again after a restart.
pub struct ConsoleSink<W: std::io::Write> {
    tables: Vec<bool>,
    out: W,
}

impl<W: std::io::Write> ConsoleSink<W> {
    /// Prints the tables whose flag is set.
    pub fn new(tables: Vec<bool>, out: W) -> Self {
        ConsoleSink { tables, out }
    }
}

impl<W: std::io::Write> Sink for ConsoleSink<W> {
    fn name(&self) -> &str {
        "console"
    }

    fn takes(&self, _tables: &[TableInfo], b: &OutboxBatch) -> bool {
        self.tables.get(b.table as usize).copied().unwrap_or(false)
            && !matches!(b.payload, OutboxPayload::DeadLetters(_))
    }

    fn deliver(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
        _recover: bool,
    ) -> Result<(), SinkError> {
        for b in batches {
            if !self.takes(tables, b) {
                continue;
            }
            let t = b.table as usize;
            let (rows, kind) = match &b.payload {
                OutboxPayload::Rows(r) => (r, ""),
                OutboxPayload::Updates(r) => (r, " (update)"),
                OutboxPayload::DeadLetters(_) => continue,
            };
            for r in rows {
                let json = streams_core::value::row_to_json(&tables[t].schema, r);
                // A closed stdout (a pipe to `head`) must not stop the app.
                let _ = writeln!(self.out, "{}{kind} {json}", tables[t].name);
            }
        }
        let _ = self.out.flush();
        Ok(())
    }
}
