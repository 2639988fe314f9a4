//! [`Batch`]: the rows in flight between processors.

use std::sync::Arc;

use arrow::array::{Array, BooleanArray, RecordBatch};
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

    /// Rows picked from several batches of the same columns: `(batch, row)` in the
    /// order given (a key group's rows of every partition, in arrival order). With
    /// `read` (sorted column indexes), only those columns are gathered: the others are
    /// all NULL (and their fields nullable), for a reader that reads just `read`.
    pub fn interleave(
        batches: &[&Batch],
        indices: &[(usize, usize)],
        read: Option<&[usize]>,
    ) -> Result<Batch, ArrowError> {
        let datas: Vec<&RecordBatch> = batches.iter().map(|b| &b.data).collect();
        let data = match read {
            None => arrow::compute::interleave_record_batch(&datas, indices)?,
            Some(read) => {
                let Some(first) = datas.first() else {
                    return Err(ArrowError::InvalidArgumentError(
                        "interleave of no batches".into(),
                    ));
                };
                let schema = first.schema();
                let mut fields = Vec::with_capacity(schema.fields().len());
                let mut columns = Vec::with_capacity(schema.fields().len());
                for (i, field) in schema.fields().iter().enumerate() {
                    if read.binary_search(&i).is_ok() {
                        let arrays: Vec<&dyn arrow::array::Array> =
                            datas.iter().map(|d| d.column(i).as_ref()).collect();
                        columns.push(arrow::compute::interleave(&arrays, indices)?);
                        fields.push(field.clone());
                    } else {
                        columns.push(arrow::array::new_null_array(
                            field.data_type(),
                            indices.len(),
                        ));
                        fields.push(Arc::new(field.as_ref().clone().with_nullable(true)));
                    }
                }
                let schema = Arc::new(arrow::datatypes::Schema::new(fields));
                let options =
                    arrow::array::RecordBatchOptions::new().with_row_count(Some(indices.len()));
                RecordBatch::try_new_with_options(schema, columns, &options)?
            }
        };
        let time = indices.iter().map(|&(b, r)| batches[b].time[r]).collect();
        let watermark = indices
            .iter()
            .map(|&(b, r)| batches[b].watermark[r])
            .collect();
        let origin = indices.iter().map(|&(b, r)| batches[b].origin[r]).collect();
        Batch::new(data, time, watermark, origin)
    }

    /// The rows where `keep` is true (NULL counts as false).
    pub fn filter(&self, keep: &BooleanArray) -> Result<Batch, ArrowError> {
        let data = arrow::compute::filter_record_batch(&self.data, keep)?;
        let kept: Vec<usize> = (0..self.len())
            .filter(|&i| keep.is_valid(i) && keep.value(i))
            .collect();
        let time = kept.iter().map(|&i| self.time[i]).collect();
        let watermark = kept.iter().map(|&i| self.watermark[i]).collect();
        let origin = kept.iter().map(|&i| self.origin[i]).collect();
        let b = Batch::new(data, time, watermark, origin)?;
        Ok(if self.update { b.into_update() } else { b })
    }
}

/// Rows of [`Value`](crate::value::Value)s as an Arrow batch of `schema` (a value of
/// the wrong type for its column becomes NULL).
pub fn rows_to_record_batch(
    schema: &crate::value::Schema,
    rows: &[crate::value::Row],
) -> Result<RecordBatch, ArrowError> {
    let refs: Vec<&crate::value::Row> = rows.iter().collect();
    let all: Vec<usize> = (0..schema.columns.len()).collect();
    rows_to_record_batch_of(schema, &all, &schema.arrow(), &refs)
}

