//! The topology: a graph of processors fed by one source of decoded events.
//!
//! [`TopologyBuilder::build`] checks the whole graph and returns every problem at once
//! (duplicate names, dangling parents, unknown branch ports, cycles, store clashes and
//! each processor's own [`Processor::validate`] findings).

use std::collections::{BTreeMap, HashMap};

use crate::error::CoreError;
use crate::event::{Event, EventRef};
use crate::processor::{Context, NodeCounters, Processor};
use crate::processors::stateless::{Branch, Filter, FlatMap, Map};
use crate::store::{KeyValueStore, PendingWrites, StoreSpec};
use crate::value::{Row, Schema};

/// One problem found while building a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// The processor (or store) the problem is about.
    pub item: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Items are processor names, or a described part of the topology ("source field `x`").
        if self.item.contains(['`', ' ']) {
            write!(f, "{}: {}", self.item, self.message)
        } else {
            write!(f, "processor `{}`: {}", self.item, self.message)
        }
    }
}

struct NodeDef {
    name: String,
    parents: Vec<String>,
    ports: Vec<String>,
    processor: Box<dyn Processor>,
}

/// Assembles a topology. The source node is called by the name given to [`new`](Self::new).
pub struct TopologyBuilder {
    source: String,
    nodes: Vec<NodeDef>,
}

impl TopologyBuilder {
    /// A builder whose decoded events enter at a node called `source`.
    pub fn new(source: impl Into<String>) -> Self {
        TopologyBuilder {
            source: source.into(),
            nodes: Vec::new(),
        }
    }

    /// Adds a processor reading from `parents` (node names, or `branch.port` for a branch output).
    pub fn add(
        &mut self,
        name: impl Into<String>,
        parents: &[&str],
        processor: impl Processor + 'static,
    ) -> &mut Self {
        self.add_boxed(name, parents, Box::new(processor), &[])
    }

    /// Adds a boxed processor with named output ports (see [`Context::forward_to`]).
    pub fn add_boxed(
        &mut self,
        name: impl Into<String>,
        parents: &[&str],
        processor: Box<dyn Processor>,
        ports: &[&str],
    ) -> &mut Self {
        self.nodes.push(NodeDef {
            name: name.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            ports: ports.iter().map(|p| p.to_string()).collect(),
            processor,
        });
        self
    }

    /// A stateless one-to-one transformation.
    pub fn map(
        &mut self,
        name: impl Into<String>,
        parent: &str,
        f: impl FnMut(Event) -> Event + Send + 'static,
    ) -> &mut Self {
        self.add(name, &[parent], Map::new(f))
    }

    /// Keeps the events for which `pred` holds.
    pub fn filter(
        &mut self,
        name: impl Into<String>,
        parent: &str,
        pred: impl FnMut(&Event) -> bool + Send + 'static,
    ) -> &mut Self {
        self.add(name, &[parent], Filter::new(pred))
    }

    /// A stateless one-to-many transformation.
    pub fn flat_map(
        &mut self,
        name: impl Into<String>,
        parent: &str,
        f: impl FnMut(Event) -> Vec<Event> + Send + 'static,
    ) -> &mut Self {
        self.add(name, &[parent], FlatMap::new(f))
    }

    /// Splits a stream: each event goes to the first port whose predicate holds (or nowhere).
    /// Children read a port as `"<name>.<port>"`.
    pub fn branch(
        &mut self,
        name: impl Into<String>,
        parent: &str,
        ports: Vec<(&str, crate::processors::stateless::Predicate)>,
    ) -> &mut Self {
        let names: Vec<&str> = ports.iter().map(|(n, _)| *n).collect();
        let preds = ports.into_iter().map(|(_, p)| p).collect();
        self.add_boxed(name, &[parent], Box::new(Branch::new(preds)), &names)
    }

    /// Checks the graph and returns the runnable topology, or every problem found.
    pub fn build(self) -> Result<Topology, Vec<BuildError>> {
        let mut errors = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.name == self.source {
                errors.push(BuildError {
                    item: n.name.clone(),
                    message: "name is taken by the source".into(),
                });
            } else if index.insert(n.name.clone(), i).is_some() {
                errors.push(BuildError {
                    item: n.name.clone(),
                    message: "duplicate processor name".into(),
                });
            }
            for message in n.processor.validate() {
                errors.push(BuildError {
                    item: n.name.clone(),
                    message,
                });
            }
        }

