//! The clickstream's declared daily summary (`topology/clickstream.toml`'s
//! `daily_segment_metrics` and `premium_summary`) on input written by the real Parquet
//! sink with the reference topology's `country_segment_revenue` table; expected values
//! worked out here by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use streams_core::value::date_of;
use streams_core::Value;
use streams_parquet::{FileFormat, ParquetSink, ParquetSinkConfig};
use streams_runtime::outbox::plan_outbox;
use streams_summary::declared::run_declared_with;
use streams_summary::{run_declared, DeclaredReport};

const DAY1: i64 = 1_767_225_600_000; // 2026-01-01
const DAY: i64 = 86_400_000;

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (window start, country, segment, events, purchases, revenue)
type In = (i64, &'static str, &'static str, i64, i64, f64);

fn clickstream() -> streams_runtime::TopologyDef {
    streams_runtime::load_topology(&repo().join("topology/clickstream.toml")).unwrap()
}

fn write_input(out: &Path, rows: &[In]) {
    let def = clickstream();
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
        per_table[t].rows = vec![half
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
            .collect::<Vec<_>>()
            .into()];
        sink.deliver(&plan_outbox(0, epoch as u64 + 1, per_table, vec![]))
            .unwrap();
        sink.publish_all().unwrap();
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

fn summarize(out: &Path, date: &str) -> Vec<DeclaredReport> {
    run_declared(out, "app", &clickstream(), Some(date)).unwrap()
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

    let r1 = summarize(dir.path(), "2026-01-01");
    let names: Vec<&str> = r1.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["daily_segment_metrics", "premium_summary"]);
    for r in &r1 {
        let checks: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
        assert!(r.checks.iter().all(|c| c.ok), "{:?}", r.checks);
        assert!(checks.contains(&"one row per group"), "{checks:?}");
        assert_eq!(r.date.as_deref(), Some("2026-01-01"));
    }
    assert_eq!(
        r1[0]
            .checks
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [
            "sum(daily_revenue) = sum(revenue) of the input",
            "sum(daily_events) = sum(events) of the input",
            "sum(daily_purchases) = sum(purchases) of the input",
            "one row per group",
            "revenue_rank_in_country is 1..n in each partition",
        ]
    );
    assert_eq!((r1[0].input_files, r1[0].input_rows), (2, 6));
    let file = r1[0].file.clone().unwrap();
    assert!(file.ends_with("app/daily_segment_metrics/event_date=2026-01-01/summary.parquet"));
    let got: Vec<(String, String, f64, i64, i64, bool, i64)> = rows_of(&file)
        .iter()
        .map(|r| {
            // the date lives in the directory name only, as the sink writes partitions
            assert!(r.get("event_date").is_none(), "{r}");
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
    let file = r1[1].file.clone().unwrap();
    assert!(file.ends_with("app/premium_summary/event_date=2026-01-01/summary.parquet"));
    let prem: Vec<(String, bool, f64, i64)> = rows_of(&file)
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

    let r2 = summarize(dir.path(), "2026-01-02");
    let rows = rows_of(r2[0].file.as_ref().unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            &rows[0]["daily_revenue"],
            &rows[0]["revenue_rank_in_country"]
        ),
        (&serde_json::json!(12.25), &serde_json::json!(1))
    );

    let r3 = summarize(dir.path(), "2026-01-03");
    assert!(r3.iter().all(|r| !r.had_input && r.file.is_none()));
    assert_eq!(r3[0].input_files, 0);
    for name in ["daily_segment_metrics", "premium_summary"] {
        assert!(
            !dir.path()
                .join(format!("app/{name}/event_date=2026-01-03"))
                .exists(),
            "an empty day writes nothing"
        );
    }
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
    let def = clickstream();
    let day = "event_date=2026-01-01";
    let dirs = [
        dir.path().join("app/daily_segment_metrics").join(day),
        dir.path().join("app/premium_summary").join(day),
    ];
    let visible = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };

    // a crash before the first publish: no visible file at all
    assert!(run_declared_with(dir.path(), "app", &def, Some("2026-01-01"), true).is_err());
    assert!(dirs.iter().all(|d| visible(d).is_empty()));

    let r = run_declared(dir.path(), "app", &def, Some("2026-01-01")).unwrap();
    let files: Vec<_> = r.iter().map(|r| r.file.clone().unwrap()).collect();
    let first: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    for d in &dirs {
        assert_eq!(visible(d), ["summary.parquet"]);
    }

    // a crash during a rerun leaves the previous complete files in place
    assert!(run_declared_with(dir.path(), "app", &def, Some("2026-01-01"), true).is_err());
    let after_crash: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(after_crash, first);

    run_declared(dir.path(), "app", &def, Some("2026-01-01")).unwrap();
    let second: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(second, first, "rerun is byte-identical");
    for d in &dirs {
        assert_eq!(visible(d), ["summary.parquet"]);
    }
}
