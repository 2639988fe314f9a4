//! Crash tests: crash after every step of every commit (and between commits), restart
//! from the checkpoint, continue; the final outputs must equal an uninterrupted run, with
//! no row missing and none twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use streams_testkit::{CrashPoint, TopologyTestDriver};

const POINTS: [CrashPoint; 6] = [
    CrashPoint::BeforeWrite,
    CrashPoint::AfterWrite,
    CrashPoint::MidDelivery(1),
    CrashPoint::MidDelivery(2),
    CrashPoint::MidDelivery(5),
    CrashPoint::AfterDelivery,
];

/// Feeds `inputs`, committing every `every` records; at commit number `crash_commit`
/// (the final, end-of-input commit counts too) crashes at `point` instead, restarts and
/// carries on.
fn run_with_crash(
    inputs: &[Input],
    partitions: i32,
    every: usize,
    crash_commit: usize,
    point: CrashPoint,
) -> Expected {
    let mut d =
        TopologyTestDriver::new(&streams_testkit::reference_topology(), partitions).unwrap();
    let mut commits = 0;
    for (i, inp) in inputs.iter().enumerate() {
        d.pipe(inp.partition, inp.kafka_ts, &inp.bytes).unwrap();
        if (i + 1) % every == 0 {
            commits += 1;
            if commits == crash_commit {
                d.crash_at(point).unwrap();
                d.restart().unwrap();
            } else {
                d.commit().unwrap();
            }
        }
    }
    commits += 1;
    if commits == crash_commit {
        d.end_input().unwrap();
        d.crash_at(point).unwrap();
        d.restart().unwrap();
    }
    d.end().unwrap();
    assert!(d.ledger().is_balanced());
    actual(&mut d)
}

#[test]
fn crash_at_every_step_of_every_commit_of_the_golden_input() {
    let inputs = read_input(&golden_dir().join("input.jsonl"));
    let every = 3;
    let baseline = actual(&mut run_uninterrupted(&inputs, 2, every));
    let commits = inputs.len() / every + 1;
    for k in 1..=commits {
        for point in POINTS {
            let got = run_with_crash(&inputs, 2, every, k, point);
            assert_same(&got, &baseline, &format!("crash at commit {k}, {point:?}"));
        }
    }
}

#[test]
fn crash_at_every_step_of_every_commit_of_random_input() {
    let inputs = random_inputs(7, 400, 3);
    let every = 40;
    let baseline = actual(&mut run_uninterrupted(&inputs, 3, every));
    let oracle = oracle(&inputs, 3);
    assert_same(&baseline, &oracle, "uninterrupted vs oracle");
    // the input exercises every path
    assert!(oracle.ledger["duplicate"] > 0 && oracle.ledger["dead_lettered"] > 0);
    assert!(
        oracle
            .ledger
            .iter()
            .filter(|(k, v)| k.starts_with("late.") && **v > 0)
            .count()
            >= 3
    );
    let commits = inputs.len() / every + 1;
    for k in 1..=commits {
        for point in POINTS {
            let got = run_with_crash(&inputs, 3, every, k, point);
            assert_same(&got, &baseline, &format!("crash at commit {k}, {point:?}"));
        }
    }
}

#[test]
fn many_crashes_between_and_during_commits() {
    use rand::{Rng, SeedableRng};
    let inputs = random_inputs(11, 1500, 4);
    let baseline = actual(&mut run_uninterrupted(&inputs, 4, 100));
    let mut rng = rand::rngs::SmallRng::seed_from_u64(99);
    let mut d = TopologyTestDriver::new(&streams_testkit::reference_topology(), 4).unwrap();
    let mut crashes = 0;
    for inp in &inputs {
        d.pipe(inp.partition, inp.kafka_ts, &inp.bytes).unwrap();
        match rng.random_range(0..100) {
            0..=4 => d.commit().unwrap(),
            5 => {
                d.crash();
                d.restart().unwrap();
                crashes += 1;
            }
            6 => {
                d.crash_at(POINTS[rng.random_range(0..POINTS.len())])
                    .unwrap();
                d.restart().unwrap();
                crashes += 1;
            }
            _ => {}
        }
    }
    d.end().unwrap();
    assert!(crashes >= 10, "only {crashes} crashes");
    let got = actual(&mut d);
    assert_same(&got, &baseline, "random crashes");
    assert!(
        d.sink().skipped_duplicates > 0,
        "re-deliveries happened and were dropped"
    );
}

