//! [`Batch`]: the rows in flight between processors.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch, UInt32Array};
use arrow::error::ArrowError;

/// Rows in flight: an Arrow record batch, and per row its event time, the watermark that
/// was in force when the row entered the topology, and where it came from.
///
/// The per-row watermark keeps batch processing exact: a processor decides lateness
/// (and a session whether it is still open) with the watermark the row would have seen
/// had the rows been processed one at a time, so results do not depend on how records
/// were grouped into batches.
#[derive(Debug, Clone)]
pub struct Batch {
    data: RecordBatch,
    time: Arc<[i64]>,
    watermark: Arc<[i64]>,
    origin: Arc<[Origin]>,
}

/// Where a row came from: its input partition and offset (rows a processor computes,
/// such as window results, have partition `-1` and a sequence number). Ties in `first`
/// and `last` break by (event time, origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// Input partition, `-1` for computed rows.
    pub partition: i32,
    /// Offset in the partition, or a sequence number.
    pub offset: i64,
}

impl Batch {
    /// A batch; `time`, `watermark` and `origin` have one entry per row of `data`.
    pub fn new(
        data: RecordBatch,
        time: Vec<i64>,
        watermark: Vec<i64>,
        origin: Vec<Origin>,
    ) -> Result<Batch, ArrowError> {
        let n = data.num_rows();
        if time.len() != n || watermark.len() != n || origin.len() != n {
            return Err(ArrowError::InvalidArgumentError(format!(
                "batch of {n} rows with {} times, {} watermarks and {} origins",
                time.len(),
                watermark.len(),
                origin.len()
            )));
        }
        Ok(Batch {
            data,
            time: time.into(),
            watermark: watermark.into(),
            origin: origin.into(),
        })
    }

    /// Rows computed at one watermark (window results): all rows share `watermark`,
    /// their origins are `(-1, first_seq + i)`.
    pub fn computed(
        data: RecordBatch,
        time: Vec<i64>,
        watermark: i64,
        first_seq: i64,
    ) -> Result<Batch, ArrowError> {
        let n = data.num_rows();
        let origin = (0..n as i64)
            .map(|i| Origin {
                partition: -1,
                offset: first_seq + i,
            })
            .collect();
        Batch::new(data, time, vec![watermark; n], origin)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.num_rows()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The columns.
    pub fn data(&self) -> &RecordBatch {
        &self.data
    }

    /// Event time (ms) per row.
    pub fn time(&self) -> &[i64] {
        &self.time
    }

    /// The watermark in force when each row entered the topology.
    pub fn watermark(&self) -> &[i64] {
        &self.watermark
    }

    /// Origin per row.
    pub fn origin(&self) -> &[Origin] {
        &self.origin
    }

    /// The same rows with other columns (a `map`).
    pub fn with_data(&self, data: RecordBatch) -> Result<Batch, ArrowError> {
        if data.num_rows() != self.len() {
            return Err(ArrowError::InvalidArgumentError(format!(
                "new columns have {} rows, the batch {}",
                data.num_rows(),
                self.len()
            )));
        }
        Ok(Batch {
            data,
            time: self.time.clone(),
            watermark: self.watermark.clone(),
            origin: self.origin.clone(),
        })
    }

    /// The rows where `keep` is true (NULL counts as false).
    pub fn filter(&self, keep: &BooleanArray) -> Result<Batch, ArrowError> {
        let data = arrow::compute::filter_record_batch(&self.data, keep)?;
        let pick = |i: usize| keep.is_valid(i) && keep.value(i);
        let time: Vec<i64> = (0..self.len())
            .filter(|&i| pick(i))
            .map(|i| self.time[i])
            .collect();
        let watermark = (0..self.len())
            .filter(|&i| pick(i))
            .map(|i| self.watermark[i])
            .collect();
        let origin = (0..self.len())
            .filter(|&i| pick(i))
            .map(|i| self.origin[i])
            .collect();
        Batch::new(data, time, watermark, origin)
    }

    /// The rows at `indices`, in that order.
    pub fn take(&self, indices: &[u32]) -> Result<Batch, ArrowError> {
        let idx = UInt32Array::from(indices.to_vec());
        let columns = self
            .data
            .columns()
            .iter()
            .map(|c| arrow::compute::take(c.as_ref(), &idx, None))
            .collect::<Result<Vec<_>, _>>()?;
        let data = RecordBatch::try_new(self.data.schema(), columns)?;
        let at = |v: &[i64]| indices.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
        Batch::new(
            data,
            at(&self.time),
            at(&self.watermark),
            indices.iter().map(|&i| self.origin[i as usize]).collect(),
        )
    }
}
