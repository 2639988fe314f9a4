use std::time::Duration;

use streams_core::topology::TableInfo;
use streams_core::{Column, ColumnType, Schema, Value};
use streams_runtime::outbox::plan_outbox;

use super::*;
use crate::read::{read_table_json, visible_files};

fn table() -> TableInfo {
    TableInfo {
        name: "t".into(),
        schema: Schema {
            columns: vec![
                Column::new("window_start", ColumnType::Timestamp),
                Column::new("country", ColumnType::Str),
                Column::new("events", ColumnType::Int),
                Column::new("revenue", ColumnType::Float),
                Column::nullable("premium", ColumnType::Bool),
                Column::new("event_date", ColumnType::Date),
            ],
        },
        key_columns: vec![1],
        partition_by: vec![5],
    }
}

/// Epoch `e` has `n` rows, half on day 0 and half on day 1.
fn epoch(e: u64, n: i64) -> Vec<OutboxBatch> {
    let rows: Vec<Vec<Value>> = (0..n)
        .map(|i| {
            vec![
                Value::Timestamp(i * 1000),
                Value::Str(format!("e{e}-{i}").into()),
                Value::Int(i),
                Value::Float(i as f64 * 0.5),
                if i % 3 == 0 {
                    Value::Null
                } else {
                    Value::Bool(i % 2 == 0)
                },
                Value::Date((i % 2) as i32),
            ]
        })
        .collect();
    plan_outbox(
        0,
        e,
        vec![streams_runtime::outbox::TableRows {
            rows: vec![rows.into()],
            updates: Vec::new(),
        }],
        vec![],
    )
}

fn cfg(dir: &Path) -> ParquetSinkConfig {
    ParquetSinkConfig {
        output_dir: dir.to_path_buf(),
        app_id: "app".into(),
        task: 0,
        max_file_bytes: 128 << 20,
        max_file_age: Duration::from_secs(3600),
        format: FileFormat::Parquet,
        tables: Vec::new(),
    }
}

fn countries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = read_table_json(&dir.join("app/t"))
        .unwrap()
        .iter()
        .map(|r| r["country"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn files_are_published_whole_and_typed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = ParquetSink::open(cfg(dir.path()), &[table()], &[]).unwrap();
    s.deliver(&epoch(1, 10)).unwrap();
    s.deliver(&epoch(2, 4)).unwrap();
    assert_eq!(s.durable_through(), Some(2), "staged rows are durable");
    assert!(
        visible_files(&dir.path().join("app/t")).unwrap().is_empty(),
        "staged files are hidden"
    );
    s.publish_all().unwrap();
    assert_eq!(s.durable_through(), Some(2));
    let files = visible_files(&dir.path().join("app/t")).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        vec![
            "app/t/event_date=1970-01-01/part-00000000000000000001-00000000000000000002-0000.parquet",
            "app/t/event_date=1970-01-02/part-00000000000000000001-00000000000000000002-0000.parquet",
        ]
    );
    let batches = crate::read::read_file(&files[0]).unwrap();
    let schema = batches[0].schema();
    assert_eq!(
        schema.field(0).data_type(),
        &arrow::datatypes::DataType::Timestamp(
            arrow::datatypes::TimeUnit::Millisecond,
            Some("UTC".into())
        )
    );
    assert_eq!(
        schema.field(2).data_type(),
        &arrow::datatypes::DataType::Int64
    );
    assert_eq!(
        schema.field(3).data_type(),
        &arrow::datatypes::DataType::Float64
    );
    // The partition column lives in the directory name only (Hive's layout), so that
    // readers that add it from the path (pyarrow, pandas) do not see it twice.
    assert_eq!(schema.fields().len(), 5);
    assert!(schema.field_with_name("event_date").is_err());
    assert_eq!(countries(dir.path()).len(), 14);
    let rows = crate::read::read_table_json(&dir.path().join("app/t")).unwrap();
    assert!(rows
        .iter()
        .all(|r| r["event_date"] == "1970-01-01" || r["event_date"] == "1970-01-02"));
}

