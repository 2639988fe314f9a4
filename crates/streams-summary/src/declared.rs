//! Declared summaries: a batch job over an output table, as a topology file declares it
//! (input table, date partition, optional dimension join, group-by expressions,
//! measures, an optional rank), so that any topology's periodic report is configuration
//! and not code. The same expression language and aggregate functions as the streaming
//! processors; the input rows are read from the table's Parquet files with their
//! partition columns taken from the directory names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use streams_core::batch::constant_array;
use streams_core::dataflow::aggregate::value_at;
use streams_core::value::{parse_date, parse_timestamp, Column, ColumnType, Schema, Value};
use streams_parquet::sink::publish_staged;

pub use streams_core::dataflow::summary::{Check, RankSpec, Summary, SummaryOutput, SummarySpec};

use crate::error::SummaryError;

/// Reads a table's rows from its Parquet files under `dir` (all partitions, or the one
/// `column=value` given), with the partition columns of `schema` taken from the
/// directory names (dates, timestamps, numbers and booleans parsed back).
pub fn read_table(
    dir: &Path,
    schema: &Schema,
    partition_by: &[usize],
    only: Option<(&str, &str)>,
) -> Result<(usize, Vec<RecordBatch>), SummaryError> {
    let files = streams_parquet::read::visible_files(dir)?;
    let mut out = Vec::new();
    let mut read = 0;
    for f in &files {
        let rel = f
            .parent()
            .and_then(|d| d.strip_prefix(dir).ok())
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parts: BTreeMap<String, Option<String>> =
            streams_parquet::layout::parse_partition_path(&rel)
                .unwrap_or_default()
                .into_iter()
                .collect();
        if let Some((c, v)) = only {
            if parts.get(c).cloned().flatten().as_deref() != Some(v) {
                continue;
            }
        }
        read += 1;
        let file = std::fs::File::open(f).map_err(SummaryError::io("open", f))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| SummaryError::parquet(f, e))?;
        for b in reader {
            let b = b.map_err(|e| SummaryError::parquet(f, e))?;
            let n = b.num_rows();
            let mut columns = Vec::with_capacity(schema.columns.len());
            for (i, c) in schema.columns.iter().enumerate() {
                if partition_by.contains(&i) {
                    let text = parts.get(&c.name).cloned().flatten();
                    let v = text
                        .as_deref()
                        .and_then(|t| typed(t, c.ty))
                        .unwrap_or(Value::Null);
                    let column =
                        constant_array(&v, c.ty, n).ok_or_else(|| SummaryError::Format {
                            path: PathBuf::from(f),
                            message: format!(
                                "partition value of `{}` does not fit its type",
                                c.name
                            ),
                        })?;
                    columns.push(column);
                } else {
                    let col = b
                        .column_by_name(&c.name)
                        .ok_or_else(|| SummaryError::Format {
                            path: PathBuf::from(f),
                            message: format!("column `{}` is missing", c.name),
                        })?;
                    columns.push(col.clone());
                }
            }
            let nullable = Schema {
                columns: schema
                    .columns
                    .iter()
                    .map(|c| Column::nullable(&c.name, c.ty))
                    .collect(),
            };
            out.push(RecordBatch::try_new(nullable.arrow(), columns).map_err(SummaryError::arrow)?);
        }
    }
    Ok((read, out))
}

fn typed(t: &str, ty: ColumnType) -> Option<Value> {
    Some(match ty {
        ColumnType::Str => Value::Str(t.into()),
        ColumnType::Int => Value::Int(t.parse().ok()?),
        ColumnType::Float => Value::Float(t.parse().ok()?),
        ColumnType::Bool => Value::Bool(t.parse().ok()?),
        ColumnType::Date => Value::Date(parse_date(t)?),
        ColumnType::Timestamp => Value::Timestamp(parse_timestamp(t)?),
    })
}

/// The values of one column of a batch (for checks and reports).
pub fn column_values(b: &RecordBatch, name: &str) -> Vec<Value> {
    match b.column_by_name(name) {
        Some(c) => (0..b.num_rows()).map(|r| value_at(c.as_ref(), r)).collect(),
        None => Vec::new(),
    }
}

/// What one declared summary produced.
#[derive(Debug, Clone)]
pub struct DeclaredReport {
    /// The summary's name.
    pub name: String,
    /// The day it covers (per-day summaries).
    pub date: Option<String>,
    /// Input files read (0 for a summary of another summary).
    pub input_files: usize,
    /// Whether it had input (files, or an earlier summary that had).
    pub had_input: bool,
    /// Input rows read (after the join).
    pub input_rows: u64,
    /// Its rows.
    pub rows: RecordBatch,
    /// The checks of its output against its input.
    pub checks: Vec<Check>,
    /// The file written (none when there was no input).
    pub file: Option<PathBuf>,
}

