use super::*;
use crate::dataflow::aggregate::{AggDef, AggFn};
use crate::dataflow::harness::Harness;
use crate::input::{FieldSpec, InputSchema};
use crate::value::ColumnType;

fn input() -> InputSchema {
    InputSchema {
        fields: vec![
            FieldSpec::new("k", ColumnType::Str),
            FieldSpec::new("v", ColumnType::Float),
            FieldSpec::new("ts", ColumnType::Int),
        ],
        event_time: Some("to_timestamp(ts)".into()),
        max_future_ms: None,
        ..InputSchema::default()
    }
}

fn agg(name: &str, func: AggFn, expr: Option<&str>, cond: Option<&str>) -> AggDef {
    AggDef {
        name: name.into(),
        func,
        expr: expr.map(str::to_string),
        condition: cond.map(str::to_string),
    }
}

fn spec(window: WindowSpec) -> WindowAggregateSpec {
    WindowAggregateSpec {
        window,
        group_by: vec!["k".into()],
        aggregates: vec![
            agg("n", AggFn::Count, None, None),
            agg("total", AggFn::Sum, Some("v"), None),
            agg("big", AggFn::Count, None, Some("v > 10")),
            agg("avg_v", AggFn::Avg, Some("v"), None),
        ],
        having: None,
        emit: Emit::Final,
    }
}

fn harness(s: WindowAggregateSpec) -> Harness {
    Harness::new(input(), move |b| {
        let src = b.source();
        let w = b.window_aggregate("w", &src, &s);
        b.sink("out", &w, &["k"]);
    })
}

fn line(k: &str, v: f64, ts: i64) -> String {
    format!(r#"{{"k":"{k}","v":{v},"ts":{ts}}}"#)
}

fn run(h: &mut Harness, rows: &[(&str, f64, i64)], watermark: i64) {
    let lines: Vec<String> = rows.iter().map(|(k, v, t)| line(k, *v, *t)).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    h.run(&refs, 0, watermark);
}

const T0: &str = "1970-01-01T00:00:00Z";

#[test]
fn tumbling_windows_emit_once_when_the_watermark_passes_their_end() {
    let mut h = harness(spec(WindowSpec::Tumbling { size: 1000 }));
    run(
        &mut h,
        &[
            ("a", 5.0, 100),
            ("a", 20.0, 900),
            ("b", 1.0, 999),
            ("a", 2.0, 1000),
        ],
        i64::MIN,
    );
    assert!(h.take(0).is_empty(), "nothing closed yet");
    run(&mut h, &[], 1000);
    assert_eq!(
        h.take(0),
        [
            format!("{T0},1970-01-01T00:00:01Z,a,2,25.0,1,12.5,1970-01-01"),
            format!("{T0},1970-01-01T00:00:01Z,b,1,1.0,0,1.0,1970-01-01"),
        ]
    );
    // Late: its only window closed.
    run(&mut h, &[("a", 1.0, 999)], 1000);
    assert_eq!(h.topology.counters()[0].1.late, 1);
    run(&mut h, &[], 2000);
    assert_eq!(h.take(0).len(), 1);
}

#[test]
fn hopping_rows_skip_only_their_closed_windows() {
    let mut h = harness(spec(WindowSpec::Hopping {
        size: 1000,
        advance: 500,
    }));
    // t=700 is in [0,1000) and [500,1500); with W=1000 only the second is open.
    run(&mut h, &[("a", 1.0, 700)], 1000);
    run(&mut h, &[], 1500);
    let out = h.take(0);
    assert_eq!(out.len(), 1);
    assert!(
        out[0].starts_with("1970-01-01T00:00:00.500Z,1970-01-01T00:00:01.500Z,a,1,"),
        "{out:?}"
    );
    assert_eq!(h.topology.counters()[0].1.late, 0);
}

#[test]
fn sessions_merge_bridge_and_close_per_row_watermark() {
    let mut h = harness(spec(WindowSpec::Session { gap: 100 }));
    // a: 0, 50 → one session; 300 → another; 160 then bridges? (50+100=150 ≤ 160: no).
    run(
        &mut h,
        &[
            ("a", 1.0, 0),
            ("a", 1.0, 50),
            ("a", 1.0, 300),
            ("a", 1.0, 210),
        ],
        i64::MIN,
    );
    // 200 bridges [300] (200+100 > 300) but not [0..50] (50+100 ≤ 200).
    run(&mut h, &[], 10_000);
    let out = h.take(0);
    assert_eq!(
        out,
        [
            format!("{T0},1970-01-01T00:00:00.050Z,a,2,2.0,0,1.0,1970-01-01"),
            "1970-01-01T00:00:00.210Z,1970-01-01T00:00:00.300Z,a,2,2.0,0,1.0,1970-01-01"
                .to_string(),
        ]
    );
    // In one batch, a row whose watermark closed its key's session starts a new one
    // (as if the rows had come one at a time with a punctuation after each).
    let mut h = harness(spec(WindowSpec::Session { gap: 100 }));
    let b = h.batch(&[&line("x", 1.0, 100), &line("x", 1.0, 190)], 0, 0);
    let b = crate::batch::Batch::new(
        b.data().clone(),
        b.time().to_vec(),
        vec![0, 200],
        b.origin().to_vec(),
    )
    .unwrap();
    h.topology.process(b).unwrap();
    h.topology.punctuate(10_000).unwrap();
    let out = h.take(0);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].contains(",x,1,"), "{out:?}");
}

