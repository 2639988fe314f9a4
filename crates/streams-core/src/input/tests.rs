use std::sync::Arc;

use arrow::array::Array;
use arrow::util::display::array_value_to_string;

use super::*;
use crate::record::SourceRecord;

const TS: i64 = 1_700_000_000_000;

fn field(name: &str, ty: ColumnType) -> FieldSpec {
    FieldSpec::new(name, ty)
}

fn lower_or_unknown(name: &str, upper: bool, fallback: &str) -> FieldSpec {
    FieldSpec {
        clean: Clean {
            trim: true,
            upper: Some(upper),
            empty_as_null: true,
        },
        default: Some(Value::Str(fallback.into())),
        ..field(name, ColumnType::Str)
    }
}

/// The clickstream's input (DESIGN §3.1) declared with the general schema.
fn clickstream() -> InputSchema {
    InputSchema {
        fields: vec![
            FieldSpec {
                required: true,
                clean: Clean {
                    empty_as_null: true,
                    ..Clean::default()
                },
                reason: Some("invalid_event".into()),
                ..field("event_id", ColumnType::Str)
            },
            FieldSpec {
                default: Some(Value::Int(0)),
                ..field("user_id", ColumnType::Int)
            },
            field("product_id", ColumnType::Int),
            lower_or_unknown("event_type", false, "unknown"),
            FieldSpec {
                clean: Clean {
                    empty_as_null: true,
                    ..Clean::default()
                },
                default: Some(Value::Str("unknown".into())),
                ..field("page", ColumnType::Str)
            },
            lower_or_unknown("device", false, "unknown"),
            lower_or_unknown("country", true, "UNKNOWN"),
            FieldSpec {
                default: Some(Value::Float(0.0)),
                ..field("amount", ColumnType::Float)
            },
            FieldSpec {
                on_invalid: OnInvalid::Null,
                ..field("event_time", ColumnType::Timestamp)
            },
        ],
        metadata: vec![(Metadata::Timestamp, "kafka_ts".into())],
        event_time: Some("coalesce(event_time, kafka_ts)".into()),
        event_time_column: Some("event_ts".into()),
        checks: vec![Check {
            expr: "amount >= 0 AND isfinite(amount)".into(),
            reason: "invalid_amount".into(),
        }],
        ..InputSchema::default()
    }
}

fn rec(i: i64, value: &str) -> SourceRecord {
    SourceRecord {
        topic: Arc::from("in"),
        partition: 3,
        offset: 100 + i,
        timestamp: TS,
        key: Some(b"k".to_vec()),
        value: value.as_bytes().to_vec(),
    }
}

fn decode_one(schema: &InputSchema, json: &str) -> Result<Vec<String>, DeadLetter> {
    let d = schema.compile().unwrap();
    let out = d.decode(&[rec(0, json)]).unwrap();
    if let Some((_, dl)) = out.dead.into_iter().next() {
        return Err(dl);
    }
    assert_eq!(out.batch.num_rows(), 1);
    Ok(out
        .batch
        .columns()
        .iter()
        .map(|c| {
            if c.is_null(0) {
                "NULL".into()
            } else {
                array_value_to_string(c, 0).unwrap()
            }
        })
        .collect())
}

