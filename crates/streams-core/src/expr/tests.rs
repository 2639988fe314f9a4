use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::util::display::array_value_to_string;

use super::*;
use crate::value::Column;

fn schema() -> Schema {
    Schema {
        columns: vec![
            Column::nullable("name", ColumnType::Str),
            Column::nullable("age", ColumnType::Int),
            Column::new("score", ColumnType::Float),
            Column::new("ts", ColumnType::Timestamp),
            Column::new("day", ColumnType::Date),
            Column::nullable("ok", ColumnType::Bool),
            Column::new("Country", ColumnType::Str),
        ],
    }
}

/// Four rows: a typical one, one with NULLs, an edge case, a negative one.
fn batch() -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![
            Some(" Ann "),
            None,
            Some(""),
            Some("bob"),
        ])),
        Arc::new(Int64Array::from(vec![Some(34), None, Some(18), Some(-3)])),
        Arc::new(Float64Array::from(vec![1.25, 0.0, 2.5, -7.5])),
        Arc::new(
            TimestampMillisecondArray::from(vec![0, 60_000, 1_767_225_600_000, 1_000])
                .with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from(vec![0, 1, 20454, -1])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            None,
            Some(false),
            Some(true),
        ])),
        Arc::new(StringArray::from(vec!["US", "de", "FR", "us"])),
    ];
    RecordBatch::try_new(schema().arrow(), cols).unwrap()
}

fn render(a: &dyn Array) -> Vec<String> {
    (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                "NULL".to_string()
            } else {
                array_value_to_string(a, i).unwrap()
            }
        })
        .collect()
}