#[test]
fn open_windows_survive_a_commit_and_uncommitted_rows_are_lost_in_a_crash() {
    for window in [
        WindowSpec::Tumbling { size: 1000 },
        WindowSpec::Session { gap: 100 },
    ] {
        let mut h = harness(spec(window));
        run(&mut h, &[("a", 1.0, 10), ("b", 2.0, 20)], i64::MIN);
        h.commit();
        run(&mut h, &[("a", 100.0, 30)], i64::MIN);
        h.crash();
        run(&mut h, &[("a", 3.0, 40)], i64::MIN);
        run(&mut h, &[], 100_000);
        let mut out = h.take(0);
        out.sort_by_key(|r| r.split(',').nth(2).map(str::to_string));
        assert_eq!(out.len(), 2, "{window:?}: {out:?}");
        assert!(out[0].contains(",a,2,4.0,0,2.0,"), "{window:?}: {out:?}");
        assert!(out[1].contains(",b,1,2.0,0,2.0,"), "{window:?}: {out:?}");
    }
}

#[test]
fn update_emission_sends_changed_windows_at_checkpoints_and_having_filters() {
    let mut s = spec(WindowSpec::Tumbling { size: 1000 });
    s.emit = Emit::Update;
    s.having = Some("total > 3".into());
    let mut h = harness(s);
    run(&mut h, &[("a", 5.0, 100), ("b", 1.0, 100)], i64::MIN);
    h.topology.checkpoint().unwrap();
    let outs = h.topology.take_outputs();
    assert!(outs[0].iter().all(|b| b.is_update()));
    let rows: Vec<String> = outs[0]
        .iter()
        .flat_map(crate::dataflow::harness::render)
        .collect();
    assert_eq!(rows.len(), 1, "b is filtered by having: {rows:?}");
    run(&mut h, &[], 1000);
    let outs = h.topology.take_outputs();
    assert!(outs[0].iter().all(|b| !b.is_update()));
    assert_eq!(outs[0].iter().map(|b| b.len()).sum::<usize>(), 1);
}

#[test]
fn first_and_last_break_ties_by_time_then_origin() {
    let mut s = spec(WindowSpec::Tumbling { size: 1000 });
    s.aggregates = vec![
        agg("first_v", AggFn::First, Some("v"), None),
        agg("last_v", AggFn::Last, Some("v"), None),
        agg("max_ts", AggFn::Max, Some("to_timestamp(ts)"), None),
        agg("distinct", AggFn::CountDistinct, Some("ts"), None),
    ];
    let mut h = harness(s);
    run(
        &mut h,
        &[
            ("a", 1.0, 500),
            ("a", 2.0, 100),
            ("a", 3.0, 500),
            ("a", 4.0, 100),
        ],
        i64::MIN,
    );
    run(&mut h, &[], 1000);
    assert_eq!(
        h.take(0),
        [format!(
            "{T0},1970-01-01T00:00:01Z,a,2.0,3.0,1970-01-01T00:00:00.500Z,2,1970-01-01"
        )]
    );
}

#[test]
fn window_problems_are_listed() {
    let mut b = TopologyBuilder::new("in", input().schema());
    let src = b.source();
    let _ = b.window_aggregate(
        "w",
        &src,
        &WindowAggregateSpec {
            window: WindowSpec::Tumbling { size: 0 },
            group_by: vec!["kk".into(), "v".into(), "lower(k)".into()],
            aggregates: vec![
                agg("s", AggFn::Sum, Some("k"), None),
                agg("c", AggFn::Min, None, None),
            ],
            having: Some("nope > 1".into()),
            emit: Emit::Final,
        },
    );
    let errs: Vec<String> = match b.build() {
        Ok(_) => panic!("built"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    let wants = [
        "processor `w`: window size must be positive",
        "processor `w`: group_by `kk`: at column 1: unknown column `kk` (did you mean `k`?)",
        "processor `w`: group_by `v` is a double; groups cannot be floats",
        "processor `w`: group_by `lower(k)` is an expression: name it (`lower(k) AS name`)",
        "processor `w`: aggregate `s`: sum needs a number, `k` is a string",
        "processor `w`: aggregate `c`: min needs an input expression",
        "processor `w`: having `nope > 1`: at column 1: unknown column `nope`",
    ];
    assert_eq!(errs.len(), wants.len(), "{errs:#?}");
    for (got, want) in errs.iter().zip(wants) {
        assert!(
            got.starts_with(want),
            "`{got}` does not start with `{want}`"
        );
    }
}

#[test]
fn many_sessions_closing_at_once_leave_in_order_in_bounded_batches() {
    let mut h = harness(spec(WindowSpec::Session { gap: 100 }));
    let n = 2 * super::session::EMIT_CHUNK + 5;
    // Keys in descending order, three different close times.
    let lines: Vec<String> = (0..n)
        .rev()
        .map(|i| line(&format!("k{i:06}"), 1.0, (i % 3) as i64 * 10))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    h.run(&refs, 0, i64::MIN);
    h.commit(); // persisted: closing them deletes their stored state
    h.topology.punctuate(10_000).unwrap();
    let batches = h.topology.take_outputs().remove(0);
    assert!(batches.len() >= 3, "{}", batches.len());
    assert!(batches
        .iter()
        .all(|b| b.len() <= super::session::EMIT_CHUNK));
    let keys: Vec<String> = batches
        .iter()
        .flat_map(crate::dataflow::harness::render)
        .map(|r| r.split(',').nth(2).unwrap().to_string())
        .collect();
    let mut expected: Vec<(usize, String)> = (0..n).map(|i| (i % 3, format!("k{i:06}"))).collect();
    expected.sort();
    assert_eq!(
        keys,
        expected.into_iter().map(|(_, k)| k).collect::<Vec<_>>()
    );
    // Nothing is left open, and a restart finds none of them.
    h.commit();
    h.crash();
    h.topology.punctuate(20_000).unwrap();
    assert!(h.take(0).is_empty());
}
