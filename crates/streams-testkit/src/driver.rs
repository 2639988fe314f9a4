//! [`TopologyTestDriver`]: feed records, read outputs and stores, crash and restart.

use std::cell::{Cell, Ref, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use streams_core::record::SourceRecord;
use streams_core::Row;
use streams_runtime::{
    load_topology, DeadLetterRecord, Delivery, Engine, EngineOptions, Ledger, RuntimeError,
    TopologyDef,
};
use streams_state::StateConfig;
use tempfile::TempDir;

use crate::sink::{MemoryHandle, MemorySink};

/// Where in the commit protocol a simulated crash happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// Processors flushed their state into the checkpoint plan; nothing written.
    BeforeWrite,
    /// The checkpoint batch is durable; nothing delivered.
    AfterWrite,
    /// The checkpoint is durable and the first `n` output records were delivered.
    MidDelivery(usize),
    /// Everything delivered; the outbox cleanup is not yet committed.
    AfterDelivery,
}

/// Runs a topology file against RocksDB state in a temporary directory.
pub struct TopologyTestDriver {
    def: Arc<TopologyDef>,
    dir: TempDir,
    engine: Option<Engine>,
    topic: Arc<str>,
    partitions: i32,
    log: Vec<SourceRecord>,
    next_offset: Vec<i64>,
    wall: i64,
    commit_every: Option<usize>,
    threads: usize,
    since_commit: usize,
    sink: Rc<RefCell<MemorySink>>,
    /// Delivery stops with an error after this many records (a crash mid-delivery).
    crash_after: Rc<Cell<Option<usize>>>,
    /// The coordinator `run` uses, delivering to the memory sink.
    delivery: Delivery,
    tables: Vec<String>,
    /// Checkpoints written so far (all incarnations).
    pub commits: u64,
    /// Restarts so far.
    pub restarts: u64,
}

impl TopologyTestDriver {
    /// A driver for the topology file at `path`, reading `partitions` partitions of its
    /// first source topic.
    pub fn new(path: &Path, partitions: i32) -> Result<Self, RuntimeError> {
        let def = Arc::new(load_topology(path)?);
        Self::with_def(def, partitions)
    }

    /// A driver for a loaded topology.
    pub fn with_def(def: Arc<TopologyDef>, partitions: i32) -> Result<Self, RuntimeError> {
        let dir = tempfile::tempdir().map_err(|e| {
            RuntimeError::Topology(vec![format!("cannot create a temporary directory: {e}")])
        })?;
        let topic: Arc<str> = Arc::from(def.source_topics[0].as_str());
        let sink = Rc::new(RefCell::new(MemorySink::default()));
        let crash_after = Rc::new(Cell::new(None));
        let mut d = TopologyTestDriver {
            def,
            dir,
            engine: None,
            topic,
            partitions,
            log: Vec::new(),
            next_offset: vec![0; partitions.max(1) as usize],
            wall: 0,
            commit_every: None,
            threads: 2,
            since_commit: 0,
            delivery: Delivery::new(Vec::new()),
            sink,
            crash_after,
            tables: Vec::new(),
            commits: 0,
            restarts: 0,
        };
        d.open()?;
        Ok(d)
    }

    /// Restarts the engine as [`restart`](Self::restart) does, with the topology's tasks
    /// on `n` worker threads (a new driver runs 2): neither the state nor the outputs
    /// may depend on it.
    pub fn restart_with_threads(&mut self, n: usize) -> Result<(), RuntimeError> {
        self.threads = n.max(1);
        self.restart()
    }

    /// Commit automatically after every `n` records (default: only when asked).
    pub fn commit_every(&mut self, n: usize) -> &mut Self {
        self.commit_every = Some(n.max(1));
        self
    }

    fn options(&self) -> EngineOptions {
        EngineOptions {
            state_dir: self.dir.path().join("state"),
            task: 0,
            state: StateConfig {
                block_cache_bytes: 8 << 20,
                write_buffer_bytes: 4 << 20,
                total_write_buffer_bytes: 16 << 20,
            },
            threads: self.threads,
        }
    }

    fn open(&mut self) -> Result<(), RuntimeError> {
        let mut engine = Engine::open(self.def.clone(), self.options(), self.wall)?;
        let parts: Vec<(String, i32)> = (0..self.partitions)
            .map(|p| (self.topic.to_string(), p))
            .collect();
        engine.assign(&parts, self.wall);
        // The in-memory input has no backlog: what is piped is processed at once, so
        // every partition is caught up (and may go idle) whenever nothing is piped.
        for (t, p) in &parts {
            engine.caught_up(t, *p, true, self.wall)?;
        }
        self.tables = engine.tables().iter().map(|t| t.name.clone()).collect();
        for t in engine.tables() {
            self.sink.borrow_mut().set_schema(&t.name, t.schema.clone());
        }
        // A new incarnation: a new coordinator, as a restarted process has.
        self.crash_after.set(None);
        self.delivery = Delivery::new(vec![Box::new(MemoryHandle {
            sink: self.sink.clone(),
            crash_after: self.crash_after.clone(),
        })]);
        // Recovery: deliver what the last checkpoint holds, then let it be cleaned up.
        self.delivery
            .recover(&mut engine, &AtomicBool::new(false))?;
        self.engine = Some(engine);
        Ok(())
    }

    fn engine(&mut self) -> &mut Engine {
        match self.engine.as_mut() {
            Some(e) => e,
            None => panic!("engine is not running"),
        }
    }

