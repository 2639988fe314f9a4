//! The output as our users read it: the demo's Parquet tables (and its daily summary's)
//! read with pandas
//! (`read_parquet` of the directory), pyarrow (`dataset(..., partitioning="hive")`) and
//! DuckDB (`read_parquet(..., hive_partitioning = true)`), each checked for every row,
//! every column (partition columns from the directory names) and the file columns'
//! types (`tests/readers/check_parquet.py`; `scripts/setup.sh --tests` installs the
//! readers and `scripts/test.sh` points `STREAMS_TEST_PYTHON` at them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

#[test]
fn pandas_pyarrow_and_duckdb_read_every_output_table() {
    let repo = common::repo();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = common::app_cmd("warn")
        .current_dir(&repo)
        .args([
            "demo",
            "--events",
            "8000",
            "--partitions",
            "2",
            "--app-id",
            "readers",
        ])
        .arg("--state-dir")
        .arg(dir.path().join("checkpoints"))
        .arg("--output-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    let accepted: usize = report
        .lines()
        .find_map(|l| {
            let l = l.trim_matches(|c: char| c == '│' || c.is_whitespace());
            l.strip_prefix("accepted")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no accepted count in:\n{report}"));

    let def = streams_runtime::load_topology(&repo.join("topology/clickstream.toml")).unwrap();
    let mut tables = Vec::new();
    for t in def.tables().unwrap() {
        let tdir = data.join("readers").join(&t.name);
        // What the app wrote, counted by our own reader; events_clean must hold every
        // accepted event.
        let rows = streams_parquet::read::read_table_json(&tdir).unwrap().len();
        if t.name == "events_clean" {
            assert_eq!(rows, accepted);
        }
        assert!(rows > 0, "{} is empty", t.name);
        tables.push(common::reader_table(&tdir, "parquet", rows, &t));
    }
    // The declared summaries the demo ran (the daily summary), partitioned by date.
    assert!(!def.summaries.is_empty());
    for s in &def.summaries {
        let mut schema = s.schema.clone();
        let mut partition_by = Vec::new();
        if let Some(d) = &s.date_column {
            partition_by.push(schema.columns.len());
            schema.columns.push(streams_core::value::Column::new(
                d,
                streams_core::ColumnType::Date,
            ));
        }
        let info = streams_core::topology::TableInfo {
            name: s.spec.name.clone(),
            schema,
            key_columns: Vec::new(),
            partition_by,
        };
        let tdir = data.join("readers").join(&info.name);
        let rows = streams_parquet::read::read_table_json(&tdir).unwrap().len();
        assert!(rows > 0, "{} is empty", info.name);
        tables.push(common::reader_table(&tdir, "parquet", rows, &info));
    }
    let text = common::check_with_readers(&tables);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        3 * tables.len(),
        "{text}"
    );
}