/// `batches` with every entry's rows as the engine's columns.
fn as_columns(batches: Vec<OutboxBatch>, schema: &Schema) -> Vec<OutboxBatch> {
    batches
        .into_iter()
        .map(|mut b| {
            if let OutboxPayload::Rows(r) = &b.payload {
                let data = r.columns(schema).unwrap().into_owned();
                b.payload = OutboxPayload::Rows(streams_runtime::EntryRows::Columns(data));
            }
            b
        })
        .collect()
}

#[test]
fn columns_and_rows_make_the_same_files() {
    let info = table();
    let files = |batches: Vec<Vec<OutboxBatch>>| {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ParquetSink::open(cfg(dir.path()), std::slice::from_ref(&info), &[]).unwrap();
        for b in batches {
            s.deliver(&b).unwrap();
        }
        s.publish_all().unwrap();
        let root = dir.path().join("app/t");
        visible_files(&root)
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f.strip_prefix(dir.path()).unwrap().to_path_buf(),
                    std::fs::read(f).unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    // Two entries per epoch, each with rows of both days: a file's rows are gathered
    // from both, in order.
    let two = |e: u64| {
        let mut b = epoch(e, 10);
        let mut second = epoch(e, 6).remove(0);
        second.first_seq = 10;
        b.push(second);
        b
    };
    let rows = files(vec![two(1), two(2)]);
    let columns = files(vec![
        as_columns(two(1), &info.schema),
        as_columns(two(2), &info.schema),
    ]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows, columns);
    // A column computed as another Arrow type (timestamps without a zone) is cast.
    let unzoned = |batches: Vec<OutboxBatch>| {
        as_columns(batches, &info.schema)
            .into_iter()
            .map(|mut b| {
                if let OutboxPayload::Rows(streams_runtime::EntryRows::Columns(d)) = &b.payload {
                    let mut cols = d.columns().to_vec();
                    cols[0] = arrow::compute::cast(
                        &cols[0],
                        &arrow::datatypes::DataType::Timestamp(
                            arrow::datatypes::TimeUnit::Millisecond,
                            None,
                        ),
                    )
                    .unwrap();
                    let d = arrow::array::RecordBatch::try_from_iter(
                        d.schema()
                            .fields()
                            .iter()
                            .map(|f| f.name().clone())
                            .zip(cols),
                    )
                    .unwrap();
                    b.payload = OutboxPayload::Rows(streams_runtime::EntryRows::Columns(d));
                }
                b
            })
            .collect()
    };
    assert_eq!(files(vec![unzoned(two(1)), unzoned(two(2))]), rows);
}

#[test]
fn crash_then_redelivery_leaves_exactly_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = ParquetSink::open(cfg(dir.path()), &[table()], &[]).unwrap();
    s.deliver(&epoch(1, 6)).unwrap();
    s.publish_all().unwrap(); // epoch 1 published, but the outbox cleanup never happens
    s.deliver(&epoch(2, 6)).unwrap(); // staged only
    drop(s); // crash: a hidden staged file remains
    let staged = walk_hidden(dir.path());
    assert_eq!(staged.len(), 2, "{staged:?}");

    // restart: the outbox still holds epochs 1 and 2; both are delivered again
    let mut s = ParquetSink::open(cfg(dir.path()), &[table()], &[]).unwrap();
    assert!(
        walk_hidden(dir.path()).is_empty(),
        "staged leftovers removed"
    );
    s.deliver(&[epoch(1, 6), epoch(2, 6)].concat()).unwrap();
    s.publish_all().unwrap();
    let mut want: Vec<String> = (1..=2)
        .flat_map(|e| (0..6).map(move |i| format!("e{e}-{i}")))
        .collect();
    want.sort();
    assert_eq!(countries(dir.path()), want);

    // and again after everything is published: nothing changes
    let mut s = ParquetSink::open(cfg(dir.path()), &[table()], &[]).unwrap();
    s.deliver(&[epoch(1, 6), epoch(2, 6)].concat()).unwrap();
    s.publish_all().unwrap();
    assert_eq!(countries(dir.path()), want);
}

#[test]
fn files_roll_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.max_file_bytes = 1;
    let mut s = ParquetSink::open(c, &[table()], &[]).unwrap();
    for e in 1..=3 {
        s.deliver(&epoch(e, 2)).unwrap();
        s.roll().unwrap();
    }
    assert_eq!(visible_files(&dir.path().join("app/t")).unwrap().len(), 6);
    assert_eq!(s.durable_through(), Some(3));
}

