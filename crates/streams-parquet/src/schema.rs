//! Arrow schemas of output tables: timestamps are UTC milliseconds, counts int64,
//! money float64, dates date32.

use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use streams_core::{ColumnType, Row, Schema};

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

/// The columns `columns_of` of rows (of `schema`) as one record batch of `arrow`.
pub use streams_core::batch::rows_to_record_batch_of as to_record_batch_of;
