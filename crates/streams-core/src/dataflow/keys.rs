//! Reading key values out of Arrow columns: group keys, dedup keys and join keys are
//! made of [`KeyPart`]s (floats are not keys: the builder refuses them).

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimestampMillisecondType};

use crate::value::{ColumnType, KeyPart};

/// Whether values of this type can be keys (group, dedup, join, distinct).
pub fn is_keyable(ty: ColumnType) -> bool {
    ty != ColumnType::Float
}

/// The value at `row` as a key part.
pub fn key_part(array: &dyn Array, row: usize) -> KeyPart {
    if array.is_null(row) {
        return KeyPart::Null;
    }
    match array.data_type() {
        DataType::Utf8 => KeyPart::Str(array.as_string::<i32>().value(row).into()),
        DataType::Int64 => KeyPart::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::Timestamp(..) => {
            KeyPart::Int(array.as_primitive::<TimestampMillisecondType>().value(row))
        }
        DataType::Date32 => KeyPart::Int(array.as_primitive::<Date32Type>().value(row) as i64),
        DataType::Boolean => KeyPart::Bool(array.as_boolean().value(row)),
        // Not keyable; the builder never lets one through.
        _ => KeyPart::Null,
    }
}

/// Appends the bytes of the value at `row` to `out`: a tag (absent / present), then the
/// value, so that NULL and the empty string differ.
pub fn append_key_bytes(array: &dyn Array, row: usize, out: &mut Vec<u8>) {
    if array.is_null(row) {
        out.push(0);
        return;
    }
    out.push(1);
    match array.data_type() {
        DataType::Utf8 => out.extend_from_slice(array.as_string::<i32>().value(row).as_bytes()),
        DataType::Int64 => {
            out.extend_from_slice(&array.as_primitive::<Int64Type>().value(row).to_be_bytes())
        }
        DataType::Timestamp(..) => out.extend_from_slice(
            &array
                .as_primitive::<TimestampMillisecondType>()
                .value(row)
                .to_be_bytes(),
        ),
        DataType::Date32 => {
            out.extend_from_slice(&array.as_primitive::<Date32Type>().value(row).to_be_bytes())
        }
        DataType::Boolean => out.push(array.as_boolean().value(row) as u8),
        _ => {}
    }
}
