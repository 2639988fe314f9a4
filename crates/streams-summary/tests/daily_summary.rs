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

/// The clickstream's daily summary declared (group-by, measures, a dimension join, a
/// rank) and computed by the generic summary engine over the same Parquet input gives
/// the rows of the hand-written job, and the premium summary declared over its output
/// gives the premium rows.
#[test]
fn the_declared_summary_equals_the_daily_summary() {
    use streams_core::dataflow::aggregate::{AggDef, AggFn};
    use streams_core::dataflow::LookupJoinSpec;
    use streams_summary::declared::{read_table, RankSpec, Summary, SummarySpec};

    let dir = tempfile::tempdir().unwrap();
    let mut rng_rows = Vec::new();
    let countries = ["US", "DE", "FR"];
    let segments = ["premium", "standard", "enterprise", "basic", "mystery"];
    for i in 0..120i64 {
        let c = countries[(i % 3) as usize];
        let s = segments[((i * 7) % 5) as usize];
        rng_rows.push((
            DAY1 + (i % 30) * 60_000,
            c,
            s,
            1 + i % 9,
            i % 4,
            (i % 13) as f64 * 2.5,
        ));
    }
    // A second day the summary of day 1 must not read.
    rng_rows.push((DAY1 + DAY, "US", "premium", 100, 100, 1000.0));
    write_input(dir.path(), &rng_rows);
    let c = cfg(dir.path());
    let premium = load_segments(&c.segments).unwrap();
    let report = summarize_day(&c, &premium, "2026-01-01").unwrap();

    let def = streams_runtime::load_topology(&repo().join("topology/clickstream.toml")).unwrap();
    let table = def
        .tables()
        .unwrap()
        .into_iter()
        .find(|t| t.name == "country_segment_revenue")
        .unwrap();
    let segments_table = streams_runtime::topology_file::load_table(
        &repo().join("topology/dims/segments.csv"),
        &Default::default(),
    )
    .unwrap();
    let sum = |name: &str, expr: &str| AggDef {
        name: name.into(),
        func: AggFn::Sum,
        expr: Some(expr.into()),
        condition: None,
    };
    let spec = SummarySpec {
        name: "daily_segment_metrics".into(),
        group_by: vec!["country".into(), "segment".into(), "is_premium".into()],
        measures: vec![
            sum("daily_revenue", "revenue"),
            sum("daily_events", "events"),
            sum("daily_purchases", "purchases"),
        ],
        join: Some((
            segments_table,
            LookupJoinSpec {
                key: vec!["segment".into()],
                table_key: vec!["segment".into()],
                columns: vec![("is_premium".into(), "is_premium".into())],
                defaults: vec![("is_premium".into(), Value::Bool(false))],
            },
        )),
        rank: Some(RankSpec {
            name: "revenue_rank_in_country".into(),
            partition_by: vec!["country".into()],
            order_by: vec![("daily_revenue".into(), true), ("segment".into(), false)],
        }),
    };
    let (mut summary, schema) = Summary::compile(&spec, &table.schema).unwrap();
    let (files, input) = read_table(
        &dir.path().join("app/country_segment_revenue"),
        &table.schema,
        &table.partition_by,
        Some(("event_date", "2026-01-01")),
    )
    .unwrap();
    assert_eq!(files, report.input_files);
    let out = summary.run(input).unwrap();
    let col = |n: &str| schema.index_of(n).unwrap();
    let rows = streams_core::batch::record_batch_rows(&out);
    let mut got: Vec<(String, String, i64, i64, bool, i64, f64)> = rows
        .iter()
        .map(|r| {
            let s = |v: &Value| match v {
                Value::Str(s) => s.to_string(),
                other => panic!("{other:?}"),
            };
            let i = |v: &Value| match v {
                Value::Int(x) => *x,
                other => panic!("{other:?}"),
            };
            let Value::Float(rev) = r[col("daily_revenue")] else {
                panic!()
            };
            let Value::Bool(p) = r[col("is_premium")] else {
                panic!()
            };
            (
                s(&r[col("country")]),
                s(&r[col("segment")]),
                i(&r[col("daily_events")]),
                i(&r[col("daily_purchases")]),
                p,
                i(&r[col("revenue_rank_in_country")]),
                rev,
            )
        })
        .collect();
    let mut want: Vec<(String, String, i64, i64, bool, i64, f64)> = report
        .segments
        .iter()
        .map(|r| {
            (
                r.country.clone(),
                r.segment.clone(),
                r.daily_events,
                r.daily_purchases,
                r.is_premium,
                r.revenue_rank_in_country,
                r.daily_revenue,
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (&g.0, &g.1, g.2, g.3, g.4, g.5),
            (&w.0, &w.1, w.2, w.3, w.4, w.5)
        );
        assert!((g.6 - w.6).abs() < 1e-9, "{g:?} vs {w:?}");
    }

    // The premium summary, declared over the first summary's rows.
    let premium_spec = SummarySpec {
        name: "premium_summary".into(),
        group_by: vec!["country".into(), "is_premium".into()],
        measures: vec![
            sum("total_revenue", "daily_revenue"),
            sum("total_events", "daily_events"),
        ],
        join: None,
        rank: None,
    };
    let (mut premium_summary, pschema) = Summary::compile(&premium_spec, &schema).unwrap();
    let out = premium_summary.run(vec![out]).unwrap();
    let mut got: Vec<(String, bool, i64, f64)> = streams_core::batch::record_batch_rows(&out)
        .iter()
        .map(|r| {
            let (Value::Str(c), Value::Bool(p), Value::Int(e), Value::Float(rev)) = (
                &r[pschema.index_of("country").unwrap()],
                &r[pschema.index_of("is_premium").unwrap()],
                &r[pschema.index_of("total_events").unwrap()],
                &r[pschema.index_of("total_revenue").unwrap()],
            ) else {
                panic!("{r:?}")
            };
            (c.to_string(), *p, *e, *rev)
        })
        .collect();
    let mut want: Vec<(String, bool, i64, f64)> = report
        .premium
        .iter()
        .map(|p| {
            (
                p.country.clone(),
                p.is_premium,
                p.total_events,
                p.total_revenue,
            )
        })
        .collect();
    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.0, g.1, g.2), (&w.0, w.1, w.2));
        assert!((g.3 - w.3).abs() < 1e-9, "{g:?} vs {w:?}");
    }
}
