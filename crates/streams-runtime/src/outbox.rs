//! The outbox: output records written in the checkpoint batch and delivered afterwards.
//!
//! Every record gets an identity `(task, epoch, seq)`: `epoch` is the number of the
//! checkpoint that holds it, `seq` its position among that checkpoint's records of one
//! table. Sinks skip identities they already hold, so delivering an entry twice (after a
//! crash between delivery and cleanup) leaves one copy.

use serde::{Deserialize, Serialize};
use streams_core::Row;

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

/// What an outbox entry carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OutboxPayload {
    /// Rows of a table.
    Rows(Vec<Row>),
    /// Dead letters.
    DeadLetters(Vec<DeadLetterRecord>),
    /// Rows of windows still open (`emit = "update"`): Kafka sinks deliver them, file
    /// sinks (Parquet) keep final rows only.
    Updates(Vec<Row>),
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

/// One table's rows of one checkpoint: final rows, then updates of open windows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableRows {
    /// Final rows.
    pub rows: Vec<Row>,
    /// Updates of windows still open.
    pub updates: Vec<Row>,
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
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let chunk: Vec<Row> = rows.by_ref().take(ROWS_PER_ENTRY).collect();
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
            payload: OutboxPayload::Rows(rows),
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
    }
    use streams_core::Value;

    fn rows(n: usize) -> Vec<Row> {
        (0..n).map(|i| vec![Value::Int(i as i64)]).collect()
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
            payload: OutboxPayload::Rows(vec![]),
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
