//! `daily-summary` on input written by the real Parquet sink with the reference
//! topology's `country_segment_revenue` schema; expected values computed here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use streams_core::value::date_of;
use streams_core::Value;
use streams_parquet::{FileFormat, ParquetSink, ParquetSinkConfig};
use streams_runtime::outbox::plan_outbox;
use streams_summary::{load_segments, summarize_day, summarize_day_with, SummaryConfig};

const DAY1: i64 = 1_767_225_600_000; // 2026-01-01
const DAY: i64 = 86_400_000;

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (window start, country, segment, events, purchases, revenue)
type In = (i64, &'static str, &'static str, i64, i64, f64);

fn write_input(out: &Path, rows: &[In]) {
    let def = streams_runtime::load_topology(&repo().join("topology/clickstream.toml")).unwrap();
    let tables = def.tables().unwrap();
    let t = tables
        .iter()
        .position(|t| t.name == "country_segment_revenue")
        .unwrap();
    let mut sink = ParquetSink::open(
        ParquetSinkConfig {
            output_dir: out.to_path_buf(),
            app_id: "app".into(),
            task: 0,
            max_file_bytes: 1 << 30,
            max_file_age: std::time::Duration::from_secs(3600),
            format: FileFormat::Parquet,
            tables: Vec::new(),
        },
        &tables,
        &[],
    )
    .unwrap();
    // two epochs, so a day has several files
    for (epoch, half) in rows.chunks(rows.len().div_ceil(2).max(1)).enumerate() {
        let mut per_table = vec![streams_runtime::outbox::TableRows::default(); tables.len()];
        per_table[t].rows = half
            .iter()
            .map(|(start, c, s, ev, pu, rev)| {
                vec![
                    Value::Timestamp(*start),
                    Value::Timestamp(start + 60_000),
                    Value::Str((*c).into()),
                    Value::Str((*s).into()),
                    Value::Int(*ev),
                    Value::Int(*pu),
                    Value::Float(*rev),
                    Value::Int(1),
                    Value::Timestamp(start + 59_000),
                    Value::Date(date_of(*start)),
                ]
            })
            .collect();
        sink.deliver(&plan_outbox(0, epoch as u64 + 1, per_table, vec![]))
            .unwrap();
        sink.publish_all().unwrap();
    }
}

fn cfg(out: &Path) -> SummaryConfig {
    SummaryConfig {
        output_dir: out.to_path_buf(),
        app_id: "app".into(),
        segments: repo().join("topology/dims/segments.csv"),
    }
}

fn rows_of(path: &Path) -> Vec<serde_json::Value> {
    let batches = streams_parquet::read::read_file(path).unwrap();
    let mut buf = Vec::new();
    let mut w = arrow::json::ArrayWriter::new(&mut buf);
    for b in &batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
    serde_json::from_slice(&buf).unwrap()
}

#[test]
fn outputs_equal_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let input: Vec<In> = vec![
        // day 1: US standard 10+5=15 ties with US premium 15 -> premium (p < s) ranks first
        (DAY1, "US", "standard", 3, 1, 10.0),
        (DAY1 + 60_000, "US", "standard", 2, 1, 5.0),
        (DAY1, "US", "premium", 4, 1, 15.0),
        (DAY1 + 120_000, "US", "mystery", 1, 0, 0.0), // unknown to segments.csv -> not premium
        (DAY1, "DE", "enterprise", 7, 2, 30.5),
        (DAY1 + 3_600_000, "DE", "basic", 1, 0, 0.0),
        // day 2: one row
        (DAY1 + DAY + 5 * 60_000, "FR", "basic", 9, 3, 12.25),
    ];
    write_input(dir.path(), &input);
    let c = cfg(dir.path());
    let premium = load_segments(&c.segments).unwrap();

    let r1 = summarize_day(&c, &premium, "2026-01-01").unwrap();
    assert!(!r1.checks.is_empty());
    assert!(r1.checks.iter().all(|c| c.ok), "{:?}", r1.checks);
    assert_eq!(r1.input_files, 2);
    let got: Vec<(String, String, f64, i64, i64, bool, i64)> = rows_of(&r1.files[0])
        .iter()
        .map(|r| {
            assert_eq!(r["event_date"], "2026-01-01");
            (
                r["country"].as_str().unwrap().into(),
                r["segment"].as_str().unwrap().into(),
                r["daily_revenue"].as_f64().unwrap(),
                r["daily_events"].as_i64().unwrap(),
                r["daily_purchases"].as_i64().unwrap(),
                r["is_premium"].as_bool().unwrap(),
                r["revenue_rank_in_country"].as_i64().unwrap(),
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        vec![
            (s("DE"), s("enterprise"), 30.5, 7, 2, true, 1),
            (s("DE"), s("basic"), 0.0, 1, 0, false, 2),
            (s("US"), s("premium"), 15.0, 4, 1, true, 1),
            (s("US"), s("standard"), 15.0, 5, 2, false, 2),
            (s("US"), s("mystery"), 0.0, 1, 0, false, 3),
        ]
    );
    let prem: Vec<(String, bool, f64, i64)> = rows_of(&r1.files[1])
        .iter()
        .map(|r| {
            (
                r["country"].as_str().unwrap().into(),
                r["is_premium"].as_bool().unwrap(),
                r["total_revenue"].as_f64().unwrap(),
                r["total_events"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        prem,
        vec![
            (s("DE"), false, 0.0, 1),
            (s("DE"), true, 30.5, 7),
            (s("US"), false, 15.0, 6),
            (s("US"), true, 15.0, 4),
        ]
    );

    let r2 = summarize_day(&c, &premium, "2026-01-02").unwrap();
    assert_eq!(r2.segments.len(), 1);
    assert_eq!(
        (
            r2.segments[0].daily_revenue,
            r2.segments[0].revenue_rank_in_country
        ),
        (12.25, 1)
    );

    let r3 = summarize_day(&c, &premium, "2026-01-03").unwrap();
    assert_eq!(r3.input_files, 0);
    assert!(r3.files.is_empty());
    assert!(
        !dir.path()
            .join("app/daily_summary/event_date=2026-01-03")
            .exists(),
        "an empty day writes nothing"
    );
}

#[test]
fn reruns_are_byte_identical_and_a_crash_never_leaves_a_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    write_input(
        dir.path(),
        &[
            (DAY1, "US", "standard", 3, 1, 10.0),
            (DAY1, "GB", "premium", 1, 1, 2.5),
        ],
    );
    let c = cfg(dir.path());
    let premium: HashMap<String, bool> = load_segments(&c.segments).unwrap();
    let out = dir.path().join("app/daily_summary/event_date=2026-01-01");

    // a crash before the first publish: no visible file at all
    assert!(summarize_day_with(&c, &premium, "2026-01-01", true).is_err());
    let visible = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    };
    assert!(visible(&out).is_empty());

    let r = summarize_day(&c, &premium, "2026-01-01").unwrap();
    let first: Vec<Vec<u8>> = r.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(
        visible(&out),
        vec!["daily_segment_metrics.parquet", "premium_summary.parquet"]
    );

    // a crash during a rerun leaves the previous complete files in place
    assert!(summarize_day_with(&c, &premium, "2026-01-01", true).is_err());
    let after_crash: Vec<Vec<u8>> = r.files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(after_crash, first);

    let again = summarize_day(&c, &premium, "2026-01-01").unwrap();
    let second: Vec<Vec<u8>> = again
        .files
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    assert_eq!(second, first, "rerun is byte-identical");
    assert_eq!(
        visible(&out),
        vec!["daily_segment_metrics.parquet", "premium_summary.parquet"]
    );
}
