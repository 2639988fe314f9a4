//! Arrow schemas of output tables: timestamps are UTC milliseconds, counts int64,
//! money float64, dates date32.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use streams_core::{ColumnType, Row, Schema, Value};

/// The Arrow type of a column type (one mapping, in `streams-core`).
pub fn arrow_type(ty: ColumnType) -> DataType {
    ty.arrow_type()
}

/// The Arrow schema of an output table.
pub fn arrow_schema(schema: &Schema) -> SchemaRef {
    schema.arrow()
}

/// Rows as one record batch of `schema`.
pub fn to_record_batch(
    schema: &Schema,
    arrow: &SchemaRef,
    rows: &[&Row],
) -> Result<RecordBatch, ArrowError> {
    let all: Vec<usize> = (0..schema.columns.len()).collect();
    to_record_batch_of(schema, &all, arrow, rows)
}

/// The columns `columns` of rows (of `schema`) as one record batch of `arrow`.
pub fn to_record_batch_of(
    schema: &Schema,
    columns_of: &[usize],
    arrow: &SchemaRef,
    rows: &[&Row],
) -> Result<RecordBatch, ArrowError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(columns_of.len());
    for &i in columns_of {
        let col = &schema.columns[i];
        let values = rows.iter().map(|r| r.get(i).unwrap_or(&Value::Null));
        let array: ArrayRef = match col.ty {
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
                        Value::Timestamp(x) => Some(*x),
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
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
}
