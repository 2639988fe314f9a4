//! The builder (schemas flow from the source through every processor, so expressions
//! are checked where they are declared) and the topology that runs the graph.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::{Context, NodeCounters, Processor};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::store::{KeyValueStore, PendingWrites, StoreSpec};
use crate::value::Schema;

pub use crate::topology::BuildError;

/// A stream in a topology being built: the output of the source or of a processor,
/// with its schema. Pass it to the builder's methods to read from it.
#[derive(Debug, Clone)]
pub struct Stream {
    node: Option<usize>,
    name: Arc<str>,
    schema: Arc<Schema>,
    /// False when the processor producing it had errors: readers are then not checked,
    /// so one mistake is reported once rather than again in everything downstream.
    valid: bool,
}

impl Stream {
    /// The name of the node that produces it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its columns.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

/// A table: rows that reach a sink, with the columns that key them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkInfo {
    /// The table's name.
    pub name: String,
    /// The stream it reads.
    pub input: String,
    /// Its columns.
    pub schema: Schema,
    /// Columns whose values, joined by `|`, form a record key (Kafka). Empty: no key.
    pub key_columns: Vec<usize>,
}

/// Where a processor runs when the topology is split into tasks (`docs/parallelism.md`),
/// as Kafka Streams splits a topology into sub-topologies at a repartition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// Once per input partition: everything before a window aggregate (filters, maps,
    /// dedup, lookup joins), fed with that partition's rows in offset order.
    Partition,
    /// Once per key group: the window aggregates that read partition-stage streams,
    /// fed with the rows whose group key falls in the group, in arrival order.
    KeyGroup,
    /// Once: everything that reads a window aggregate's results.
    Global,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Node(usize),
    Sink(usize),
}

struct NodeDef {
    name: String,
    kind: String,
    inputs: Vec<Option<usize>>,
    schema: Arc<Schema>,
    processor: Box<dyn Processor>,
}

/// Assembles a topology, checking each step against the schema it reads.
///
/// Methods that add a step return its output [`Stream`] even when the step has errors;
/// [`build`](Self::build) then returns every problem found.
pub struct TopologyBuilder {
    source: String,
    source_schema: Arc<Schema>,
    nodes: Vec<NodeDef>,
    sinks: Vec<(SinkInfo, Option<usize>)>,
    names: HashSet<String>,
    errors: Vec<BuildError>,
}

impl TopologyBuilder {
    /// A builder whose decoded rows (with `schema`) enter at a node called `source`.
    pub fn new(source: impl Into<String>, schema: Schema) -> Self {
        let source = source.into();
        let mut names = HashSet::new();
        names.insert(source.clone());
        TopologyBuilder {
            source,
            source_schema: Arc::new(schema),
            nodes: Vec::new(),
            sinks: Vec::new(),
            names,
            errors: Vec::new(),
        }
    }

    /// The source's stream.
    pub fn source(&self) -> Stream {
        Stream {
            node: None,
            name: self.source.as_str().into(),
            schema: self.source_schema.clone(),
            valid: true,
        }
    }

    /// Records a problem about `item` (a processor name, or a described part).
    pub fn error(&mut self, item: impl Into<String>, message: impl Into<String>) {
        self.errors.push(BuildError {
            item: item.into(),
            message: message.into(),
        });
    }

    fn claim_name(&mut self, name: &str) -> bool {
        if name.trim().is_empty() {
            self.error(name, "a processor needs a name");
            return false;
        }
        if !self.names.insert(name.to_string()) {
            self.error(
                name,
                "the name is used twice (processors and sinks need distinct names)",
            );
            return false;
        }
        true
    }

