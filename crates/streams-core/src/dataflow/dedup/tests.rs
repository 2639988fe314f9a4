use crate::batch::Batch;
use crate::dataflow::harness::Harness;
use crate::dataflow::TopologyBuilder;
use crate::input::{FieldSpec, InputSchema};
use crate::value::ColumnType;

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
    let mut h = Harness::new(events(), dedup_topology);
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
    let mut h = Harness::new(events(), dedup_topology);
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
    let mut h = Harness::new(events(), dedup_topology);
    h.run(&[r#"{"id":"x","ts":0}"#], 0, 0);
    h.commit();
    h.run(&[r#"{"id":"y","ts":0}"#], 0, 0);
    assert_eq!(h.take(0).len(), 2);
    h.crash();
    h.run(&[r#"{"id":"x","ts":0}"#, r#"{"id":"y","ts":0}"#], 0, 0);
    assert_eq!(h.take(0), ["y,0"]);
}
