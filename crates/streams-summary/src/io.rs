//! Reading a day of `country_segment_revenue`, writing the two outputs atomically.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use streams_core::value::parse_date;
use streams_parquet::layout::{partition_dir, table_dir};
use streams_parquet::sink::{fsync_dir, publish_staged};

use crate::aggregate::{
    aggregate, check, premium_summary, rank, Acc, Check, InputTotals, PremiumRow, SegmentRow,
};
use crate::error::SummaryError;

/// Where the job reads and writes.
#[derive(Debug, Clone)]
pub struct SummaryConfig {
    /// `<output-dir>` of the streaming app.
    pub output_dir: PathBuf,
    /// The app id.
    pub app_id: String,
    /// `segments.csv` (segment,is_premium).
    pub segments: PathBuf,
}

/// What one day produced.
#[derive(Debug, Clone, Serialize)]
pub struct DayReport {
    /// The date.
    pub date: String,
    /// Input files read (0: no input, nothing written).
    pub input_files: usize,
    /// Input totals.
    pub input: InputTotals,
    /// `daily_segment_metrics` rows.
    pub segments: Vec<SegmentRow>,
    /// `premium_summary` rows.
    pub premium: Vec<PremiumRow>,
    /// Quality checks.
    pub checks: Vec<Check>,
    /// Written files (empty for a day without input).
    pub files: Vec<PathBuf>,
}

/// Reads `segments.csv`.
pub fn load_segments(path: &Path) -> Result<HashMap<String, bool>, SummaryError> {
    let err = |m: String| SummaryError::Segments {
        path: path.to_path_buf(),
        message: m,
    };
    // The loader every topology uses for dimension files (one boolean rule).
    let types = [("is_premium".to_string(), streams_core::ColumnType::Bool)].into();
    let table = streams_runtime::topology_file::load_table(path, &types)
        .map_err(|es| err(es.join("; ")))?;
    let column = |name: &str| {
        table
            .schema
            .index_of(name)
            .map(|i| table.data.column(i).clone())
            .ok_or_else(|| err(format!("no column `{name}`")))
    };
    let (segments, flags) = (column("segment")?, column("is_premium")?);
    let mut out = HashMap::new();
    for r in 0..table.data.num_rows() {
        let seg = streams_core::dataflow::aggregate::value_at(segments.as_ref(), r);
        let flag = streams_core::dataflow::aggregate::value_at(flags.as_ref(), r);
        if let streams_core::Value::Str(seg) = seg {
            out.insert(
                seg.to_lowercase().to_string(),
                flag == streams_core::Value::Bool(true),
            );
        }
    }
    Ok(out)
}

/// The input columns the job reads (the rest of each file is never decoded).
const COLUMNS: [&str; 5] = ["country", "segment", "events", "purchases", "revenue"];

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    path: &Path,
    name: &str,
) -> Result<&'a T, SummaryError> {
    let problem = |p: &str| SummaryError::Column {
        path: path.to_path_buf(),
        column: name.into(),
        problem: p.into(),
    };
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| problem("is missing"))?;
    col.as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| problem(&format!("has type {}", col.data_type())))
}

