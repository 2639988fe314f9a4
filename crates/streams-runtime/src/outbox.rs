//! The outbox: output records written in the checkpoint batch and delivered afterwards.
//!
//! Every record gets an identity `(task, epoch, seq)`: `epoch` is the number of the
//! checkpoint that holds it, `seq` its position among that checkpoint's records of one
//! table. Sinks skip identities they already hold, so delivering an entry twice (after a
//! crash between delivery and cleanup) leaves one copy.

use std::borrow::Cow;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use streams_core::batch::{record_batch_rows, rows_to_record_batch};
use streams_core::{Row, Schema};

/// The table index used for dead letters.
pub const DLQ_TABLE: u16 = u16::MAX;

/// Rows per outbox entry: big entries keep the checkpoint batch small in key count.
pub const ROWS_PER_ENTRY: usize = 4096;

/// A rejected input record, with everything needed to find and fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRecord {
    /// Reason code (`malformed_json`, ...).
    pub reason: String,
    /// Human-readable detail.
    pub detail: String,
    /// Source topic.
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Source Kafka timestamp.
    pub timestamp: i64,
    /// Original key.
    pub key: Option<Vec<u8>>,
    /// Original bytes.
    pub value: Vec<u8>,
}

/// The rows of one outbox entry. Made by the engine, they are the Arrow columns it
/// computed (a slice of them, not copied): until it is delivered, a checkpoint's output
/// takes its columnar size in memory rather than a `Vec` of values per row (a million
/// sessions closing at once: ~60 MiB instead of ~250). Read back from a stored entry
/// they are rows. Both are stored alike, as a sequence of rows.
#[derive(Debug, Clone)]
pub enum EntryRows {
    /// Columns computed by the engine.
    Columns(RecordBatch),
    /// Rows read back from the outbox (recovery) or made by hand.
    Rows(Vec<Row>),
}

impl EntryRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            EntryRows::Columns(b) => b.num_rows(),
            EntryRows::Rows(r) => r.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows, made from the columns on each call (a sink reading them twice keeps
    /// them).
    pub fn rows(&self) -> Cow<'_, [Row]> {
        match self {
            EntryRows::Columns(b) => Cow::Owned(record_batch_rows(b)),
            EntryRows::Rows(r) => Cow::Borrowed(r),
        }
    }

    /// The rows as Arrow columns of `schema` (the columns the engine computed as they
    /// are; rows converted).
    pub fn columns(&self, schema: &Schema) -> Result<Cow<'_, RecordBatch>, ArrowError> {
        match self {
            EntryRows::Columns(b) => Ok(Cow::Borrowed(b)),
            EntryRows::Rows(r) => rows_to_record_batch(schema, r).map(Cow::Owned),
        }
    }
}

impl From<Vec<Row>> for EntryRows {
    fn from(rows: Vec<Row>) -> Self {
        EntryRows::Rows(rows)
    }
}

impl PartialEq for EntryRows {
    fn eq(&self, other: &Self) -> bool {
        self.rows() == other.rows()
    }
}

/// Rows converted at a time when columns are stored (bounded memory per entry).
const ROWS_PER_CONVERSION: usize = 512;

impl Serialize for EntryRows {
    /// As a `Vec<Row>`, whichever the form: stored entries do not depend on it.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            EntryRows::Rows(r) => r.serialize(s),
            EntryRows::Columns(b) => {
                let mut seq = s.serialize_seq(Some(b.num_rows()))?;
                let mut at = 0;
                while at < b.num_rows() {
                    let n = ROWS_PER_CONVERSION.min(b.num_rows() - at);
                    for row in record_batch_rows(&b.slice(at, n)) {
                        seq.serialize_element(&row)?;
                    }
                    at += n;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for EntryRows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Row>::deserialize(d).map(EntryRows::Rows)
    }
}

/// What an outbox entry carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OutboxPayload {
    /// Rows of a table.
    Rows(EntryRows),
    /// Dead letters.
    DeadLetters(Vec<DeadLetterRecord>),
    /// Rows of windows still open (`emit = "update"`): Kafka sinks deliver them, file
    /// sinks (Parquet) keep final rows only.
    Updates(EntryRows),
}

