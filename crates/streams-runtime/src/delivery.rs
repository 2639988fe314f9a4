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
//! Pipelined (`run`, `bench engine`): the delivery thread also *writes* each checkpoint
//! (`Engine::commit_staged` hands it the batch) before delivering its outbox, while the
//! engine processes the next records; the stores keep the writes in flight readable
//! until the write is confirmed (`Engine::checkpoint_durable`), and the next checkpoint
//! waits for it. Inline (the test driver): written, then delivered, in the caller.
//!
//! A sink is idempotent by record identity `(task, epoch, seq)`: an entry delivered
//! again after a crash (the outbox is only forgotten by a later checkpoint) is skipped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use streams_core::topology::TableInfo;
use tracing::warn;

use crate::engine::CheckpointWrite;
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
///
/// Two modes with the same protocol: **inline** (`new`: every call delivers before it
/// returns; the test driver and the benchmark) and **pipelined** (`spawn`: the sinks live
/// on a delivery thread; `commit` hands a checkpoint's outbox over and returns, so the
/// next interval's records are processed while it is delivered; at most one delivery is
/// in flight, and the next checkpoint waits for it). Either way an epoch is forgotten
/// only after every sink holds it, by a later checkpoint: a crash at any point finds
/// the undelivered entries in the outbox.
pub struct Delivery {
    mode: Mode,
    names: Vec<String>,
    /// Positions right after each delivered epoch that the outbox still holds. The
    /// checkpoint records the positions after the newest epoch the outbox forgets: a
    /// recovery scan from there sees every record of every epoch it may re-deliver.
    positions_after: BTreeMap<u64, Vec<(String, i32, i64)>>,
    /// Records handed to each sink by this process, per (sink, table index).
    emitted: BTreeMap<(usize, u16), u64>,
}

enum Mode {
    Inline(Sinks<dyn Sink>),
    Pipelined(Worker),
}

/// The longest wait between two attempts of a sink that keeps failing retriably.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a delivery (or a roll) leaves for the engine: each sink's checkpoint state, the
/// newest epoch every sink holds durably, the output positions after the delivery.
#[derive(Default)]
struct Report {
    /// Whether the delivery finished (`false`: stopped while a sink was retrying).
    delivered: bool,
    /// The newest epoch of the delivered entries.
    epoch: Option<u64>,
    emitted: Vec<((usize, u16), u64)>,
    states: Vec<(String, Vec<u8>)>,
    durable_through: Option<u64>,
    positions: Option<Vec<(String, i32, i64)>>,
    /// The checkpoint the job wrote before delivering (epoch, ms), if it wrote one.
    written: Option<(u64, u64)>,
}

/// The sinks and the part of the protocol that does not touch the engine.
struct Sinks<S: Sink + ?Sized> {
    sinks: Vec<Box<S>>,
}

impl<S: Sink + ?Sized> Sinks<S> {
    /// Delivers `batches` to every sink in order (a retriable failure is retried with
    /// recovery until it succeeds or `stop` is set), rolls them, and reports what is
    /// durable given that everything through `epoch` was handed over when no batch
    /// names a newer one.
    fn deliver(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
        recover: bool,
        epoch: u64,
        stop: &AtomicBool,
    ) -> Result<Report, RuntimeError> {
        let mut report = Report::default();
        if !batches.is_empty() {
            for (i, sink) in self.sinks.iter_mut().enumerate() {
                let started = std::time::Instant::now();
                let mut backoff = Duration::from_millis(200);
                let mut recover = recover;
                loop {
                    match sink.deliver(tables, batches, recover) {
                        Ok(()) => {
                            let mut taken: BTreeMap<u16, u64> = BTreeMap::new();
                            for b in batches.iter().filter(|b| sink.takes(tables, b)) {
                                *taken.entry(b.table).or_insert(0) += b.payload.len() as u64;
                            }
                            report
                                .emitted
                                .extend(taken.into_iter().map(|(t, n)| ((i, t), n)));
                            tracing::debug!(
                                sink = sink.name(),
                                ms = started.elapsed().as_secs_f64() * 1000.0,
                                "delivered"
                            );
                            break;
                        }
                        Err(e) if e.retriable => {
                            warn!(sink = sink.name(), error = %e, "delivery failed; retrying with recovery");
                            if stop.load(Ordering::Relaxed) {
                                return Ok(report);
                            }
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            recover = true;
                        }
                        Err(e) => return Err(RuntimeError::Sink(e)),
                    }
                }
            }
            report.epoch = batches.iter().map(|b| b.epoch).max();
            report.positions = self.positions();
        }
        self.roll()?;
        report.delivered = true;
        let through = report.epoch.unwrap_or(epoch);
        self.durable(&mut report, through);
        Ok(report)
    }

