use std::path::{Path, PathBuf};

use super::*;

fn repo_topology() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topology/clickstream.toml")
}

#[test]
fn reference_topology_loads() {
    let def = load_topology(&repo_topology()).expect("reference topology is valid");
    assert_eq!(def.source_topics, vec!["clickstream".to_string()]);
    assert_eq!(def.watermark_delay_ms, 10_000);
    assert_eq!(def.idle_timeout_ms, 30_000);
    let all = def.tables().unwrap();
    let tables: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    for t in [
        "events_clean",
        "country_segment_revenue",
        "country_traffic_sliding",
        "page_metrics",
        "geo_device",
        "user_sessions",
    ] {
        assert!(tables.contains(&t), "missing table {t}: {tables:?}");
    }
    let csr = &all[tables
        .iter()
        .position(|t| *t == "country_segment_revenue")
        .unwrap()];
    let cols: Vec<&str> = csr.schema.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        cols,
        [
            "window_start",
            "window_end",
            "country",
            "segment",
            "events",
            "purchases",
            "revenue",
            "unique_users",
            "max_event_time",
            "event_date"
        ]
    );
}

#[test]
fn fingerprint_is_stable_and_tracks_semantics() {
    let a = load_topology(&repo_topology()).unwrap();
    let b = load_topology(&repo_topology()).unwrap();
    assert_eq!(a.fingerprint, b.fingerprint);
    let text = std::fs::read_to_string(repo_topology()).unwrap();
    let changed = text.replace(
        r#"size = "30s" }
group_by = ["country", "device"]"#,
        r#"size = "20s" }
group_by = ["country", "device"]"#,
    );
    assert_ne!(text, changed);
    let c = parse_topology(&repo_topology(), &changed).unwrap();
    assert_ne!(a.fingerprint, c.fingerprint);
}

#[test]
fn every_error_is_reported_at_once_with_file_and_item() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(dir.path().join("users.csv"), "user_id,name\n1,ann\n").unwrap();
    let text = r#"
name = "bad"
[source]
topics = ["in"]
fields = [
  { name = "id", type = "string" },
  { name = "age", type = "bigint" },
  { name = "city", type = "colour" },
]

[[processors]]
name = "mystery"
type = "teleport"
input = "source"

[[processors]]
name = "adults"
type = "filter"
input = "source"
where = "agee >= 18"

[[processors]]
name = "typed"
type = "filter"
input = "source"
where = "id + 1 > 2"

[[processors]]
name = "fn"
type = "map"
input = "source"
set = ["frobnicate(id) AS x"]

[[processors]]
name = "join"
type = "lookup_join"
input = "source"
table = "users.csv"
key = ["age"]
table_key = ["userid"]
columns = ["name"]

[[processors]]
name = "missing"
type = "lookup_join"
input = "source"
table = "nope/users.csv"
key = ["age"]
columns = ["name"]

[[processors]]
name = "win"
type = "window_aggregate"
input = "source"
window = { type = "tumbling" }
aggregates = [{ name = "n", fn = "count" }]

[[processors]]
name = "typo"
type = "filter"
input = "source"
wher = "true"

[[sinks]]
name = "orphan"
input = "nowhere"
"#;
    std::fs::write(&path, text).unwrap();
    let Err(RuntimeError::Topology(errors)) = load_topology(&path) else {
        panic!("expected topology errors");
    };
    let file = path.display().to_string();
    let expect = [
        ("source field `city`", "unknown type `colour`"),
        ("processor `mystery`", "unknown processor type `teleport`"),
        (
            "processor `adults`",
            "where `agee >= 18`: at column 1: unknown column `agee` (did you mean `age`?)",
        ),
        (
            "processor `typed`",
            "where `id + 1 > 2`: at column 1: `+` needs a number, found string",
        ),
        ("processor `fn`", "unknown function `frobnicate`"),
        ("processor `join`", "table_key `userid` is not a column of"),
        ("processor `missing`", "file not found"),
        ("processor `win`", "a tumbling window needs a `size`"),
        ("processor `typo`", "unknown field `wher`"),
        ("sink `orphan`", "input `nowhere` is not a processor"),
    ];
    for (item, msg) in expect {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&file) && e.contains(item) && e.contains(msg)),
            "no error with {item} / {msg} in:\n{}",
            errors.join("\n")
        );
    }
    let unique: std::collections::BTreeSet<&String> = errors.iter().collect();
    assert_eq!(unique.len(), errors.len(), "no error is reported twice");
}

