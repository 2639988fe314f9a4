//! Loading dimension tables: one loader for CSV (header row; column types declared or
//! inferred) and Parquet (types from the file). Every problem names the file.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::DataType;
use streams_core::batch::rows_to_record_batch;
use streams_core::dataflow::DimTable;
use streams_core::value::{parse_date, parse_timestamp, Column, ColumnType, Schema, Value};

/// The one boolean rule of dimension files (`true`/`false`, `t`/`f`, `yes`/`no`,
/// `y`/`n`, `1`/`0`, any case). A column of only `1` and `0` is inferred as bigint;
/// declare it `boolean` in `types` to read it as a flag.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

fn infer(values: &[&str]) -> ColumnType {
    let present: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
    if present.is_empty() {
        return ColumnType::Str;
    }
    if present.iter().all(|v| v.parse::<i64>().is_ok()) {
        ColumnType::Int
    } else if present.iter().all(|v| v.parse::<f64>().is_ok()) {
        ColumnType::Float
    } else if present.iter().all(|v| parse_bool(v).is_some()) {
        ColumnType::Bool
    } else {
        ColumnType::Str
    }
}

fn cell(v: &str, ty: ColumnType) -> Option<Value> {
    if v.is_empty() {
        return Some(Value::Null);
    }
    Some(match ty {
        ColumnType::Str => Value::Str(v.into()),
        ColumnType::Int => Value::Int(v.parse().ok()?),
        ColumnType::Float => Value::Float(v.parse().ok()?),
        ColumnType::Bool => Value::Bool(parse_bool(v)?),
        ColumnType::Timestamp => Value::Timestamp(parse_timestamp(v)?),
        ColumnType::Date => Value::Date(parse_date(v)?),
    })
}

/// Loads `path` (`.csv` or `.parquet`); `types` fixes CSV column types.
pub fn load_table(
    path: &Path,
    types: &BTreeMap<String, ColumnType>,
) -> Result<Arc<DimTable>, Vec<String>> {
    let shown = path.display().to_string();
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if is_parquet {
        load_parquet(path, &shown).map_err(|e| vec![e])
    } else {
        load_csv(path, &shown, types)
    }
}

fn load_csv(
    path: &Path,
    shown: &str,
    types: &BTreeMap<String, ColumnType>,
) -> Result<Arc<DimTable>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| {
            vec![format!(
                "{shown}: cannot read dimension file: {}",
                io_message(&e)
            )]
        })?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| vec![format!("{shown}: {e}")])?
        .iter()
        .map(str::to_string)
        .collect();
    let mut errors = Vec::new();
    for name in types.keys() {
        if !headers.contains(name) {
            errors.push(format!(
                "{shown}: `types` names `{name}`, which is not a column (columns: {})",
                headers.join(", ")
            ));
        }
    }
    let mut records = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        match rec {
            Ok(r) => records.push(r),
            Err(e) => {
                errors.push(format!("{shown}: row {}: {e}", i + 2));
                if errors.len() > 20 {
                    break;
                }
            }
        }
    }
    let columns: Vec<Column> = headers
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let ty = types.get(name).copied().unwrap_or_else(|| {
                let values: Vec<&str> = records.iter().map(|r| r.get(c).unwrap_or("")).collect();
                infer(&values)
            });
            Column::nullable(name.clone(), ty)
        })
        .collect();
    let mut rows = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let mut row = Vec::with_capacity(columns.len());
        for (c, col) in columns.iter().enumerate() {
            let v = r.get(c).unwrap_or("");
            match cell(v, col.ty) {
                Some(x) => row.push(x),
                None => {
                    errors.push(format!(
                        "{shown}: row {}: column `{}`: `{v}` is not a {}",
                        i + 2,
                        col.name,
                        streams_core::input::type_word(col.ty)
                    ));
                    row.push(Value::Null);
                }
            }
        }
        rows.push(row);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let schema = Schema { columns };
    let data = rows_to_record_batch(&schema, &rows).map_err(|e| vec![format!("{shown}: {e}")])?;
    Ok(Arc::new(DimTable {
        origin: shown.to_string(),
        schema,
        data,
    }))
}

fn load_parquet(path: &Path, shown: &str) -> Result<Arc<DimTable>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("{shown}: cannot read dimension file: {e}"))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| format!("{shown}: not a readable Parquet file: {e}"))?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| format!("{shown}: {e}"))?);
    }
    let Some(first) = batches.first() else {
        return Err(format!("{shown}: the file holds no row group"));
    };
    let arrow_schema = first.schema();
    let mut columns = Vec::new();
    let mut targets = Vec::new();
    for f in arrow_schema.fields() {
        let ty = match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::Str,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => ColumnType::Int,
            DataType::Float32 | DataType::Float64 => ColumnType::Float,
            DataType::Boolean => ColumnType::Bool,
            DataType::Timestamp(..) => ColumnType::Timestamp,
            DataType::Date32 | DataType::Date64 => ColumnType::Date,
            other => {
                return Err(format!(
                    "{shown}: column `{}` has type {other}, which a dimension table cannot hold",
                    f.name()
                ))
            }
        };
        columns.push(Column::nullable(f.name().clone(), ty));
        targets.push(ty.arrow_type());
    }
    let schema = Schema { columns };
    let merged = arrow::compute::concat_batches(&arrow_schema, &batches)
        .map_err(|e| format!("{shown}: {e}"))?;
    let cast: Vec<ArrayRef> = merged
        .columns()
        .iter()
        .zip(&targets)
        .map(|(c, t)| arrow::compute::cast(c, t))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{shown}: {e}"))?;
    let data = RecordBatch::try_new(schema.arrow(), cast).map_err(|e| format!("{shown}: {e}"))?;
    Ok(Arc::new(DimTable {
        origin: shown.to_string(),
        schema,
        data,
    }))
}

fn io_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "file not found".into()
        }
        _ => e.to_string(),
    }
}