impl DeclaredReport {
    /// `name` or `name date` (per-day summaries), as reports and logs title it.
    pub fn title(&self) -> String {
        match &self.date {
            Some(d) => format!("{} {d}", self.name),
            None => self.name.clone(),
        }
    }

    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

fn props() -> WriterProperties {
    // Fixed properties (no timestamps, a constant created_by): a rerun is byte-identical.
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by("streams-app daily-summary".into())
        .build()
}

/// Writes `batch` to a hidden file next to `path` and publishes it there; the caller
/// fsyncs the directory once for all its renames.
fn write_atomic(
    path: &Path,
    batch: &RecordBatch,
    fail_before_rename: bool,
) -> Result<(), SummaryError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.inprogress"));
    let file = std::fs::File::create(&tmp).map_err(SummaryError::io("create", &tmp))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props()))
        .map_err(|e| SummaryError::parquet(&tmp, e))?;
    w.write(batch).map_err(|e| SummaryError::parquet(&tmp, e))?;
    let file = w.into_inner().map_err(|e| SummaryError::parquet(&tmp, e))?;
    if fail_before_rename {
        return Err(SummaryError::Io {
            op: "simulated crash before publishing",
            path: tmp,
            source: std::io::Error::other("failpoint"),
        });
    }
    Ok(publish_staged(file, &tmp, path)?)
}

/// Runs every summary a topology declares, in order, for `date` (per-day summaries need
/// it; summaries of a per-day summary are per day too), writing each as one Parquet file
/// `<output-dir>/<app-id>/<name>/[<date-column>=<date>/]summary.parquet` atomically.
pub fn run_declared(
    output_dir: &Path,
    app_id: &str,
    def: &streams_runtime::TopologyDef,
    date: Option<&str>,
) -> Result<Vec<DeclaredReport>, SummaryError> {
    run_declared_with(output_dir, app_id, def, date, false)
}

/// [`run_declared`], failing before the first file is published when asked (for the
/// crash test: no partial file may ever be visible).
#[doc(hidden)]
pub fn run_declared_with(
    output_dir: &Path,
    app_id: &str,
    def: &streams_runtime::TopologyDef,
    date: Option<&str>,
    fail_before_rename: bool,
) -> Result<Vec<DeclaredReport>, SummaryError> {
    if let Some(d) = date {
        if parse_date(d).is_none() {
            return Err(SummaryError::Date { date: d.into() });
        }
    }
    let tables = def.tables().map_err(|e| SummaryError::Compute {
        message: e.to_string(),
    })?;
    // Earlier summaries: their rows and whether they had input.
    let mut done: BTreeMap<String, (RecordBatch, bool)> = BTreeMap::new();
    let mut reports = Vec::new();
    for s in &def.summaries {
        let (files, input, input_schema, upstream) = match done.get(&s.input) {
            Some((rows, had)) => {
                let schema = def
                    .summaries
                    .iter()
                    .find(|x| x.spec.name == s.input)
                    .map(|x| x.schema.clone())
                    .unwrap_or_default();
                (0, vec![rows.clone()], schema, Some(*had))
            }
            None => {
                let Some(t) = tables.iter().find(|t| t.name == s.input) else {
                    return Err(SummaryError::Compute {
                        message: format!("summary `{}`: no table `{}`", s.spec.name, s.input),
                    });
                };
                let only = match (&s.date_column, date) {
                    (Some(c), Some(d)) => Some((c.as_str(), d)),
                    (Some(_), None) => {
                        return Err(SummaryError::Compute {
                            message: format!(
                                "summary `{}` runs per day: give a date (--date)",
                                s.spec.name
                            ),
                        })
                    }
                    (None, _) => None,
                };
                let dir = streams_parquet::layout::table_dir(output_dir, app_id, &t.name);
                let (files, batches) = read_table(&dir, &t.schema, &t.partition_by, only)?;
                (files, batches, t.schema.clone(), None)
            }
        };
        let (mut summary, _) =
            Summary::compile(&s.spec, &input_schema).map_err(|es| SummaryError::Compute {
                message: format!("summary `{}`: {}", s.spec.name, es.join("; ")),
            })?;
        let had_input = upstream.unwrap_or(files > 0);
        let out = summary.run(input).map_err(|e| SummaryError::Compute {
            message: e.to_string(),
        })?;
        let mut dir = streams_parquet::layout::table_dir(output_dir, app_id, &s.spec.name);
        let day = s.date_column.as_ref().and(date).map(str::to_string);
        if let (Some(c), Some(d)) = (&s.date_column, &day) {
            dir = dir.join(streams_parquet::layout::partition_path(&[(
                c.as_str(),
                Some(d.clone()),
            )]));
        }
        let file = if had_input {
            std::fs::create_dir_all(&dir).map_err(SummaryError::io("create directory", &dir))?;
            let path = dir.join("summary.parquet");
            write_atomic(&path, &out.rows, fail_before_rename)?;
            streams_parquet::sink::fsync_dir(&dir)?;
            Some(path)
        } else {
            None
        };
        done.insert(s.spec.name.clone(), (out.rows.clone(), had_input));
        reports.push(DeclaredReport {
            name: s.spec.name.clone(),
            date: day,
            input_files: files,
            had_input,
            input_rows: out.input_rows,
            rows: out.rows,
            checks: out.checks,
            file,
        });
    }
    Ok(reports)
}
