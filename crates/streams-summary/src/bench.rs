//! The benchmark: window rows spread over days, written with the streaming sink's writer
//! properties and layout (the `country_segment_revenue` columns, `event_date` in the
//! directory names), then summarized day by day with the clickstream's declared
//! summaries.

use std::fs::File;
use std::path::Path;

use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use streams_core::value::format_date;
use streams_parquet::layout::{partition_dir, table_dir};
use streams_parquet::sink::writer_properties;

use crate::declared::run_declared;
use crate::error::SummaryError;

/// The first generated day, 2026-01-01, in days since the epoch.
const FIRST_DAY: i32 = 20_454;

/// The columns of the reference topology's `country_segment_revenue` files (its
/// partition column `event_date` lives in the directory names).
pub fn input_schema() -> Arc<Schema> {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("window_start", ts.clone(), false),
        Field::new("window_end", ts.clone(), false),
        Field::new("country", DataType::Utf8, false),
        Field::new("segment", DataType::Utf8, false),
        Field::new("events", DataType::Int64, false),
        Field::new("purchases", DataType::Int64, false),
        Field::new("revenue", DataType::Float64, false),
        Field::new("unique_users", DataType::Int64, false),
        Field::new("max_event_time", ts, true),
    ]))
}

/// Writes `rows` random window rows over `days` days starting 2026-01-01 (several files
/// per day, like the sink's rolling).
pub fn generate(
    output_dir: &Path,
    app_id: &str,
    rows: u64,
    days: u32,
    seed: u64,
) -> Result<(), SummaryError> {
    let countries = [
        "US", "GB", "DE", "FR", "IN", "BR", "JP", "CA", "AU", "ES", "UNKNOWN",
    ];
    let segments = ["premium", "standard", "basic", "enterprise", "unknown"];
    let mut rng = SmallRng::seed_from_u64(seed);
    let per_day = rows / days.max(1) as u64;
    let chunk = 250_000u64;
    for d in 0..days {
        let day = FIRST_DAY + d as i32;
        let date = format_date(day);
        let dir = partition_dir(
            &table_dir(output_dir, app_id, "country_segment_revenue"),
            &date,
        );
        std::fs::create_dir_all(&dir).map_err(SummaryError::io("create directory", &dir))?;
        let mut written = 0u64;
        let mut part = 0;
        while written < per_day {
            let n = chunk.min(per_day - written) as usize;
            let start: Vec<i64> = (0..n)
                .map(|_| day as i64 * 86_400_000 + rng.random_range(0..1440) * 60_000)
                .collect();
            let batch = RecordBatch::try_new(
                input_schema(),
                vec![
                    Arc::new(TimestampMillisecondArray::from(start.clone()).with_timezone("UTC")),
                    Arc::new(
                        TimestampMillisecondArray::from(
                            start.iter().map(|s| s + 60_000).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                    Arc::new(StringArray::from_iter_values(
                        (0..n).map(|_| countries[rng.random_range(0..countries.len())]),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        (0..n).map(|_| segments[rng.random_range(0..segments.len())]),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        (0..n).map(|_| rng.random_range(1..500)),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        (0..n).map(|_| rng.random_range(0..20)),
                    )),
                    Arc::new(Float64Array::from_iter_values(
                        (0..n).map(|_| rng.random_range(0..10_000) as f64 / 4.0),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        (0..n).map(|_| rng.random_range(1..200)),
                    )),
                    Arc::new(
                        TimestampMillisecondArray::from(
                            start.iter().map(|s| Some(s + 59_000)).collect::<Vec<_>>(),
                        )
                        .with_timezone("UTC"),
                    ),
                ],
            )
            .map_err(|e| SummaryError::parquet(&dir, e))?;
            let path = dir.join(format!("part-{part:05}.parquet"));
            let file = File::create(&path).map_err(SummaryError::io("create", &path))?;
            let mut w = ArrowWriter::try_new(file, input_schema(), Some(writer_properties()))
                .map_err(|e| SummaryError::parquet(&path, e))?;
            w.write(&batch)
                .map_err(|e| SummaryError::parquet(&path, e))?;
            w.close().map_err(|e| SummaryError::parquet(&path, e))?;
            written += n as u64;
            part += 1;
        }
    }
    Ok(())
}

/// Per-day and total seconds of summarizing `days` days with `def`'s summaries; a
/// failed check is an error.
pub fn run(
    output_dir: &Path,
    app_id: &str,
    def: &streams_runtime::TopologyDef,
    days: u32,
) -> Result<(Vec<f64>, f64), SummaryError> {
    let start = Instant::now();
    let mut per_day = Vec::new();
    for d in 0..days {
        let date = format_date(FIRST_DAY + d as i32);
        let t = Instant::now();
        let reports = run_declared(output_dir, app_id, def, Some(&date))?;
        let failed: Vec<String> = reports
            .iter()
            .flat_map(|r| r.failed().map(move |c| format!("{}: {}", r.name, c.name)))
            .collect();
        if !failed.is_empty() {
            return Err(SummaryError::Checks {
                date,
                failed: failed.join(", "),
            });
        }
        per_day.push(t.elapsed().as_secs_f64());
    }
    Ok((per_day, start.elapsed().as_secs_f64()))
}