/// Streams the visible files of one day with column projection into the aggregate.
pub fn read_day(
    cfg: &SummaryConfig,
    date: &str,
) -> Result<(usize, Acc, InputTotals), SummaryError> {
    let dir = partition_dir(
        &table_dir(&cfg.output_dir, &cfg.app_id, "country_segment_revenue"),
        date,
    );
    let files = streams_parquet::read::visible_files_in(&dir)?;
    let mut acc = HashMap::new();
    let mut totals = InputTotals::default();
    for f in &files {
        let file = File::open(f).map_err(SummaryError::io("open", f))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| SummaryError::parquet(f, e))?;
        // Missing columns are reported by `column` with the file and the column name.
        let mask = ProjectionMask::columns(builder.parquet_schema(), COLUMNS);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| SummaryError::parquet(f, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| SummaryError::parquet(f, e))?;
            let country = column::<StringArray>(&batch, f, "country")?;
            let segment = column::<StringArray>(&batch, f, "segment")?;
            let events = column::<Int64Array>(&batch, f, "events")?;
            let purchases = column::<Int64Array>(&batch, f, "purchases")?;
            let revenue = column::<Float64Array>(&batch, f, "revenue")?;
            aggregate(
                (0..batch.num_rows()).map(|i| {
                    (
                        country.value(i),
                        segment.value(i),
                        events.value(i),
                        purchases.value(i),
                        revenue.value(i),
                    )
                }),
                &mut acc,
                &mut totals,
            );
        }
    }
    Ok((files.len(), acc, totals))
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
pub(crate) fn write_atomic(
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
    let file = File::create(&tmp).map_err(SummaryError::io("create", &tmp))?;
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

fn batches(
    days: i32,
    rows: &[SegmentRow],
    premium: &[PremiumRow],
) -> Result<(RecordBatch, RecordBatch), arrow::error::ArrowError> {
    let date_col =
        |n: usize| Arc::new(arrow::array::Date32Array::from(vec![days; n])) as Arc<dyn Array>;
    let s1 = Arc::new(Schema::new(vec![
        Field::new("event_date", DataType::Date32, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("daily_revenue", DataType::Float64, false),
        Field::new("daily_events", DataType::Int64, false),
        Field::new("daily_purchases", DataType::Int64, false),
        Field::new("is_premium", DataType::Boolean, false),
        Field::new("revenue_rank_in_country", DataType::Int64, false),
    ]));
    let b1 = RecordBatch::try_new(
        s1,
        vec![
            date_col(rows.len()),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.country.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.segment.as_str()),
            )),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|r| r.daily_revenue),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.daily_events),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.daily_purchases),
            )),
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.is_premium).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.revenue_rank_in_country),
            )),
        ],
    )?;
    let s2 = Arc::new(Schema::new(vec![
        Field::new("event_date", DataType::Date32, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("is_premium", DataType::Boolean, false),
        Field::new("total_revenue", DataType::Float64, false),
        Field::new("total_events", DataType::Int64, false),
    ]));
    let b2 = RecordBatch::try_new(
        s2,
        vec![
            date_col(premium.len()),
            Arc::new(StringArray::from_iter_values(
                premium.iter().map(|r| r.country.as_str()),
            )),
            Arc::new(BooleanArray::from(
                premium.iter().map(|r| r.is_premium).collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from_iter_values(
                premium.iter().map(|r| r.total_revenue),
            )),
            Arc::new(Int64Array::from_iter_values(
                premium.iter().map(|r| r.total_events),
            )),
        ],
    )?;
    Ok((b1, b2))
}

/// Writes both outputs of a day atomically (temp + fsync + rename each).
pub fn write_day(
    cfg: &SummaryConfig,
    date: &str,
    rows: &[SegmentRow],
    premium: &[PremiumRow],
    fail_before_rename: bool,
) -> Result<Vec<PathBuf>, SummaryError> {
    let dir = partition_dir(
        &table_dir(&cfg.output_dir, &cfg.app_id, "daily_summary"),
        date,
    );
    std::fs::create_dir_all(&dir).map_err(SummaryError::io("create directory", &dir))?;
    let days = parse_date(date).ok_or_else(|| SummaryError::Date { date: date.into() })?;
    let (b1, b2) = batches(days, rows, premium).map_err(|e| SummaryError::parquet(&dir, e))?;
    let f1 = dir.join("daily_segment_metrics.parquet");
    let f2 = dir.join("premium_summary.parquet");
    write_atomic(&f1, &b1, fail_before_rename)?;
    write_atomic(&f2, &b2, false)?;
    fsync_dir(&dir)?;
    Ok(vec![f1, f2])
}

/// Runs the job for one date (`YYYY-MM-DD`). A day without input writes nothing.
pub fn summarize_day(
    cfg: &SummaryConfig,
    premium_map: &HashMap<String, bool>,
    date: &str,
) -> Result<DayReport, SummaryError> {
    summarize_day_with(cfg, premium_map, date, false)
}

#[doc(hidden)]
pub fn summarize_day_with(
    cfg: &SummaryConfig,
    premium_map: &HashMap<String, bool>,
    date: &str,
    fail_before_rename: bool,
) -> Result<DayReport, SummaryError> {
    if parse_date(date).is_none() {
        return Err(SummaryError::Date { date: date.into() });
    }
    let (input_files, acc, input) = read_day(cfg, date)?;
    let segments = rank(acc, premium_map);
    let premium = premium_summary(&segments);
    let checks = check(&input, &segments, &premium);
    let files = if input_files == 0 {
        Vec::new()
    } else {
        write_day(cfg, date, &segments, &premium, fail_before_rename)?
    };
    Ok(DayReport {
        date: date.to_string(),
        input_files,
        input,
        segments,
        premium,
        checks,
        files,
    })
}
