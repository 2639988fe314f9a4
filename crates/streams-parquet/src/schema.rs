//! Arrow schemas of output tables: timestamps are UTC milliseconds, counts int64,
//! money float64, dates date32.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use streams_core::{ColumnType, Row, Schema, Value};

/// The Arrow type of a column type.
pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Bool => DataType::Boolean,
        ColumnType::Int => DataType::Int64,
        ColumnType::Float => DataType::Float64,
        ColumnType::Str => DataType::Utf8,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        ColumnType::Date => DataType::Date32,
    }
}

/// The Arrow schema of an output table.
pub fn arrow_schema(schema: &Schema) -> SchemaRef {
    Arc::new(ArrowSchema::new(
        schema
            .columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.ty), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// Rows as one record batch of `schema`.
pub fn to_record_batch(
    schema: &Schema,
    arrow: &SchemaRef,
    rows: &[&Row],
) -> Result<RecordBatch, ArrowError> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.columns.len());
    for (i, col) in schema.columns.iter().enumerate() {
        let values = rows.iter().map(|r| r.get(i).unwrap_or(&Value::Null));
        let array: ArrayRef = match col.ty {
            ColumnType::Bool => {
                let mut b = BooleanBuilder::with_capacity(rows.len());
                values.for_each(|v| {
                    b.append_option(if let Value::Bool(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Int => {
                let mut b = Int64Builder::with_capacity(rows.len());
                values.for_each(|v| {
                    b.append_option(if let Value::Int(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Float => {
                let mut b = Float64Builder::with_capacity(rows.len());
                values.for_each(|v| {
                    b.append_option(match v {
                        Value::Float(x) => Some(*x),
                        Value::Int(x) => Some(*x as f64),
                        _ => None,
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Str => {
                let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
                values.for_each(|v| {
                    b.append_option(if let Value::Str(x) = v {
                        Some(x.as_str())
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Timestamp => {
                let mut b =
                    TimestampMillisecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
                values.for_each(|v| {
                    b.append_option(if let Value::Timestamp(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
            ColumnType::Date => {
                let mut b = Date32Builder::with_capacity(rows.len());
                values.for_each(|v| {
                    b.append_option(if let Value::Date(x) = v {
                        Some(*x)
                    } else {
                        None
                    })
                });
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    RecordBatch::try_new(arrow.clone(), columns)
}
