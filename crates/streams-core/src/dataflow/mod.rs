//! The batch dataflow: a [`Processor`] receives [`Batch`]es of rows of a known schema
//! and forwards batches downstream; the [`TopologyBuilder`] chains processors, checks
//! every expression against the schema of the stream it reads, and builds a
//! [`Topology`] that runs them (upstream first) and collects what reaches each sink.
//!
//! ```text
//! source batch ─▶ filter ─▶ dedup ─▶ lookup_join ─┬─▶ sink (table)
//!                                                  └─▶ window_aggregate ─▶ sink (table)
//! ```

pub mod aggregate;
pub mod config;
mod dedup;
mod filter;
#[cfg(test)]
pub(crate) mod harness;
pub mod keys;
mod lookup_join;
mod map;
pub mod summary;
#[cfg(test)]
mod tests;
mod topology;
pub mod window;

use crate::batch::Batch;
use crate::error::CoreError;
use crate::store::{KeyValueStore, StoreSpec};

pub use config::{parse_processor, Declared, Resolve, PROCESSOR_TYPES};
pub use dedup::Dedup;
pub use filter::{compile_expr, compile_predicate, Filter};
pub use lookup_join::{DimTable, LookupJoin, LookupJoinSpec};
pub use map::{Map, MapSpec};
pub use topology::{BuildError, GraphNode, SinkInfo, Stage, Stream, Topology, TopologyBuilder};

/// A step of a topology, working on whole batches.
///
/// Only `process` is required; `init`, `punctuate` (the watermark advanced),
/// `checkpoint` and `close` default to no-ops. Output goes into the [`Context`].
///
/// ```
/// use streams_core::batch::Batch;
/// use streams_core::dataflow::{Context, Processor};
/// use streams_core::CoreError;
///
/// /// Forwards every other batch, counting the rows it drops.
/// struct Halve { n: u64 }
///
/// impl Processor for Halve {
///     fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError> {
///         self.n += 1;
///         if self.n % 2 == 0 {
///             ctx.forward(batch);
///         } else {
///             ctx.count_filtered(batch.len() as u64);
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Processor: Send {
    /// Stores this processor uses; the topology opens them before `init`.
    fn stores(&self) -> Vec<StoreSpec> {
        Vec::new()
    }
    /// One line for `describe` (e.g. `filter age >= 18`).
    fn describe(&self) -> String {
        String::new()
    }
    /// How far (ms) past a row's event time this processor may still emit results
    /// (window size; sessions twice the gap). At the end of a bounded run the watermark
    /// is held this far past the last event time, so that a later run finds these
    /// windows closed.
    fn closing_extent(&self) -> i64 {
        0
    }
    /// Per row of `batch` (rows this processor would read), a hash of the key the
    /// processor groups rows by, stable across runs and versions: rows with equal keys
    /// hash equally, so a key's rows can be sent to one task of a processor that runs
    /// once per key group. `None` (the default): the processor does not group.
    fn key_hashes(&self, _batch: &Batch) -> Result<Option<Vec<u64>>, CoreError> {
        Ok(None)
    }
    /// The input columns this processor reads, sorted (`None`, the default: any of
    /// them). A task that hands this processor rows of another task may leave the other
    /// columns out (as NULLs), which saves copying them.
    fn columns_read(&self) -> Option<&[usize]> {
        None
    }
    /// Called once after the stores are open (and hold the last checkpoint).
    fn init(&mut self, _ctx: &mut Context<'_>) -> Result<(), CoreError> {
        Ok(())
    }
    /// Handles one batch of rows of the input schema.
    fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError>;
    /// The watermark advanced to `watermark`: emit what it closes.
    fn punctuate(&mut self, _watermark: i64, _ctx: &mut Context<'_>) -> Result<(), CoreError> {
        Ok(())
    }
    /// A checkpoint is about to be written: move in-memory state into the stores.
    fn checkpoint(&mut self, _ctx: &mut Context<'_>) -> Result<(), CoreError> {
        Ok(())
    }
    /// The topology shuts down.
    fn close(&mut self) {}
}

/// A boxed processor is a processor (the builder stores processors boxed).
impl Processor for Box<dyn Processor> {
    fn stores(&self) -> Vec<StoreSpec> {
        (**self).stores()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn closing_extent(&self) -> i64 {
        (**self).closing_extent()
    }
    fn key_hashes(&self, batch: &Batch) -> Result<Option<Vec<u64>>, CoreError> {
        (**self).key_hashes(batch)
    }
    fn columns_read(&self) -> Option<&[usize]> {
        (**self).columns_read()
    }
    fn init(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        (**self).init(ctx)
    }
    fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        (**self).process(batch, ctx)
    }
    fn punctuate(&mut self, watermark: i64, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        (**self).punctuate(watermark, ctx)
    }
    fn checkpoint(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        (**self).checkpoint(ctx)
    }
    fn close(&mut self) {
        (**self).close()
    }
}

/// What a processor dropped, over its lifetime (restored from checkpoints).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NodeCounters {
    /// Rows dropped as duplicates.
    pub duplicate: u64,
    /// Rows left out because all their windows were closed.
    pub late: u64,
    /// Rows a filter left out.
    pub filtered: u64,
}

/// What a processor can reach while it runs.
pub struct Context<'a> {
    node: &'a str,
    stores: &'a mut [Box<dyn KeyValueStore>],
    out: &'a mut Vec<Batch>,
    counters: &'a mut NodeCounters,
    watermark: i64,
}

impl<'a> Context<'a> {
    /// A context over the given buffers (the topology's, or a unit test's).
    pub fn new(
        node: &'a str,
        stores: &'a mut [Box<dyn KeyValueStore>],
        out: &'a mut Vec<Batch>,
        counters: &'a mut NodeCounters,
        watermark: i64,
    ) -> Self {
        Context {
            node,
            stores,
            out,
            counters,
            watermark,
        }
    }

    /// The running processor's name.
    pub fn node(&self) -> &str {
        self.node
    }

    /// Sends a batch to every child (empty batches are dropped).
    pub fn forward(&mut self, batch: Batch) {
        if !batch.is_empty() {
            self.out.push(batch);
        }
    }

    /// The current watermark (rows carry the one they entered with).
    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    /// A store this processor declared, by name.
    pub fn store(&mut self, name: &str) -> Result<&mut dyn KeyValueStore, CoreError> {
        match self.stores.iter_mut().find(|s| s.name() == name) {
            Some(s) => Ok(s.as_mut()),
            None => Err(CoreError::UndeclaredStore {
                processor: self.node.to_string(),
                store: name.to_string(),
            }),
        }
    }

    /// `n` rows were duplicates (they count as `duplicate` in the ledger).
    pub fn count_duplicate(&mut self, n: u64) {
        self.counters.duplicate += n;
    }

    /// `n` rows were late for this processor's windows.
    pub fn count_late(&mut self, n: u64) {
        self.counters.late += n;
    }

    /// `n` rows were filtered out.
    pub fn count_filtered(&mut self, n: u64) {
        self.counters.filtered += n;
    }
}