#[test]
fn a_restart_keeps_the_staged_rows_the_checkpoint_recorded_and_cuts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = ParquetSink::open(cfg(dir.path()), &[table()], &[]).unwrap();
    s.deliver(&epoch(1, 6)).unwrap();
    // the checkpoint records the staging after epoch 1, and the outbox forgets epoch 1
    let committed = s.staged();
    assert_eq!(committed.len(), 2, "one staging file per date");
    assert!(committed
        .iter()
        .all(|f| f.first_epoch == 1 && f.last_epoch == 1 && f.len > 0));
    s.deliver(&epoch(2, 6)).unwrap(); // staged, but no checkpoint records it
    drop(s); // crash

    // restart: epoch 1 lives only in the staging files now; epoch 2 is still in the outbox
    let mut s = ParquetSink::open(cfg(dir.path()), &[table()], &committed).unwrap();
    assert_eq!(s.staged(), committed, "cut back to the committed length");
    s.deliver(&epoch(2, 6)).unwrap();
    s.publish_all().unwrap();
    let mut want: Vec<String> = (1..=2)
        .flat_map(|e| (0..6).map(move |i| format!("e{e}-{i}")))
        .collect();
    want.sort();
    assert_eq!(countries(dir.path()), want, "each row once");
    assert!(walk_hidden(dir.path()).is_empty(), "nothing staged is left");

    // a checkpoint that still names the published staging files: nothing to resume
    let s = ParquetSink::open(cfg(dir.path()), &[table()], &committed).unwrap();
    assert!(s.staged().is_empty());
    assert_eq!(countries(dir.path()), want);

    // committed rows missing from disk are an error, never silently lost
    std::fs::remove_dir_all(dir.path().join("app/t")).unwrap();
    assert!(ParquetSink::open(cfg(dir.path()), &[table()], &committed).is_err());
}

fn walk_hidden(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.file_name().to_string_lossy().starts_with('.') {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn several_partition_columns_nest_escape_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut info = table();
    // premium (with NULLs), then the date; countries like `e1-0` stay in the files.
    info.partition_by = vec![4, 5];
    let mut s = ParquetSink::open(cfg(dir.path()), std::slice::from_ref(&info), &[]).unwrap();
    s.deliver(&epoch(1, 6)).unwrap();
    let staged = s.staged();
    drop(s);
    // A restart finds the staging files under their nested directories and resumes them.
    let mut s = ParquetSink::open(cfg(dir.path()), std::slice::from_ref(&info), &staged).unwrap();
    s.deliver(&epoch(1, 6)).unwrap(); // a re-delivery changes nothing
    s.publish_all().unwrap();
    let mut names: Vec<String> = visible_files(&dir.path().join("app/t"))
        .unwrap()
        .iter()
        .map(|f| {
            f.parent()
                .unwrap()
                .strip_prefix(dir.path().join("app/t"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "premium=__HIVE_DEFAULT_PARTITION__/event_date=1970-01-01",
            "premium=__HIVE_DEFAULT_PARTITION__/event_date=1970-01-02",
            "premium=false/event_date=1970-01-02",
            "premium=true/event_date=1970-01-01",
        ]
    );
    let rows = read_table_json(&dir.path().join("app/t")).unwrap();
    assert_eq!(rows.len(), 6);
    for r in &rows {
        let i: i64 = r["events"].as_i64().unwrap();
        let premium = if i % 3 == 0 {
            serde_json::Value::Null
        } else {
            serde_json::Value::String((i % 2 == 0).to_string())
        };
        assert_eq!(r["premium"], premium, "{r}");
        assert_eq!(
            r["event_date"],
            if i % 2 == 0 {
                "1970-01-01"
            } else {
                "1970-01-02"
            }
        );
    }
    let file = &visible_files(&dir.path().join("app/t")).unwrap()[0];
    let schema = crate::read::read_file(file).unwrap()[0].schema();
    let cols: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(cols, ["window_start", "country", "events", "revenue"]);
}
