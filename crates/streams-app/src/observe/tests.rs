//! The live view's pure parts: the graph of a sample, rates over the history, health.

use streams_core::dataflow::GraphNode;
use streams_runtime::{CheckpointStats, Ledger};

use super::*;

fn node(name: &str, kind: &str, inputs: &[&str], rows_in: u64, rows_out: u64) -> GraphNode {
    GraphNode {
        name: name.into(),
        kind: kind.into(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        rows_in,
        rows_out,
    }
}

/// A source feeding a filter feeding a table of the same name as the filter (names of
/// tables and processors may repeat), delivered to Kafka; 3 dead letters.
fn sample(t_ms: i64, scale: u64) -> Sample {
    let mut ledger = Ledger {
        consumed: 100 * scale + 3,
        accepted: 100 * scale,
        dead_lettered: 3,
        ..Default::default()
    };
    ledger.dead_letter_reasons.insert("bad_json".into(), 3);
    Sample {
        wall_ms: t_ms,
        epoch: 7,
        watermark_ms: Some(t_ms - 2_500),
        ledger,
        graph: vec![
            node("events", "source", &[], 100 * scale, 100 * scale),
            node("clean", "filter", &["events"], 100 * scale, 40 * scale),
            node("clean", "table", &["clean"], 40 * scale, 40 * scale),
        ],
        sinks: vec!["kafka".into(), "parquet".into()],
        emitted: vec![
            ("kafka".into(), "clean".into(), 40 * scale),
            ("kafka".into(), "dlq".into(), 3),
        ],
        ..Default::default()
    }
}

#[test]
fn the_graph_joins_steps_tables_dead_letters_and_sinks() {
    let mut o = Observer::new("app", false, 0);
    let doc = o.document(&sample(1_000, 1), false);
    let ids: Vec<(&str, &str, &str)> = doc
        .nodes
        .iter()
        .map(|n| (n.id.as_str(), n.name.as_str(), n.kind.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("n0", "events", "source"),
            ("n1", "clean", "filter"),
            ("n2", "clean", "table"),
            ("dlq", "dead letters", "dead_letters"),
            ("sink:kafka", "kafka", "sink"),
            ("sink:parquet", "parquet", "sink"),
        ]
    );
    let edges: Vec<(&str, &str, u64)> = doc
        .edges
        .iter()
        .map(|e| (e.from.as_str(), e.to.as_str(), e.rows))
        .collect();
    assert_eq!(
        edges,
        [
            ("n0", "n1", 100),
            ("n1", "n2", 40),
            // Dead letters since this process started: none yet in the first sample.
            ("n0", "dlq", 0),
            ("n2", "sink:kafka", 40),
            ("dlq", "sink:kafka", 3),
        ]
    );
    assert_eq!(doc.watermark_delay_ms, Some(2_500));
    assert!(doc.ledger_balanced);
}

#[test]
fn rates_average_the_last_seconds_and_the_chart_keeps_ten_minutes() {
    let mut o = Observer::new("app", false, 0);
    // One sample a second, 50 more records each second through the filter's input.
    let mut doc = o.document(&sample(0, 1), false);
    for i in 1..=700 {
        let mut s = sample(i * 1000, 1);
        s.ledger.consumed += 50 * i as u64;
        s.graph[1].rows_in += 50 * i as u64;
        s.graph[0].rows_out += 50 * i as u64;
        doc = o.document(&s, false);
    }
    assert_eq!(doc.records_per_sec, 50.0);
    let e = doc.edges.iter().find(|e| e.to == "n1").map(|e| e.rate);
    assert_eq!(e, Some(50.0));
    let e = doc.edges.iter().find(|e| e.to == "n2").map(|e| e.rate);
    assert_eq!(e, Some(0.0));
    // 10 minutes of points: 601 samples, 600 intervals.
    assert_eq!(doc.throughput.len(), 600);
    assert!(doc.throughput.iter().all(|p| p.records_per_sec == 50.0));
}

#[test]
fn checkpoints_keep_the_last_twenty_and_the_uncommitted_clock_resets() {
    let mut o = Observer::new("app", false, 0);
    let mut s = sample(1_000, 1);
    s.checkpoints = (1..=25)
        .map(|e| CheckpointStats {
            epoch: e,
            at_ms: e as i64,
            prepare_ms: 2,
            write_ms: 3,
            bytes: 10,
            outbox_entries: 1,
        })
        .collect();
    s.uncommitted = true;
    let doc = o.document(&s, false);
    assert_eq!(doc.checkpoints.len(), 20);
    assert_eq!(doc.checkpoints[0].epoch, 6);
    assert_eq!(doc.checkpoints[19].duration_ms, 5);
    assert_eq!(doc.uncommitted_since_ms, Some(1_000));
    let mut s = sample(2_000, 1);
    s.uncommitted = true;
    // Still waiting since the first sample that saw changes.
    assert_eq!(o.document(&s, false).uncommitted_since_ms, Some(1_000));
    s.uncommitted = false;
    assert_eq!(o.document(&s, false).uncommitted_since_ms, None);
}

#[test]
fn health_needs_a_live_loop_and_no_long_wait_for_a_checkpoint() {
    let mut o = Observer::new("app", false, 0);
    let mut s = sample(10_000, 1);
    s.uncommitted = true;
    let doc = o.document(&s, false);
    let cases: &[(i64, bool)] = &[(10_000, true), (40_000, true), (40_001, false)];
    for (now, healthy) in cases {
        assert_eq!(health(&doc, *now, 30_000).is_ok(), *healthy, "now {now}");
    }
    // Waiting for a checkpoint longer than allowed, though the loop is alive.
    let mut s = sample(50_000, 1);
    s.uncommitted = true;
    let doc = o.document(&s, false);
    let err = health(&doc, 50_000, 30_000).unwrap_err();
    assert!(err.contains("no checkpoint for 40 s"), "{err}");
    // A finished bounded run stays healthy.
    let doc = o.document(&s, true);
    assert!(health(&doc, 1_000_000, 30_000).is_ok());
}

#[test]
fn metrics_follow_the_ledger_and_count_once() {
    let mut m = Metrics::new("app");
    let s = sample(1_000, 1);
    m.update(&s);
    m.update(&s);
    let text = m.encode();
    for line in [
        r#"streams_records_consumed_total{app_id="app"} 103"#,
        r#"streams_records_dead_lettered_total{app_id="app",reason="bad_json"} 3"#,
        r#"streams_rows_emitted_total{app_id="app",table="clean",sink="kafka"} 40"#,
        r#"streams_watermark_delay_seconds{app_id="app"} 2.5"#,
    ] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    m.update(&sample(2_000, 3));
    let text = m.encode();
    assert!(
        text.contains(r#"streams_records_consumed_total{app_id="app"} 303"#),
        "{text}"
    );
    assert!(
        text.contains(r#"streams_rows_emitted_total{app_id="app",table="clean",sink="kafka"} 120"#),
        "{text}"
    );
}
