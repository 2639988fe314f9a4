use std::sync::Arc;

use super::*;
use crate::batch::Origin;
use crate::input::{FieldSpec, InputSchema};
use crate::record::SourceRecord;
use crate::value::ColumnType;

fn people() -> InputSchema {
    InputSchema {
        fields: vec![
            FieldSpec {
                required: true,
                ..FieldSpec::new("name", ColumnType::Str)
            },
            FieldSpec::new("age", ColumnType::Int),
            FieldSpec::new("city", ColumnType::Str),
        ],
        max_future_ms: None,
        ..InputSchema::default()
    }
}

fn batch_of(lines: &[&str]) -> Batch {
    let d = people().compile().unwrap();
    let recs: Vec<SourceRecord> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| SourceRecord {
            topic: Arc::from("people"),
            partition: 0,
            offset: i as i64,
            timestamp: 1_000 + i as i64,
            key: None,
            value: l.as_bytes().to_vec(),
        })
        .collect();
    let out = d.decode(&recs).unwrap();
    let n = out.rows.len();
    let origin = out
        .rows
        .iter()
        .map(|&r| Origin {
            partition: 0,
            offset: r as i64,
        })
        .collect();
    Batch::new(out.batch, out.event_ts, vec![i64::MIN; n], origin).unwrap()
}

fn rows(b: &Batch) -> Vec<String> {
    super::harness::render(b)
}

#[test]
fn filter_map_and_fan_out_reach_their_sinks() {
    let mut b = TopologyBuilder::new("people", people().schema());
    let src = b.source();
    let adults = b.filter("adults", &src, "age >= 18");
    let shaped = b.map(
        "shaped",
        &adults,
        &MapSpec {
            set: vec![
                ("city".into(), "upper(coalesce(city, 'unknown'))".into()),
                ("decade".into(), "age - age % 10".into()),
            ],
            drop: vec!["age".into()],
            rename: vec![("name".into(), "who".into())],
            select: vec![],
        },
    );
    b.sink("adults_out", &shaped, &["who"]);
    b.sink("raw", &src, &[]);
    let mut t = b.build().unwrap();
    t.init(i64::MIN, |_| unreachable!("no stores")).unwrap();
    t.process(batch_of(&[
        r#"{"name":"ann","age":34,"city":"oslo"}"#,
        r#"{"name":"bob","age":12}"#,
        r#"{"name":"cy","age":null}"#,
        r#"{"name":"di","age":18}"#,
    ]))
    .unwrap();
    let out = t.take_outputs();
    assert_eq!(t.sinks()[0].name, "adults_out");
    assert_eq!(t.sinks()[0].key_columns, vec![0]);
    let names: Vec<&str> = t.sinks()[0]
        .schema
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["who", "city", "decade"]);
    assert_eq!(rows(&out[0][0]), ["ann,OSLO,30", "di,UNKNOWN,10"]);
    assert_eq!(out[0][0].origin()[1].offset, 3);
    assert_eq!(out[1][0].len(), 4);
    let counters = t.counters();
    assert_eq!(
        counters[0],
        (
            "adults",
            NodeCounters {
                filtered: 2,
                ..Default::default()
            }
        )
    );
    let text = t.describe();
    assert!(
        text.contains("processor adults (filter: where age >= 18) <- people"),
        "{text}"
    );
    assert!(
        text.contains("sink adults_out <- shaped (key: who)"),
        "{text}"
    );
}