#[test]
fn dead_letter_reason_table() {
    let s = clickstream();
    let cases: &[(&str, Option<&str>)] = &[
        (r#"{"event_id":"a"}"#, None),
        ("not json", Some("malformed_json")),
        ("[1,2]", Some("malformed_json")),
        ("\"str\"", Some("malformed_json")),
        ("", Some("malformed_json")),
        (r#"{"event_id":"a""#, Some("malformed_json")),
        (r#"{"event_id":"a"} x"#, Some("malformed_json")),
        (r#"{"event_id":"a","event_id":"b"}"#, Some("malformed_json")),
        ("{}", Some("invalid_event")),
        (r#"{"event_id":""}"#, Some("invalid_event")),
        (r#"{"event_id":"  "}"#, Some("invalid_event")),
        (r#"{"event_id":7}"#, Some("invalid_event")),
        (r#"{"event_id":null}"#, Some("invalid_event")),
        (r#"{"event_id":7,"user_id":"x"}"#, Some("invalid_event")),
        (r#"{"event_id":"a","user_id":"7"}"#, Some("invalid_field")),
        (r#"{"event_id":"a","user_id":7.5}"#, Some("invalid_field")),
        (
            r#"{"event_id":"a","product_id":[1]}"#,
            Some("invalid_field"),
        ),
        (r#"{"event_id":"a","device":5}"#, Some("invalid_field")),
        (r#"{"event_id":"a","country":{}}"#, Some("invalid_field")),
        (r#"{"event_id":"a","amount":"12"}"#, Some("invalid_field")),
        (r#"{"event_id":"a","amount":-1}"#, Some("invalid_amount")),
        (
            r#"{"event_id":"a","amount":-1,"user_id":"x"}"#,
            Some("invalid_field"),
        ),
        (r#"{"event_id":"a","amount":1e999}"#, Some("malformed_json")),
        (
            r#"{"event_id":"a","event_time":true}"#,
            Some("invalid_field"),
        ),
        (r#"{"event_id":"a","event_time":"soon"}"#, None),
        (r#"{"event_id":"a","event_time":1.5}"#, None),
        (r#"{"event_id":"a","event_time":1700003600000}"#, None),
        (
            r#"{"event_id":"a","event_time":1700003600001}"#,
            Some("future_timestamp"),
        ),
        (
            r#"{"event_id":"a","amount":-1,"event_time":1800000000000}"#,
            Some("invalid_amount"),
        ),
        (r#"{"event_id":"a","unknown":{"deep":[1,{"x":2}]}}"#, None),
    ];
    for (json, want) in cases {
        let got = decode_one(&s, json).err().map(|d| d.reason);
        assert_eq!(got.as_deref(), *want, "{json}");
    }
    let mut small = clickstream();
    small.max_record_bytes = 10;
    assert_eq!(
        decode_one(&small, r#"{"event_id":"a"}"#)
            .unwrap_err()
            .reason,
        "too_large"
    );
}

#[test]
fn accepted_records_are_cleaned_and_defaulted() {
    let s = clickstream();
    let row = decode_one(
        &s,
        r#"{"event_id":" e1 ","user_id":null,"event_type":" Page_View ","page":"  ","device":"MOBILE","country":" us ","amount":3,"event_time":"2023-11-14T22:13:20.500+00:00"}"#,
    )
    .unwrap();
    assert_eq!(
        row,
        [
            " e1 ",
            "0",
            "NULL",
            "page_view",
            "unknown",
            "mobile",
            "US",
            "3.0",
            "2023-11-14T22:13:20.500Z",
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20.500Z",
        ]
    );
    // Missing event time, or one that does not parse: the Kafka timestamp.
    for json in [
        r#"{"event_id":"a"}"#,
        r#"{"event_id":"a","event_time":"soon"}"#,
    ] {
        let row = decode_one(&s, json).unwrap();
        assert_eq!(row[10], "2023-11-14T22:13:20Z", "{json}");
        assert_eq!(row[3], "unknown");
        assert_eq!(row[6], "UNKNOWN");
    }
}

#[test]
fn a_batch_keeps_input_order_and_reports_each_rejection() {
    let d = clickstream().compile().unwrap();
    let recs = vec![
        rec(0, r#"{"event_id":"a","amount":1}"#),
        rec(1, "oops"),
        rec(2, r#"{"event_id":"b","amount":-2}"#),
        rec(3, r#"{"event_id":"c","event_time":1700000001000}"#),
    ];
    let out = d.decode(&recs).unwrap();
    assert_eq!(out.rows, vec![0, 3]);
    assert_eq!(out.event_ts, vec![TS, TS + 1000]);
    assert_eq!(out.batch.num_rows(), 2);
    let reasons: Vec<(u32, &str)> = out
        .dead
        .iter()
        .map(|(i, d)| (*i, d.reason.as_str()))
        .collect();
    assert_eq!(reasons, vec![(1, "malformed_json"), (2, "invalid_amount")]);
    assert_eq!(
        out.dead[1].1.detail,
        "check `amount >= 0 AND isfinite(amount)` failed: amount = -2.0"
    );
}

#[test]
fn nested_paths_and_metadata_columns() {
    let s = InputSchema {
        fields: vec![
            FieldSpec {
                path: vec!["sensor".into(), "id".into()],
                required: true,
                ..field("id", ColumnType::Str)
            },
            FieldSpec {
                path: vec!["reading".into(), "value".into()],
                ..field("value", ColumnType::Float)
            },
            FieldSpec {
                path: vec!["reading".into(), "at".into()],
                ..field("ts", ColumnType::Timestamp)
            },
        ],
        metadata: vec![
            (Metadata::Key, "k".into()),
            (Metadata::Partition, "p".into()),
            (Metadata::Offset, "o".into()),
            (Metadata::Topic, "t".into()),
        ],
        event_time: Some("ts".into()),
        max_future_ms: None,
        ..InputSchema::default()
    };
    let row = decode_one(
        &s,
        r#"{"reading":{"value":2.5,"at":"2026-01-01T00:00:00Z","extra":1},"sensor":{"id":"s-1"}}"#,
    )
    .unwrap();
    assert_eq!(
        row,
        ["s-1", "2.5", "2026-01-01T00:00:00Z", "k", "3", "100", "in"]
    );
    assert_eq!(
        decode_one(&s, r#"{"sensor":"s-1"}"#).unwrap_err().reason,
        "invalid_field"
    );
    assert_eq!(
        decode_one(&s, r#"{"sensor":null}"#).unwrap_err().reason,
        "missing_field"
    );
    let no_time = decode_one(&s, r#"{"sensor":{"id":"x"}}"#).unwrap_err();
    assert_eq!(no_time.reason, "invalid_event_time");
}

#[test]
fn every_declaration_problem_is_listed() {
    let s = InputSchema {
        fields: vec![
            FieldSpec {
                default: Some(Value::Str("x".into())),
                ..field("n", ColumnType::Int)
            },
            FieldSpec {
                clean: Clean {
                    trim: true,
                    ..Clean::default()
                },
                ..field("m", ColumnType::Float)
            },
            field("n", ColumnType::Str),
        ],
        event_time: Some("m".into()),
        checks: vec![
            Check {
                expr: "mm > 0".into(),
                reason: "bad_m".into(),
            },
            Check {
                expr: "m + 1".into(),
                reason: "x".into(),
            },
        ],
        ..InputSchema::default()
    };
    let errs: Vec<String> = s
        .compile()
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    let wants = [
        "column `n` is declared twice",
        "source field `n`: the default",
        "source field `m`: cleaning",
        "source field `n`: reads the same JSON path as `n`",
        "source event_time: `m` is a double, expected a timestamp",
        "source check 1 (`bad_m`): `mm > 0`: at column 1: unknown column `mm` (did you mean `m`?)",
        "source check 2 (`x`): `m + 1` is a double, expected a boolean",
    ];
    assert_eq!(errs.len(), wants.len(), "{errs:#?}");
    for w in wants {
        assert!(
            errs.iter().any(|e| e.contains(w)),
            "missing `{w}` in {errs:#?}"
        );
    }
}