/// The columns `columns_of` of rows (of `schema`) as one batch of `arrow` (whose
/// fields are those columns); a value of the wrong type for its column becomes NULL.
pub fn rows_to_record_batch_of(
    schema: &crate::value::Schema,
    columns_of: &[usize],
    arrow: &arrow::datatypes::SchemaRef,
    rows: &[&crate::value::Row],
) -> Result<RecordBatch, ArrowError> {
    use crate::value::{ColumnType, Value};
    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
        TimestampMillisecondArray,
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(columns_of.len());
    for &i in columns_of {
        let values = rows.iter().map(|r| r.get(i).unwrap_or(&Value::Null));
        let array: ArrayRef = match schema.columns[i].ty {
            ColumnType::Bool => Arc::new(
                values
                    .map(|v| match v {
                        Value::Bool(x) => Some(*x),
                        _ => None,
                    })
                    .collect::<BooleanArray>(),
            ),
            ColumnType::Int => Arc::new(
                values
                    .map(|v| match v {
                        Value::Int(x) => Some(*x),
                        _ => None,
                    })
                    .collect::<Int64Array>(),
            ),
            ColumnType::Float => Arc::new(
                values
                    .map(|v| match v {
                        Value::Float(x) => Some(*x),
                        Value::Int(x) => Some(*x as f64),
                        _ => None,
                    })
                    .collect::<Float64Array>(),
            ),
            ColumnType::Str => Arc::new(
                values
                    .map(|v| match v {
                        Value::Str(x) => Some(x.as_str()),
                        _ => None,
                    })
                    .collect::<StringArray>(),
            ),
            ColumnType::Timestamp => Arc::new(
                values
                    .map(|v| match v {
                        Value::Timestamp(x) | Value::Int(x) => Some(*x),
                        _ => None,
                    })
                    .collect::<TimestampMillisecondArray>()
                    .with_timezone("UTC"),
            ),
            ColumnType::Date => Arc::new(
                values
                    .map(|v| match v {
                        Value::Date(x) => Some(*x),
                        _ => None,
                    })
                    .collect::<Date32Array>(),
            ),
        };
        columns.push(array);
    }
    RecordBatch::try_new_with_options(
        arrow.clone(),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
}

/// `n` copies of `v` as a column of type `ty` (an integer widens to a double); `None`
/// when `v` is of another type.
pub fn constant_array(
    v: &crate::value::Value,
    ty: crate::value::ColumnType,
    n: usize,
) -> Option<arrow::array::ArrayRef> {
    use crate::value::{Column, ColumnType, Schema, Value};
    let v = match (v, ty) {
        (Value::Int(i), ColumnType::Float) => Value::Float(*i as f64),
        (Value::Null, _) => Value::Null,
        (v, ty) if v.fits(ty) => v.clone(),
        _ => return None,
    };
    let one = rows_to_record_batch(
        &Schema {
            columns: vec![Column::nullable("v", ty)],
        },
        &[vec![v]],
    )
    .ok()?;
    arrow::compute::take(
        one.column(0),
        &arrow::array::UInt32Array::from(vec![0u32; n]),
        None,
    )
    .ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Column, ColumnType, Schema, Value};

    fn batch(rows: &[(&str, i64, &str)], partition: i32) -> Batch {
        let schema = Schema {
            columns: vec![
                Column::new("a", ColumnType::Str),
                Column::new("n", ColumnType::Int),
                Column::new("b", ColumnType::Str),
            ],
        };
        let rows: Vec<_> = rows
            .iter()
            .map(|(a, n, b)| {
                vec![
                    Value::Str((*a).into()),
                    Value::Int(*n),
                    Value::Str((*b).into()),
                ]
            })
            .collect();
        let data = rows_to_record_batch(&schema, &rows).unwrap();
        let n = rows.len();
        let origin = (0..n as i64)
            .map(|offset| Origin { partition, offset })
            .collect();
        Batch::new(data, (0..n as i64).collect(), vec![7; n], origin).unwrap()
    }

    #[test]
    fn interleave_gathers_the_columns_read_and_leaves_the_others_null() {
        let x = batch(&[("x0", 0, "long x0"), ("x1", 1, "long x1")], 0);
        let y = batch(&[("y0", 10, "long y0")], 1);
        let order = [(1, 0), (0, 1), (0, 0)];
        let all = Batch::interleave(&[&x, &y], &order, None).unwrap();
        let some = Batch::interleave(&[&x, &y], &order, Some(&[1])).unwrap();
        for b in [&all, &some] {
            assert_eq!(b.time(), &[0, 1, 0]);
            assert_eq!(
                b.origin()[0],
                Origin {
                    partition: 1,
                    offset: 0
                }
            );
            assert_eq!(b.data().column(1), all.data().column(1));
        }
        assert_eq!(all.data().column(2).null_count(), 0);
        assert_eq!(all.data().schema(), x.data().schema());
        for c in [0, 2] {
            assert_eq!(some.data().column(c).null_count(), 3);
            assert_eq!(
                some.data().column(c).data_type(),
                &arrow::datatypes::DataType::Utf8
            );
            assert!(some.data().schema().field(c).is_nullable());
        }
        assert!(!some.data().schema().field(1).is_nullable());
    }
}
