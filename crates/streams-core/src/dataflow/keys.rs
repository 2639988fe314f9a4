//! Reading key values out of Arrow columns: group keys, dedup keys and join keys are
//! made of [`KeyPart`]s (floats are not keys: the builder refuses them).

use arrow::array::{Array, ArrayRef, AsArray};
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

/// A hash of the key the `columns` hold at `row`: FNV-1a (64 bits) over the bytes of
/// [`append_key_bytes`], the same on every run, machine and version, so that it can
/// decide which task keeps a key's state. `buf` is scratch space.
pub fn key_hash(columns: &[ArrayRef], row: usize, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    for c in columns {
        append_key_bytes(c.as_ref(), row, buf);
    }
    buf.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};

    use super::*;

    #[test]
    fn key_hashes_are_fixed_and_equal_for_equal_keys() {
        let s: ArrayRef = Arc::new(StringArray::from(vec![
            Some("DE"),
            Some("FR"),
            Some("DE"),
            None,
        ]));
        let n: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 1, 1]));
        let cols = [s, n];
        let mut buf = Vec::new();
        let h: Vec<u64> = (0..4).map(|r| key_hash(&cols, r, &mut buf)).collect();
        assert_eq!(h[0], h[2]);
        assert_ne!(h[0], h[1]);
        assert_ne!(h[3], h[0]);
        // Fixed values: state is placed by them, so they must never change.
        assert_eq!(key_hash(&[], 0, &mut buf), 0xcbf2_9ce4_8422_2325);
        let one: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
        // FNV-1a of the bytes [1, b'a'] (present, then the string).
        assert_eq!(key_hash(&[one], 0, &mut buf), 0x082f_4307_b4e8_c4d7);
    }
}
