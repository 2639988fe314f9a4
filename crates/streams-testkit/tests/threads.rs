//! Tasks and threads (`docs/parallelism.md`): the outputs of a topology are the same
//! rows, values and order whether its tasks run on 1, 2 or 3 worker threads, and a
//! restart with another thread count continues the same state.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use streams_core::dataflow::aggregate::{AggDef, AggFn};
use streams_core::dataflow::window::{Emit, WindowAggregateSpec};
use streams_core::input::{FieldSpec, InputSchema};
use streams_core::window::WindowSpec;
use streams_core::ColumnType;
use streams_runtime::TopologyDef;
use streams_testkit::TopologyTestDriver;

fn topology(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../topology/{name}.toml"))
}

/// Runs `inputs` with `threads` worker threads, committing every `every` records.
fn run(d: &mut TopologyTestDriver, inputs: &[Input], threads: usize, every: usize) -> Expected {
    d.restart_with_threads(threads).unwrap();
    d.commit_every(every);
    for i in inputs {
        d.pipe(i.partition, i.kafka_ts, &i.bytes).unwrap();
    }
    d.end().unwrap();
    assert!(d.ledger().is_balanced());
    actual(d)
}

/// Exactly equal: every table row for row in the same order, the ledger, dead letters.
fn assert_identical(got: &Expected, want: &Expected, context: &str) {
    assert_eq!(got.ledger, want.ledger, "ledger ({context})");
    assert_eq!(
        got.dead_letters, want.dead_letters,
        "dead letters ({context})"
    );
    assert_eq!(got.tables, want.tables, "tables ({context})");
}

#[test]
fn the_reference_topology_gives_the_same_outputs_on_1_2_and_3_threads() {
    let inputs = random_inputs(21, 3000, 4);
    let path = streams_testkit::reference_topology();
    let one = run(
        &mut TopologyTestDriver::new(&path, 4).unwrap(),
        &inputs,
        1,
        250,
    );
    // The input reaches every kind of row: duplicates, dead letters, late rows,
    // windows of every table.
    assert!(one.ledger["duplicate"] > 0 && one.ledger["dead_lettered"] > 0);
    assert!(one.ledger.keys().filter(|k| k.starts_with("late.")).count() >= 3);
    for (table, rows) in &one.tables {
        assert!(rows.len() > 3, "{table} has {} rows", rows.len());
    }
    assert_same(&one, &oracle(&inputs, 4), "1 thread vs oracle");
    for threads in [2, 3] {
        let got = run(
            &mut TopologyTestDriver::new(&path, 4).unwrap(),
            &inputs,
            threads,
            250,
        );
        assert_identical(&got, &one, &format!("{threads} threads vs 1"));
    }
}

#[test]
fn another_reference_topology_gives_the_same_outputs_on_1_and_2_threads() {
    let inputs = random_inputs(5, 2000, 3);
    let path = topology("clickstream_by_country");
    let one = run(
        &mut TopologyTestDriver::new(&path, 3).unwrap(),
        &inputs,
        1,
        100,
    );
    assert!(one.tables.values().all(|rows| !rows.is_empty()));
    let two = run(
        &mut TopologyTestDriver::new(&path, 3).unwrap(),
        &inputs,
        2,
        100,
    );
    assert_identical(&two, &one, "2 threads vs 1");
}

#[test]
fn a_restart_with_another_thread_count_continues_the_same_state() {
    let inputs = random_inputs(33, 2000, 4);
    let path = streams_testkit::reference_topology();
    let baseline = run(
        &mut TopologyTestDriver::new(&path, 4).unwrap(),
        &inputs,
        1,
        100,
    );
    let mut d = TopologyTestDriver::new(&path, 4).unwrap();
    d.commit_every(100);
    for (i, inp) in inputs.iter().enumerate() {
        d.pipe(inp.partition, inp.kafka_ts, &inp.bytes).unwrap();
        match i {
            // Uncommitted records are fed again after each restart.
            650 => d.restart_with_threads(2).unwrap(),
            1250 => d.restart_with_threads(1).unwrap(),
            1700 => d.restart_with_threads(3).unwrap(),
            _ => {}
        }
    }
    d.end().unwrap();
    assert_identical(&actual(&mut d), &baseline, "threads 2 → 1 → 3 vs 1");
}