#[test]
fn syntax_errors_name_the_line() {
    let err = parse_topology(Path::new("t.toml"), "name = \"x\"\n[source\n").unwrap_err();
    let RuntimeError::Topology(errors) = err else {
        panic!()
    };
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("t.toml: line 2"), "{}", errors[0]);
}

#[test]
fn partition_columns_default_to_event_date_and_are_checked() {
    let def = load_topology(&repo_topology()).unwrap();
    for t in def.tables().unwrap() {
        let names: Vec<&str> = t
            .partition_by
            .iter()
            .map(|&c| t.schema.columns[c].name.as_str())
            .collect();
        assert_eq!(names, ["event_date"], "{}", t.name);
    }
    let text = r#"
name = "p"
[source]
topics = ["in"]
fields = [{ name = "id", type = "bigint" }, { name = "city", type = "string" }]

[[sinks]]
name = "by_city"
input = "source"
partition_by = ["city"]

[[sinks]]
name = "flat"
input = "source"

[[sinks]]
name = "wrong"
input = "source"
partition_by = ["town", "id", "id"]
"#;
    let err = parse_topology(Path::new("p.toml"), text).unwrap_err();
    let RuntimeError::Topology(errors) = err else {
        panic!()
    };
    assert_eq!(
        errors,
        [
            "p.toml: sink `wrong`: partition_by column `town` is not a column of `source`",
            "p.toml: sink `wrong`: partition_by names `id` twice",
        ]
    );
    let ok = parse_topology(
        Path::new("p.toml"),
        &text.replace(r#""town", "id", "id""#, r#""id""#),
    )
    .unwrap();
    let parts: Vec<Vec<usize>> = ok
        .tables()
        .unwrap()
        .iter()
        .map(|t| t.partition_by.clone())
        .collect();
    assert_eq!(parts, [vec![1], vec![], vec![0]]);
}

#[test]
fn summaries_are_checked_against_the_tables_they_read() {
    let text = r#"
name = "s"
[source]
topics = ["in"]
fields = [{ name = "id", type = "bigint" }, { name = "value", type = "double" }]

[[sinks]]
name = "readings"
input = "source"

[[summaries]]
name = "per_id"
input = "readings"
group_by = ["id"]
measures = [{ name = "mean", fn = "avg", expr = "value" }]

[[summaries]]
name = "of_summary"
input = "per_id"
measures = [{ name = "ids", fn = "count" }]

[[summaries]]
name = "bad"
input = "readings"
date_column = "event_date"
group_by = ["idd"]
measures = [{ name = "x", fn = "median", expr = "value" }]

[[summaries]]
name = "orphan"
input = "nowhere"
measures = [{ name = "n", fn = "count" }]
"#;
    let RuntimeError::Topology(errors) = parse_topology(Path::new("s.toml"), text).unwrap_err()
    else {
        panic!()
    };
    assert_eq!(
        errors,
        [
            "s.toml: summary `bad`: date_column `event_date` is not a partition column of `readings`",
            "s.toml: summary `bad`: measure `x`: unknown function `median` (count, sum, min, max, avg, approx_distinct, count_distinct, first, last)",
            "s.toml: summary `orphan`: input `nowhere` is neither a sink nor an earlier summary",
        ]
    );
    let ok = text[..text.find("[[summaries]]\nname = \"bad\"").unwrap()].to_string();
    let def = parse_topology(Path::new("s.toml"), &ok).unwrap();
    let names: Vec<&str> = def.summaries.iter().map(|s| s.spec.name.as_str()).collect();
    assert_eq!(names, ["per_id", "of_summary"]);
}