impl OutboxPayload {
    /// Number of records.
    pub fn len(&self) -> usize {
        match self {
            OutboxPayload::Rows(r) | OutboxPayload::Updates(r) => r.len(),
            OutboxPayload::DeadLetters(d) => d.len(),
        }
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One outbox entry: consecutive records of one table from one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxBatch {
    /// The task that produced it.
    pub task: u32,
    /// The checkpoint that holds it.
    pub epoch: u64,
    /// Table index ([`DLQ_TABLE`] for dead letters).
    pub table: u16,
    /// Sequence number of the first record; record `i` has `first_seq + i`.
    pub first_seq: u64,
    /// The records.
    pub payload: OutboxPayload,
}

/// Tag of a stored outbox entry: bincode, LZ4-compressed (the rows of one table repeat
/// most of their values: countries, pages, names; the entries shrink ~4x, and with them
/// the checkpoint's synced write).
const ENTRY_LZ4_BINCODE: u8 = 1;

/// An outbox entry as it is stored in the checkpoint.
pub fn encode_entry(b: &OutboxBatch) -> Result<Vec<u8>, String> {
    let raw =
        bincode::serde::encode_to_vec(b, bincode::config::standard()).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(raw.len() / 3 + 16);
    out.push(ENTRY_LZ4_BINCODE);
    out.extend(lz4_flex::block::compress_prepend_size(&raw));
    Ok(out)
}

/// Reads an entry written by [`encode_entry`].
pub fn decode_entry(bytes: &[u8]) -> Result<OutboxBatch, String> {
    match bytes.split_first() {
        Some((&ENTRY_LZ4_BINCODE, rest)) => {
            let raw = lz4_flex::block::decompress_size_prepended(rest)
                .map_err(|e| format!("lz4: {e}"))?;
            bincode::serde::decode_from_slice(&raw, bincode::config::standard())
                .map(|(b, _)| b)
                .map_err(|e| e.to_string())
        }
        Some((tag, _)) => Err(format!("unknown outbox entry format {tag}")),
        None => Err("empty outbox entry".into()),
    }
}

/// The outbox key: sorts by epoch, then table, then sequence.
pub fn outbox_key(task: u32, epoch: u64, table: u16, first_seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(22);
    k.extend(epoch.to_be_bytes());
    k.extend(task.to_be_bytes());
    k.extend(table.to_be_bytes());
    k.extend(first_seq.to_be_bytes());
    k
}

/// The first key of `epoch`: deleting keys below it removes every earlier epoch.
pub fn epoch_start_key(epoch: u64) -> Vec<u8> {
    epoch.to_be_bytes().to_vec()
}

/// One table's rows of one checkpoint, as the engine computed them (columns) or as
/// made by hand: batches of final rows, then of updates of open windows.
#[derive(Debug, Clone, Default)]
pub struct TableRows {
    /// Final rows.
    pub rows: Vec<EntryRows>,
    /// Updates of windows still open.
    pub updates: Vec<EntryRows>,
}

/// `batches` regrouped into entries of at most `per_entry` rows: big batches are split
/// (columns sliced, not copied), consecutive small batches of columns concatenated.
fn entry_rows(batches: Vec<EntryRows>, per_entry: usize) -> Vec<EntryRows> {
    let mut entries = Vec::new();
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut pending_rows = 0;
    let close = |pending: &mut Vec<RecordBatch>, entries: &mut Vec<EntryRows>| {
        let parts = std::mem::take(pending);
        match parts.len() {
            0 => {}
            1 => entries.extend(parts.into_iter().map(EntryRows::Columns)),
            _ => entries.push(
                match arrow::compute::concat_batches(&parts[0].schema(), &parts) {
                    Ok(b) => EntryRows::Columns(b),
                    // Batches of one table whose Arrow schemas differ (e.g. in a
                    // column's nullability) are still the same rows.
                    Err(_) => EntryRows::Rows(parts.iter().flat_map(record_batch_rows).collect()),
                },
            ),
        }
    };
    for batch in batches {
        match batch {
            EntryRows::Columns(b) => {
                let mut at = 0;
                while at < b.num_rows() {
                    let n = (per_entry - pending_rows).min(b.num_rows() - at);
                    pending.push(b.slice(at, n));
                    pending_rows += n;
                    at += n;
                    if pending_rows == per_entry {
                        close(&mut pending, &mut entries);
                        pending_rows = 0;
                    }
                }
            }
            EntryRows::Rows(rows) => {
                close(&mut pending, &mut entries);
                pending_rows = 0;
                let mut rows = rows.into_iter().peekable();
                while rows.peek().is_some() {
                    entries.push(EntryRows::Rows(rows.by_ref().take(per_entry).collect()));
                }
            }
        }
    }
    close(&mut pending, &mut entries);
    entries
}

/// Splits one checkpoint's output into outbox entries, numbering records per table.
pub fn plan_outbox(
    task: u32,
    epoch: u64,
    tables: Vec<TableRows>,
    dead_letters: Vec<DeadLetterRecord>,
) -> Vec<OutboxBatch> {
    let mut batches = Vec::new();
    for (t, table) in tables.into_iter().enumerate() {
        let mut seq = 0u64;
        for (rows, update) in [(table.rows, false), (table.updates, true)] {
            for chunk in entry_rows(rows, ROWS_PER_ENTRY) {
                let n = chunk.len() as u64;
                batches.push(OutboxBatch {
                    task,
                    epoch,
                    // Tables are few (one per sink); u16 is plenty.
                    table: t as u16,
                    first_seq: seq,
                    payload: if update {
                        OutboxPayload::Updates(chunk)
                    } else {
                        OutboxPayload::Rows(chunk)
                    },
                });
                seq += n;
            }
        }
    }
    let mut seq = 0u64;
    let mut dls = dead_letters.into_iter().peekable();
    while dls.peek().is_some() {
        let chunk: Vec<DeadLetterRecord> = dls.by_ref().take(ROWS_PER_ENTRY).collect();
        let n = chunk.len() as u64;
        batches.push(OutboxBatch {
            task,
            epoch,
            table: DLQ_TABLE,
            first_seq: seq,
            payload: OutboxPayload::DeadLetters(chunk),
        });
        seq += n;
    }
    batches
}

/// What recovery must do with the outbox found at start-up: every entry still there is
/// re-delivered (sinks drop identities they hold), in key order, and once delivered all
/// epochs up to the newest one may be deleted.
pub fn plan_recovery(mut found: Vec<OutboxBatch>) -> (Vec<OutboxBatch>, Option<u64>) {
    found.sort_by(|a, b| {
        (a.epoch, a.task, a.table, a.first_seq).cmp(&(b.epoch, b.task, b.table, b.first_seq))
    });
    let newest = found.last().map(|b| b.epoch);
    (found, newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_compressed_and_refuse_damage() {
        use streams_core::Value;
        let rows: Vec<Row> = (0..1000)
            .map(|i| {
                vec![
                    Value::Int(i),
                    Value::Str("Germany".into()),
                    Value::Float(0.5),
                ]
            })
            .collect();
        let b = OutboxBatch {
            task: 0,
            epoch: 7,
            table: 1,
            first_seq: 4096,
            payload: OutboxPayload::Rows(rows.clone().into()),
        };
        let bytes = encode_entry(&b).unwrap();
        let plain = bincode::serde::encode_to_vec(&b, bincode::config::standard()).unwrap();
        assert!(
            bytes.len() * 2 < plain.len(),
            "{} vs {}",
            bytes.len(),
            plain.len()
        );
        assert_eq!(decode_entry(&bytes).unwrap(), b);
        assert!(decode_entry(&[]).is_err());
        assert!(decode_entry(&[9, 1, 2]).unwrap_err().contains("format 9"));
        let mut cut = bytes.clone();
        cut.truncate(bytes.len() / 2);
        assert!(decode_entry(&cut).is_err());
        // Columns are stored exactly as the same rows: entries do not depend on the form.
        let schema = Schema {
            columns: vec![
                streams_core::Column::new("n", streams_core::ColumnType::Int),
                streams_core::Column::new("country", streams_core::ColumnType::Str),
                streams_core::Column::nullable("x", streams_core::ColumnType::Float),
            ],
        };
        let columns = OutboxBatch {
            payload: OutboxPayload::Rows(EntryRows::Columns(
                rows_to_record_batch(&schema, &rows).unwrap(),
            )),
            ..b.clone()
        };
        assert_eq!(encode_entry(&columns).unwrap(), bytes);
        assert_eq!(decode_entry(&bytes).unwrap(), columns);
        assert!(matches!(
            decode_entry(&bytes).unwrap().payload,
            OutboxPayload::Rows(EntryRows::Rows(_))
        ));
    }
    use streams_core::{Column, ColumnType, Value};

    fn rows(n: usize) -> Vec<EntryRows> {
        let schema = Schema {
            columns: vec![Column::new("n", ColumnType::Int)],
        };
        let rows: Vec<Row> = (0..n).map(|i| vec![Value::Int(i as i64)]).collect();
        vec![EntryRows::Columns(
            rows_to_record_batch(&schema, &rows).unwrap(),
        )]
    }

    #[test]
    fn entries_slice_big_batches_and_join_small_ones_in_order() {
        // batch sizes -> entry sizes (at most 4 rows per entry)
        let cases: Vec<(Vec<usize>, Vec<usize>)> = vec![
            (vec![], vec![]),
            (vec![0, 0], vec![]),
            (vec![3], vec![3]),
            (vec![4], vec![4]),
            (vec![9], vec![4, 4, 1]),
            (vec![1, 1, 1], vec![3]),
            (vec![3, 3, 0, 3], vec![4, 4, 1]),
            (vec![2, 10, 1], vec![4, 4, 4, 1]),
        ];
        for (sizes, expected) in cases {
            let mut next = 0i64;
            let batches: Vec<EntryRows> = sizes
                .iter()
                .map(|&n| {
                    // numbered across batches, so the order is checked
                    let col = arrow::array::Int64Array::from_iter_values(next..next + n as i64);
                    next += n as i64;
                    let schema = Schema {
                        columns: vec![Column::new("n", ColumnType::Int)],
                    };
                    EntryRows::Columns(
                        RecordBatch::try_new(schema.arrow(), vec![std::sync::Arc::new(col)])
                            .unwrap(),
                    )
                })
                .collect();
            let entries = entry_rows(batches, 4);
            let got: Vec<usize> = entries.iter().map(EntryRows::len).collect();
            assert_eq!(got, expected, "{sizes:?}");
            let all: Vec<Row> = entries.iter().flat_map(|e| e.rows().into_owned()).collect();
            let want: Vec<Row> = (0..next).map(|i| vec![Value::Int(i)]).collect();
            assert_eq!(all, want, "{sizes:?}");
            assert!(entries.iter().all(|e| matches!(e, EntryRows::Columns(_))));
        }
        // Rows made by hand are split as rows, after the columns before them.
        let mixed = vec![
            rows(3).remove(0),
            EntryRows::Rows((0..5).map(|i| vec![Value::Int(i)]).collect()),
        ];
        let got: Vec<(bool, usize)> = entry_rows(mixed, 4)
            .iter()
            .map(|e| (matches!(e, EntryRows::Columns(_)), e.len()))
            .collect();
        assert_eq!(got, vec![(true, 3), (false, 4), (false, 1)]);
    }

    #[test]
    fn outbox_plan_table() {
        // (rows per table, dead letters) -> (table, first_seq, len) per entry
        type Entry = (u16, u64, usize);
        let cases: Vec<(Vec<usize>, usize, Vec<Entry>)> = vec![
            (vec![], 0, vec![]),
            (vec![0, 0], 0, vec![]),
            (vec![3], 0, vec![(0, 0, 3)]),
            (
                vec![ROWS_PER_ENTRY + 1, 2],
                1,
                vec![
                    (0, 0, ROWS_PER_ENTRY),
                    (0, ROWS_PER_ENTRY as u64, 1),
                    (1, 0, 2),
                    (DLQ_TABLE, 0, 1),
                ],
            ),
        ];
        for (tables, dl, expected) in cases {
            let dead: Vec<DeadLetterRecord> = (0..dl)
                .map(|i| DeadLetterRecord {
                    reason: "malformed_json".into(),
                    detail: String::new(),
                    topic: "t".into(),
                    partition: 0,
                    offset: i as i64,
                    timestamp: 0,
                    key: None,
                    value: vec![],
                })
                .collect();
            let plan = plan_outbox(
                0,
                7,
                tables
                    .iter()
                    .map(|&n| TableRows {
                        rows: rows(n),
                        updates: Vec::new(),
                    })
                    .collect(),
                dead,
            );
            let got: Vec<(u16, u64, usize)> = plan
                .iter()
                .map(|b| (b.table, b.first_seq, b.payload.len()))
                .collect();
            assert_eq!(got, expected);
            assert!(plan.iter().all(|b| b.epoch == 7));
        }
    }

    #[test]
    fn outbox_keys_sort_by_epoch_first() {
        let a = outbox_key(0, 1, DLQ_TABLE, 99);
        let b = outbox_key(0, 2, 0, 0);
        assert!(a < b);
        assert!(epoch_start_key(2) <= b && a < epoch_start_key(2));
    }

    #[test]
    fn recovery_redelivers_everything_in_order() {
        let mk = |epoch, table, first_seq| OutboxBatch {
            task: 0,
            epoch,
            table,
            first_seq,
            payload: OutboxPayload::Rows(Vec::new().into()),
        };
        let (order, newest) =
            plan_recovery(vec![mk(5, 1, 0), mk(4, 0, 10), mk(5, 0, 0), mk(4, 0, 0)]);
        let keys: Vec<(u64, u16, u64)> = order
            .iter()
            .map(|b| (b.epoch, b.table, b.first_seq))
            .collect();
        assert_eq!(keys, vec![(4, 0, 0), (4, 0, 10), (5, 0, 0), (5, 1, 0)]);
        assert_eq!(newest, Some(5));
        assert_eq!(plan_recovery(vec![]).1, None);
    }
}
