use std::sync::Arc;

use super::*;
use crate::dataflow::harness::{people, Harness};
use crate::dataflow::TopologyBuilder;
use crate::input::{FieldSpec, InputSchema};
use crate::value::ColumnType;

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
    let mut h = Harness::new(input, move |b| {
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