    /// Appends a record to `partition` of the input log and processes it. Returns its offset.
    pub fn pipe(
        &mut self,
        partition: i32,
        kafka_ts: i64,
        value: &[u8],
    ) -> Result<i64, RuntimeError> {
        let offset = self.next_offset[partition as usize];
        self.next_offset[partition as usize] += 1;
        let rec = SourceRecord {
            topic: self.topic.clone(),
            partition,
            offset,
            timestamp: kafka_ts,
            key: None,
            value: value.to_vec(),
        };
        self.log.push(rec.clone());
        self.feed(&rec)?;
        Ok(offset)
    }

    fn feed(&mut self, rec: &SourceRecord) -> Result<(), RuntimeError> {
        let wall = self.wall;
        // The log keeps its copy for replays after a crash.
        self.engine().process(rec.clone(), wall)?;
        self.since_commit += 1;
        if let Some(n) = self.commit_every {
            if self.since_commit >= n {
                self.commit()?;
            }
        }
        Ok(())
    }

    /// Moves the simulated wall clock forward (idle partitions, commit intervals).
    pub fn advance_wall_clock(&mut self, ms: i64) -> Result<(), RuntimeError> {
        self.wall += ms;
        let wall = self.wall;
        self.engine().tick(wall)
    }

    /// A full commit: checkpoint, deliver, mark delivered (the coordinator `run` uses).
    pub fn commit(&mut self) -> Result<(), RuntimeError> {
        let wall = self.wall;
        let Some(engine) = self.engine.as_mut() else {
            panic!("engine is not running")
        };
        self.delivery
            .commit(engine, wall, &AtomicBool::new(false))?;
        self.commits += 1;
        self.since_commit = 0;
        Ok(())
    }

    /// Bounded mode: the input is done; emits every open window and commits.
    pub fn end(&mut self) -> Result<(), RuntimeError> {
        self.end_input()?;
        self.commit()
    }

    /// Bounded mode without the commit: every open window is emitted into the outbox.
    pub fn end_input(&mut self) -> Result<(), RuntimeError> {
        self.engine().end_of_input()
    }

    /// Runs a commit up to `point`, then crashes: the engine is dropped without any
    /// further step, as a SIGKILL would leave it.
    pub fn crash_at(&mut self, point: CrashPoint) -> Result<(), RuntimeError> {
        let plan = self.engine().prepare_checkpoint()?;
        if point != CrashPoint::BeforeWrite {
            let wall = self.wall;
            let batches = self.engine().write_checkpoint(plan, wall)?;
            self.commits += 1;
            let deliver_to = match point {
                CrashPoint::MidDelivery(n) => Some(Some(n)),
                CrashPoint::AfterDelivery => Some(None),
                _ => None,
            };
            if let (Some(limit), Some(engine)) = (deliver_to, self.engine.as_mut()) {
                self.crash_after.set(limit);
                match self
                    .delivery
                    .deliver(engine, batches, false, &AtomicBool::new(false))
                {
                    Ok(_) | Err(RuntimeError::Sink(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.engine = None;
        Ok(())
    }

    /// Drops the engine without committing (a crash between checkpoints).
    pub fn crash(&mut self) {
        self.engine = None;
    }

    /// Reopens the engine from its last checkpoint, re-delivers the recovered outbox and
    /// re-feeds every logged record after the checkpointed positions, in the original order.
    pub fn restart(&mut self) -> Result<(), RuntimeError> {
        self.engine = None;
        self.restarts += 1;
        self.open()?;
        let positions: BTreeMap<i32, i64> = self
            .engine()
            .positions()
            .into_iter()
            .filter_map(|((_, p), o)| o.map(|o| (p, o)))
            .collect();
        self.since_commit = 0;
        let replay: Vec<SourceRecord> = self
            .log
            .iter()
            .filter(|r| r.offset >= positions.get(&r.partition).copied().unwrap_or(0))
            .cloned()
            .collect();
        for rec in &replay {
            self.feed(rec)?;
        }
        Ok(())
    }

    /// Reopens the engine from its last checkpoint and delivers the recovered outbox, but
    /// feeds nothing: the engine shows exactly what the checkpoint holds.
    pub fn restart_without_replay(&mut self) -> Result<(), RuntimeError> {
        self.engine = None;
        self.restarts += 1;
        self.open()
    }

    /// Rows delivered to `table`, in delivery order.
    pub fn rows(&self, table: &str) -> Vec<Row> {
        self.sink.borrow().rows(table)
    }

    /// Updates of open windows delivered to `table` (`emit = "update"`).
    pub fn updates(&self, table: &str) -> Vec<Row> {
        self.sink.borrow().updates(table)
    }

    /// Rows delivered to `table`, as JSON objects.
    pub fn json(&self, table: &str) -> Vec<serde_json::Value> {
        self.sink.borrow().json(table)
    }

    /// Dead letters delivered.
    pub fn dead_letters(&self) -> Vec<DeadLetterRecord> {
        self.sink.borrow().dead_letters()
    }

    /// Output table names.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// The sink (for duplicate statistics).
    pub fn sink(&self) -> Ref<'_, MemorySink> {
        self.sink.borrow()
    }

    /// The engine's ledger, with every piped record processed.
    pub fn ledger(&mut self) -> Ledger {
        let engine = self.engine();
        // A failure here poisons the engine; the next pipe or commit reports it.
        let _ = engine.process_pending();
        engine.ledger()
    }

    /// The committed contents of a store.
    pub fn store(&mut self, name: &str) -> Result<Vec<streams_state::KeyValue>, RuntimeError> {
        self.engine().committed_store(name)
    }

    /// Store names.
    pub fn store_names(&mut self) -> Vec<String> {
        self.engine().store_names()
    }

    /// The current watermark, with every piped record processed.
    pub fn watermark(&mut self) -> i64 {
        let engine = self.engine();
        let _ = engine.process_pending();
        engine.watermark()
    }

    /// Records in the input log.
    pub fn input_len(&self) -> usize {
        self.log.len()
    }
}
