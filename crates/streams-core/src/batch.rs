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
    update: bool,
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
            update: false,
        })
    }

    /// Marks the rows as intermediate results of still-open windows (`emit = "update"`):
    /// Kafka and console sinks take them, Parquet and CSV sinks keep final rows only.
    pub fn into_update(mut self) -> Batch {
        self.update = true;
        self
    }

    /// Whether the rows are updates of open windows rather than final.
    pub fn is_update(&self) -> bool {
        self.update
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
            update: self.update,
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
        let b = Batch::new(data, time, watermark, origin)?;
        Ok(if self.update { b.into_update() } else { b })
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
        let b = Batch::new(
            data,
            at(&self.time),
            at(&self.watermark),
            indices.iter().map(|&i| self.origin[i as usize]).collect(),
        )?;
        Ok(if self.update { b.into_update() } else { b })
    }
}

/// Rows of [`Value`](crate::value::Value)s as an Arrow batch of `schema` (a value of
/// the wrong type for its column becomes NULL).
pub fn rows_to_record_batch(
    schema: &crate::value::Schema,
    rows: &[crate::value::Row],
) -> Result<RecordBatch, ArrowError> {
    use crate::value::{ColumnType, Value};
    use arrow::array::{
        ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
        TimestampMillisecondBuilder,
    };
    let n = rows.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.columns.len());
    for (c, col) in schema.columns.iter().enumerate() {
        let cell = |r: &crate::value::Row| r.get(c).unwrap_or(&Value::Null).clone();
        let array: ArrayRef = match col.ty {
            ColumnType::Bool => {
                let mut b = BooleanBuilder::with_capacity(n);
                for r in rows {
                    b.append_option(match cell(r) {
                        Value::Bool(v) => Some(v),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            ColumnType::Int => {
                let mut b = Int64Builder::with_capacity(n);
                for r in rows {
                    b.append_option(match cell(r) {
                        Value::Int(v) => Some(v),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            ColumnType::Float => {
                let mut b = Float64Builder::with_capacity(n);
                for r in rows {
                    b.append_option(match cell(r) {
                        Value::Float(v) => Some(v),
                        Value::Int(v) => Some(v as f64),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            ColumnType::Str => {
                let mut b = StringBuilder::with_capacity(n, n * 8);
                for r in rows {
                    match cell(r) {
                        Value::Str(v) => b.append_value(v),
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            ColumnType::Timestamp => {
                let mut b = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
                for r in rows {
                    b.append_option(match cell(r) {
                        Value::Timestamp(v) | Value::Int(v) => Some(v),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
            ColumnType::Date => {
                let mut b = Date32Builder::with_capacity(n);
                for r in rows {
                    b.append_option(match cell(r) {
                        Value::Date(v) => Some(v),
                        _ => None,
                    });
                }
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    RecordBatch::try_new_with_options(
        schema.arrow(),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
    )
}

/// The values of row `row` of `data` (what sinks that take rows receive).
pub fn record_batch_rows(data: &RecordBatch) -> Vec<crate::value::Row> {
    (0..data.num_rows())
        .map(|r| {
            data.columns()
                .iter()
                .map(|c| crate::dataflow::aggregate::value_at(c.as_ref(), r))
                .collect()
        })
        .collect()
}
