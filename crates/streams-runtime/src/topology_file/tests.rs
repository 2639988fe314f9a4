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
    assert!(def.dims().users.len() >= 100);
    let topology = def.build().unwrap();
    let tables: Vec<&str> = topology.tables().iter().map(|t| t.name.as_str()).collect();
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
    let csr = &topology.tables()[tables
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
    let text = r#"
name = "bad"
[source]
topics = ["in"]

[[processors]]
name = "mystery"
type = "teleport"
input = "source"

[[processors]]
name = "enrich"
type = "enrich"
input = "source"
users = "nope/users.csv"
products = "nope/products.csv"
segments = "nope/segments.csv"

[[processors]]
name = "hop"
type = "window_aggregate"
input = "enrich"
window = { type = "hopping", size = "30s", advance = "60s" }
group_by = ["country", "colour"]
aggregates = [{ name = "events", fn = "count" }]

[[processors]]
name = "typo"
type = "sink"
input = "enrich"
feilds = ["event_id"]

[[processors]]
name = "orphan"
type = "sink"
input = "nowhere"
"#;
    std::fs::write(&path, text).unwrap();
    let Err(RuntimeError::Topology(errors)) = load_topology(&path) else {
        panic!("expected topology errors");
    };
    let file = path.display().to_string();
    let expect = [
        ("processor `mystery`", "unknown processor type `teleport`"),
        ("users.csv", "file not found"),
        ("products.csv", "file not found"),
        ("segments.csv", "file not found"),
        ("processor `hop`", "unknown field `colour` in group_by"),
        ("processor `typo`", "unknown field `feilds`"),
        ("processor `orphan`", "input `nowhere` is not a processor"),
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
    assert!(
        errors.iter().any(|e| e.contains("processor `hop`")
            && e.contains("advance 60000ms is larger than its size 30000ms")),
        "{}",
        errors.join("\n")
    );
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
