//! An in-memory sink with the idempotence of the Kafka sink: a record whose
//! `(task, epoch, seq)` identity is already present is skipped, and if its content
//! differs from the copy present, the test fails (the engine was not deterministic).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use streams_core::topology::TableInfo;
use streams_core::{Row, Schema};
use streams_runtime::outbox::DLQ_TABLE;
use streams_runtime::{DeadLetterRecord, OutboxBatch, OutboxPayload, Sink, SinkError};

#[derive(Debug, Clone, PartialEq)]
enum Record {
    Row(Row),
    Update(Row),
    Dead(DeadLetterRecord),
}

/// Delivered outputs per table, in delivery order.
#[derive(Debug, Default)]
pub struct MemorySink {
    tables: BTreeMap<String, Vec<Record>>,
    seen: HashMap<(String, u32, u64, u64), usize>,
    schemas: BTreeMap<String, Schema>,
    /// Records skipped because their identity was already delivered.
    pub skipped_duplicates: u64,
}

/// Name of the dead-letter table in [`MemorySink`].
pub const DLQ: &str = "dlq";

impl MemorySink {
    /// Remembers the schema of a table (for JSON rendering).
    pub fn set_schema(&mut self, table: &str, schema: Schema) {
        self.schemas.insert(table.to_string(), schema);
    }

    /// Delivers up to `limit` records of `batch` (all when `None`); returns how many it
    /// went through (delivered or skipped).
    pub fn deliver(
        &mut self,
        tables: &[TableInfo],
        batch: &OutboxBatch,
        limit: Option<usize>,
    ) -> usize {
        let table = if batch.table == DLQ_TABLE {
            DLQ.to_string()
        } else {
            tables[batch.table as usize].name.clone()
        };
        let records: Vec<Record> = match &batch.payload {
            OutboxPayload::Rows(rows) => rows.rows().iter().cloned().map(Record::Row).collect(),
            OutboxPayload::Updates(rows) => {
                rows.rows().iter().cloned().map(Record::Update).collect()
            }
            OutboxPayload::DeadLetters(d) => d.iter().cloned().map(Record::Dead).collect(),
        };
        let n = limit.map_or(records.len(), |l| l.min(records.len()));
        for (i, rec) in records.into_iter().take(n).enumerate() {
            let id = (
                table.clone(),
                batch.task,
                batch.epoch,
                batch.first_seq + i as u64,
            );
            let log = self.tables.entry(table.clone()).or_default();
            match self.seen.get(&id) {
                Some(&pos) => {
                    assert_eq!(
                        log[pos], rec,
                        "record {id:?} delivered twice with different content: the engine is not deterministic"
                    );
                    self.skipped_duplicates += 1;
                }
                None => {
                    self.seen.insert(id, log.len());
                    log.push(rec);
                }
            }
        }
        n
    }

    /// Rows delivered to `table`.
    pub fn rows(&self, table: &str) -> Vec<Row> {
        self.tables
            .get(table)
            .map(|v| {
                v.iter()
                    .filter_map(|r| match r {
                        Record::Row(r) => Some(r.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Updates of still-open windows delivered to `table` (`emit = "update"`), in order.
    pub fn updates(&self, table: &str) -> Vec<Row> {
        self.tables
            .get(table)
            .map(|v| {
                v.iter()
                    .filter_map(|r| match r {
                        Record::Update(r) => Some(r.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Rows of `table` as JSON objects.
    pub fn json(&self, table: &str) -> Vec<serde_json::Value> {
        let Some(schema) = self.schemas.get(table) else {
            return Vec::new();
        };
        self.rows(table)
            .iter()
            .map(|r| streams_core::value::row_to_json(schema, r))
            .collect()
    }

    /// Dead letters delivered.
    pub fn dead_letters(&self) -> Vec<DeadLetterRecord> {
        self.tables
            .get(DLQ)
            .map(|v| {
                v.iter()
                    .filter_map(|r| match r {
                        Record::Dead(d) => Some(d.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The driver's [`MemorySink`] as a sink of the delivery coordinator (the one `run`
/// uses). With `crash_after` set, delivery stops with an error once that many records
/// went through: a crash in the middle of a delivery.
pub(crate) struct MemoryHandle {
    pub(crate) sink: Rc<RefCell<MemorySink>>,
    pub(crate) crash_after: Rc<Cell<Option<usize>>>,
}

impl Sink for MemoryHandle {
    fn name(&self) -> &str {
        "memory"
    }

    fn deliver(
        &mut self,
        tables: &[TableInfo],
        batches: &[OutboxBatch],
        _recover: bool,
    ) -> Result<(), SinkError> {
        let mut sink = self.sink.borrow_mut();
        for b in batches {
            let limit = self.crash_after.get();
            let n = sink.deliver(tables, b, limit);
            if let Some(l) = limit {
                self.crash_after.set(Some(l - n));
                if l == n {
                    return Err(SinkError::fatal(
                        "crash injected in the middle of a delivery",
                    ));
                }
            }
        }
        Ok(())
    }
}