        // Edges: (parent node or source, port) -> child.
        let mut source_children = Vec::new();
        let mut children: Vec<Vec<Vec<usize>>> = self
            .nodes
            .iter()
            .map(|n| vec![Vec::new(); n.ports.len().max(1)])
            .collect();
        let mut parent_of: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            if n.parents.is_empty() {
                errors.push(BuildError {
                    item: n.name.clone(),
                    message: "has no input (set `input` to the source or another processor)".into(),
                });
            }
            for p in &n.parents {
                let (pname, port) = match p.split_once('.') {
                    Some((a, b)) => (a, Some(b)),
                    None => (p.as_str(), None),
                };
                if pname == self.source && port.is_none() {
                    source_children.push(i);
                    continue;
                }
                let Some(&pi) = index.get(pname) else {
                    errors.push(BuildError {
                        item: n.name.clone(),
                        message: format!("input `{p}` is not a processor of this topology"),
                    });
                    continue;
                };
                let parent = &self.nodes[pi];
                let port_idx = match port {
                    None if parent.ports.is_empty() => 0,
                    None => {
                        errors.push(BuildError {
                            item: n.name.clone(),
                            message: format!(
                                "input `{pname}` is a branch; read one of its ports: {}",
                                parent
                                    .ports
                                    .iter()
                                    .map(|x| format!("`{pname}.{x}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        });
                        continue;
                    }
                    Some(port) => match parent.ports.iter().position(|x| x == port) {
                        Some(k) => k,
                        None => {
                            errors.push(BuildError {
                                item: n.name.clone(),
                                message: format!("input `{p}`: `{pname}` has no port `{port}`"),
                            });
                            continue;
                        }
                    },
                };
                children[pi][port_idx].push(i);
                parent_of[i].push(pi);
            }
        }

        let order = match topological_order(&parent_of) {
            Ok(order) => order,
            Err(cycle) => {
                for i in cycle {
                    errors.push(BuildError {
                        item: self.nodes[i].name.clone(),
                        message: "is part of a cycle".into(),
                    });
                }
                Vec::new()
            }
        };

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

        if !errors.is_empty() {
            return Err(errors);
        }

        // Renumber nodes in topological order so punctuation runs upstream first.
        let mut new_index = vec![0usize; self.nodes.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let mut slots: Vec<Option<NodeDef>> = self.nodes.into_iter().map(Some).collect();
        let mut nodes = Vec::with_capacity(order.len());
        let mut tables = Vec::new();
        for &old in &order {
            let Some(def) = slots[old].take() else {
                continue;
            };
            let table = def.processor.output_schema().map(|schema| {
                tables.push(TableInfo {
                    name: def.name.clone(),
                    schema,
                    key_columns: def.processor.output_key_columns(),
                });
                tables.len() - 1
            });
            nodes.push(Node {
                store_specs: def.processor.stores(),
                name: def.name,
                processor: def.processor,
                children: children[old]
                    .iter()
                    .map(|c| c.iter().map(|&x| new_index[x]).collect())
                    .collect(),
                stores: Vec::new(),
                table,
                counters: NodeCounters::default(),
            });
        }
        let outputs = vec![Vec::new(); tables.len()];
        Ok(Topology {
            source_children: source_children.iter().map(|&x| new_index[x]).collect(),
            nodes,
            stores,
            tables,
            outputs,
            scratch: Vec::new(),
            stack: Vec::new(),
            watermark: crate::time::MIN_WATERMARK,
        })
    }
}

/// Kahn's algorithm; on a cycle returns the nodes that could not be ordered.
fn topological_order(parents: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = parents.len();
    let mut indegree: Vec<usize> = parents.iter().map(|p| p.len()).collect();
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ps) in parents.iter().enumerate() {
        for &p in ps {
            kids[p].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..n).rev().filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        order.push(i);
        for &k in kids[i].iter().rev() {
            indegree[k] -= 1;
            if indegree[k] == 0 {
                ready.push(k);
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err((0..n).filter(|i| !order.contains(i)).collect())
    }
}

/// An output table: rows emitted by one processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Table name (the emitting processor's name).
    pub name: String,
    /// Row schema.
    pub schema: Schema,
    /// Columns whose values, joined by `|`, form the record key.
    pub key_columns: Vec<usize>,
}

struct Node {
    name: String,
    processor: Box<dyn Processor>,
    children: Vec<Vec<usize>>,
    store_specs: Vec<StoreSpec>,
    stores: Vec<Box<dyn KeyValueStore>>,
    table: Option<usize>,
    counters: NodeCounters,
}

/// A built topology, ready to run.
pub struct Topology {
    nodes: Vec<Node>,
    source_children: Vec<usize>,
    stores: Vec<StoreSpec>,
    tables: Vec<TableInfo>,
    outputs: Vec<Vec<Row>>,
    scratch: Vec<(usize, EventRef)>,
    stack: Vec<(usize, EventRef)>,
    watermark: i64,
}

/// What happened to one record inside the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordOutcome {
    /// A dedup step dropped it as a duplicate.
    pub duplicate: bool,
}

impl Topology {
    /// Every store the processors declared.
    pub fn store_specs(&self) -> &[StoreSpec] {
        &self.stores
    }

    /// The output tables, indexed as in [`take_outputs`](Self::take_outputs).
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    /// Processor names in execution order.
    pub fn processor_names(&self) -> Vec<&str> {
        self.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// Counters per processor name.
    pub fn counters(&self) -> Vec<(&str, NodeCounters)> {
        self.nodes
            .iter()
            .map(|n| (n.name.as_str(), n.counters))
            .collect()
    }

    /// Restores counters (from a checkpoint).
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
        for n in &mut self.nodes {
            n.stores = n
                .store_specs
                .iter()
                .map(&mut open)
                .collect::<Result<_, _>>()?;
        }
        self.for_each_node(|p, ctx| p.init(ctx))
    }

    fn for_each_node(
        &mut self,
        mut f: impl FnMut(&mut dyn Processor, &mut Context<'_>) -> Result<(), CoreError>,
    ) -> Result<(), CoreError> {
        for i in 0..self.nodes.len() {
            let mut forwarded = std::mem::take(&mut self.scratch);
            let mut dup = false;
            {
                let mut sink = Vec::new();
                let Node {
                    name,
                    processor,
                    stores,
                    table,
                    counters,
                    ..
                } = &mut self.nodes[i];
                let emitted = match table {
                    Some(t) => &mut self.outputs[*t],
                    None => &mut sink,
                };
                let mut ctx = Context::new(
                    name,
                    stores,
                    &mut forwarded,
                    emitted,
                    counters,
                    &mut dup,
                    self.watermark,
                );
                f(processor.as_mut(), &mut ctx)?;
            }
            // Events forwarded outside `process` (e.g. by punctuate) flow downstream now.
            let mut stack = Vec::new();
            for (port, e) in forwarded.drain(..).rev() {
                push_children(&self.nodes[i].children, port, e, &mut stack);
            }
            self.scratch = forwarded;
            self.run_stack(stack)?;
        }
        Ok(())
    }

    /// Runs one decoded event through the graph.
    pub fn process(&mut self, event: Event) -> Result<RecordOutcome, CoreError> {
        let mut stack = std::mem::take(&mut self.stack);
        push_children(
            std::slice::from_ref(&self.source_children),
            0,
            EventRef::new(event),
            &mut stack,
        );
        self.run_stack(stack)
    }

    fn run_stack(&mut self, mut stack: Vec<(usize, EventRef)>) -> Result<RecordOutcome, CoreError> {
        let mut outcome = RecordOutcome::default();
        let mut forwarded = std::mem::take(&mut self.scratch);
        while let Some((i, event)) = stack.pop() {
            let mut sink = Vec::new();
            let Node {
                name,
                processor,
                stores,
                table,
                counters,
                children,
                ..
            } = &mut self.nodes[i];
            let emitted = match table {
                Some(t) => &mut self.outputs[*t],
                None => &mut sink,
            };
            let mut ctx = Context::new(
                name,
                stores,
                &mut forwarded,
                emitted,
                counters,
                &mut outcome.duplicate,
                self.watermark,
            );
            processor.process(event, &mut ctx)?;
            for (port, e) in forwarded.drain(..).rev() {
                push_children(children, port, e, &mut stack);
            }
        }
        self.scratch = forwarded;
        self.stack = stack;
        Ok(outcome)
    }

    /// The watermark advanced: every processor, upstream first, may emit what it closes.
    pub fn punctuate(&mut self, watermark: i64) -> Result<(), CoreError> {
        debug_assert!(watermark >= self.watermark, "watermark went backwards");
        self.watermark = watermark;
        self.for_each_node(|p, ctx| p.punctuate(watermark, ctx))
    }

    /// Every processor moves its in-memory state into its stores.
    pub fn checkpoint(&mut self) -> Result<(), CoreError> {
        self.for_each_node(|p, ctx| p.checkpoint(ctx))
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

    /// Takes the rows emitted since the last call, per table index.
    pub fn take_outputs(&mut self) -> Vec<Vec<Row>> {
        self.outputs.iter_mut().map(std::mem::take).collect()
    }

    /// The watermark the topology last saw.
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// Shuts every processor down.
    pub fn close(&mut self) {
        for n in &mut self.nodes {
            n.processor.close();
        }
    }
}

fn push_children(
    children: &[Vec<usize>],
    port: usize,
    e: EventRef,
    stack: &mut Vec<(usize, EventRef)>,
) {
    let Some((first, rest)) = children.get(port).and_then(|t| t.split_first()) else {
        return;
    };
    // Children run in declaration order: push in reverse, the first one gets the original.
    for &c in rest.iter().rev() {
        stack.push((c, e.clone()));
    }
    stack.push((*first, e));
}
