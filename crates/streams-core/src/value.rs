//! Output values, rows and schemas: what sinks receive.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// The type of an output column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ColumnType {
    /// `true` / `false`.
    Bool,
    /// 64-bit signed integer (counts, ids).
    Int,
    /// 64-bit float (money, averages).
    Float,
    /// UTF-8 string.
    Str,
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp,
    /// Days since the Unix epoch (a UTC date).
    Date,
}

impl ColumnType {
    /// The Arrow type that holds values of this type (one mapping for every batch,
    /// Parquet file and staged file).
    pub fn arrow_type(self) -> arrow::datatypes::DataType {
        use arrow::datatypes::{DataType, TimeUnit};
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Str => DataType::Utf8,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ColumnType::Date => DataType::Date32,
        }
    }
}

/// One output column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: ColumnType,
    /// Whether the column may hold [`Value::Null`].
    pub nullable: bool,
}

impl Column {
    /// A non-nullable column.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Column {
            name: name.into(),
            ty,
            nullable: false,
        }
    }

    /// A nullable column.
    pub fn nullable(name: impl Into<String>, ty: ColumnType) -> Self {
        Column {
            name: name.into(),
            ty,
            nullable: true,
        }
    }
}

/// The columns of one output table, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Columns in row order.
    pub columns: Vec<Column>,
}

