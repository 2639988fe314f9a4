//! Runs one processor against in-memory stores, for unit tests.

use crate::event::{Event, EventRef};
use crate::processor::{Context, NodeCounters, Processor};
use crate::store::{KeyValueStore, MemoryStore};
use crate::value::Row;

pub(crate) struct Harness<P: Processor> {
    pub processor: P,
    pub stores: Vec<Box<dyn KeyValueStore>>,
    pub committed: Vec<MemoryStore>,
    pub counters: NodeCounters,
    pub watermark: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Output {
    pub forwarded: Vec<Event>,
    pub emitted: Vec<Row>,
    pub duplicate: bool,
}

impl<P: Processor> Harness<P> {
    pub fn new(processor: P) -> Self {
        let committed: Vec<MemoryStore> = processor
            .stores()
            .iter()
            .map(|s| MemoryStore::new(s.name.clone()))
            .collect();
        let mut h = Harness {
            processor,
            stores: Vec::new(),
            committed,
            counters: NodeCounters::default(),
            watermark: i64::MIN,
        };
        h.reopen();
        h
    }

    fn reopen(&mut self) {
        self.stores = self
            .committed
            .iter()
            .map(|s| Box::new(s.clone()) as Box<dyn KeyValueStore>)
            .collect();
        self.with_ctx(|p, ctx| p.init(ctx));
    }

    fn with_ctx(
        &mut self,
        f: impl FnOnce(&mut P, &mut Context<'_>) -> Result<(), crate::CoreError>,
    ) -> Output {
        let mut out = Output::default();
        let mut fwd = Vec::new();
        let mut ctx = Context::new(
            "test",
            &mut self.stores,
            &mut fwd,
            &mut out.emitted,
            &mut self.counters,
            &mut out.duplicate,
            self.watermark,
        );
        f(&mut self.processor, &mut ctx).expect("processor failed");
        out.forwarded = fwd
            .into_iter()
            .map(|(_, e)| EventRef::unwrap_or_clone(e))
            .collect();
        out
    }

    pub fn process(&mut self, e: Event) -> Output {
        self.with_ctx(|p, ctx| p.process(EventRef::new(e), ctx))
    }

    pub fn punctuate(&mut self, w: i64) -> Output {
        self.watermark = w;
        self.with_ctx(|p, ctx| p.punctuate(w, ctx))
    }

    /// Checkpoint: processor state into stores, stores committed.
    pub fn commit(&mut self) {
        self.with_ctx(|p, ctx| p.checkpoint(ctx));
        for (store, committed) in self.stores.iter_mut().zip(&mut self.committed) {
            let writes = store.take_pending();
            committed.apply(writes);
        }
        self.reopen_stores_only();
    }

    fn reopen_stores_only(&mut self) {
        self.stores = self
            .committed
            .iter()
            .map(|s| Box::new(s.clone()) as Box<dyn KeyValueStore>)
            .collect();
    }

    /// Crash: a fresh processor built by `rebuild` over the committed stores.
    pub fn crash(&mut self) {
        self.reopen();
    }

    pub fn crash_with(&mut self, processor: P) {
        self.processor = processor;
        self.reopen();
    }
}
