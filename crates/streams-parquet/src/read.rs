//! Reading a table back (tests, tools): every visible file of every partition.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::ParquetError;
use crate::layout::is_hidden;

/// Visible `.parquet` files under a table directory (all partitions, any depth), sorted.
pub fn visible_files(table_dir: &Path) -> Result<Vec<PathBuf>, ParquetError> {
    let mut files = visible_files_in(table_dir)?;
    let parts = match std::fs::read_dir(table_dir) {
        Ok(parts) => parts,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(ParquetError::io("list", table_dir)(e)),
    };
    for part in parts {
        let part = part.map_err(ParquetError::io("list", table_dir))?;
        let name = part.file_name().to_string_lossy().into_owned();
        if is_hidden(&name) || !part.path().is_dir() {
            continue;
        }
        files.extend(visible_files(&part.path())?);
    }
    files.sort();
    Ok(files)
}

/// Visible `.parquet` files of one partition directory, sorted; none if the directory
/// does not exist (any other error is reported).
pub fn visible_files_in(partition_dir: &Path) -> Result<Vec<PathBuf>, ParquetError> {
    let entries = match std::fs::read_dir(partition_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ParquetError::io("list", partition_dir)(e)),
    };
    let mut files = Vec::new();
    for f in entries {
        let f = f.map_err(ParquetError::io("list", partition_dir))?;
        let fname = f.file_name().to_string_lossy().into_owned();
        if !is_hidden(&fname) && fname.ends_with(".parquet") {
            files.push(f.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Every record batch of one file.
pub fn read_file(path: &Path) -> Result<Vec<RecordBatch>, ParquetError> {
    let file = File::open(path).map_err(ParquetError::io("open", path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| ParquetError::format(path, e))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ParquetError::format(path, e))
}

/// A table's rows as JSON objects (one per row), from every visible file.
pub fn read_table_json(table_dir: &Path) -> Result<Vec<serde_json::Value>, ParquetError> {
    let mut rows = Vec::new();
    for f in visible_files(table_dir)? {
        let batches = read_file(&f)?;
        let mut buf = Vec::new();
        {
            let mut w = arrow::json::ArrayWriter::new(&mut buf);
            for b in &batches {
                w.write(b).map_err(|e| ParquetError::format(&f, e))?;
            }
            w.finish().map_err(|e| ParquetError::format(&f, e))?;
        }
        if buf.is_empty() {
            continue;
        }
        let mut v: Vec<serde_json::Value> =
            serde_json::from_slice(&buf).map_err(|e| ParquetError::format(&f, e))?;
        // Partition columns live in the directory names (`name=value/...`).
        let rel = f
            .parent()
            .and_then(|d| d.strip_prefix(table_dir).ok())
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parts = crate::layout::parse_partition_path(&rel).unwrap_or_default();
        for row in &mut v {
            if let Some(obj) = row.as_object_mut() {
                for (name, value) in &parts {
                    let value = value
                        .clone()
                        .map_or(serde_json::Value::Null, serde_json::Value::String);
                    obj.insert(name.clone(), value);
                }
            }
        }
        rows.extend(v);
    }
    Ok(rows)
}
