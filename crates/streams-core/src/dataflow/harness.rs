//! A test harness: runs a topology over in-memory stores with checkpoints and crashes,
//! as the engine does over RocksDB.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use arrow::array::Array;
use arrow::util::display::array_value_to_string;

use super::{Topology, TopologyBuilder};
use crate::batch::{Batch, Origin};
use crate::error::CoreError;
use crate::input::{Decoder, InputSchema};
use crate::record::SourceRecord;
use crate::store::{KeyValueStore, MemoryStore, PendingWrites, ScanFn};

/// A store whose committed state outlives the topology (as RocksDB does).
struct Shared {
    name: String,
    inner: Arc<Mutex<MemoryStore>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryStore> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyValueStore for Shared {
    fn name(&self) -> &str {
        &self.name
    }
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, CoreError> {
        self.lock().get(key)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.lock().put(key, value)
    }
    fn delete(&mut self, key: &[u8]) {
        self.lock().delete(key)
    }
    fn scan(&mut self, prefix: &[u8], f: &mut ScanFn<'_>) -> Result<(), CoreError> {
        self.lock().scan(prefix, f)
    }
    fn take_pending(&mut self) -> PendingWrites {
        let mut s = self.lock();
        let w = s.take_pending();
        s.apply(w.clone());
        w
    }
}

/// Runs a topology built by `make` over JSON lines decoded with `input`.
pub(crate) struct Harness {
    make: Box<dyn Fn(&mut TopologyBuilder)>,
    input: InputSchema,
    decoder: Decoder,
    pub(crate) topology: Topology,
    stores: BTreeMap<String, Arc<Mutex<MemoryStore>>>,
    /// Committed watermark (what a restart resumes with).
    committed_watermark: i64,
    next_offset: i64,
}

impl Harness {
    pub(crate) fn new(
        input: InputSchema,
        make: impl Fn(&mut TopologyBuilder) + 'static,
    ) -> Harness {
        let decoder = input.compile().unwrap();
        let mut h = Harness {
            topology: build(&input, &make),
            make: Box::new(make),
            decoder,
            input,
            stores: BTreeMap::new(),
            committed_watermark: i64::MIN,
            next_offset: 0,
        };
        h.open();
        h
    }

    fn open(&mut self) {
        let stores = &mut self.stores;
        self.topology
            .init(self.committed_watermark, |spec| {
                let inner = stores
                    .entry(spec.name.clone())
                    .or_insert_with(|| Arc::new(Mutex::new(MemoryStore::new(&spec.name))))
                    .clone();
                Ok(Box::new(Shared {
                    name: spec.name.clone(),
                    inner,
                }) as Box<dyn KeyValueStore>)
            })
            .unwrap();
    }

    /// Decodes `lines` (Kafka timestamp = `kafka_ts`) into one batch whose rows all
    /// entered at `watermark`.
    pub(crate) fn batch(&mut self, lines: &[&str], kafka_ts: i64, watermark: i64) -> Batch {
        let recs: Vec<SourceRecord> = lines
            .iter()
            .map(|l| {
                self.next_offset += 1;
                SourceRecord {
                    topic: Arc::from("in"),
                    partition: 0,
                    offset: self.next_offset - 1,
                    timestamp: kafka_ts,
                    key: None,
                    value: l.as_bytes().to_vec(),
                }
            })
            .collect();
        let out = self.decoder.decode(&recs).unwrap();
        assert!(out.dead.is_empty(), "rejected: {:?}", out.dead);
        let origin = out
            .rows
            .iter()
            .map(|&r| Origin {
                partition: 0,
                offset: recs[r as usize].offset,
            })
            .collect();
        let n = out.rows.len();
        Batch::new(out.batch, out.event_ts, vec![watermark; n], origin).unwrap()
    }

    /// Runs `lines` entering at `watermark`, then punctuates at `watermark`.
    pub(crate) fn run(&mut self, lines: &[&str], kafka_ts: i64, watermark: i64) {
        let b = self.batch(lines, kafka_ts, watermark);
        self.topology.process(b).unwrap();
        if watermark > self.topology.watermark() {
            self.topology.punctuate(watermark).unwrap();
        }
    }

    /// A checkpoint: state written, watermark kept.
    pub(crate) fn commit(&mut self) {
        self.topology.checkpoint().unwrap();
        let _ = self.topology.take_pending_writes();
        self.committed_watermark = self.topology.watermark();
    }

    /// A crash: uncommitted writes are lost, a new topology starts from the stores.
    pub(crate) fn crash(&mut self) {
        for s in self.stores.values() {
            s.lock().unwrap_or_else(|p| p.into_inner()).crash();
        }
        self.topology = build(&self.input, &self.make);
        self.open();
    }

    /// Rows that reached sink `sink` since the last call, rendered `a,b,c`.
    pub(crate) fn take(&mut self, sink: usize) -> Vec<String> {
        let mut outs = self.topology.take_outputs();
        outs.get_mut(sink)
            .map(std::mem::take)
            .unwrap_or_default()
            .iter()
            .flat_map(render)
            .collect()
    }
}

fn build(input: &InputSchema, make: &dyn Fn(&mut TopologyBuilder)) -> Topology {
    let mut b = TopologyBuilder::new("in", input.schema());
    make(&mut b);
    match b.build() {
        Ok(t) => t,
        Err(e) => panic!("{e:#?}"),
    }
}

/// Each row as `a,b,c` (NULL for nulls).
pub(crate) fn render(b: &Batch) -> Vec<String> {
    let d = b.data();
    (0..d.num_rows())
        .map(|r| {
            d.columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, r).unwrap()
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// `{name, age, city}` rows (name required).
pub(crate) fn people() -> crate::input::InputSchema {
    use crate::input::{FieldSpec, InputSchema};
    use crate::value::ColumnType;
    InputSchema {
        fields: vec![
            FieldSpec {
                required: true,
                ..FieldSpec::new("name", ColumnType::Str)
            },
            FieldSpec::new("age", ColumnType::Int),
            FieldSpec::new("city", ColumnType::Str),
        ],
        max_future_ms: None,
        ..InputSchema::default()
    }
}