    /// Adds a processor of kind `kind` reading `inputs` (which must share one schema).
    /// `make` sees that schema and returns the processor and its output schema, or
    /// every problem with its configuration.
    pub fn add_with<P: Processor + 'static>(
        &mut self,
        name: &str,
        kind: &str,
        inputs: &[&Stream],
        make: impl FnOnce(&Schema) -> Result<(P, Schema), Vec<String>>,
    ) -> Stream {
        let named = self.claim_name(name);
        let mut valid = named && inputs.iter().all(|s| s.valid);
        let input_schema = inputs
            .first()
            .map_or_else(|| self.source_schema.clone(), |s| s.schema.clone());
        if inputs.is_empty() {
            self.error(name, "has no input");
            valid = false;
        }
        for s in inputs.iter().skip(1) {
            if s.valid && s.schema != input_schema {
                self.error(
                    name,
                    format!(
                        "inputs `{}` and `{}` have different columns; a processor reads one schema",
                        inputs[0].name, s.name
                    ),
                );
                valid = false;
            }
        }
        if !valid {
            return Stream {
                node: None,
                name: name.into(),
                schema: input_schema,
                valid: false,
            };
        }
        match make(&input_schema) {
            Ok((processor, schema)) => {
                let schema = Arc::new(schema);
                self.nodes.push(NodeDef {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    inputs: inputs.iter().map(|s| s.node).collect(),
                    schema: schema.clone(),
                    processor: Box::new(processor),
                });
                Stream {
                    node: Some(self.nodes.len() - 1),
                    name: name.into(),
                    schema,
                    valid: true,
                }
            }
            Err(messages) => {
                for m in messages {
                    self.error(name, m);
                }
                Stream {
                    node: None,
                    name: name.into(),
                    schema: input_schema,
                    valid: false,
                }
            }
        }
    }

    /// Adds a processor built in code: it reads `input` and emits rows of `schema`.
    pub fn add(
        &mut self,
        name: &str,
        input: &Stream,
        schema: Schema,
        processor: impl Processor + 'static,
    ) -> Stream {
        self.add_with(name, "custom", &[input], |_| Ok((processor, schema)))
    }

    /// Sends `input` to a table called `name`, keyed by the columns `key` (may be empty).
    pub fn sink(&mut self, name: &str, input: &Stream, key: &[&str]) {
        // Tables are their own namespace: a sink is usually named after its input.
        if name.trim().is_empty() {
            self.error(name, "a sink needs a name");
            return;
        }
        if self.sinks.iter().any(|(s, _)| s.name == name) {
            self.error(name, "two sinks have this name");
            return;
        }
        let mut key_columns = Vec::new();
        for k in key {
            match input.schema.index_of(k) {
                Some(i) => key_columns.push(i),
                None if input.valid => self.error(
                    name,
                    format!("key column `{k}` is not a column of `{}`", input.name),
                ),
                None => {}
            }
        }
        self.sinks.push((
            SinkInfo {
                name: name.to_string(),
                input: input.name.to_string(),
                schema: (*input.schema).clone(),
                key_columns,
            },
            input.node,
        ));
    }

    /// Checks what is left and returns the runnable topology, or every problem found.
    pub fn build(self) -> Result<Topology, Vec<BuildError>> {
        let mut errors = self.errors;
        let mut store_owner: BTreeMap<String, String> = BTreeMap::new();
        let mut stores = Vec::new();
        for n in &self.nodes {
            for s in n.processor.stores() {
                if let Some(owner) = store_owner.insert(s.name.clone(), n.name.clone()) {
                    errors.push(BuildError {
                        item: n.name.clone(),
                        message: format!("store `{}` is already used by `{owner}`", s.name),
                    });
                } else {
                    stores.push(s);
                }
            }
        }
        if self.sinks.is_empty() && errors.is_empty() {
            errors.push(BuildError {
                item: self.source.clone(),
                message: "the topology has no sink: nothing it computes would be kept".into(),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Nodes were added after their inputs, so declaration order is a topological order.
        let mut source_children = Vec::new();
        let mut children: Vec<Vec<Target>> = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for input in &n.inputs {
                match input {
                    None => source_children.push(Target::Node(i)),
                    Some(p) => children[*p].push(Target::Node(i)),
                }
            }
        }
        let mut sinks = Vec::new();
        for (t, (info, input)) in self.sinks.into_iter().enumerate() {
            match input {
                None => source_children.push(Target::Sink(t)),
                Some(p) => children[p].push(Target::Sink(t)),
            }
            sinks.push(info);
        }
        // Declaration order is topological: a node's inputs have their stages already.
        let mut stages: Vec<Stage> = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let upstream = n
                .inputs
                .iter()
                .map(|i| i.map_or(Stage::Partition, |p| stages[p]))
                .max()
                .unwrap_or(Stage::Partition);
            stages.push(match (upstream, n.kind.as_str()) {
                (Stage::Partition, "window_aggregate") => Stage::KeyGroup,
                (Stage::Partition, _) => Stage::Partition,
                _ => Stage::Global,
            });
        }
        let nodes: Vec<Node> = self
            .nodes
            .into_iter()
            .zip(children)
            .zip(stages)
            .map(|((d, children), stage)| Node {
                stage,
                store_specs: d.processor.stores(),
                name: d.name,
                kind: d.kind,
                schema: d.schema,
                processor: d.processor,
                children,
                stores: Vec::new(),
                counters: NodeCounters::default(),
                pending: Vec::new(),
                rows_in: 0,
                rows_out: 0,
            })
            .collect();
        let outputs = vec![Vec::new(); sinks.len()];
        let sink_rows = vec![0; sinks.len()];
        Ok(Topology {
            source: self.source,
            source_schema: self.source_schema,
            source_children,
            nodes,
            sinks,
            outputs,
            stores,
            watermark: crate::time::MIN_WATERMARK,
            source_rows: 0,
            sink_rows,
            active: None,
            captured: Vec::new(),
        })
    }
}

