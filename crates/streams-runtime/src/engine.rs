//! The engine: one task that runs source records through the topology, keeps the
//! watermark, and writes checkpoints (DESIGN §4).
//!
//! Commit protocol, in order (each step is a separate call so tests can crash between
//! any two of them):
//! 1. [`Engine::prepare_checkpoint`]: processors flush in-memory state into their stores;
//!    store writes, emitted rows, dead letters, offsets, watermark and ledger are taken.
//! 2. [`Engine::write_checkpoint`]: ONE synced RocksDB batch with all of it, the outbox
//!    included. Returns the outbox entries of this checkpoint for delivery.
//! 3. The caller delivers the entries to its sinks (idempotent by task/epoch/seq), then
//!    calls [`Engine::mark_delivered`]; the next checkpoint deletes them.
//!
//! On open, outbox entries still in the database are handed out again by
//! [`Engine::take_recovered`]: they were committed, but maybe not (fully) delivered.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use streams_core::batch::{Batch, Origin};
use streams_core::dataflow::NodeCounters;
use streams_core::input::{Decoded, Decoder};
use streams_core::record::SourceRecord;
use streams_core::store::KeyValueStore;
use streams_core::time::WatermarkTracker;
use streams_core::topology::TableInfo;
use streams_core::CoreError;
use streams_state::{CheckpointWrites, StateConfig, StateDb};

use crate::checkpoint::{
    decode_meta, CheckpointMeta, CHECKPOINT_FORMAT, CHECKPOINT_KEY, CHECKPOINT_TIME_KEY,
};
use crate::error::RuntimeError;
use crate::ledger::Ledger;
use crate::outbox::{
    decode_entry, encode_entry, epoch_start_key, outbox_key, plan_outbox, plan_recovery,
    DeadLetterRecord, EntryRows, OutboxBatch, TableRows,
};
use crate::tasks::{PartitionInput, Tasks};
use crate::topology_file::TopologyDef;

/// Where and how the engine keeps its state.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The app's state directory (`checkpoints/<app-id>`).
    pub state_dir: PathBuf,
    /// The task id written in outbox identities (one task per instance for now).
    pub task: u32,
    /// RocksDB memory limits.
    pub state: StateConfig,
    /// Worker threads that run the topology's tasks (1: the caller's thread only). The
    /// outputs and the state layout do not depend on it (`docs/parallelism.md`).
    pub threads: usize,
}

/// A checkpoint taken from memory but not yet written (step 1 of the commit protocol).
pub struct CheckpointPlan {
    prepare_ms: u64,
    bytes: u64,
    epoch: u64,
    writes: CheckpointWrites,
    batches: Vec<OutboxBatch>,
    deletes_through: Option<u64>,
}

impl CheckpointPlan {
    /// The checkpoint's number.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
}

/// A checkpoint's one atomic batch, to be written (possibly on another thread) before
/// its outbox entries are delivered.
pub struct CheckpointWrite {
    writer: streams_state::StateWriter,
    writes: CheckpointWrites,
    epoch: u64,
    bytes: u64,
}

impl CheckpointWrite {
    /// The checkpoint's number.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Writes it (synced); returns the time it took, ms.
    pub fn write(self) -> Result<u64, RuntimeError> {
        let started = std::time::Instant::now();
        let outbox_bytes: usize = self
            .writes
            .outbox
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        self.writer.commit(self.writes)?;
        let ms = started.elapsed().as_millis() as u64;
        tracing::debug!(
            epoch = self.epoch,
            write_ms = ms,
            bytes = self.bytes,
            outbox_bytes,
            "checkpoint written"
        );
        Ok(ms)
    }
}

/// The stream engine for one task.
pub struct Engine {
    def: Arc<TopologyDef>,
    opts: EngineOptions,
    tasks: Tasks,
    decoder: Decoder,
    tables: Vec<TableInfo>,
    /// Records taken but not yet decoded and processed (with the wall clock they came
    /// at and their partition id); they are processed as one batch.
    pending: Vec<(SourceRecord, i64, u32)>,
    db: StateDb,
    wm: WatermarkTracker,
    partitions: Vec<(Arc<str>, i32)>,
    partition_ids: HashMap<(Arc<str>, i32), u32>,
    offsets: Vec<i64>,
    ledger: Ledger,
    epoch: u64,
    dead_letters: Vec<DeadLetterRecord>,
    delivered_through: Option<u64>,
    deleted_through: Option<u64>,
    recovered: Vec<OutboxBatch>,
    changed: bool,
    records_since_commit: u64,
    last_commit_wall: i64,
    poisoned: bool,
    aggregates: Vec<String>,
    sink_positions: Vec<(String, i32, i64)>,
    sink_state: BTreeMap<String, Vec<u8>>,
    /// Records taken per partition id by this process (the live view; not checkpointed).
    consumed: Vec<u64>,
    /// Outbox entries written per epoch and not yet deleted.
    outbox_entries: BTreeMap<u64, u64>,
    /// Checkpoints written since the last [`take_checkpoint_stats`](Self::take_checkpoint_stats).
    checkpoint_stats: Vec<CheckpointStats>,
    /// The dedup floor to set once the checkpoint being written is durable.
    dedup_floor_after_write: Option<i64>,
}

