//! Tasks: the topology split into instances that run on worker threads
//! (`docs/parallelism.md`), the way Kafka Streams splits a topology into sub-topologies
//! at a repartition:
//!
//! ```text
//!  partition tasks (one per input partition)   key-group tasks (KEY_GROUPS)      global
//!  rows of partition p ─▶ filter, dedup,   ─▶  rows by group-key hash,   ─▶ window  ─▶ what reads
//!  in offset order        lookup joins, map     in arrival order            aggregates  window results
//!                         (+ their sinks)                                   (+ sinks)   (+ sinks)
//! ```
//!
//! A task is never a thread: the instances are fixed by the input partitions and by
//! [`KEY_GROUPS`], and `--threads` only decides how many of them run at once. Every
//! instance sees exactly the rows, in exactly the order, it would see on one thread, so
//! the outputs do not depend on the thread count. A window aggregate's key group sees
//! its keys' rows in arrival order, as the single topology did: results are the same
//! rows and values (down to the last bit of a float sum) as with one instance.
//!
//! State: each instance's stores are the processor's column family seen through a
//! prefix (`p` + partition id, `g` + key group; global processors unprefixed), so the
//! layout depends on neither the thread count nor the order tasks run in.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;
use streams_core::batch::Batch;
use streams_core::dataflow::{GraphNode, NodeCounters, Stage, Topology};
use streams_core::store::{KeyValueStore, PendingWrites, PrefixedStore};
use streams_core::CoreError;
use streams_state::StateDb;

use crate::error::RuntimeError;
use crate::topology_file::TopologyDef;

/// Key groups of every window aggregate: the tasks its keys are spread over. Fixed (it
/// places state; changing it changes [`crate::checkpoint::CHECKPOINT_FORMAT`]),
/// independent of `--threads`.
pub const KEY_GROUPS: usize = 16;

/// The rows of one input partition for its task: decoded, in offset order, with the
/// position of each row in the input as it arrived (which orders rows of different
/// partitions for the key groups).
pub struct PartitionInput {
    /// The partition id (the engine's, as in the checkpoint).
    pub partition: u32,
    /// Its decoded rows.
    pub batch: Batch,
    /// Arrival position of each row.
    pub arrival: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Run,
    Punctuate(i64),
    Checkpoint,
}

fn apply(t: &mut Topology, op: Op) -> Result<(), CoreError> {
    match op {
        Op::Run => t.run(),
        Op::Punctuate(w) => t.punctuate(w),
        Op::Checkpoint => t.checkpoint(),
    }
}

/// Rows a partition task produced for a window aggregate.
struct Captured {
    node: usize,
    batch: Batch,
    /// Group-key hash per row (`None`: the processor does not group; key group 0).
    hashes: Option<Vec<u64>>,
    /// Arrival position per row (`usize::MAX`: a row the task computed itself).
    arrival: Vec<usize>,
}

/// The topology's instances and the threads that run them.
pub struct Tasks {
    def: Arc<TopologyDef>,
    partitions: Vec<Topology>,
    groups: Vec<Topology>,
    global: Topology,
    pool: Option<rayon::ThreadPool>,
    watermark: i64,
}

/// Runs `f` on every item, on the pool's threads when there is a pool.
fn each<T: Send, R: Send>(
    pool: &Option<rayon::ThreadPool>,
    items: Vec<T>,
    f: impl Fn(T) -> R + Sync + Send,
) -> Vec<R> {
    match pool {
        Some(p) if items.len() > 1 => p.install(|| items.into_par_iter().map(f).collect()),
        _ => items.into_iter().map(f).collect(),
    }
}

fn partition_prefix(pid: u32) -> Vec<u8> {
    let mut p = vec![b'p'];
    p.extend(pid.to_be_bytes());
    p
}

fn group_prefix(g: usize) -> Vec<u8> {
    let mut p = vec![b'g'];
    p.extend((g as u16).to_be_bytes());
    p
}

fn instance(
    mut t: Topology,
    stage: Stage,
    prefix: Vec<u8>,
    db: &StateDb,
    watermark: i64,
) -> Result<Topology, RuntimeError> {
    t.restrict(stage);
    t.init(watermark, |spec| {
        let store = db
            .store(&spec.name)
            .map_err(|e| CoreError::store(&spec.name, e))?;
        Ok(if prefix.is_empty() {
            Box::new(store) as Box<dyn KeyValueStore>
        } else {
            Box::new(PrefixedStore::new(Box::new(store), prefix.clone()))
        })
    })?;
    Ok(t)
}

