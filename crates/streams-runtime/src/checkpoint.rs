//! The checkpoint record stored in the `meta` column family, and the pure rule that
//! turns it into start positions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use streams_core::time::WatermarkState;

use crate::ledger::Ledger;

/// Key of the checkpoint record in the `meta` column family.
pub const CHECKPOINT_KEY: &[u8] = b"checkpoint";
/// Version of the checkpoint record's and the state's layout (4: each task's state under
/// its task prefix, [`crate::tasks`]).
pub const CHECKPOINT_FORMAT: u32 = 4;
/// Key of the checkpoint's wall-clock time (ms, big-endian) in the `meta` column family,
/// written in the same batch (state written before it existed has none).
pub const CHECKPOINT_TIME_KEY: &[u8] = b"checkpoint_time";

/// Decodes a checkpoint record; the format comes first in every layout and is checked
/// before the rest.
pub fn decode_meta(
    bytes: &[u8],
    dir: &std::path::Path,
) -> Result<CheckpointMeta, crate::RuntimeError> {
    let corrupt = |e: &dyn std::fmt::Display| crate::RuntimeError::Corrupt {
        path: dir.to_path_buf(),
        what: "checkpoint",
        message: e.to_string(),
    };
    let config = bincode::config::standard();
    let (format, _): (u32, usize) =
        bincode::serde::decode_from_slice(bytes, config).map_err(|e| corrupt(&e))?;
    if format != CHECKPOINT_FORMAT {
        return Err(crate::RuntimeError::StateFormat {
            path: dir.to_path_buf(),
            found: format,
            expected: CHECKPOINT_FORMAT,
        });
    }
    bincode::serde::decode_from_slice(bytes, config)
        .map(|(m, _)| m)
        .map_err(|e| corrupt(&e))
}

/// A state directory as `streams-app status` shows it, read without taking it over.
#[derive(Debug, Clone)]
pub struct Status {
    /// The last checkpoint (none before the first).
    pub checkpoint: Option<CheckpointMeta>,
    /// Its wall-clock time, ms.
    pub written_at_ms: Option<i64>,
    /// Outbox entries not yet forgotten, and their bytes.
    pub outbox: (u64, u64),
    /// Bytes of the state's files.
    pub size_on_disk: u64,
}

/// Reads the last checkpoint of the state at `dir` (read-only: the app may be running).
pub fn read_status(dir: &std::path::Path) -> Result<Status, crate::RuntimeError> {
    let snap = streams_state::read_snapshot(dir)?;
    let checkpoint = match snap.meta.get(CHECKPOINT_KEY) {
        Some(bytes) => Some(decode_meta(bytes, dir)?),
        None => None,
    };
    let written_at_ms = snap
        .meta
        .get(CHECKPOINT_TIME_KEY)
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(i64::from_be_bytes);
    Ok(Status {
        checkpoint,
        written_at_ms,
        outbox: (snap.outbox_entries, snap.outbox_bytes),
        size_on_disk: snap.size_on_disk,
    })
}

/// The checkpoint record: written in the same batch as the state it describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Layout version.
    pub format: u32,
    /// Fingerprint of the topology that wrote the state.
    pub fingerprint: String,
    /// Number of this checkpoint (the outbox epoch).
    pub epoch: u64,
    /// Input partitions, indexed by their watermark id.
    pub partitions: Vec<(String, i32)>,
    /// Next offset to read per input partition (same order as `partitions`).
    pub offsets: Vec<i64>,
    /// Watermark state.
    pub watermark: WatermarkState,
    /// Ledger counts.
    pub ledger: Ledger,
    /// Duplicate and late counts per processor.
    pub counters: BTreeMap<String, (u64, u64, u64)>,
    /// Sink positions: per output topic-partition, the offset up to which this app is
    /// known to have written (where a recovery scan starts).
    pub sink_positions: Vec<(String, i32, i64)>,
    /// Opaque state of each sink by name (e.g. the Parquet sink's staged files and their
    /// committed lengths), written atomically with the outbox it accounts for.
    pub sink_state: BTreeMap<String, Vec<u8>>,
}

