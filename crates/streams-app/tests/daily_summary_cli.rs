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