impl Tasks {
    /// The instances of `topology` (built from `def`, counters restored) over the state
    /// in `db`: the global one, the key groups, and one per known partition; `threads`
    /// run them (1: the caller's thread).
    pub fn open(
        def: Arc<TopologyDef>,
        topology: Topology,
        db: &StateDb,
        partitions: usize,
        watermark: i64,
        threads: usize,
    ) -> Result<Self, RuntimeError> {
        let has_groups = topology.stages().contains(&Stage::KeyGroup);
        let global = instance(topology, Stage::Global, Vec::new(), db, watermark)?;
        let mut groups = Vec::new();
        if has_groups {
            for g in 0..KEY_GROUPS {
                let (t, _) = def.build()?;
                groups.push(instance(
                    t,
                    Stage::KeyGroup,
                    group_prefix(g),
                    db,
                    watermark,
                )?);
            }
        }
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("streams-worker-{i}"))
                    .build()
                    .map_err(|e| {
                        RuntimeError::Topology(vec![format!("cannot start worker threads: {e}")])
                    })?,
            )
        } else {
            None
        };
        let mut tasks = Tasks {
            def,
            partitions: Vec::new(),
            groups,
            global,
            pool,
            watermark,
        };
        tasks.ensure_partitions(partitions, db)?;
        Ok(tasks)
    }

    /// Opens the tasks of partitions `0..n` that are not open yet.
    pub fn ensure_partitions(&mut self, n: usize, db: &StateDb) -> Result<(), RuntimeError> {
        while self.partitions.len() < n {
            let pid = self.partitions.len() as u32;
            let (t, _) = self.def.build()?;
            self.partitions.push(instance(
                t,
                Stage::Partition,
                partition_prefix(pid),
                db,
                self.watermark,
            )?);
        }
        Ok(())
    }

    /// Runs `f` over `items` on the worker threads (decoding).
    pub fn map<T: Send, R: Send>(&self, items: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
        each(&self.pool, items, f)
    }

    /// The global instance: the topology's description (sinks, stages, names).
    pub fn topology(&self) -> &Topology {
        &self.global
    }

    /// The watermark the instances last saw.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Runs the rows of some partitions through the graph.
    pub fn process(&mut self, inputs: Vec<PartitionInput>) -> Result<(), CoreError> {
        self.step(inputs, Op::Run)
    }

    /// The watermark advanced: every instance emits what it closes.
    pub fn punctuate(&mut self, watermark: i64) -> Result<(), CoreError> {
        self.watermark = watermark;
        self.step(Vec::new(), Op::Punctuate(watermark))
    }

    /// Every instance moves its in-memory state into its stores.
    pub fn checkpoint(&mut self) -> Result<(), CoreError> {
        self.step(Vec::new(), Op::Checkpoint)
    }

    /// One step through the stages: partition tasks, then key groups (fed the window
    /// rows of every partition in arrival order), then the global instance.
    fn step(&mut self, inputs: Vec<PartitionInput>, op: Op) -> Result<(), CoreError> {
        let all = !matches!(op, Op::Run);
        let mut by_pid: Vec<Option<PartitionInput>> =
            (0..self.partitions.len()).map(|_| None).collect();
        for i in inputs {
            let slot = by_pid.get_mut(i.partition as usize).ok_or_else(|| {
                CoreError::Internal(format!("partition task {} is not open", i.partition))
            })?;
            *slot = Some(i);
        }
        let work: Vec<(&mut Topology, Option<PartitionInput>)> = self
            .partitions
            .iter_mut()
            .zip(by_pid)
            .filter(|(_, i)| all || i.is_some())
            .collect();
        let results = each(&self.pool, work, |(t, input)| partition_step(t, input, op));
        let mut caps = Vec::new();
        for r in results {
            caps.extend(r?);
        }
        self.groups_step(caps, op)
    }

    fn groups_step(&mut self, caps: Vec<Captured>, op: Op) -> Result<(), CoreError> {
        let all = !matches!(op, Op::Run);
        // Each window aggregate's captured batches, and per key group the rows it gets:
        // (arrival, batch index among the aggregate's, row), sorted into arrival order.
        let mut of_node: BTreeMap<usize, Vec<&Batch>> = BTreeMap::new();
        let mut plans: Vec<BTreeMap<usize, Vec<(usize, usize, usize)>>> =
            vec![BTreeMap::new(); self.groups.len()];
        for c in &caps {
            let batches = of_node.entry(c.node).or_default();
            let local = batches.len();
            batches.push(&c.batch);
            for row in 0..c.batch.len() {
                let g = c
                    .hashes
                    .as_ref()
                    .map_or(0, |h| (h[row] % KEY_GROUPS as u64) as usize);
                let Some(plan) = plans.get_mut(g) else {
                    return Err(CoreError::Internal(
                        "window rows captured without key-group tasks".into(),
                    ));
                };
                plan.entry(c.node)
                    .or_default()
                    .push((c.arrival[row], local, row));
            }
        }
        let work: Vec<(&mut Topology, BTreeMap<usize, Vec<(usize, usize, usize)>>)> = self
            .groups
            .iter_mut()
            .zip(plans)
            .filter(|(_, p)| all || !p.is_empty())
            .collect();
        let of_node = &of_node;
        let results = each(&self.pool, work, |(t, plan)| {
            for (node, mut rows) in plan {
                rows.sort_unstable();
                let indices: Vec<(usize, usize)> = rows.iter().map(|&(_, b, r)| (b, r)).collect();
                // Only the columns the aggregate reads are gathered for its key groups.
                let batch = Batch::interleave(&of_node[&node], &indices, t.columns_read(node))
                    .map_err(CoreError::arrow)?;
                t.push(node, batch);
            }
            apply(t, op)?;
            Ok::<_, CoreError>(t.take_captured())
        });
        for r in results {
            for (node, batch) in r? {
                self.global.push(node, batch);
            }
        }
        apply(&mut self.global, op)?;
        let stray = self.global.take_captured();
        if !stray.is_empty() {
            return Err(CoreError::Internal(
                "the global stage produced rows for an earlier stage".into(),
            ));
        }
        Ok(())
    }

    fn instances(&self) -> impl Iterator<Item = &Topology> {
        self.partitions
            .iter()
            .chain(&self.groups)
            .chain(std::iter::once(&self.global))
    }

    fn instances_mut(&mut self) -> impl Iterator<Item = &mut Topology> {
        self.partitions
            .iter_mut()
            .chain(&mut self.groups)
            .chain(std::iter::once(&mut self.global))
    }

    /// Takes the pending writes of every instance's stores, by store name.
    pub fn take_pending_writes(&mut self) -> Vec<(String, PendingWrites)> {
        self.instances_mut()
            .flat_map(|t| t.take_pending_writes())
            .collect()
    }

    /// The checkpoint written last is durable: stores forget the writes they kept in
    /// flight for it.
    pub fn committed(&mut self) {
        for t in self.instances_mut() {
            t.committed();
        }
    }

    /// Takes the batches that reached each sink (in sink order): partition tasks' in
    /// partition order, then the key groups' in group order, then the global one's.
    pub fn take_outputs(&mut self) -> Vec<Vec<Batch>> {
        let mut all: Vec<Vec<Batch>> = vec![Vec::new(); self.global.sinks().len()];
        for t in self.instances_mut() {
            for (sink, batches) in all.iter_mut().zip(t.take_outputs()) {
                sink.extend(batches);
            }
        }
        all
    }

    /// What each processor dropped, over every instance.
    pub fn counters(&self) -> Vec<(String, NodeCounters)> {
        let mut sum: Vec<(String, NodeCounters)> = self
            .global
            .counters()
            .into_iter()
            .map(|(n, _)| (n.to_string(), NodeCounters::default()))
            .collect();
        for t in self.instances() {
            for ((_, s), (_, c)) in sum.iter_mut().zip(t.counters()) {
                s.duplicate += c.duplicate;
                s.late += c.late;
                s.filtered += c.filtered;
            }
        }
        sum
    }

    /// Rows dropped as duplicates, over every instance and processor (read before and
    /// after each batch: nothing is allocated).
    pub fn duplicates(&self) -> u64 {
        self.instances().map(Topology::duplicates).sum()
    }

    /// The graph with the rows through each step, over every instance.
    pub fn graph(&self) -> Vec<GraphNode> {
        let mut sum = self.global.graph();
        for g in &mut sum {
            g.rows_in = 0;
            g.rows_out = 0;
        }
        for t in self.instances() {
            for (s, g) in sum.iter_mut().zip(t.graph()) {
                s.rows_in += g.rows_in;
                s.rows_out += g.rows_out;
            }
        }
        sum
    }

    /// Shuts every instance down.
    pub fn close(&mut self) {
        for t in self.instances_mut() {
            t.close();
        }
    }
}

/// A partition task's part of a step: its rows (if any) through its processors, then
/// what it produced for the window aggregates, with key hashes and arrival positions.
fn partition_step(
    t: &mut Topology,
    input: Option<PartitionInput>,
    op: Op,
) -> Result<Vec<Captured>, CoreError> {
    let mut source: Option<(Vec<i64>, Vec<usize>)> = None;
    if let Some(i) = input {
        let offsets = i.batch.origin().iter().map(|o| o.offset).collect();
        source = Some((offsets, i.arrival));
        t.push_source(i.batch);
    }
    apply(t, op)?;
    let mut out = Vec::new();
    for (node, batch) in t.take_captured() {
        let hashes = t.key_hashes(node, &batch)?;
        let arrival = batch
            .origin()
            .iter()
            .map(|o| {
                if o.partition < 0 {
                    return usize::MAX;
                }
                source
                    .as_ref()
                    .and_then(|(offsets, arrival)| {
                        offsets.binary_search(&o.offset).ok().map(|i| arrival[i])
                    })
                    .unwrap_or(usize::MAX)
            })
            .collect();
        out.push(Captured {
            node,
            batch,
            hashes,
            arrival,
        });
    }
    Ok(out)
}
