//! Staged rows: each (table, date) appends the rows of whole epochs to a hidden staging
//! file (`.stage-<first epoch>-<task>.arrows`: frames of `[epoch u64][length u64][Arrow
//! IPC stream]`), fsynced at every delivery, so the outbox can forget an epoch as soon
//! as it is staged. The checkpoint records each staging file's committed length
//! ([`StagedFile`]); recovery truncates to it ([`plan_recovery`]). At roll time a staging
//! file is rewritten as one Parquet file (`part-<first>-<last>-<task>.parquet`).
//!
//! Restart work is thus bounded by one checkpoint's rows, whatever the roll interval.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use serde::{Deserialize, Serialize};

use super::recovery::covered;
use crate::error::ParquetError;

/// A staging file as a checkpoint records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedFile {
    /// Output table name.
    pub table: String,
    /// Its partition directory, relative to the table (`event_date=2026-01-01`, or
    /// `country=US/event_date=2026-01-01`; empty for an unpartitioned table).
    pub partition: String,
    /// First epoch it holds (part of its name).
    pub first_epoch: u64,
    /// Last epoch it holds.
    pub last_epoch: u64,
    /// Committed length in bytes: whole frames of epochs `first_epoch..=last_epoch`.
    pub len: u64,
}

/// Name of the staging file that starts at `first_epoch`.
pub fn staging_name(first_epoch: u64, task: u32) -> String {
    format!(".stage-{first_epoch:020}-{task:04}.arrows")
}

/// Parses [`staging_name`]: `(first_epoch, task)`.
pub fn parse_staging_name(name: &str) -> Option<(u64, u32)> {
    let rest = name.strip_prefix(".stage-")?.strip_suffix(".arrows")?;
    let (first, task) = rest.split_once('-')?;
    Some((first.parse().ok()?, task.parse().ok()?))
}

/// A staging file found on disk: (table, partition, first epoch) and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundStaging {
    /// Table name.
    pub table: String,
    /// Partition directory, relative to the table.
    pub partition: String,
    /// First epoch (from its name).
    pub first_epoch: u64,
    /// Length on disk.
    pub len: u64,
}

/// What recovery does with one staging file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Keep it, cut to the committed length, and append to it.
    Resume(StagedFile),
    /// Delete it: its rows are published already, or their epochs are still in the outbox.
    Delete(FoundStaging),
}

/// The pure recovery rule. `committed`: the staging files of the last checkpoint;
/// `found`: those on disk; `published`: epoch ranges of published files per (table,
/// date). A file the checkpoint does not know holds only epochs the outbox still has
/// (delete); a known one is cut back to its committed length, unless a published file
/// already covers its epochs (a roll finished before the checkpoint saw it: delete).
/// Committed rows that are on disk nowhere are an error.
pub fn plan_recovery(
    committed: &[StagedFile],
    found: &[FoundStaging],
    published: &HashMap<(String, String), Vec<(u64, u64)>>,
) -> Result<Vec<Recovery>, String> {
    let is_published = |table: &str, partition: &str, first: u64, last: u64| {
        published
            .get(&(table.to_string(), partition.to_string()))
            .is_some_and(|r| covered(r, first) && covered(r, last))
    };
    let mut out = Vec::new();
    for f in found {
        let known = committed.iter().find(|c| {
            c.table == f.table && c.partition == f.partition && c.first_epoch == f.first_epoch
        });
        match known {
            Some(c) if is_published(&c.table, &c.partition, c.first_epoch, c.last_epoch) => {
                out.push(Recovery::Delete(f.clone()))
            }
            Some(c) if f.len >= c.len => out.push(Recovery::Resume(c.clone())),
            Some(c) => {
                return Err(format!(
                    "staged rows of table {} (epochs {}..={}) are shorter on disk ({} bytes) than the checkpoint recorded ({} bytes)",
                    c.table, c.first_epoch, c.last_epoch, f.len, c.len
                ))
            }
            None => out.push(Recovery::Delete(f.clone())),
        }
    }
    for c in committed {
        let on_disk = found.iter().any(|f| {
            c.table == f.table && c.partition == f.partition && c.first_epoch == f.first_epoch
        });
        if !on_disk && !is_published(&c.table, &c.partition, c.first_epoch, c.last_epoch) {
            return Err(format!(
                "staged rows of table {} (epochs {}..={}) are missing from the output directory",
                c.table, c.first_epoch, c.last_epoch
            ));
        }
    }
    Ok(out)
}