#[test]
fn expressions_evaluate_over_whole_columns() {
    let cases: &[(&str, ColumnType, [&str; 4])] = &[
        (
            "age >= 18",
            ColumnType::Bool,
            ["true", "NULL", "true", "false"],
        ),
        (
            "age >= 18 AND name IS NOT NULL",
            ColumnType::Bool,
            ["true", "false", "true", "false"],
        ),
        (
            "age >= 18 OR ok",
            ColumnType::Bool,
            ["true", "NULL", "true", "true"],
        ),
        (
            "NOT ok",
            ColumnType::Bool,
            ["false", "NULL", "true", "false"],
        ),
        (
            "name IS NULL",
            ColumnType::Bool,
            ["false", "true", "false", "false"],
        ),
        (
            "age IN (18, 34)",
            ColumnType::Bool,
            ["true", "NULL", "true", "false"],
        ),
        (
            "age NOT IN (18, 34)",
            ColumnType::Bool,
            ["false", "NULL", "false", "true"],
        ),
        (
            "country IN ('US', 'FR')",
            ColumnType::Bool,
            ["true", "false", "true", "false"],
        ),
        (
            "age BETWEEN 0 AND 20",
            ColumnType::Bool,
            ["false", "NULL", "true", "false"],
        ),
        (
            "name LIKE '%n%'",
            ColumnType::Bool,
            ["true", "NULL", "false", "false"],
        ),
        (
            "Country ILIKE 'us'",
            ColumnType::Bool,
            ["true", "false", "false", "true"],
        ),
        (
            "score > age",
            ColumnType::Bool,
            ["false", "NULL", "false", "false"],
        ),
        ("age + 1", ColumnType::Int, ["35", "NULL", "19", "-2"]),
        ("age * 2 - 1", ColumnType::Int, ["67", "NULL", "35", "-7"]),
        (
            "age / 4",
            ColumnType::Float,
            ["8.5", "NULL", "4.5", "-0.75"],
        ),
        (
            "score / (age - 18)",
            ColumnType::Float,
            ["0.078125", "NULL", "NULL", "0.35714285714285715"],
        ),
        ("age % 5", ColumnType::Int, ["4", "NULL", "3", "-3"]),
        (
            "-score",
            ColumnType::Float,
            ["-1.25", "-0.0", "-2.5", "7.5"],
        ),
        (
            "score + age",
            ColumnType::Float,
            ["35.25", "NULL", "20.5", "-10.5"],
        ),
        (
            "CASE WHEN age >= 18 THEN 'adult' WHEN age < 0 THEN 'bad' ELSE 'minor' END",
            ColumnType::Str,
            ["adult", "minor", "adult", "bad"],
        ),
        (
            "CASE WHEN ok THEN score END",
            ColumnType::Float,
            ["1.25", "NULL", "NULL", "-7.5"],
        ),
        (
            "CASE country WHEN 'US' THEN 1 WHEN 'FR' THEN 2.5 ELSE 0 END",
            ColumnType::Float,
            ["1.0", "0.0", "2.5", "0.0"],
        ),
        ("coalesce(age, 0)", ColumnType::Int, ["34", "0", "18", "-3"]),
        (
            "coalesce(name, country, 'x')",
            ColumnType::Str,
            [" Ann ", "de", "", "bob"],
        ),
        ("lower(country)", ColumnType::Str, ["us", "de", "fr", "us"]),
        (
            "upper(trim(name))",
            ColumnType::Str,
            ["ANN", "NULL", "", "BOB"],
        ),
        (
            "length(trim(name))",
            ColumnType::Int,
            ["3", "NULL", "0", "3"],
        ),
        (
            "concat(country, '-', age)",
            ColumnType::Str,
            ["US-34", "NULL", "FR-18", "us--3"],
        ),
        (
            "country || '/' || score",
            ColumnType::Str,
            ["US/1.25", "de/0.0", "FR/2.5", "us/-7.5"],
        ),
        (
            "round(score, 1)",
            ColumnType::Float,
            ["1.3", "0.0", "2.5", "-7.5"],
        ),
        (
            "round(score)",
            ColumnType::Float,
            ["1.0", "0.0", "3.0", "-8.0"],
        ),
        ("round(age, -1)", ColumnType::Int, ["30", "NULL", "20", "0"]),
        (
            "abs(score)",
            ColumnType::Float,
            ["1.25", "0.0", "2.5", "7.5"],
        ),
        (
            "isfinite(score / 0)",
            ColumnType::Bool,
            ["NULL", "NULL", "NULL", "NULL"],
        ),
        (
            "CAST(age AS string)",
            ColumnType::Str,
            ["34", "NULL", "18", "-3"],
        ),
        (
            "CAST(name AS bigint)",
            ColumnType::Int,
            ["NULL", "NULL", "NULL", "NULL"],
        ),
        (
            "TRY_CAST('42' AS int) + age",
            ColumnType::Int,
            ["76", "NULL", "60", "39"],
        ),
        (
            "ts > '1970-01-01T00:00:30Z'",
            ColumnType::Bool,
            ["false", "true", "true", "false"],
        ),
        (
            "ts >= TIMESTAMP '2026-01-01 00:00:00'",
            ColumnType::Bool,
            ["false", "false", "true", "false"],
        ),
        (
            "to_date(ts)",
            ColumnType::Date,
            ["1970-01-01", "1970-01-01", "2026-01-01", "1970-01-01"],
        ),
        (
            "day = DATE '1970-01-02'",
            ColumnType::Bool,
            ["false", "true", "false", "false"],
        ),
        (
            "to_timestamp(age)",
            ColumnType::Timestamp,
            [
                "1970-01-01T00:00:00.034Z",
                "NULL",
                "1970-01-01T00:00:00.018Z",
                "1969-12-31T23:59:59.997Z",
            ],
        ),
        (
            "to_timestamp('2026-01-01T01:00:00+01:00') = ts",
            ColumnType::Bool,
            ["false", "false", "true", "false"],
        ),
        (
            "to_timestamp(name)",
            ColumnType::Timestamp,
            ["NULL", "NULL", "NULL", "NULL"],
        ),
        (
            "ok IS TRUE",
            ColumnType::Bool,
            ["true", "false", "false", "true"],
        ),
        (
            "ok IS NOT FALSE",
            ColumnType::Bool,
            ["true", "true", "false", "true"],
        ),
        (
            "1 + 2 = 3",
            ColumnType::Bool,
            ["true", "true", "true", "true"],
        ),
        ("NULL", ColumnType::Str, ["NULL", "NULL", "NULL", "NULL"]),
        (
            "\"Country\" = 'us'",
            ColumnType::Bool,
            ["false", "false", "false", "true"],
        ),
    ];
    let batch = batch();
    let mut wrong = Vec::new();
    for (text, ty, want) in cases {
        let e = CompiledExpr::compile(text, &schema())
            .unwrap_or_else(|errs| panic!("{text}: {errs:?}"));
        assert_eq!(e.ty(), *ty, "{text}");
        let out = e.eval(&batch).unwrap_or_else(|err| panic!("{text}: {err}"));
        assert_eq!(out.len(), 4, "{text}");
        assert_eq!(out.data_type(), &ty.arrow_type(), "{text}");
        if render(&out) != want.to_vec() {
            wrong.push(format!("{text}: got {:?}", render(&out)));
        }
        if !e.nullable() {
            assert_eq!(out.null_count(), 0, "{text} claims to be non-nullable");
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn predicates_treat_null_as_false() {
    let e = CompiledExpr::compile("age >= 18", &schema()).unwrap();
    assert_eq!(
        e.eval_predicate(&batch()).unwrap(),
        BooleanArray::from(vec![true, false, true, false])
    );
}

#[test]
fn every_problem_is_reported_with_its_position() {
    let cases: &[(&str, &[&str])] = &[
        (
            "contry = 'US'",
            &["at column 1: unknown column `contry` (did you mean `Country`?)"],
        ),
        ("zzz > 1", &["unknown column `zzz` (columns: name, age"]),
        (
            "age + name",
            &["at column 7: `+` needs a number, found string"],
        ),
        (
            "age = 'x' OR score",
            &[
                "at column 7: comparison needs a bigint, found string",
                "at column 14: OR needs a boolean, found double",
            ],
        ),
        (
            "ts = 1",
            &["comparison: cannot compare timestamp with bigint"],
        ),
        ("frobnicate(age)", &["unknown function `frobnicate`"]),
        ("sum(age) > 3", &["`sum` is an aggregate"]),
        ("lower(age)", &["lower needs a string, found bigint"]),
        (
            "round(score, age)",
            &["round: the digits are an integer constant"],
        ),
        ("CAST(ts AS boolean)", &["cannot cast timestamp to boolean"]),
        ("age >", &["syntax error"]),
        (
            "age = 1 age",
            &["syntax error: unexpected `age` after the expression"],
        ),
        ("", &["the expression is empty"]),
        ("t.age = 1", &["columns are named without a qualifier"]),
        (
            "coalesce()",
            &["`coalesce` takes at least 1 argument(s), found 0"],
        ),
        (
            "x = 1 AND y = 2",
            &["unknown column `x`", "unknown column `y`"],
        ),
    ];
    for (text, wants) in cases {
        let errs = match CompiledExpr::compile(text, &schema()) {
            Ok(e) => panic!("{text} compiled to {e:?}"),
            Err(errs) => errs,
        };
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), wants.len(), "{text}: {shown:?}");
        for (got, want) in shown.iter().zip(wants.iter()) {
            assert!(got.contains(want), "{text}: `{got}` lacks `{want}`");
        }
    }
}

#[test]
fn columns_lists_what_an_expression_reads() {
    let e = CompiledExpr::compile(
        "coalesce(age, 0) > 1 AND lower(Country) = 'us' AND age < 9",
        &schema(),
    )
    .unwrap();
    assert_eq!(e.columns(), vec![1, 6]);
}
