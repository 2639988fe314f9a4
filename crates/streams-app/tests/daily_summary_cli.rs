//! `streams-app daily-summary` through the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::*;

/// Generated `country_segment_revenue` files for 2026-01-01 and 2026-01-02.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    streams_summary::bench::generate(dir.path(), "app", 2_000, 2, 1).unwrap();
    dir
}

fn args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["daily-summary", "--app-id", "app", "--output-dir", out];
    a.extend_from_slice(extra);
    a
}

/// Runs the binary from the repository, where the default `--topology` is.
fn run_in_repo(args: &[&str]) -> std::process::Output {
    app_cmd("warn")
        .current_dir(repo())
        .args(args)
        .output()
        .unwrap()
}

/// The clickstream's declared daily summary: a table, a JSON range with an empty day
/// (reported, and a failure only with `--strict`), a failing check under `--strict`, and
/// one-line errors for bad input.
#[test]
fn table_json_range_empty_day_strict_and_bad_input() {
    let dir = setup();
    let out = dir.path().to_str().unwrap();

    let o = run_in_repo(&args(out, &["--date", "2026-01-01"]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("daily_segment_metrics 2026-01-01")
            && text.contains("premium_summary 2026-01-01")
            && text.contains("revenue_rank_in_country"),
        "{text}"
    );
    assert!(!text.contains("check failed"), "{text}");
    for name in ["daily_segment_metrics", "premium_summary"] {
        assert!(dir
            .path()
            .join(format!("app/{name}/event_date=2026-01-01/summary.parquet"))
            .exists());
    }

    // a range with a day without input: reported, not an error
    let o = run_in_repo(&args(
        out,
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
    let runs = v["summaries"].as_array().unwrap();
    assert_eq!(runs.len(), 6, "two summaries for each of three days");
    assert_eq!(runs[4]["date"], "2026-01-03");
    assert_eq!(runs[4]["input_files"], 0);
    assert_eq!(runs[4]["had_input"], false);
    let checks = runs[0]["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 5, "{checks:?}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    // the generator's rows for the day: 1,000 rows; their events add up in the output
    assert_eq!(runs[0]["input_rows"], 1_000);
    let events: i64 = runs[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["daily_events"].as_i64().unwrap())
        .sum();
    let premium_events: i64 = runs[1]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["total_events"].as_i64().unwrap())
        .sum();
    assert_eq!(events, premium_events);

    // --strict turns the empty day into a failure
    let o = run_in_repo(&args(out, &["--date", "2026-01-03", "--strict"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no input"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("daily_segment_metrics 2026-01-03: no input"),
        "{err}"
    );

    // a reconciliation that does not hold (events against purchases) fails --strict
    let topo_dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("topology/clickstream.toml"))
        .unwrap()
        .replace(
            r#"{ output = "daily_events", input = "events" }"#,
            r#"{ output = "daily_events", input = "purchases" }"#,
        )
        .replace(
            "dims/",
            &format!("{}/", repo().join("topology/dims").display()),
        );
    let topo = topo_dir.path().join("broken.toml");
    std::fs::write(&topo, text).unwrap();
    let topo = topo.to_str().unwrap();
    let o = run_in_repo(&args(
        out,
        &["--topology", topo, "--date", "2026-01-01", "--strict"],
    ));
    assert_eq!(o.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("check failed: sum(daily_events) = sum(purchases) of the input"),
        "{stdout}"
    );
    let o = run_in_repo(&args(out, &["--topology", topo, "--date", "2026-01-01"]));
    assert!(
        o.status.success(),
        "without --strict a failed check is reported only"
    );

    // bad date: one line, non-zero
    let o = run_in_repo(&args(out, &["--date", "2026-13-01"]));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("not a date"), "{err}");

    // a per-day summary without a date: one line, non-zero
    let o = run_in_repo(&args(out, &[]));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("give a date"), "{err}");

    // a topology without summaries: one line, non-zero
    let o = run_in_repo(&args(
        out,
        &[
            "--topology",
            repo().join("topology/adults.toml").to_str().unwrap(),
        ],
    ));
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("declares no [[summaries]]"), "{err}");
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
    per_table[t].rows = vec![rows.into()];
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
    // not a per-day summary: no date needed
    let o = run_cmd(&base);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    let doc = &doc["summaries"][0];
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