/// What one checkpoint cost: the live view's record of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointStats {
    /// Its number.
    pub epoch: u64,
    /// Wall-clock time it was written, ms.
    pub at_ms: i64,
    /// Time to prepare it (processors' write-back, outbox encoding), ms.
    pub prepare_ms: u64,
    /// Time to write it (one synced RocksDB batch), ms.
    pub write_ms: u64,
    /// Bytes of keys and values it wrote (state, outbox, meta).
    pub bytes: u64,
    /// Outbox entries it added.
    pub outbox_entries: u64,
}

/// An input partition as the live view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStatus {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset to read (`None`: nothing read or checkpointed yet).
    pub next_offset: Option<i64>,
    /// Records taken by this process.
    pub consumed: u64,
    /// Largest event time seen (ms).
    pub max_event_time: Option<i64>,
    /// Idle: caught up and quiet for the idle timeout (it no longer holds the watermark).
    pub idle: bool,
}

/// Records decoded and processed together (fewer when a checkpoint or tick comes first).
const BATCH_RECORDS: usize = 8192;

impl Engine {
    /// Opens the state in `opts.state_dir` and restores the last checkpoint, if any.
    pub fn open(
        def: Arc<TopologyDef>,
        opts: EngineOptions,
        wall_now: i64,
    ) -> Result<Self, RuntimeError> {
        let (mut topology, decoder) = def.build()?;
        let tables: Vec<TableInfo> = def.tables_of(&topology)?;
        let db = StateDb::open(&opts.state_dir, topology.store_specs(), &opts.state)?;
        let corrupt = |what: &'static str, e: &dyn std::fmt::Display| RuntimeError::Corrupt {
            path: opts.state_dir.clone(),
            what,
            message: e.to_string(),
        };
        let meta: Option<CheckpointMeta> = match db.get_meta(CHECKPOINT_KEY)? {
            None => None,
            Some(bytes) => Some(decode_meta(&bytes, &opts.state_dir)?),
        };
        let mut wm = WatermarkTracker::new(def.watermark_delay_ms, def.idle_timeout_ms);
        let mut engine_partitions = Vec::new();
        let mut partition_ids = HashMap::new();
        let mut offsets = Vec::new();
        let mut ledger = Ledger::default();
        // Epochs of a new state start at the wall clock (ms), so that output identities
        // stay unique across `reset-state`/`replay` (which start a new state).
        let mut epoch = u64::try_from(wall_now).unwrap_or(0);
        let mut sink_positions = Vec::new();
        let mut sink_state = BTreeMap::new();
        if let Some(m) = &meta {
            sink_positions = m.sink_positions.clone();
            sink_state = m.sink_state.clone();
            if m.fingerprint != def.fingerprint {
                return Err(RuntimeError::IncompatibleState {
                    path: opts.state_dir.clone(),
                    found: m.fingerprint.clone(),
                    expected: def.fingerprint.clone(),
                });
            }
            for (i, (t, p)) in m.partitions.iter().enumerate() {
                let key: (Arc<str>, i32) = (Arc::from(t.as_str()), *p);
                partition_ids.insert(key.clone(), i as u32);
                engine_partitions.push(key);
            }
            offsets = m.offsets.clone();
            wm.restore(&m.watermark, wall_now);
            // A partition known from the checkpoint but without data yet has no event
            // time in the restored state: it holds the watermark back all the same.
            for i in 0..engine_partitions.len() {
                wm.register(i as u32, wall_now);
            }
            ledger = m.ledger.clone();
            epoch = m.epoch;
            let counters: BTreeMap<String, NodeCounters> = m
                .counters
                .iter()
                .map(|(k, (d, l, f))| {
                    (
                        k.clone(),
                        NodeCounters {
                            duplicate: *d,
                            late: *l,
                            filtered: *f,
                        },
                    )
                })
                .collect();
            topology.restore_counters(&counters);
        }
        let w = wm.current();
        let aggregates = topology.processors_of_kind("window_aggregate");
        let tasks = Tasks::open(
            def.clone(),
            topology,
            &db,
            engine_partitions.len(),
            w,
            opts.threads.max(1),
        )?;
        db.set_dedup_floor(w);
        let mut found = Vec::new();
        for (_, v) in db.outbox()? {
            let b = decode_entry(&v).map_err(|e| corrupt("outbox entry", &e))?;
            found.push(b);
        }
        let (recovered, _) = plan_recovery(found);
        let mut outbox_entries = BTreeMap::new();
        for b in &recovered {
            *outbox_entries.entry(b.epoch).or_insert(0) += 1;
        }
        let consumed = vec![0; engine_partitions.len()];
        Ok(Engine {
            def,
            opts,
            tasks,
            decoder,
            tables,
            pending: Vec::new(),
            db,
            wm,
            partitions: engine_partitions,
            partition_ids,
            offsets,
            ledger,
            epoch,
            dead_letters: Vec::new(),
            delivered_through: None,
            deleted_through: None,
            recovered,
            changed: false,
            records_since_commit: 0,
            last_commit_wall: wall_now,
            poisoned: false,
            aggregates,
            sink_positions,
            sink_state,
            consumed,
            outbox_entries,
            checkpoint_stats: Vec::new(),
            dedup_floor_after_write: None,
        })
    }

    /// The loaded topology definition.
    pub fn def(&self) -> &TopologyDef {
        &self.def
    }

    /// The output tables; [`OutboxBatch::table`] indexes into this.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    /// The last committed checkpoint's number (0 before the first).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The current watermark.
    pub fn watermark(&self) -> i64 {
        self.wm.current()
    }

    /// The ledger, including `late` per aggregate.
    pub fn ledger(&self) -> Ledger {
        let mut l = self.ledger.clone();
        let counters = self.tasks.counters();
        for agg in &self.aggregates {
            let late = counters
                .iter()
                .find(|(n, _)| n == agg)
                .map_or(0, |(_, c)| c.late);
            l.late.insert(agg.clone(), late);
        }
        for (name, c) in counters {
            if c.filtered > 0 {
                l.filtered.insert(name.clone(), c.filtered);
            }
        }
        l
    }

    /// Next offset to read per known input partition (from the checkpoint and since).
    pub fn positions(&self) -> Vec<((String, i32), Option<i64>)> {
        self.partitions
            .iter()
            .zip(&self.offsets)
            .map(|((t, p), o)| ((t.to_string(), *p), (*o >= 0).then_some(*o)))
            .collect()
    }

    /// Declares the input partitions assigned to this engine: until each shows data or
    /// goes idle, it holds the watermark back.
    pub fn assign(&mut self, partitions: &[(String, i32)], wall_now: i64) {
        for (t, p) in partitions {
            self.partition_id(&Arc::from(t.as_str()), *p, wall_now);
        }
    }

    /// The source reached the end of a partition (`true`) or found records past it
    /// (`false`): only a caught-up partition may go idle and stop holding the watermark.
    pub fn caught_up(
        &mut self,
        topic: &str,
        partition: i32,
        caught_up: bool,
        wall_now: i64,
    ) -> Result<(), RuntimeError> {
        // Records taken before this news see the partition as it was.
        self.flush()?;
        let pid = self.partition_id(&Arc::from(topic), partition, wall_now);
        self.wm.set_caught_up(pid, caught_up, wall_now);
        Ok(())
    }

    /// Consumption starts now: idle timeouts count from `wall_now` (not from `open`, which
    /// may be followed by a long recovery).
    pub fn start_consuming(&mut self, wall_now: i64) {
        self.wm.reset_idle(wall_now);
    }

    fn partition_id(&mut self, topic: &Arc<str>, partition: i32, wall_now: i64) -> u32 {
        if let Some(id) = self.partition_ids.get(&(topic.clone(), partition)) {
            return *id;
        }
        let id = self.partitions.len() as u32;
        self.partitions.push((topic.clone(), partition));
        self.partition_ids.insert((topic.clone(), partition), id);
        self.offsets.push(-1);
        self.consumed.push(0);
        self.wm.register(id, wall_now);
        id
    }

    fn check(&self) -> Result<(), RuntimeError> {
        if self.poisoned {
            Err(RuntimeError::Poisoned)
        } else {
            Ok(())
        }
    }

    fn poison<T, E: Into<RuntimeError>>(&mut self, r: Result<T, E>) -> Result<T, RuntimeError> {
        r.map_err(|e| {
            self.poisoned = true;
            e.into()
        })
    }

    /// Takes one source record. Records at offsets this engine has already taken (a
    /// re-delivery) are skipped. Records are decoded and run through the topology in
    /// batches: when enough are waiting, and before anything that reads the results
    /// (`tick`, `end_of_input`, a checkpoint).
    pub fn process(&mut self, rec: SourceRecord, wall_now: i64) -> Result<(), RuntimeError> {
        self.check()?;
        let pid = self.partition_id(&rec.topic, rec.partition, wall_now);
        let next = self.offsets[pid as usize];
        if next >= 0 && rec.offset < next {
            return Ok(());
        }
        self.offsets[pid as usize] = rec.offset + 1;
        self.records_since_commit += 1;
        self.changed = true;
        self.pending.push((rec, wall_now, pid));
        if self.pending.len() >= BATCH_RECORDS {
            self.flush()?;
        }
        Ok(())
    }

    /// Decodes the waiting records and runs the accepted ones through the topology as
    /// one batch. Each row carries the watermark it would have seen had the records come
    /// one at a time (observations and idleness of the rows before it), so results do
    /// not depend on batch boundaries.
    fn flush(&mut self) -> Result<(), RuntimeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        // Records per partition task (decoded on the worker threads); `at` keeps the
        // arrival order: (task slot, index in the slot, wall clock, partition id).
        let mut slots: Vec<(u32, Vec<SourceRecord>)> = Vec::new();
        let mut slot_of: HashMap<u32, usize> = HashMap::new();
        let mut at = Vec::with_capacity(pending.len());
        for (rec, wall, pid) in pending {
            let s = *slot_of.entry(pid).or_insert_with(|| {
                slots.push((pid, Vec::new()));
                slots.len() - 1
            });
            at.push((s, slots[s].1.len() as u32, wall, pid));
            slots[s].1.push(rec);
        }
        let r = self
            .tasks
            .ensure_partitions(self.partitions.len(), &self.db);
        self.poison(r)?;
        let decoder = &self.decoder;
        let decoded: Vec<Result<Decoded, CoreError>> = self.tasks.map(
            slots.iter().map(|(_, recs)| recs.as_slice()).collect(),
            |recs| decoder.decode(recs).map_err(CoreError::from),
        );
        let mut parts = Vec::with_capacity(slots.len());
        for d in decoded {
            let d = self.poison(d)?;
            parts.push(d);
        }
        self.ledger.consumed += at.len() as u64;
        // Per slot: the next dead letter and the next accepted row (index into its rows).
        struct Part {
            dead: std::iter::Peekable<std::vec::IntoIter<(u32, streams_core::input::DeadLetter)>>,
            next_row: usize,
            watermarks: Vec<i64>,
            origins: Vec<Origin>,
            arrival: Vec<usize>,
        }
        let mut batches = Vec::with_capacity(parts.len());
        let mut cursors: Vec<Part> = parts
            .into_iter()
            .map(|d| {
                let n = d.rows.len();
                batches.push((d.batch, d.event_ts, d.rows));
                Part {
                    dead: d.dead.into_iter().peekable(),
                    next_row: 0,
                    watermarks: Vec::with_capacity(n),
                    origins: Vec::with_capacity(n),
                    arrival: Vec::with_capacity(n),
                }
            })
            .collect();
        let mut accepted = 0u64;
        for (i, (s, j, wall, pid)) in at.into_iter().enumerate() {
            self.consumed[pid as usize] += 1;
            let c = &mut cursors[s];
            let rec = &mut slots[s].1[j as usize];
            if let Some((_, dl)) = c.dead.next_if(|(d, _)| *d == j) {
                self.ledger.dead_lettered += 1;
                *self
                    .ledger
                    .dead_letter_reasons
                    .entry(dl.reason.clone())
                    .or_default() += 1;
                self.dead_letters.push(DeadLetterRecord {
                    reason: dl.reason,
                    detail: dl.detail,
                    topic: rec.topic.to_string(),
                    partition: rec.partition,
                    offset: rec.offset,
                    timestamp: rec.timestamp,
                    key: rec.key.take(),
                    value: std::mem::take(&mut rec.value),
                });
                self.wm.touch(pid, wall);
            } else if batches[s].2.get(c.next_row) == Some(&j) {
                let ts = batches[s].1[c.next_row];
                c.next_row += 1;
                c.watermarks.push(self.wm.current());
                c.origins.push(Origin {
                    partition: rec.partition,
                    offset: rec.offset,
                });
                c.arrival.push(i);
                accepted += 1;
                self.wm.observe(pid, ts, wall);
            }
            self.wm.advance(wall);
        }
        if accepted > 0 {
            let mut inputs = Vec::with_capacity(slots.len());
            for (((pid, _), c), (data, times, _)) in slots.iter().zip(cursors).zip(batches) {
                if times.is_empty() {
                    continue;
                }
                let batch = Batch::new(data, times, c.watermarks, c.origins)
                    .map_err(|e| RuntimeError::Core(CoreError::arrow(e)));
                let batch = self.poison(batch)?;
                inputs.push(PartitionInput {
                    partition: *pid,
                    batch,
                    arrival: c.arrival,
                });
            }
            let before = self.duplicates();
            let r = self.tasks.process(inputs);
            self.poison(r)?;
            let dups = self.duplicates() - before;
            self.ledger.duplicate += dups;
            self.ledger.accepted += accepted - dups;
        }
        self.punctuate_if_advanced()
    }

    /// Processes the records taken so far (they are otherwise processed in batches).
    pub fn process_pending(&mut self) -> Result<(), RuntimeError> {
        self.check()?;
        self.flush()
    }

    fn duplicates(&self) -> u64 {
        self.tasks.duplicates()
    }

    /// Lets wall-clock time pass without records: idle partitions may release the watermark.
    pub fn tick(&mut self, wall_now: i64) -> Result<(), RuntimeError> {
        self.check()?;
        self.flush()?;
        self.wm.advance(wall_now);
        self.punctuate_if_advanced()
    }

    fn punctuate_if_advanced(&mut self) -> Result<(), RuntimeError> {
        let w = self.wm.current();
        if w > self.tasks.watermark() {
            let r = self.tasks.punctuate(w);
            self.poison(r)?;
            self.changed = true;
        }
        Ok(())
    }

    /// Bounded mode: the input is exhausted; every open window is emitted.
    pub fn end_of_input(&mut self) -> Result<(), RuntimeError> {
        self.check()?;
        self.flush()?;
        self.wm.end_of_input(self.tasks.topology().closing_extent());
        self.punctuate_if_advanced()
    }

    /// Whether a checkpoint is due (record count or interval reached).
    pub fn commit_due(&self, wall_now: i64) -> bool {
        self.changed
            && (self.records_since_commit >= self.def.max_records_per_commit
                || wall_now - self.last_commit_wall >= self.def.commit_interval_ms)
    }

    /// Starts the commit interval again at `wall_now`: called once a checkpoint has been
    /// delivered, so that the interval is time for records, not the delivery's own
    /// time (a delivery slower than the interval would otherwise make every record a
    /// checkpoint of its own).
    pub fn restart_commit_interval(&mut self, wall_now: i64) {
        self.last_commit_wall = self.last_commit_wall.max(wall_now);
    }

    /// Steps 1 and 2 of the commit protocol; returns this checkpoint's outbox entries to
    /// deliver. Nothing is written when nothing changed.
    pub fn commit(&mut self, wall_now: i64) -> Result<Vec<OutboxBatch>, RuntimeError> {
        self.check()?;
        if !self.changed && self.delivered_through <= self.deleted_through {
            return Ok(Vec::new());
        }
        let plan = self.prepare_checkpoint()?;
        self.write_checkpoint(plan, wall_now)
    }

    /// Step 1: moves everything since the last checkpoint out of memory into a plan.
    /// Dropping the plan (and the engine) is a crash before the write.
    pub fn prepare_checkpoint(&mut self) -> Result<CheckpointPlan, RuntimeError> {
        self.check()?;
        self.flush()?;
        let started = std::time::Instant::now();
        let r = self.tasks.checkpoint();
        self.poison(r)?;
        let flushed = started.elapsed();
        let stores = self.tasks.take_pending_writes();
        // The sinks' batches as they are (columns): rows are made when an entry is
        // encoded (on the worker threads, below) and when a sink delivers it.
        let taken = self.tasks.take_outputs();
        let mut outputs: Vec<TableRows> = self
            .tasks
            .topology()
            .sinks()
            .iter()
            .map(|_| TableRows::default())
            .collect();
        for (table, batches) in taken.into_iter().enumerate() {
            for b in batches {
                let t = &mut outputs[table];
                let rows = EntryRows::Columns(b.data().clone());
                if b.is_update() {
                    t.updates.push(rows);
                } else {
                    t.rows.push(rows);
                }
            }
        }
        let dead_letters = std::mem::take(&mut self.dead_letters);
        let epoch = self.epoch + 1;
        let batches = plan_outbox(self.opts.task, epoch, outputs, dead_letters);
        let ledger = self.ledger();
        let meta = CheckpointMeta {
            format: CHECKPOINT_FORMAT,
            fingerprint: self.def.fingerprint.clone(),
            epoch,
            partitions: self
                .partitions
                .iter()
                .map(|(t, p)| (t.to_string(), *p))
                .collect(),
            offsets: self.offsets.clone(),
            watermark: self.wm.state(),
            ledger,
            counters: self
                .tasks
                .counters()
                .into_iter()
                .map(|(n, c)| (n, (c.duplicate, c.late, c.filtered)))
                .collect(),
            sink_positions: self.sink_positions.clone(),
            sink_state: self.sink_state.clone(),
        };
        let encode = |v: &dyn erased::Encode| v.encode();
        let encoded = self.tasks.map(batches.iter().collect(), |b: &OutboxBatch| {
            encode_entry(b).map_err(|e| RuntimeError::Core(CoreError::store("outbox", e)))
        });
        let mut outbox = Vec::with_capacity(batches.len());
        for (b, bytes) in batches.iter().zip(encoded) {
            let bytes = self.poison(bytes)?;
            outbox.push((outbox_key(b.task, b.epoch, b.table, b.first_seq), bytes));
        }
        let meta_bytes = encode(&meta);
        let meta_bytes = self.poison(meta_bytes)?;
        let deletes_through = self
            .delivered_through
            .filter(|d| Some(*d) > self.deleted_through);
        let bytes = stores
            .iter()
            .flat_map(|(_, w)| w.iter())
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .chain(outbox.iter().map(|(k, v)| k.len() + v.len()))
            .sum::<usize>()
            + meta_bytes.len();
        tracing::debug!(
            epoch,
            flush_ms = flushed.as_millis() as u64,
            prepare_ms = started.elapsed().as_millis() as u64,
            store_writes = stores.iter().map(|(_, w)| w.len()).sum::<usize>(),
            outbox_entries = outbox.len(),
            "checkpoint prepared"
        );
        Ok(CheckpointPlan {
            epoch,
            prepare_ms: started.elapsed().as_millis() as u64,
            bytes: bytes as u64,
            writes: CheckpointWrites {
                stores,
                meta: vec![(CHECKPOINT_KEY.to_vec(), meta_bytes)],
                outbox,
                outbox_delete_before: deletes_through.map(|d| epoch_start_key(d + 1)),
            },
            batches,
            deletes_through,
        })
    }

    /// Step 2: writes the plan as one atomic, synced batch. Returns the outbox entries to
    /// deliver. On error the engine refuses further work: restart to recover.
    pub fn write_checkpoint(
        &mut self,
        plan: CheckpointPlan,
        wall_now: i64,
    ) -> Result<Vec<OutboxBatch>, RuntimeError> {
        let (write, batches) = self.stage_checkpoint(plan, wall_now)?;
        let epoch = write.epoch;
        let ms = write.write();
        let ms = self.poison(ms)?;
        self.checkpoint_durable(epoch, ms);
        Ok(batches)
    }

    /// Steps 1 and 2 for a caller that writes the checkpoint on another thread: the plan
    /// is taken and the engine goes on as if it were written; the returned write must be
    /// done (and [`checkpoint_durable`](Self::checkpoint_durable) called) before its
    /// entries are delivered and before the next checkpoint is taken. `None`: nothing
    /// changed.
    pub fn commit_staged(
        &mut self,
        wall_now: i64,
    ) -> Result<Option<(CheckpointWrite, Vec<OutboxBatch>)>, RuntimeError> {
        self.check()?;
        if !self.changed && self.delivered_through <= self.deleted_through {
            return Ok(None);
        }
        let plan = self.prepare_checkpoint()?;
        self.stage_checkpoint(plan, wall_now).map(Some)
    }

    /// The checkpoint `epoch` is durable (written in `write_ms`): stores forget the
    /// writes they kept in flight for it, expired dedup entries below its watermark may
    /// be collected.
    pub fn checkpoint_durable(&mut self, epoch: u64, write_ms: u64) {
        self.tasks.committed();
        if let Some(floor) = self.dedup_floor_after_write.take() {
            self.db.set_dedup_floor(floor);
        }
        if let Some(s) = self
            .checkpoint_stats
            .iter_mut()
            .rev()
            .find(|s| s.epoch == epoch)
        {
            s.write_ms = write_ms;
        }
    }

    /// Everything of step 2 but the write itself.
    fn stage_checkpoint(
        &mut self,
        plan: CheckpointPlan,
        wall_now: i64,
    ) -> Result<(CheckpointWrite, Vec<OutboxBatch>), RuntimeError> {
        self.check()?;
        let mut writes = plan.writes;
        writes.meta.push((
            CHECKPOINT_TIME_KEY.to_vec(),
            wall_now.to_be_bytes().to_vec(),
        ));
        let write = CheckpointWrite {
            writer: self.db.writer(),
            writes,
            epoch: plan.epoch,
            bytes: plan.bytes,
        };
        self.epoch = plan.epoch;
        if let Some(d) = plan.deletes_through {
            self.deleted_through = Some(d);
            self.outbox_entries = self.outbox_entries.split_off(&(d + 1));
        }
        if !plan.batches.is_empty() {
            self.outbox_entries
                .insert(plan.epoch, plan.batches.len() as u64);
        }
        self.checkpoint_stats.push(CheckpointStats {
            epoch: plan.epoch,
            at_ms: wall_now,
            prepare_ms: plan.prepare_ms,
            write_ms: 0,
            bytes: plan.bytes,
            outbox_entries: plan.batches.len() as u64,
        });
        if self.checkpoint_stats.len() > 64 {
            // Nobody is taking them (no live view): keep the newest.
            self.checkpoint_stats.drain(..32);
        }
        self.records_since_commit = 0;
        self.last_commit_wall = wall_now;
        self.changed = false;
        self.dedup_floor_after_write = Some(self.wm.state().emitted);
        Ok((write, plan.batches))
    }

    /// Step 3 done: every outbox entry up to `epoch` reached its sinks; the next
    /// checkpoint deletes them.
    pub fn mark_delivered(&mut self, epoch: u64) {
        if Some(epoch) > self.delivered_through {
            self.delivered_through = Some(epoch);
        }
    }

    /// Positions the sinks reported (persisted with the next checkpoint).
    pub fn set_sink_positions(&mut self, positions: Vec<(String, i32, i64)>) {
        if positions != self.sink_positions {
            self.sink_positions = positions;
            self.changed = true;
        }
    }

    /// Input records the broker deleted before they were read, skipped with the user's
    /// permission: counted as `lost` in the ledger (persisted with the next checkpoint).
    pub fn count_lost(&mut self, records: u64) {
        self.ledger.lost += records;
        self.changed = true;
    }

    /// A sink's state (persisted with the next checkpoint, in the same batch that deletes
    /// the outbox entries the sink made durable).
    pub fn set_sink_state(&mut self, sink: &str, state: Vec<u8>) {
        if self.sink_state.get(sink) != Some(&state) {
            self.sink_state.insert(sink.to_string(), state);
            self.changed = true;
        }
    }

    /// A sink's state from the last checkpoint (or as last set).
    pub fn sink_state(&self, sink: &str) -> Option<&[u8]> {
        self.sink_state.get(sink).map(Vec::as_slice)
    }

    /// Sink positions from the last checkpoint (or as last set).
    pub fn sink_positions(&self) -> &[(String, i32, i64)] {
        &self.sink_positions
    }

    /// Outbox entries found at open: committed, maybe not delivered. Deliver them before
    /// anything else, then [`mark_delivered`](Self::mark_delivered) the newest epoch.
    pub fn take_recovered(&mut self) -> Vec<OutboxBatch> {
        std::mem::take(&mut self.recovered)
    }

    /// The committed contents of a store (what a restart would see), in key order.
    pub fn committed_store(
        &self,
        name: &str,
    ) -> Result<Vec<streams_state::KeyValue>, RuntimeError> {
        let mut store = self.db.store(name)?;
        let mut out = Vec::new();
        store.scan(b"", &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    /// Names of the stores the topology declared.
    pub fn store_names(&self) -> Vec<String> {
        self.tasks
            .topology()
            .store_specs()
            .iter()
            .map(|s| s.name.clone())
            .collect()
    }

    /// Checkpoints written since the last call, oldest first (at most the last 64).
    pub fn take_checkpoint_stats(&mut self) -> Vec<CheckpointStats> {
        std::mem::take(&mut self.checkpoint_stats)
    }

    /// Outbox entries checkpointed and not yet deleted (delivered entries go with the
    /// next checkpoint).
    pub fn outbox_entries(&self) -> u64 {
        self.outbox_entries.values().sum()
    }

    /// Whether anything changed since the last checkpoint.
    pub fn has_uncommitted(&self) -> bool {
        self.changed || !self.pending.is_empty()
    }

    /// The topology's steps with the rows through each since the process started.
    pub fn graph(&self) -> Vec<streams_core::dataflow::GraphNode> {
        self.tasks.graph()
    }

    /// Every known input partition: position, records taken, event time, idleness.
    pub fn partition_status(&self, wall_now: i64) -> Vec<PartitionStatus> {
        let clocks = self.wm.partition_clocks(wall_now);
        self.partitions
            .iter()
            .enumerate()
            .map(|(i, (t, p))| {
                let clock = clocks.iter().find(|c| c.0 == i as u32);
                PartitionStatus {
                    topic: t.to_string(),
                    partition: *p,
                    next_offset: (self.offsets[i] >= 0).then_some(self.offsets[i]),
                    consumed: self.consumed[i],
                    max_event_time: clock.and_then(|c| c.1),
                    idle: clock.is_some_and(|c| c.2),
                }
            })
            .collect()
    }

    /// Bytes of the state's files on disk.
    pub fn state_size_on_disk(&self) -> u64 {
        streams_state::size_on_disk(self.db.path())
    }

    /// Bytes in RocksDB's block cache.
    pub fn block_cache_usage(&self) -> u64 {
        self.db.block_cache_usage()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.tasks.close();
    }
}

mod erased {
    //! Encodes checkpoint parts with one bincode configuration.
    use crate::error::RuntimeError;

    pub trait Encode {
        fn encode(&self) -> Result<Vec<u8>, RuntimeError>;
    }

    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Result<Vec<u8>, RuntimeError> {
            bincode::serde::encode_to_vec(self, bincode::config::standard())
                .map_err(|e| RuntimeError::Core(streams_core::CoreError::store("checkpoint", e)))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use streams_core::input::{FieldSpec, InputSchema};
    use streams_core::ColumnType;

    fn engine(dir: &std::path::Path) -> Engine {
        let input = InputSchema {
            fields: vec![FieldSpec::new("n", ColumnType::Int)],
            ..InputSchema::default()
        };
        let mut def = TopologyDef::from_code("t", vec!["in".into()], input, |b| {
            let s = b.source();
            b.sink("out", &s, &["n"]);
        })
        .unwrap();
        def.commit_interval_ms = 100;
        let opts = EngineOptions {
            state_dir: dir.to_path_buf(),
            task: 0,
            state: StateConfig::default(),
            threads: 1,
        };
        let mut e = Engine::open(Arc::new(def), opts, 0).unwrap();
        e.assign(&[("in".to_string(), 0)], 0);
        e
    }

    fn record(offset: i64) -> SourceRecord {
        SourceRecord {
            topic: Arc::from("in"),
            partition: 0,
            offset,
            timestamp: offset,
            key: None,
            value: format!(r#"{{"n":{offset}}}"#).into_bytes(),
        }
    }

    /// The interval counts from the end of the last delivery: a delivery slower than the
    /// interval must not make the next record a checkpoint of its own.
    #[test]
    fn the_commit_interval_restarts_after_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let mut e = engine(dir.path());
        e.process(record(0), 0).unwrap();
        assert!(!e.commit_due(99), "nothing is due before the interval");
        assert!(e.commit_due(100));
        e.commit(100).unwrap();
        // The delivery of that checkpoint took 150 ms (longer than the interval).
        e.restart_commit_interval(250);
        e.process(record(1), 251).unwrap();
        assert!(!e.commit_due(251), "a record right after a slow delivery");
        assert!(!e.commit_due(349));
        assert!(e.commit_due(350));
        // A clock that went back never moves the interval's start backwards.
        e.restart_commit_interval(200);
        assert!(e.commit_due(350));
    }

    /// A checkpoint written on another thread: until its write is done, a crash loses
    /// it (a restart resumes from the one before); once written, a restart resumes from
    /// it; records processed meanwhile belong to the next checkpoint.
    #[test]
    fn a_staged_checkpoint_counts_once_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let positions = |e: &Engine| e.positions()[0].1;
        {
            let mut e = engine(dir.path());
            e.process(record(0), 0).unwrap();
            e.commit(10).unwrap();
            e.process(record(1), 20).unwrap();
            let (write, batches) = e.commit_staged(30).unwrap().unwrap();
            assert_eq!(batches.iter().map(|b| b.payload.len()).sum::<usize>(), 1);
            e.process(record(2), 40).unwrap();
            drop(write); // the process dies before the write
        }
        {
            let mut e = engine(dir.path());
            assert_eq!(positions(&e), Some(1), "the first checkpoint only");
            e.process(record(1), 50).unwrap();
            let (write, _) = e.commit_staged(60).unwrap().unwrap();
            e.process(record(2), 70).unwrap();
            let epoch = write.epoch();
            let ms = std::thread::spawn(move || write.write())
                .join()
                .unwrap()
                .unwrap();
            e.checkpoint_durable(epoch, ms);
            assert_eq!(e.epoch(), epoch);
        }
        let e = engine(dir.path());
        assert_eq!(positions(&e), Some(2), "the written one, without record 2");
    }
}