#[test]
fn every_build_problem_is_reported_once() {
    let mut b = TopologyBuilder::new("people", people().schema());
    let src = b.source();
    let bad = b.filter("bad", &src, "agee > 1");
    // Reads a broken stream: not checked again.
    let _ = b.filter("downstream", &bad, "nonsense = 1");
    let _ = b.filter("typed", &src, "name + 1 > 2");
    let m = b.map(
        "m",
        &src,
        &MapSpec {
            set: vec![("x".into(), "frob(age)".into())],
            drop: vec!["nope".into()],
            rename: vec![("city".into(), "name".into())],
            select: vec![],
        },
    );
    b.sink("m", &m, &[]);
    b.sink("m", &src, &[]);
    b.sink("out", &src, &["missing"]);
    let errs: Vec<String> = match b.build() {
        Ok(_) => panic!("built"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    let wants = [
        "processor `bad`: where `agee > 1`: at column 1: unknown column `agee` (did you mean `age`?)",
        "processor `typed`: where `name + 1 > 2`: at column 1: `+` needs a number, found string",
        "processor `m`: set `x` = `frob(age)`: at column 1: unknown function `frob`",
        "processor `m`: drop: there is no column `nope`",
        "processor `m`: rename `city` to `name`: `name` exists already",
        "processor `m`: two sinks have this name",
        "processor `out`: key column `missing` is not a column of `people`",
    ];
    assert_eq!(errs.len(), wants.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(wants) {
        assert!(
            got.starts_with(want),
            "`{got}` does not start with `{want}`"
        );
    }
}

fn events() -> InputSchema {
    InputSchema {
        fields: vec![
            FieldSpec::new("id", ColumnType::Str),
            FieldSpec::new("ts", ColumnType::Int),
        ],
        event_time: Some("to_timestamp(ts)".into()),
        max_future_ms: None,
        ..InputSchema::default()
    }
}

fn dedup_topology(b: &mut TopologyBuilder) {
    let src = b.source();
    let d = b.dedup("dedup", &src, "id", 100);
    b.sink("out", &d, &[]);
}

#[test]
fn dedup_first_wins_and_entries_expire_by_the_rows_watermark() {
    let mut h = super::harness::Harness::new(events(), dedup_topology);
    // (id, event time, watermark the row entered with, kept?)
    let cases = [
        ("a", 10, i64::MIN, true),
        ("a", 10, i64::MIN, false),
        ("b", 20, 50, true),
        ("a", 15, 109, false), // a expires at 110
        ("a", 15, 110, true),  // expired: accepted again, new expiry 115
        ("a", 15, 114, false),
        ("c", 0, 200, true), // already expired on arrival: not stored
        ("c", 0, 200, true),
    ];
    for (i, (id, ts, w, kept)) in cases.into_iter().enumerate() {
        let line = format!(r#"{{"id":"{id}","ts":{ts}}}"#);
        let b = h.batch(&[&line], 0, w);
        h.topology.process(b).unwrap();
        assert_eq!(h.take(0).len() == 1, kept, "case {i}");
    }
    assert_eq!(h.topology.counters()[0].1.duplicate, 3);
    // The same rows in one batch, each with its own watermark, decide the same way.
    let mut h = super::harness::Harness::new(events(), dedup_topology);
    let lines: Vec<String> = cases
        .iter()
        .map(|(id, ts, _, _)| format!(r#"{{"id":"{id}","ts":{ts}}}"#))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let b = h.batch(&refs, 0, 0);
    let wms: Vec<i64> = cases.iter().map(|c| c.2).collect();
    let b = Batch::new(
        b.data().clone(),
        b.time().to_vec(),
        wms,
        b.origin().to_vec(),
    )
    .unwrap();
    h.topology.process(b).unwrap();
    let kept: Vec<String> = h.take(0);
    let want: Vec<String> = cases
        .iter()
        .filter(|c| c.3)
        .map(|(id, ts, _, _)| format!("{id},{ts}"))
        .collect();
    assert_eq!(kept, want);
}

#[test]
fn dedup_keeps_committed_entries_across_a_crash() {
    let mut h = super::harness::Harness::new(events(), dedup_topology);
    h.run(&[r#"{"id":"x","ts":0}"#], 0, 0);
    h.commit();
    h.run(&[r#"{"id":"y","ts":0}"#], 0, 0);
    assert_eq!(h.take(0).len(), 2);
    h.crash();
    h.run(&[r#"{"id":"x","ts":0}"#, r#"{"id":"y","ts":0}"#], 0, 0);
    assert_eq!(h.take(0), ["y,0"]);
}

fn dim(
    origin: &str,
    columns: Vec<crate::value::Column>,
    arrays: Vec<arrow::array::ArrayRef>,
) -> DimTable {
    let schema = crate::value::Schema { columns };
    let data = arrow::array::RecordBatch::try_new(schema.arrow(), arrays).unwrap();
    DimTable {
        origin: origin.into(),
        schema,
        data,
    }
}

#[test]
fn lookup_joins_chain_and_fill_defaults() {
    use crate::value::{Column, Value};
    use arrow::array::{BooleanArray, Int64Array, StringArray};
    let users = dim(
        "users.csv",
        vec![
            Column::new("user_id", ColumnType::Int),
            Column::new("name", ColumnType::Str),
            Column::new("segment", ColumnType::Str),
        ],
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 1])),
            Arc::new(StringArray::from(vec!["ann", "bob", "dup"])),
            Arc::new(StringArray::from(vec!["premium", "gold", "x"])),
        ],
    );
    let segments = dim(
        "segments.csv",
        vec![
            Column::new("segment", ColumnType::Str),
            Column::new("is_premium", ColumnType::Bool),
        ],
        vec![
            Arc::new(StringArray::from(vec!["premium", "basic"])),
            Arc::new(BooleanArray::from(vec![true, false])),
        ],
    );
    let input = InputSchema {
        fields: vec![FieldSpec::new("user_id", ColumnType::Int)],
        max_future_ms: None,
        ..InputSchema::default()
    };
    let mut h = super::harness::Harness::new(input, move |b| {
        let src = b.source();
        let u = b.lookup_join(
            "users",
            &src,
            &users,
            &LookupJoinSpec {
                key: vec!["coalesce(user_id, 0)".into()],
                table_key: vec!["user_id".into()],
                columns: vec![
                    ("name".into(), "user_name".into()),
                    ("segment".into(), "segment".into()),
                ],
                defaults: vec![("segment".into(), Value::Str("unknown".into()))],
            },
        );
        let s = b.lookup_join(
            "segments",
            &u,
            &segments,
            &LookupJoinSpec {
                key: vec!["segment".into()],
                table_key: vec!["segment".into()],
                columns: vec![("is_premium".into(), "is_premium".into())],
                defaults: vec![("is_premium".into(), Value::Bool(false))],
            },
        );
        b.sink("out", &s, &[]);
    });
    h.run(
        &[
            r#"{"user_id":1}"#,
            r#"{"user_id":2}"#,
            r#"{"user_id":9}"#,
            r#"{}"#,
        ],
        0,
        0,
    );
    assert_eq!(
        h.take(0),
        [
            "1,ann,premium,true",
            "2,bob,gold,false",
            "9,NULL,unknown,false",
            "NULL,NULL,unknown,false",
        ]
    );
}

#[test]
fn lookup_join_problems_are_listed() {
    use crate::value::{Column, Value};
    use arrow::array::{Int64Array, StringArray};
    let users = dim(
        "users.csv",
        vec![
            Column::new("user_id", ColumnType::Int),
            Column::new("name", ColumnType::Str),
        ],
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(StringArray::from(vec!["ann"])),
        ],
    );
    let mut b = TopologyBuilder::new("people", people().schema());
    let src = b.source();
    let _ = b.lookup_join(
        "j",
        &src,
        &users,
        &LookupJoinSpec {
            key: vec!["name".into(), "age".into()],
            table_key: vec!["user_id".into(), "userid".into()],
            columns: vec![("nam".into(), "n".into()), ("name".into(), "city".into())],
            defaults: vec![("z".into(), Value::Int(1))],
        },
    );
    let errs: Vec<String> = match b.build() {
        Ok(_) => panic!("built"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    let wants = [
        "processor `j`: key `name` is a string but table_key `user_id` is a bigint",
        "processor `j`: table_key `userid` is not a column of users.csv (columns: user_id, name)",
        "processor `j`: column `nam` is not a column of users.csv",
        "processor `j`: column `city` is already in the row",
        "processor `j`: default for `z`, which the join does not bring",
    ];
    assert_eq!(errs.len(), wants.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(wants) {
        assert!(
            got.starts_with(want),
            "`{got}` does not start with `{want}`"
        );
    }
}
