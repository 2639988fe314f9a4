//! `streams-app daily-summary` through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::*;
use streams_summary::SummaryConfig;

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SummaryConfig {
        output_dir: dir.path().to_path_buf(),
        app_id: "app".into(),
        segments: repo().join("topology/dims/segments.csv"),
    };
    streams_summary::bench::generate(&cfg, 2_000, 2, 1).unwrap();
    dir
}

fn args<'a>(out: &'a str, segments: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "daily-summary",
        "--app-id",
        "app",
        "--output-dir",
        out,
        "--segments",
        segments,
    ];
    a.extend_from_slice(extra);
    a
}

#[test]
fn table_json_range_empty_day_strict_and_bad_input() {
    let dir = setup();
    let out = dir.path().to_str().unwrap();
    let seg = repo().join("topology/dims/segments.csv");
    let seg = seg.to_str().unwrap();

    let o = run_cmd(&args(out, seg, &["--date", "2026-01-01"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("2026-01-01") && text.contains("premium") && text.contains("rank"),
        "{text}"
    );
    assert!(dir
        .path()
        .join("app/daily_summary/event_date=2026-01-01/daily_segment_metrics.parquet")
        .exists());

    // a range with a day without input: reported, not an error
    let o = run_cmd(&args(
        out,
        seg,
        &[
            "--date",
            "2026-01-01",
            "--to",
            "2026-01-03",
            "--format",
            "json",
        ],
    ));
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let days = v["days"].as_array().unwrap();
    assert_eq!(days.len(), 3);
    assert_eq!(days[2]["input_files"], 0);
    let checks = days[0]["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    let rows: i64 = days[0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["daily_events"].as_i64().unwrap())
        .sum();
    assert_eq!(rows, days[0]["input"]["events"].as_i64().unwrap());

    // --strict turns the empty day into a failure
    let o = run_cmd(&args(out, seg, &["--date", "2026-01-03", "--strict"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no input"));

    // bad date: one line, non-zero
    let o = run_cmd(&args(out, seg, &["--date", "2026-13-01"]));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not a date"), "{err}");
}

/// The sensors topology's declared summary (count and mean per id over the whole table)
/// through the real binary, once and with `--every`, against values computed here.
#[test]
fn declared_summaries_run_once_and_on_an_interval() {
    use streams_core::Value;
    let dir = tempfile::tempdir().unwrap();
    let topo = repo().join("topology/sensors.toml");
    let def = streams_runtime::load_topology(&topo).unwrap();
    let tables = def.tables().unwrap();
    let mut sink = streams_parquet::ParquetSink::open(
        streams_parquet::ParquetSinkConfig {
            output_dir: dir.path().to_path_buf(),
            app_id: "sensors".into(),
            task: 0,
            max_file_bytes: 1 << 30,
            max_file_age: std::time::Duration::from_secs(3600),
            format: streams_parquet::FileFormat::Parquet,
            tables: Vec::new(),
        },
        &tables,
        &[],
    )
    .unwrap();
    let t = tables
        .iter()
        .position(|t| t.name == "sensor_readings")
        .unwrap();
    let mut per_id: std::collections::BTreeMap<i64, (i64, f64)> = Default::default();
    let mut rows = Vec::new();
    for i in 0..300i64 {
        let id = i % 7;
        let value = (i * 37 % 101) as f64 / 4.0;
        let e = per_id.entry(id).or_default();
        e.0 += 1;
        e.1 += value;
        rows.push(vec![
            Value::Int(id),
            Value::Timestamp(1_767_225_600_000 + i * 1_000),
            Value::Float(value),
            Value::Str("probe".into()),
        ]);
    }
    let mut per_table = vec![streams_runtime::outbox::TableRows::default(); tables.len()];
    per_table[t].rows = rows;
    sink.deliver(&streams_runtime::outbox::plan_outbox(
        0,
        1,
        per_table,
        vec![],
    ))
    .unwrap();
    sink.publish_all().unwrap();

    let out = dir.path().to_str().unwrap();
    let base = [
        "daily-summary",
        "--app-id",
        "sensors",
        "--output-dir",
        out,
        "--topology",
        topo.to_str().unwrap(),
        "--format",
        "json",
    ];
    let mut once = base.to_vec();
    once.extend(["--date", "today"]);
    let o = run_cmd(&once);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(doc["summary"], "readings_per_id");
    let got: Vec<(i64, i64, f64)> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["count"].as_i64().unwrap(),
                r["mean"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), per_id.len());
    for (id, n, mean) in got {
        let (wn, sum) = per_id[&id];
        assert_eq!(n, wn);
        assert!((mean - sum / wn as f64).abs() < 1e-9);
    }
    let file = dir.path().join("sensors/readings_per_id/summary.parquet");
    assert!(file.exists());
    std::fs::remove_file(&file).unwrap();

    // --every: runs at once and again after the interval, until SIGTERM.
    let mut every = base.to_vec();
    every.extend(["--every", "300ms"]);
    let mut p = spawn(&every);
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let status = p.sigterm_and_wait(std::time::Duration::from_secs(10));
    assert!(status.success());
    let runs = p
        .stdout()
        .lines()
        .filter(|l| l.contains("readings_per_id"))
        .count();
    assert!(runs >= 2, "ran {runs} times:\n{}", p.stdout());
    assert!(file.exists());
}