struct Node {
    stage: Stage,
    name: String,
    kind: String,
    schema: Arc<Schema>,
    processor: Box<dyn Processor>,
    children: Vec<Target>,
    store_specs: Vec<StoreSpec>,
    stores: Vec<Box<dyn KeyValueStore>>,
    counters: NodeCounters,
    pending: Vec<Batch>,
    /// Rows this process handed the processor and rows it forwarded (not checkpointed:
    /// they feed the live status page and metrics).
    rows_in: u64,
    rows_out: u64,
}

/// A built topology: runs batches through the processors, upstream first, and
/// collects the batches that reach each sink.
pub struct Topology {
    source: String,
    source_schema: Arc<Schema>,
    source_children: Vec<Target>,
    nodes: Vec<Node>,
    sinks: Vec<SinkInfo>,
    outputs: Vec<Vec<Batch>>,
    stores: Vec<StoreSpec>,
    watermark: i64,
    /// Rows the source fed into the graph, and rows that reached each sink, in this
    /// process (the live view; not checkpointed).
    source_rows: u64,
    sink_rows: Vec<u64>,
    /// The one stage this instance runs (`None`: all of them).
    active: Option<Stage>,
    /// Batches for processors of another stage, by node index.
    captured: Vec<(usize, Batch)>,
}

/// Where batches go: the processors of the running stage, the sinks, and (captured)
/// the processors of other stages.
struct Routes<'a> {
    nodes: &'a mut [Node],
    outputs: &'a mut [Vec<Batch>],
    sink_rows: &'a mut [u64],
    active: Option<Stage>,
    captured: &'a mut Vec<(usize, Batch)>,
}

fn route(targets: &[Target], batch: Batch, r: &mut Routes<'_>) {
    let Routes {
        nodes,
        outputs,
        sink_rows,
        active,
        captured,
    } = r;
    for t in targets {
        match *t {
            Target::Node(i) if active.is_some_and(|a| a != nodes[i].stage) => {
                captured.push((i, batch.clone()))
            }
            Target::Node(i) => nodes[i].pending.push(batch.clone()),
            Target::Sink(s) => {
                sink_rows[s] += batch.len() as u64;
                outputs[s].push(batch.clone())
            }
        }
    }
}

/// One step of the graph as the live view shows it: what it reads and the rows that
/// went through it since the process started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphNode {
    /// The processor's (or table's, or the source's) name.
    pub name: String,
    /// `source`, `table`, or the processor type (`filter`, `dedup`, ...).
    pub kind: String,
    /// The nodes it reads (the source reads none).
    pub inputs: Vec<String>,
    /// Rows it received.
    pub rows_in: u64,
    /// Rows it forwarded (a table: the rows it received).
    pub rows_out: u64,
}

impl Topology {
    /// The source's name.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The source's columns.
    pub fn source_schema(&self) -> &Schema {
        &self.source_schema
    }

    /// Every store the processors declared.
    pub fn store_specs(&self) -> &[StoreSpec] {
        &self.stores
    }

    /// The tables; [`take_outputs`](Self::take_outputs) follows this order.
    pub fn sinks(&self) -> &[SinkInfo] {
        &self.sinks
    }