/// Appends one epoch's rows as a frame; returns the bytes written.
pub fn write_frame(
    out: &mut impl Write,
    epoch: u64,
    batch: &RecordBatch,
    path: &Path,
) -> Result<u64, ParquetError> {
    let mut ipc = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut ipc, &batch.schema())
            .map_err(|e| ParquetError::format(path, e))?;
        w.write(batch).map_err(|e| ParquetError::format(path, e))?;
        w.finish().map_err(|e| ParquetError::format(path, e))?;
    }
    out.write_all(&epoch.to_le_bytes())
        .and_then(|_| out.write_all(&(ipc.len() as u64).to_le_bytes()))
        .and_then(|_| out.write_all(&ipc))
        .map_err(ParquetError::io("append staged rows to", path))?;
    Ok(16 + ipc.len() as u64)
}

/// Reads the frames of a staging file in order, calling `each(epoch, batch)`.
pub fn read_frames(
    input: &mut impl Read,
    path: &Path,
    mut each: impl FnMut(u64, RecordBatch) -> Result<(), ParquetError>,
) -> Result<(), ParquetError> {
    let mut header = [0u8; 16];
    loop {
        match input.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(ParquetError::io("read staged rows from", path)(e)),
        }
        let mut epoch = [0u8; 8];
        epoch.copy_from_slice(&header[..8]);
        let mut len = [0u8; 8];
        len.copy_from_slice(&header[8..]);
        let mut ipc = vec![0u8; u64::from_le_bytes(len) as usize];
        input
            .read_exact(&mut ipc)
            .map_err(ParquetError::io("read staged rows from", path))?;
        let reader = StreamReader::try_new(std::io::Cursor::new(ipc), None)
            .map_err(|e| ParquetError::format(path, e))?;
        for batch in reader {
            each(
                u64::from_le_bytes(epoch),
                batch.map_err(|e| ParquetError::format(path, e))?,
            )?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(table: &str, first: u64, last: u64, len: u64) -> StagedFile {
        StagedFile {
            table: table.into(),
            partition: String::new(),
            first_epoch: first,
            last_epoch: last,
            len,
        }
    }

    fn found(table: &str, first: u64, len: u64) -> FoundStaging {
        FoundStaging {
            table: table.into(),
            partition: String::new(),
            first_epoch: first,
            len,
        }
    }

    #[test]
    fn names_round_trip() {
        let n = staging_name(42, 3);
        assert!(n.starts_with('.'), "hidden from readers");
        assert_eq!(parse_staging_name(&n), Some((42, 3)));
        assert_eq!(parse_staging_name("part-1-2-0.parquet"), None);
    }

    #[test]
    fn recovery_table() {
        let published: HashMap<(String, String), Vec<(u64, u64)>> =
            HashMap::from([(("t".to_string(), String::new()), vec![(1, 4)])]);
        // (name, committed, found, expected)
        let cases: Vec<(
            &str,
            Vec<StagedFile>,
            Vec<FoundStaging>,
            Result<Vec<Recovery>, ()>,
        )> = vec![
            ("nothing", vec![], vec![], Ok(vec![])),
            (
                "committed file, appended past the checkpoint: cut back",
                vec![staged("t", 5, 7, 300)],
                vec![found("t", 5, 420)],
                Ok(vec![Recovery::Resume(staged("t", 5, 7, 300))]),
            ),
            (
                "unknown file: its epochs are still in the outbox",
                vec![],
                vec![found("t", 8, 120)],
                Ok(vec![Recovery::Delete(found("t", 8, 120))]),
            ),
            (
                "rolled and published before the checkpoint saw it",
                vec![staged("t", 1, 4, 500)],
                vec![found("t", 1, 500)],
                Ok(vec![Recovery::Delete(found("t", 1, 500))]),
            ),
            (
                "rolled, published and removed",
                vec![staged("t", 1, 4, 500)],
                vec![],
                Ok(vec![]),
            ),
            (
                "committed rows lost",
                vec![staged("t", 5, 7, 300)],
                vec![],
                Err(()),
            ),
            (
                "committed rows cut short",
                vec![staged("t", 5, 7, 300)],
                vec![found("t", 5, 100)],
                Err(()),
            ),
            (
                "same first epoch in another table is another file",
                vec![staged("u", 5, 7, 300)],
                vec![found("t", 5, 300), found("u", 5, 300)],
                Ok(vec![
                    Recovery::Delete(found("t", 5, 300)),
                    Recovery::Resume(staged("u", 5, 7, 300)),
                ]),
            ),
        ];
        for (name, committed, on_disk, want) in cases {
            let got = plan_recovery(&committed, &on_disk, &published).map_err(|_| ());
            assert_eq!(got, want, "{name}");
        }
    }
}