#[test]
fn restart_sees_exactly_the_last_checkpoint() {
    let inputs = read_input(&golden_dir().join("input.jsonl"));
    let mut d = TopologyTestDriver::new(&streams_testkit::reference_topology(), 2).unwrap();
    for inp in &inputs[..10] {
        d.pipe(inp.partition, inp.kafka_ts, &inp.bytes).unwrap();
    }
    d.commit().unwrap();
    let committed = d.ledger();
    let dedup_before: Vec<_> = d.store("dedup").unwrap();
    for inp in &inputs[10..20] {
        d.pipe(inp.partition, inp.kafka_ts, &inp.bytes).unwrap();
    }
    assert_ne!(d.ledger(), committed);
    d.crash();
    // reopen without re-feeding: the engine holds exactly the checkpoint
    d.restart_without_replay().unwrap();
    assert_eq!(d.ledger(), committed);
    assert_eq!(d.store("dedup").unwrap(), dedup_before);
}

/// A partition that had no data at the checkpoint still holds the watermark back after
/// a restart (it was once forgotten: everything it brought later was counted late).
#[test]
fn an_empty_partition_holds_the_watermark_after_restart() {
    let ev = |id: &str, t: &str| {
        format!(r#"{{"event_id":"{id}","user_id":1,"event_type":"page_view","event_time":"{t}"}}"#)
            .into_bytes()
    };
    let mut d = TopologyTestDriver::new(&streams_testkit::reference_topology(), 2).unwrap();
    let ts = parse_time("2026-01-01T01:00:00Z");
    d.pipe(0, ts, &ev("a", "2026-01-01T00:00:10Z")).unwrap();
    d.pipe(0, ts, &ev("b", "2026-01-01T00:59:00Z")).unwrap();
    d.commit().unwrap();
    d.crash();
    d.restart().unwrap();
    // partition 1 holds the watermark where it was: c's windows are still open
    let c_ts = parse_time("2026-01-01T00:00:20Z");
    assert!(d.watermark() < c_ts, "watermark {} passed c", d.watermark());
    // partition 1 arrives late in wall time, with old event times: not late
    d.pipe(1, ts, &ev("c", "2026-01-01T00:00:20Z")).unwrap();
    d.end().unwrap();
    let ledger = d.ledger();
    assert_eq!(ledger.accepted, 3, "{ledger}");
    assert!(d.dead_letters().is_empty());
    assert!(!ledger.late.is_empty(), "{ledger}");
    assert!(ledger.late.values().all(|n| *n == 0), "{ledger}");
}

/// A bounded run emits every open window at its end; a later run that continues from its
/// checkpoint must not emit any of those windows a second time (records that belong to
/// them are late then).
#[test]
fn continuing_after_a_bounded_run_never_emits_a_window_twice() {
    let inputs = random_inputs(5, 800, 2);
    let (first, second) = inputs.split_at(400);
    let mut d = TopologyTestDriver::new(&streams_testkit::reference_topology(), 2).unwrap();
    d.commit_every(50);
    for i in first {
        d.pipe(i.partition, i.kafka_ts, &i.bytes).unwrap();
    }
    d.end().unwrap();
    d.restart().unwrap();
    for i in second {
        d.pipe(i.partition, i.kafka_ts, &i.bytes).unwrap();
    }
    d.end().unwrap();
    let got = actual(&mut d);
    let keys: [(&str, &[&str]); 5] = [
        (
            "country_segment_revenue",
            &["window_start", "country", "segment"],
        ),
        ("country_traffic_sliding", &["window_start", "country"]),
        ("page_metrics", &["window_start", "page"]),
        ("geo_device", &["window_start", "country", "device"]),
        ("user_sessions", &["session_start", "user_id"]),
    ];
    for (table, cols) in keys {
        let rows = &got.tables[table];
        assert!(!rows.is_empty(), "{table} is empty");
        let mut seen = std::collections::BTreeSet::new();
        for r in rows {
            let key: Vec<String> = cols.iter().map(|c| r[*c].to_string()).collect();
            assert!(
                seen.insert(key.clone()),
                "{table}: window {key:?} emitted twice"
            );
        }
    }
    let late: u64 = got
        .ledger
        .iter()
        .filter(|(k, _)| k.starts_with("late."))
        .map(|(_, v)| *v)
        .sum();
    assert!(
        late > 0,
        "records of windows the first run emitted are late"
    );
}