/// A topology with every stage: per-partition filter, a window aggregate (key groups),
/// and processors reading its results (global): a filter and a window over windows.
fn staged() -> Arc<TopologyDef> {
    let input = InputSchema {
        fields: vec![
            FieldSpec::new("event_id", ColumnType::Str),
            FieldSpec::new("user_id", ColumnType::Int),
            FieldSpec::new("country", ColumnType::Str),
            FieldSpec::new("amount", ColumnType::Float),
            FieldSpec::new("event_time", ColumnType::Int),
        ],
        event_time: Some("to_timestamp(event_time)".into()),
        max_future_ms: None,
        ..InputSchema::default()
    };
    let agg = |name: &str, func: AggFn, expr: Option<&str>| AggDef {
        name: name.into(),
        func,
        expr: expr.map(String::from),
        condition: None,
    };
    let def = TopologyDef::from_code("staged", vec!["events".into()], input, move |b| {
        let events = b.source();
        let valid = b.filter("valid", &events, "user_id IS NOT NULL");
        let per_user = b.window_aggregate(
            "per_user",
            &valid,
            &WindowAggregateSpec {
                window: WindowSpec::Tumbling { size: 10_000 },
                group_by: vec!["user_id".into(), "country".into()],
                aggregates: vec![
                    agg("n", AggFn::Count, None),
                    agg("spent", AggFn::Sum, Some("amount")),
                    agg("first_id", AggFn::First, Some("event_id")),
                ],
                having: None,
                emit: Emit::Final,
            },
        );
        let busy = b.filter("busy", &per_user, "n >= 2");
        let per_country = b.window_aggregate(
            "per_country",
            &busy,
            &WindowAggregateSpec {
                window: WindowSpec::Tumbling { size: 60_000 },
                group_by: vec!["country".into()],
                aggregates: vec![
                    agg("users", AggFn::Count, None),
                    agg("spent", AggFn::Sum, Some("spent")),
                ],
                having: None,
                emit: Emit::Final,
            },
        );
        b.sink("valid", &valid, &["event_id"]);
        b.sink("per_user", &per_user, &["user_id"]);
        b.sink("busy", &busy, &["user_id"]);
        b.sink("per_country", &per_country, &["country"]);
    })
    .unwrap();
    Arc::new(def)
}

#[test]
fn processors_after_a_window_run_once_with_the_same_results_on_any_thread_count() {
    use streams_core::dataflow::Stage;
    let def = staged();
    let (t, _) = def.build().unwrap();
    assert_eq!(
        t.stages(),
        vec![
            Stage::Partition,
            Stage::KeyGroup,
            Stage::Global,
            Stage::Global
        ]
    );
    let inputs = random_inputs_with(8, 2500, 4, 5_000);
    let mut runs = Vec::new();
    for threads in [1, 2] {
        let mut d = TopologyTestDriver::with_def(def.clone(), 4).unwrap();
        runs.push(run(&mut d, &inputs, threads, 200));
    }
    let one = &runs[0];
    for t in ["valid", "per_user", "busy", "per_country"] {
        assert!(!one.tables[t].is_empty(), "{t} is empty");
    }
    // Every busy per-user row is counted in a per-country window or as late there (a
    // per-user window ending on a minute arrives when its minute has closed).
    let counted: i64 = one.tables["per_country"]
        .iter()
        .map(|r| r["users"].as_i64().unwrap())
        .sum();
    let late = one.ledger.get("late.per_country").copied().unwrap_or(0) as i64;
    assert!(counted > 0);
    assert_eq!(one.tables["busy"].len() as i64, counted + late);
    assert_identical(&runs[1], one, "2 threads vs 1");
}