    /// Processor names, upstream first.
    pub fn processor_names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// The processors of one kind (`window_aggregate`, `filter`, …), upstream first.
    pub fn processors_of_kind(&self, kind: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| n.name.clone())
            .collect()
    }

    /// The largest [`Processor::closing_extent`] of the graph.
    pub fn closing_extent(&self) -> i64 {
        self.nodes
            .iter()
            .map(|n| n.processor.closing_extent())
            .max()
            .unwrap_or(0)
    }

    /// What each processor dropped.
    pub fn counters(&self) -> Vec<(&str, NodeCounters)> {
        self.nodes
            .iter()
            .map(|n| (n.name.as_str(), n.counters))
            .collect()
    }

    /// Rows its processors dropped as duplicates (summed without building
    /// [`counters`](Self::counters)).
    pub fn duplicates(&self) -> u64 {
        self.nodes.iter().map(|n| n.counters.duplicate).sum()
    }

    /// Restores counters from a checkpoint.
    pub fn restore_counters(&mut self, counters: &BTreeMap<String, NodeCounters>) {
        for n in &mut self.nodes {
            if let Some(c) = counters.get(&n.name) {
                n.counters = *c;
            }
        }
    }

    /// Opens every declared store with `open`, then runs each processor's `init`.
    pub fn init(
        &mut self,
        watermark: i64,
        mut open: impl FnMut(&StoreSpec) -> Result<Box<dyn KeyValueStore>, CoreError>,
    ) -> Result<(), CoreError> {
        self.watermark = watermark;
        let active = self.active;
        for n in &mut self.nodes {
            if active.is_some_and(|a| a != n.stage) {
                continue;
            }
            n.stores = n
                .store_specs
                .iter()
                .map(&mut open)
                .collect::<Result<_, _>>()?;
        }
        self.pass(|p, ctx| p.init(ctx))
    }

    /// Runs one batch of decoded source rows through the graph.
    pub fn process(&mut self, batch: Batch) -> Result<(), CoreError> {
        self.push_source(batch);
        self.run()
    }

    /// Hands a batch of decoded source rows to the source's readers, without running
    /// them yet.
    pub fn push_source(&mut self, batch: Batch) {
        self.source_rows += batch.len() as u64;
        let children = std::mem::take(&mut self.source_children);
        route(&children, batch, &mut self.routes());
        self.source_children = children;
    }

    /// Hands a batch to processor `node` (an index of [`stages`](Self::stages)), without
    /// running it yet: rows another instance's stage captured for this one.
    pub fn push(&mut self, node: usize, batch: Batch) {
        if !batch.is_empty() {
            self.nodes[node].pending.push(batch);
        }
    }

    /// Runs every batch waiting in the graph.
    pub fn run(&mut self) -> Result<(), CoreError> {
        self.pass(|_, _| Ok(()))
    }

    /// The stage of each processor, upstream first.
    pub fn stages(&self) -> Vec<Stage> {
        self.nodes.iter().map(|n| n.stage).collect()
    }

    /// From now on this instance runs the processors of `stage` only (before
    /// [`init`](Self::init): the others open no store); batches for processors of other
    /// stages are kept for [`take_captured`](Self::take_captured).
    pub fn restrict(&mut self, stage: Stage) {
        self.active = Some(stage);
    }

    /// Batches the running stage produced for processors of other stages, by node
    /// index, in the order they were produced.
    pub fn take_captured(&mut self) -> Vec<(usize, Batch)> {
        std::mem::take(&mut self.captured)
    }

    /// Per row of `batch`, a hash of the key processor `node` groups by (`None`: the
    /// processor does not group; see [`Processor::key_hashes`]).
    pub fn key_hashes(&self, node: usize, batch: &Batch) -> Result<Option<Vec<u64>>, CoreError> {
        self.nodes[node].processor.key_hashes(batch)
    }

    /// The input columns processor `node` reads (`None`: any; see
    /// [`Processor::columns_read`]).
    pub fn columns_read(&self, node: usize) -> Option<&[usize]> {
        self.nodes[node].processor.columns_read()
    }

    fn routes(&mut self) -> Routes<'_> {
        Routes {
            nodes: &mut self.nodes,
            outputs: &mut self.outputs,
            sink_rows: &mut self.sink_rows,
            active: self.active,
            captured: &mut self.captured,
        }
    }

    fn runs(&self, i: usize) -> bool {
        self.active.is_none_or(|a| a == self.nodes[i].stage)
    }

    /// The watermark advanced: every processor, upstream first, emits what it closes.
    pub fn punctuate(&mut self, watermark: i64) -> Result<(), CoreError> {
        debug_assert!(watermark >= self.watermark, "watermark went backwards");
        self.watermark = watermark;
        self.pass(|p, ctx| p.punctuate(watermark, ctx))
    }

    /// Every processor moves its in-memory state into its stores.
    pub fn checkpoint(&mut self) -> Result<(), CoreError> {
        self.pass(|p, ctx| p.checkpoint(ctx))
    }

    /// One pass over the nodes in topological order: each handles the batches waiting
    /// for it, then `f`; what it forwards waits for its children, which come later.
    fn pass(
        &mut self,
        mut f: impl FnMut(&mut dyn Processor, &mut Context<'_>) -> Result<(), CoreError>,
    ) -> Result<(), CoreError> {
        let mut out = Vec::new();
        for i in 0..self.nodes.len() {
            if !self.runs(i) {
                continue;
            }
            let inputs = std::mem::take(&mut self.nodes[i].pending);
            {
                let Node {
                    name,
                    processor,
                    stores,
                    counters,
                    rows_in,
                    ..
                } = &mut self.nodes[i];
                let mut ctx = Context::new(name, stores, &mut out, counters, self.watermark);
                for b in inputs {
                    *rows_in += b.len() as u64;
                    processor.process(b, &mut ctx)?;
                }
                f(processor.as_mut(), &mut ctx)?;
            }
            let children = std::mem::take(&mut self.nodes[i].children);
            for b in out.drain(..) {
                self.nodes[i].rows_out += b.len() as u64;
                route(&children, b, &mut self.routes());
            }
            self.nodes[i].children = children;
        }
        Ok(())
    }

    /// Takes the pending writes of every store, by store name.
    pub fn take_pending_writes(&mut self) -> Vec<(String, PendingWrites)> {
        let mut all = Vec::new();
        for n in &mut self.nodes {
            for s in &mut n.stores {
                let writes = s.take_pending();
                if !writes.is_empty() {
                    all.push((s.name().to_string(), writes));
                }
            }
        }
        all
    }

    /// The writes taken last reached the database: stores may forget them.
    pub fn committed(&mut self) {
        for n in &mut self.nodes {
            for s in &mut n.stores {
                s.committed();
            }
        }
    }

    /// Takes the batches that reached each sink since the last call (in sink order).
    pub fn take_outputs(&mut self) -> Vec<Vec<Batch>> {
        self.outputs.iter_mut().map(std::mem::take).collect()
    }

    /// The watermark the topology last saw.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// The graph as text: the source, each processor with what it reads, what it does
    /// and its stores, and the sinks.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let cols = |s: &Schema| {
            s.columns
                .iter()
                .map(|c| {
                    format!(
                        "{} {}{}",
                        c.name,
                        crate::input::type_word(c.ty),
                        if c.nullable { "?" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (parents, sink_parents) = self.parents();
        let mut out = String::new();
        let _ = writeln!(out, "source {}: {}", self.source, cols(&self.source_schema));
        for (n, from) in self.nodes.iter().zip(&parents) {
            let what = n.processor.describe();
            let _ = writeln!(
                out,
                "processor {} ({}{}) <- {}",
                n.name,
                n.kind,
                if what.is_empty() {
                    String::new()
                } else {
                    format!(": {what}")
                },
                from.join(", ")
            );
            for s in &n.store_specs {
                let _ = writeln!(out, "  store {} ({:?})", s.name, s.kind);
            }
            let _ = writeln!(out, "  columns: {}", cols(&n.schema));
        }
        for (s, from) in self.sinks.iter().zip(&sink_parents) {
            let keys: Vec<&str> = s
                .key_columns
                .iter()
                .map(|&k| s.schema.columns[k].name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "sink {} <- {}{}",
                s.name,
                from.join(", "),
                if keys.is_empty() {
                    String::new()
                } else {
                    format!(" (key: {})", keys.join(", "))
                }
            );
        }
        out
    }

    /// What each processor and each sink reads, by name.
    fn parents(&self) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
        let mut parents: Vec<Vec<String>> = vec![Vec::new(); self.nodes.len()];
        let mut sink_parents: Vec<Vec<String>> = vec![Vec::new(); self.sinks.len()];
        let mut add = |from: &str, targets: &[Target]| {
            for t in targets {
                match *t {
                    Target::Node(i) => parents[i].push(from.to_string()),
                    Target::Sink(s) => sink_parents[s].push(from.to_string()),
                }
            }
        };
        add(&self.source, &self.source_children);
        for n in &self.nodes {
            add(&n.name, &n.children);
        }
        (parents, sink_parents)
    }

    /// The graph with the rows through each step since the process started: the
    /// source, the processors upstream first, then the tables.
    pub fn graph(&self) -> Vec<GraphNode> {
        let (parents, sink_parents) = self.parents();
        let mut g = vec![GraphNode {
            name: self.source.clone(),
            kind: "source".into(),
            inputs: Vec::new(),
            rows_in: self.source_rows,
            rows_out: self.source_rows,
        }];
        for (n, inputs) in self.nodes.iter().zip(parents) {
            g.push(GraphNode {
                name: n.name.clone(),
                kind: n.kind.clone(),
                inputs,
                rows_in: n.rows_in,
                rows_out: n.rows_out,
            });
        }
        for ((s, inputs), rows) in self.sinks.iter().zip(sink_parents).zip(&self.sink_rows) {
            g.push(GraphNode {
                name: s.name.clone(),
                kind: "table".into(),
                inputs,
                rows_in: *rows,
                rows_out: *rows,
            });
        }
        g
    }

    /// Shuts every processor down.
    pub fn close(&mut self) {
        for n in &mut self.nodes {
            n.processor.close();
        }
    }
}