impl Schema {
    /// Index of the column called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The Arrow schema of batches with these columns.
    pub fn arrow(&self) -> arrow::datatypes::SchemaRef {
        std::sync::Arc::new(arrow::datatypes::Schema::new(
            self.columns
                .iter()
                .map(|c| arrow::datatypes::Field::new(&c.name, c.ty.arrow_type(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }
}

/// One output value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    /// Absent.
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// String.
    Str(CompactString),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// Days since the Unix epoch.
    Date(i32),
}

/// One output row; its values follow the table's [`Schema`].
pub type Row = Vec<Value>;

/// A hashable, totally ordered value: what group keys and distinct sets are made of.
/// Floats are not allowed in keys (the topology builder refuses to group by them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyPart {
    /// Absent.
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer or timestamp.
    Int(i64),
    /// String.
    Str(CompactString),
}

impl KeyPart {
    /// The key part as an output value of the given column type.
    pub fn to_value(&self, ty: ColumnType) -> Value {
        match (self, ty) {
            (KeyPart::Null, _) => Value::Null,
            (KeyPart::Bool(b), _) => Value::Bool(*b),
            (KeyPart::Int(i), ColumnType::Timestamp) => Value::Timestamp(*i),
            (KeyPart::Int(i), ColumnType::Date) => Value::Date(*i as i32),
            (KeyPart::Int(i), _) => Value::Int(*i),
            (KeyPart::Str(s), _) => Value::Str(s.clone()),
        }
    }

    /// Text form used in Kafka keys (`a|b|c`).
    pub fn to_key_string(&self) -> String {
        match self {
            KeyPart::Null => String::new(),
            KeyPart::Bool(b) => b.to_string(),
            KeyPart::Int(i) => i.to_string(),
            KeyPart::Str(s) => s.to_string(),
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds, e.g. `2024-01-01T00:00:00.000Z`.
pub fn format_timestamp(ms: i64) -> String {
    let mut out = Vec::with_capacity(24);
    write_timestamp(ms, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Days since the epoch of 0000-01-01 and of 10000-01-01: the range written without
/// chrono (four-digit years).
const FAST_DAYS: std::ops::Range<i64> = -719_528..2_932_897;

/// Chrono's rendering, for the dates outside [`FAST_DAYS`].
fn chrono_timestamp(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => ms.to_string(),
    }
}

/// Chrono's rendering, for the dates outside [`FAST_DAYS`].
fn chrono_date(days: i32) -> String {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    match epoch.checked_add_signed(chrono::Duration::days(days as i64)) {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => days.to_string(),
    }
}

/// The civil date `(year, month, day)` of a day count since the epoch (Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn push_digits(out: &mut Vec<u8>, v: u32, width: usize) {
    let mut buf = [b'0'; 4];
    let mut v = v;
    for i in (0..width).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

fn push_ymd(out: &mut Vec<u8>, days: i64) {
    let (y, m, d) = civil_from_days(days);
    push_digits(out, y as u32, 4);
    out.push(b'-');
    push_digits(out, m, 2);
    out.push(b'-');
    push_digits(out, d, 2);
}

/// Appends [`format_timestamp`]'s text (without allocating for years 0–9999).
pub fn write_timestamp(ms: i64, out: &mut Vec<u8>) {
    let days = ms.div_euclid(86_400_000);
    if !FAST_DAYS.contains(&days) {
        out.extend_from_slice(chrono_timestamp(ms).as_bytes());
        return;
    }
    let in_day = ms.rem_euclid(86_400_000) as u32;
    push_ymd(out, days);
    out.push(b'T');
    push_digits(out, in_day / 3_600_000, 2);
    out.push(b':');
    push_digits(out, in_day / 60_000 % 60, 2);
    out.push(b':');
    push_digits(out, in_day / 1000 % 60, 2);
    out.push(b'.');
    push_digits(out, in_day % 1000, 3);
    out.push(b'Z');
}

/// Appends [`format_date`]'s text (without allocating for years 0–9999).
pub fn write_date(days: i32, out: &mut Vec<u8>) {
    if FAST_DAYS.contains(&i64::from(days)) {
        push_ymd(out, i64::from(days));
    } else {
        out.extend_from_slice(chrono_date(days).as_bytes());
    }
}

/// The UTC date (days since the epoch) of a timestamp in milliseconds.
pub fn date_of(ms: i64) -> i32 {
    // i64 → i32 cannot overflow for any timestamp chrono can represent (±262,000 years).
    ms.div_euclid(86_400_000) as i32
}

/// `YYYY-MM-DD` as days since the epoch (the inverse of [`format_date`]).
pub fn parse_date(s: &str) -> Option<i32> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// A point in time written as RFC 3339 (`2026-01-01T00:00:00Z`, any offset), as
/// `YYYY-MM-DD HH:MM:SS[.fff]` or `YYYY-MM-DDTHH:MM:SS[.fff]` without an offset (read
/// as UTC), or as a bare date (midnight UTC): milliseconds since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    parse_date(s).map(|d| d as i64 * 86_400_000)
}

/// Days since the epoch as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    let mut out = Vec::with_capacity(10);
    write_date(days, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

impl Value {
    /// Whether the value is of column type `ty` (NULL fits none: it is the absence of one).
    pub fn fits(&self, ty: ColumnType) -> bool {
        matches!(
            (self, ty),
            (Value::Bool(_), ColumnType::Bool)
                | (Value::Int(_), ColumnType::Int)
                | (Value::Float(_), ColumnType::Float)
                | (Value::Str(_), ColumnType::Str)
                | (Value::Timestamp(_), ColumnType::Timestamp)
                | (Value::Date(_), ColumnType::Date)
        )
    }

    /// The value as JSON: timestamps as RFC 3339 UTC strings, dates as `YYYY-MM-DD`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::Timestamp(ms) => serde_json::Value::String(format_timestamp(*ms)),
            Value::Date(d) => serde_json::Value::String(format_date(*d)),
        }
    }
}

/// Whether a JSON string of these bytes needs an escape: a control byte, `"` or `\\`
/// (checked eight bytes at a time).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        // A byte below 0x20, or equal to `"` (0x22) or `\\` (0x5c).
        if x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0
            || has_zero(x ^ (ONES * 0x22))
            || has_zero(x ^ (ONES * 0x5c))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// Appends `s` as a JSON string (quoted, escaped as serde_json escapes it).
pub fn write_json_str(s: &str, out: &mut Vec<u8>) {
    if !needs_escape(s.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

impl Value {
    /// Appends the value as JSON, the text of `serde_json`'s rendering of
    /// [`Value::to_json`] without building it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(i) => {
                let _ = serde_json::to_writer(&mut *out, i);
            }
            Value::Float(f) if f.is_finite() => {
                let _ = serde_json::to_writer(&mut *out, f);
            }
            Value::Float(_) => out.extend_from_slice(b"null"),
            Value::Str(s) => write_json_str(s, out),
            Value::Timestamp(ms) => {
                out.push(b'"');
                write_timestamp(*ms, out);
                out.push(b'"');
            }
            Value::Date(d) => {
                out.push(b'"');
                write_date(*d, out);
                out.push(b'"');
            }
        }
    }
}

/// Appends a row as a JSON object keyed by column name: the text of
/// `row_to_json(schema, row).to_string()`, written directly (the Kafka sink's record
/// values).
pub fn write_row_json(schema: &Schema, row: &Row, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (col, v)) in schema.columns.iter().zip(row).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&col.name, out);
        out.push(b':');
        v.write_json(out);
    }
    out.push(b'}');
}

/// A row as a JSON object keyed by column name.
pub fn row_to_json(schema: &Schema, row: &Row) -> serde_json::Value {
    let mut map = serde_json::Map::with_capacity(schema.columns.len());
    for (col, v) in schema.columns.iter().zip(row) {
        map.insert(col.name.clone(), v.to_json());
    }
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_dates_format_in_utc() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(date_of(1_700_000_000_123), 19675);
        assert_eq!(format_date(19675), "2023-11-14");
        assert_eq!(date_of(-1), -1);
        assert_eq!(format_date(-1), "1969-12-31");
        for d in [-1, 0, 19675, 20454] {
            assert_eq!(parse_date(&format_date(d)), Some(d));
        }
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026-1-1x"), None);
    }