    /// Time-driven work of every sink, then what became durable through `epoch`.
    fn roll_report(&mut self, epoch: u64) -> Result<Report, RuntimeError> {
        self.roll()?;
        Ok(self.settled(epoch))
    }

    /// Every file published, then what is durable through `epoch`.
    fn publish_all(&mut self, epoch: u64) -> Result<Report, RuntimeError> {
        for sink in &mut self.sinks {
            sink.publish_all().map_err(RuntimeError::Sink)?;
        }
        Ok(self.settled(epoch))
    }

    /// The report of work that delivered nothing new: what is durable through `epoch`.
    fn settled(&self, epoch: u64) -> Report {
        let mut report = Report {
            delivered: true,
            ..Report::default()
        };
        self.durable(&mut report, epoch);
        report
    }

    fn roll(&mut self) -> Result<(), RuntimeError> {
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
    fn durable(&self, report: &mut Report, delivered_through: u64) {
        let mut through = Some(delivered_through);
        for sink in &self.sinks {
            if let Some(state) = sink.checkpoint_state() {
                report.states.push((sink.name().to_string(), state));
            }
            through = through.and_then(|t| sink.durable_through(t));
        }
        report.durable_through = through;
    }
}

/// The delivery thread of the pipelined mode.
struct Worker {
    jobs: std::sync::mpsc::Sender<Job>,
    replies: std::sync::mpsc::Receiver<Result<Report, RuntimeError>>,
    /// A job was sent whose reply has not been applied yet.
    busy: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

enum Job {
    Deliver {
        /// The checkpoint holding `batches`, written first (pipelined commits).
        write: Option<CheckpointWrite>,
        batches: Vec<OutboxBatch>,
        recover: bool,
        epoch: u64,
    },
    Roll {
        epoch: u64,
    },
    PublishAll {
        epoch: u64,
    },
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the job channel ends the thread once its current job is done.
        let (closed, _) = std::sync::mpsc::channel();
        drop(std::mem::replace(&mut self.jobs, closed));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Delivery {
    /// An inline coordinator for `sinks`, delivered to in this order.
    pub fn new(sinks: Vec<Box<dyn Sink>>) -> Delivery {
        Delivery {
            names: sinks.iter().map(|s| s.name().to_string()).collect(),
            mode: Mode::Inline(Sinks { sinks }),
            positions_after: BTreeMap::new(),
            emitted: BTreeMap::new(),
        }
    }

    /// A pipelined coordinator: `sinks` move to a delivery thread of their own;
    /// `tables` are the engine's output tables; `stop` ends a sink's retries.
    pub fn spawn(
        sinks: Vec<Box<dyn Sink + Send>>,
        tables: Vec<TableInfo>,
        stop: std::sync::Arc<AtomicBool>,
    ) -> Result<Delivery, RuntimeError> {
        let names = sinks.iter().map(|s| s.name().to_string()).collect();
        let (jobs, job_rx) = std::sync::mpsc::channel::<Job>();
        let (reply_tx, replies) = std::sync::mpsc::channel();
        let mut sinks = Sinks { sinks };
        let thread = std::thread::Builder::new()
            .name("delivery".into())
            .spawn(move || {
                while let Ok(job) = job_rx.recv() {
                    let reply = match job {
                        Job::Deliver {
                            write,
                            batches,
                            recover,
                            epoch,
                        } => {
                            // The outbox is durable before any of it is delivered.
                            let written = match write {
                                Some(w) => {
                                    let e = w.epoch();
                                    w.write().map(|ms| Some((e, ms)))
                                }
                                None => Ok(None),
                            };
                            written.and_then(|written| {
                                let mut r =
                                    sinks.deliver(&tables, &batches, recover, epoch, &stop)?;
                                r.written = written;
                                Ok(r)
                            })
                        }
                        Job::Roll { epoch } => sinks.roll_report(epoch),
                        Job::PublishAll { epoch } => sinks.publish_all(epoch),
                    };
                    if reply_tx.send(reply).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| {
                RuntimeError::Sink(SinkError::fatal(format!(
                    "cannot start the delivery thread: {e}"
                )))
            })?;
        Ok(Delivery {
            mode: Mode::Pipelined(Worker {
                jobs,
                replies,
                busy: false,
                thread: Some(thread),
            }),
            names,
            positions_after: BTreeMap::new(),
            emitted: BTreeMap::new(),
        })
    }

    /// The sinks' names, in delivery order.
    pub fn sink_names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// Records each sink took since the process started, as `(sink, table index, records)`
    /// ([`crate::outbox::DLQ_TABLE`] for dead letters). Entries re-delivered at a start
    /// count again (the sink skips those it already holds).
    pub fn emitted(&self) -> Vec<(&str, u16, u64)> {
        self.emitted
            .iter()
            .map(|((s, t), n)| (self.names[*s].as_str(), *t, *n))
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
        self.deliver(engine, recovered, true, stop)
    }

    /// A checkpoint, then its delivery. Inline: delivered before it returns. Pipelined:
    /// waits for the previous delivery, writes the checkpoint and hands its outbox to the
    /// delivery thread. `Ok(false)`: stopped while a sink was retrying; the checkpoint
    /// keeps the entries for the next start.
    pub fn commit(
        &mut self,
        engine: &mut Engine,
        wall_now: i64,
        stop: &AtomicBool,
    ) -> Result<bool, RuntimeError> {
        if !self.wait(engine)? {
            return Ok(false);
        }
        if let Mode::Pipelined(w) = &mut self.mode {
            // The delivery thread writes the checkpoint, then delivers it, while the
            // engine goes on with the next records.
            let (write, batches) = match engine.commit_staged(wall_now)? {
                Some((write, batches)) => (Some(write), batches),
                None => (None, Vec::new()),
            };
            w.send(Job::Deliver {
                write,
                batches,
                recover: false,
                epoch: engine.epoch(),
            })?;
            return Ok(true);
        }
        let batches = engine.commit(wall_now)?;
        self.deliver(engine, batches, false, stop)
    }

    /// Delivers `batches` to every sink and waits (a retriable failure is retried with
    /// recovery until it succeeds or `stop` is set), then marks durable what every sink
    /// holds.
    pub fn deliver(
        &mut self,
        engine: &mut Engine,
        batches: Vec<OutboxBatch>,
        recover: bool,
        stop: &AtomicBool,
    ) -> Result<bool, RuntimeError> {
        if !self.wait(engine)? {
            return Ok(false);
        }
        let epoch = engine.epoch();
        let report = match &mut self.mode {
            Mode::Inline(sinks) => {
                sinks.deliver(engine.tables(), &batches, recover, epoch, stop)?
            }
            Mode::Pipelined(w) => {
                w.send(Job::Deliver {
                    write: None,
                    batches,
                    recover,
                    epoch,
                })?;
                w.receive()?
            }
        };
        Ok(self.apply(engine, report))
    }

    /// Applies the reply of a finished pipelined delivery, if there is one; never waits.
    /// `Ok(false)`: that delivery was stopped while a sink was retrying.
    pub fn poll(&mut self, engine: &mut Engine) -> Result<bool, RuntimeError> {
        let Mode::Pipelined(w) = &mut self.mode else {
            return Ok(true);
        };
        if !w.busy {
            return Ok(true);
        }
        match w.try_receive()? {
            Some(report) => Ok(self.apply(engine, report)),
            None => Ok(true),
        }
    }

    /// Waits for the delivery in flight (pipelined) and applies it. `Ok(false)`: that
    /// delivery was stopped while a sink was retrying.
    pub fn wait(&mut self, engine: &mut Engine) -> Result<bool, RuntimeError> {
        let Mode::Pipelined(w) = &mut self.mode else {
            return Ok(true);
        };
        if !w.busy {
            return Ok(true);
        }
        let report = w.receive()?;
        Ok(self.apply(engine, report))
    }

    /// Time-driven work of every sink (rolling files by age), then what became durable
    /// is marked. Pipelined: handed to the delivery thread, skipped while a delivery is
    /// in flight (a delivery rolls the sinks after it).
    pub fn roll(&mut self, engine: &mut Engine) -> Result<(), RuntimeError> {
        let epoch = engine.epoch();
        match &mut self.mode {
            Mode::Inline(sinks) => {
                let report = sinks.roll_report(epoch)?;
                self.apply(engine, report);
            }
            Mode::Pipelined(w) => {
                if !w.busy {
                    w.send(Job::Roll { epoch })?;
                }
            }
        }
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
        let mut delivered = self.commit(engine, wall_now, stop)? && self.wait(engine)?;
        if delivered {
            let epoch = engine.epoch();
            let report = match &mut self.mode {
                Mode::Inline(sinks) => sinks.publish_all(epoch)?,
                Mode::Pipelined(w) => {
                    w.send(Job::PublishAll { epoch })?;
                    w.receive()?
                }
            };
            delivered = self.apply(engine, report);
        }
        engine.commit(wall_now)?;
        Ok(delivered)
    }

    /// What a delivery or roll reported, into the engine: sink states, the epoch the
    /// outbox may forget and the output positions that go with it. Returns whether the
    /// delivery finished.
    fn apply(&mut self, engine: &mut Engine, report: Report) -> bool {
        if let Some((epoch, ms)) = report.written {
            engine.checkpoint_durable(epoch, ms);
        }
        for (k, n) in report.emitted {
            *self.emitted.entry(k).or_insert(0) += n;
        }
        if !report.delivered {
            return false;
        }
        if let (Some(e), Some(p)) = (report.epoch, report.positions) {
            self.positions_after.insert(e, p);
        }
        for (name, state) in report.states {
            engine.set_sink_state(&name, state);
        }
        let Some(e) = report.durable_through else {
            return true;
        };
        engine.mark_delivered(e);
        let newer = self.positions_after.split_off(&(e + 1));
        let forgotten = std::mem::replace(&mut self.positions_after, newer);
        if let Some((_, positions)) = forgotten.into_iter().next_back() {
            engine.set_sink_positions(positions);
        }
        true
    }
}

impl Worker {
    fn send(&mut self, job: Job) -> Result<(), RuntimeError> {
        self.jobs.send(job).map_err(|_| thread_gone())?;
        self.busy = true;
        Ok(())
    }

    fn receive(&mut self) -> Result<Report, RuntimeError> {
        let reply = self.replies.recv().map_err(|_| thread_gone())?;
        self.busy = false;
        reply
    }

    /// The reply in, if it came (`None`: still delivering).
    fn try_receive(&mut self) -> Result<Option<Report>, RuntimeError> {
        match self.replies.try_recv() {
            Ok(reply) => {
                self.busy = false;
                reply.map(Some)
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => Ok(None),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(thread_gone()),
        }
    }
}

fn thread_gone() -> RuntimeError {
    RuntimeError::Sink(SinkError::fatal("the delivery thread ended unexpectedly"))
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
            for r in rows.rows().iter() {
                let json = streams_core::value::row_to_json(&tables[t].schema, r);
                // A closed stdout (a pipe to `head`) must not stop the app.
                let _ = writeln!(self.out, "{}{kind} {json}", tables[t].name);
            }
        }
        let _ = self.out.flush();
        Ok(())
    }
}
