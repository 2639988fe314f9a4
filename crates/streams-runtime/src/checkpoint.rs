//! The checkpoint record stored in the `meta` column family, and the pure rule that
//! turns it into start positions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use streams_core::time::WatermarkState;

use crate::ledger::Ledger;

/// Key of the checkpoint record in the `meta` column family.
pub const CHECKPOINT_KEY: &[u8] = b"checkpoint";
/// Version of the checkpoint record's layout.
pub const CHECKPOINT_FORMAT: u32 = 1;

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
    pub counters: BTreeMap<String, (u64, u64)>,
    /// Sink positions: per output topic-partition, the offset up to which this app is
    /// known to have written (where a recovery scan starts).
    pub sink_positions: Vec<(String, i32, i64)>,
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

/// Why a start position cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// The checkpoint is ahead of the partition's end: the topic was recreated or truncated.
    AheadOfLog {
        /// Checkpointed offset.
        checkpoint: i64,
        /// Partition end.
        high: i64,
    },
}

/// Where to start reading a partition whose retained offsets are `[low, high)`.
///
/// A checkpointed position always wins; if retention deleted records past it, reading
/// resumes at `low` and the skipped count is returned so it can be reported.
pub fn start_offset(
    checkpointed: Option<i64>,
    from: StartFrom,
    low: i64,
    high: i64,
) -> Result<(i64, u64), StartError> {
    match checkpointed {
        Some(o) if o > high => Err(StartError::AheadOfLog {
            checkpoint: o,
            high,
        }),
        Some(o) if o < low => Ok((low, (low - o) as u64)),
        Some(o) => Ok((o, 0)),
        None => match from {
            StartFrom::Latest => Ok((high, 0)),
            StartFrom::Earliest | StartFrom::Checkpoint => Ok((low, 0)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_offset_table() {
        use StartFrom::*;
        let cases = [
            (None, Earliest, 0, 10, Ok((0, 0))),
            (None, Latest, 0, 10, Ok((10, 0))),
            (None, Earliest, 5, 10, Ok((5, 0))),
            (None, Checkpoint, 3, 10, Ok((3, 0))),
            (Some(7), Earliest, 0, 10, Ok((7, 0))),
            (Some(7), Latest, 0, 10, Ok((7, 0))),
            (Some(10), Latest, 0, 10, Ok((10, 0))),
            (Some(2), Earliest, 5, 10, Ok((5, 3))),
            (
                Some(11),
                Earliest,
                0,
                10,
                Err(StartError::AheadOfLog {
                    checkpoint: 11,
                    high: 10,
                }),
            ),
        ];
        for (i, (cp, from, low, high, expected)) in cases.into_iter().enumerate() {
            assert_eq!(start_offset(cp, from, low, high), expected, "case {i}");
        }
    }
}