    #[test]
    fn rows_render_as_json_objects() {
        let schema = Schema {
            columns: vec![
                Column::new("country", ColumnType::Str),
                Column::new("window_start", ColumnType::Timestamp),
                Column::new("event_date", ColumnType::Date),
                Column::new("revenue", ColumnType::Float),
            ],
        };
        let row = vec![
            Value::Str("US".into()),
            Value::Timestamp(60_000),
            Value::Date(0),
            Value::Float(12.5),
        ];
        assert_eq!(
            row_to_json(&schema, &row).to_string(),
            r#"{"country":"US","window_start":"1970-01-01T00:01:00.000Z","event_date":"1970-01-01","revenue":12.5}"#
        );
    }

    #[test]
    fn fast_timestamps_and_dates_match_chrono_at_the_edges() {
        for ms in [
            i64::MIN,
            -62_167_219_200_001,
            -62_167_219_200_000,
            -1,
            0,
            951_782_400_000, // 2000-02-29
            253_402_300_799_999,
            253_402_300_800_000,
            i64::MAX,
        ] {
            assert_eq!(format_timestamp(ms), chrono_timestamp(ms), "{ms}");
        }
        for d in [
            i32::MIN,
            -719_529,
            -719_528,
            -1,
            0,
            11_016,
            2_932_896,
            2_932_897,
            i32::MAX,
        ] {
            assert_eq!(format_date(d), chrono_date(d), "{d}");
        }
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Float),
            prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(-0.0)].prop_map(Value::Float),
            ".*".prop_map(|s: String| Value::Str(s.into())),
            any::<i64>().prop_map(Value::Timestamp),
            (-100_000_000_000_000i64..300_000_000_000_000).prop_map(Value::Timestamp),
            any::<i32>().prop_map(Value::Date),
            (-800_000i32..3_000_000).prop_map(Value::Date),
        ]
    }

    proptest::proptest! {
        #[test]
        fn rows_written_directly_are_the_json_of_row_to_json(
            cells in proptest::collection::vec(("[a-z\"\\\\\u{1}é]{1,6}", value()), 0..8),
        ) {
            let mut seen = std::collections::HashSet::new();
            let cells: Vec<_> = cells.into_iter().filter(|(n, _)| seen.insert(n.clone())).collect();
            let schema = Schema {
                columns: cells.iter().map(|(n, _)| Column::nullable(n.clone(), ColumnType::Str)).collect(),
            };
            let row: Row = cells.into_iter().map(|(_, v)| v).collect();
            let mut out = Vec::new();
            write_row_json(&schema, &row, &mut out);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), row_to_json(&schema, &row).to_string());
        }

        #[test]
        fn fast_timestamps_match_chrono(ms in proptest::prelude::any::<i64>(), near in -70_000_000_000_000i64..260_000_000_000_000) {
            proptest::prop_assert_eq!(format_timestamp(ms), chrono_timestamp(ms));
            proptest::prop_assert_eq!(format_timestamp(near), chrono_timestamp(near));
        }

        #[test]
        fn fast_dates_match_chrono(d in proptest::prelude::any::<i32>(), near in -800_000i32..3_000_000) {
            proptest::prop_assert_eq!(format_date(d), chrono_date(d));
            proptest::prop_assert_eq!(format_date(near), chrono_date(near));
        }
    }

    #[test]
    fn strings_needing_an_escape_are_found_at_every_position() {
        for len in 0..20 {
            let plain = "a".repeat(len);
            assert!(!needs_escape(plain.as_bytes()), "{len}");
            for pos in 0..len {
                for special in [0u8, 0x1f, b'"', b'\\'] {
                    let mut b = plain.clone().into_bytes();
                    b[pos] = special;
                    assert!(needs_escape(&b), "{len} {pos} {special}");
                }
                for fine in [0x20u8, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0xc3] {
                    let mut b = plain.clone().into_bytes();
                    b[pos] = fine;
                    assert!(!needs_escape(&b), "{len} {pos} {fine}");
                }
            }
        }
    }
}