/// Where a partition starts when there is no usable checkpoint position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// The checkpoint's position (refused when there is none, see [`start_offset`]).
    Checkpoint,
    /// The oldest retained offset.
    Earliest,
    /// The end of the partition: only new records.
    Latest,
}

/// Where to start reading a partition, and what to report about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The offset to read next.
    pub offset: i64,
    /// Records between the checkpoint and the oldest retained offset that retention
    /// deleted before they were processed.
    pub skipped: u64,
    /// The checkpoint is past the end the broker reported. Some brokers under-report
    /// `ListOffsets` (the checkpoint is then right); on Kafka it means the topic was
    /// recreated, and the fetch fails with offset-out-of-range, which stops the app.
    pub beyond_reported_end: bool,
}

/// Where to start reading a partition whose retained offsets are `[low, high)` as the
/// broker reports them. A checkpointed position always wins; if retention deleted records
/// past it, reading resumes at `low` and the skipped count is reported.
pub fn start_offset(checkpointed: Option<i64>, from: StartFrom, low: i64, high: i64) -> Start {
    let start = |offset, skipped, beyond| Start {
        offset,
        skipped,
        beyond_reported_end: beyond,
    };
    match checkpointed {
        Some(o) if o < low => start(low, (low - o) as u64, false),
        Some(o) => start(o, 0, o > high),
        None => match from {
            StartFrom::Latest => start(high, 0, false),
            StartFrom::Earliest | StartFrom::Checkpoint => start(low, 0, false),
        },
    }
}

/// Start positions chosen by `reset-state --to` for the next run of a state that has none
/// (a file in the state directory, so deleting the state deletes it too). Positions in
/// the checkpoint always win over these.
pub const START_POSITIONS_FILE: &str = "start-positions.json";

/// Writes the start positions `(topic, partition, offset)` into the (new) state
/// directory `dir`, durably: written to a temp file, synced, renamed.
pub fn write_start_positions(
    dir: &std::path::Path,
    positions: &[(String, i32, i64)],
) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{START_POSITIONS_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(positions).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(START_POSITIONS_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}

/// The start positions `reset-state --to` left in `dir` (empty if none).
pub fn read_start_positions(
    dir: &std::path::Path,
) -> std::io::Result<BTreeMap<(String, i32), i64>> {
    let bytes = match std::fs::read(dir.join(START_POSITIONS_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let list: Vec<(String, i32, i64)> =
        serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
    Ok(list.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("app");
        assert!(read_start_positions(&d).unwrap().is_empty(), "none yet");
        write_start_positions(&d, &[("in".into(), 0, 5), ("in".into(), 1, 9)]).unwrap();
        let got = read_start_positions(&d).unwrap();
        assert_eq!(got.get(&("in".to_string(), 1)), Some(&9));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn start_offset_table() {
        use StartFrom::*;
        // (checkpoint, from, low, high) -> (offset, skipped, beyond reported end)
        let cases = [
            (None, Earliest, 0, 10, (0, 0, false)),
            (None, Latest, 0, 10, (10, 0, false)),
            (None, Earliest, 5, 10, (5, 0, false)),
            (None, Checkpoint, 3, 10, (3, 0, false)),
            (Some(7), Earliest, 0, 10, (7, 0, false)),
            (Some(7), Latest, 0, 10, (7, 0, false)),
            (Some(10), Latest, 0, 10, (10, 0, false)),
            (Some(2), Earliest, 5, 10, (5, 3, false)),
            (Some(11), Earliest, 0, 10, (11, 0, true)),
        ];
        for (i, (cp, from, low, high, (offset, skipped, beyond))) in cases.into_iter().enumerate() {
            assert_eq!(
                start_offset(cp, from, low, high),
                Start {
                    offset,
                    skipped,
                    beyond_reported_end: beyond
                },
                "case {i}"
            );
        }
    }
}
