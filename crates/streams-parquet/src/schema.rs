//! Arrow schemas of output tables: timestamps are UTC milliseconds, counts int64,
//! money float64, dates date32.

use arrow::datatypes::{DataType, SchemaRef};
use streams_core::{ColumnType, Schema};

/// The Arrow type of a column type (one mapping, in `streams-core`).
pub fn arrow_type(ty: ColumnType) -> DataType {
    ty.arrow_type()
}

/// The Arrow schema of an output table.
pub fn arrow_schema(schema: &Schema) -> SchemaRef {
    schema.arrow()
}
