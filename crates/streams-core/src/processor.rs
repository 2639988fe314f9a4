//! The [`Processor`] trait: only `process` is required; `init`, `punctuate` (the
//! watermark advanced), `checkpoint` and `close` default to no-ops. Processors are
//! synchronous and write their output into buffers handed in through [`Context`].

use crate::error::CoreError;
use crate::event::EventRef;
use crate::store::{KeyValueStore, StoreSpec};
use crate::value::{Row, Schema};

/// A step of a topology.
///
/// ```
/// use streams_core::{Context, CoreError, EventRef, Processor};
///
/// /// Forwards purchases only.
/// struct Purchases;
///
/// impl Processor for Purchases {
///     fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
///         if event.event_type == "purchase" {
///             ctx.forward(event);
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Processor: Send {
    /// Problems with the processor's configuration, reported by the topology builder
    /// together with every other build error.
    fn validate(&self) -> Vec<String> {
        Vec::new()
    }
    /// Stores this processor uses; the builder checks them and the runtime opens them.
    fn stores(&self) -> Vec<StoreSpec> {
        Vec::new()
    }
    /// The schema of the rows this processor emits with [`Context::emit`], if it emits any.
    fn output_schema(&self) -> Option<Schema> {
        None
    }
    /// Columns of the output rows that form the record key (Kafka key: their values
    /// joined by `|`). Empty: no key.
    fn output_key_columns(&self) -> Vec<usize> {
        Vec::new()
    }
    /// Called once after the stores are open (and hold the last checkpoint).
    fn init(&mut self, _ctx: &mut Context<'_>) -> Result<(), CoreError> {
        Ok(())
    }
    /// Handles one event.
    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError>;
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

/// Counters a processor reports about the current record and over time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NodeCounters {
    /// Records dropped as duplicates.
    pub duplicate: u64,
    /// Records left out because all their windows were closed.
    pub late: u64,
}

/// What a processor can reach while it runs: its declared stores, the downstream
/// buffer, its output table and the current watermark.
pub struct Context<'a> {
    pub(crate) node: &'a str,
    pub(crate) stores: &'a mut [Box<dyn KeyValueStore>],
    pub(crate) forwarded: &'a mut Vec<(usize, EventRef)>,
    pub(crate) emitted: &'a mut Vec<Row>,
    pub(crate) counters: &'a mut NodeCounters,
    pub(crate) duplicate_flag: &'a mut bool,
    pub(crate) watermark: i64,
}

impl<'a> Context<'a> {
    /// A context over the given buffers; used by the topology and by processor unit tests.
    pub fn new(
        node: &'a str,
        stores: &'a mut [Box<dyn KeyValueStore>],
        forwarded: &'a mut Vec<(usize, EventRef)>,
        emitted: &'a mut Vec<Row>,
        counters: &'a mut NodeCounters,
        duplicate_flag: &'a mut bool,
        watermark: i64,
    ) -> Self {
        Context {
            node,
            stores,
            forwarded,
            emitted,
            counters,
            duplicate_flag,
            watermark,
        }
    }

    /// The name of the running processor.
    pub fn node(&self) -> &str {
        self.node
    }

    /// Sends an event to every child on the default port.
    pub fn forward(&mut self, event: EventRef) {
        self.forwarded.push((0, event));
    }

    /// Sends an event to the children attached to port `port` (branches).
    pub fn forward_to(&mut self, port: usize, event: EventRef) {
        self.forwarded.push((port, event));
    }

    /// Emits a row to this processor's output table.
    pub fn emit(&mut self, row: Row) {
        self.emitted.push(row);
    }

    /// The current watermark.
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

    /// The current record is a duplicate: it is counted as such in the ledger.
    pub fn mark_duplicate(&mut self) {
        self.counters.duplicate += 1;
        *self.duplicate_flag = true;
    }

    /// The current record is late for this processor's windows.
    pub fn mark_late(&mut self) {
        self.counters.late += 1;
    }
}
