//! `streams-app run` end to end against librdkafka's mock cluster (started in this test
//! process, reached by the binary over TCP on 127.0.0.1): bounded runs, SIGKILL at
//! random instants with restarts, the refusal of `--from earliest` on existing state,
//! the state lock, and an unreachable broker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use rdkafka::mocking::MockCluster;

fn run_args<'a>(
    app: &'a str,
    bootstrap: &'a str,
    state: &'a str,
    out: &'a str,
    topology: &'a str,
) -> Vec<&'a str> {
    vec![
        "run",
        "--app-id",
        app,
        "--bootstrap-servers",
        bootstrap,
        "--state-dir",
        state,
        "--output-dir",
        out,
        "--topology",
        topology,
        "--fetch-wait-max-ms",
        "10",
        "--parquet-roll-interval",
        "700ms",
    ]
}

/// The mock cluster has no CreateTopics: the topics the app would create are made here.
fn create_topics(
    c: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    partitions: i32,
) {
    c.create_topic("clickstream", partitions, 1).unwrap();
    for t in TABLES.iter().copied().chain(["app-dlq", "other-dlq"]) {
        c.create_topic(t, partitions, 1).unwrap();
    }
}

fn bounded_run(app: &str, bootstrap: &str, state: &str, out: &str, topology: &str) {
    let mut args = run_args(app, bootstrap, state, out, topology);
    args.extend(["--until", "end"]);
    let o = run_cmd(&args);
    assert!(
        o.status.success(),
        "run failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn bounded_run_then_sigkill_restarts_give_identical_outputs() {
    let records = input(6_000, 4, 1);
    let topology = topology();
    let topology = topology.to_str().unwrap();

    // Uninterrupted run.
    let a = MockCluster::new(1).unwrap();
    let ba = a.bootstrap_servers();
    create_topics(&a, 4);
    produce(&ba, "clickstream", &records);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let outd = dir.path().join("data");
    bounded_run(
        "app",
        &ba,
        state.to_str().unwrap(),
        outd.to_str().unwrap(),
        topology,
    );

    // The same input, killed with SIGKILL at random instants, restarted, then bounded.
    let b = MockCluster::new(1).unwrap();
    let bb = b.bootstrap_servers();
    create_topics(&b, 4);
    produce(&bb, "clickstream", &records);
    let dir_b = tempfile::tempdir().unwrap();
    let state_b = dir_b.path().join("state");
    let out_b = dir_b.path().join("data");
    let args = run_args(
        "app",
        &bb,
        state_b.to_str().unwrap(),
        out_b.to_str().unwrap(),
        topology,
    );
    for i in 0..10u64 {
        let mut child = spawn(&args);
        // Every other kill lands after processing started (so the restarts are tested
        // against real progress); the others may land during start-up or recovery.
        if i % 2 == 0 {
            child.wait_stderr("running", Duration::from_secs(30));
        }
        std::thread::sleep(Duration::from_millis(300 + (i * 7919) % 900));
        child.kill(); // SIGKILL
    }
    bounded_run(
        "app",
        &bb,
        state_b.to_str().unwrap(),
        out_b.to_str().unwrap(),
        topology,
    );

    for t in TABLES.iter().copied().chain(["app-dlq"]) {
        let want = contents(&ba, t);
        let got = contents(&bb, t);
        assert!(!want.is_empty(), "{t} is empty");
        assert_eq!(got.len(), want.len(), "{t}: row count after kills");
        assert_eq!(got, want, "{t}: contents after kills");
    }

    // Parquet: the same rows in both datasets, each once, in published files only.
    for t in TABLES {
        let want = parquet_rows(&outd, "app", t);
        let got = parquet_rows(&out_b, "app", t);
        assert!(!want.is_empty(), "parquet {t} is empty");
        assert_eq!(got.len(), want.len(), "parquet {t}: row count after kills");
        assert_eq!(got, want, "parquet {t}: rows after kills");
        let kafka_rows = contents(&ba, t).len();
        assert_eq!(
            want.len(),
            kafka_rows,
            "parquet {t} holds what the topic holds"
        );
    }

    // Independent expectations: every unique valid event once in events_clean; window
    // counts add up to it; dead letters carry their reason.
    let valid: std::collections::BTreeSet<String> = records
        .iter()
        .filter_map(|r| valid_event(&r.2, r.3, 1 << 20))
        .map(|v| v["event_id"].as_str().unwrap().to_string())
        .collect();
    let clean = contents(&ba, "events_clean");
    assert_eq!(clean.len(), valid.len());
    let csr_events: i64 = contents(&ba, "country_segment_revenue")
        .iter()
        .map(|(_, v)| {
            serde_json::from_str::<serde_json::Value>(v).unwrap()["events"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert_eq!(
        csr_events as usize,
        valid.len(),
        "no record is late in this input"
    );
    let bad = records
        .iter()
        .filter(|r| valid_event(&r.2, r.3, 1 << 20).is_none())
        .count();
    let dlq = read_topic(&ba, "app-dlq");
    assert_eq!(dlq.len(), bad);
    let reasons = ["malformed_json", "invalid_field", "future_timestamp"];
    assert!(dlq
        .iter()
        .all(|r| reasons.contains(&r.2["streams-dlq-reason"].as_str())));
}

#[test]
fn refusals_and_one_line_errors() {
    let c = MockCluster::new(1).unwrap();
    let bs = c.bootstrap_servers();
    create_topics(&c, 2);
    produce(&bs, "clickstream", &input(200, 2, 3));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let outd = dir.path().join("data");
    let topology = topology();
    let (st, od, tp) = (
        state.to_str().unwrap(),
        outd.to_str().unwrap(),
        topology.to_str().unwrap(),
    );
    bounded_run("app", &bs, st, od, tp);

    // --from earliest on existing state names replay
    let mut args = run_args("app", &bs, st, od, tp);
    args.extend(["--from", "earliest", "--until", "end"]);
    let o = run_cmd(&args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("replay"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // a second instance on the same state is refused while the first runs
    let mut first = spawn(&run_args("app", &bs, st, od, tp));
    first.wait_stderr("running", Duration::from_secs(30));
    let mut args = run_args("app", &bs, st, od, tp);
    args.extend(["--until", "end"]);
    let o = run_cmd(&args);
    first.kill();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is running"), "{err}");

    // unreachable broker: one line, non-zero, in bounded time
    let mut args = run_args("other", "127.0.0.1:1", st, od, tp);
    args.extend(["--connect-timeout", "3s"]);
    let o = run_cmd(&args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot reach Kafka"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

fn listing(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path().display().to_string(), m.len()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn replay_and_reset_state() {
    let c = MockCluster::new(1).unwrap();
    let bs = c.bootstrap_servers();
    create_topics(&c, 3);
    produce(&bs, "clickstream", &input(1500, 3, 5));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let outd = dir.path().join("data");
    let topology = topology();
    let (st, od, tp) = (
        state.to_str().unwrap(),
        outd.to_str().unwrap(),
        topology.to_str().unwrap(),
    );
    bounded_run("app", &bs, st, od, tp);
    let first: Vec<Vec<String>> = TABLES
        .iter()
        .map(|t| parquet_rows(&outd, "app", t))
        .collect();
    let topics_before: Vec<Vec<(Option<String>, String)>> =
        TABLES.iter().map(|t| contents(&bs, t)).collect();

    // --dry-run prints the plan and changes nothing
    let before = listing(&state);
    let o = run_cmd(&[
        "reset-state",
        "--app-id",
        "app",
        "--state-dir",
        st,
        "--topology",
        tp,
        "--bootstrap-servers",
        &bs,
        "--dry-run",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(
        plan.contains("would delete local state") && plan.contains("nothing changed"),
        "{plan}"
    );
    assert_eq!(
        listing(&state),
        before,
        "dry run changed the state directory"
    );

    // refused while the app runs
    let mut running = spawn(&run_args("app", &bs, st, od, tp));
    running.wait_stderr("running", Duration::from_secs(30));
    let o = run_cmd(&[
        "reset-state",
        "--app-id",
        "app",
        "--state-dir",
        st,
        "--topology",
        tp,
        "--bootstrap-servers",
        &bs,
    ]);
    running.kill();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is running"));

    // replay: identical results, exactly one copy in the live dataset, the old one archived
    let o = run_cmd(&[
        "replay",
        "--app-id",
        "app",
        "--from",
        "earliest",
        "--until",
        "end",
        "--state-dir",
        st,
        "--output-dir",
        od,
        "--topology",
        tp,
        "--bootstrap-servers",
        &bs,
        "--fetch-wait-max-ms",
        "10",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (t, want) in TABLES.iter().zip(&first) {
        assert_eq!(&parquet_rows(&outd, "app", t), want, "replayed parquet {t}");
    }
    let archived = std::fs::read_dir(outd.join("app/_archive"))
        .unwrap()
        .count();
    assert_eq!(archived, 1);
    // the topics now hold the first run and the replay: the replay wrote the same records
    for (t, before) in TABLES.iter().zip(&topics_before) {
        let all = contents(&bs, t);
        let mut doubled: Vec<(Option<String>, String)> =
            before.iter().chain(before.iter()).cloned().collect();
        doubled.sort();
        assert_eq!(all, doubled, "topic {t} after replay");
    }

    // reset-state: state gone; the next run starts over from the group position given
    let o = run_cmd(&[
        "reset-state",
        "--app-id",
        "app",
        "--state-dir",
        st,
        "--topology",
        tp,
        "--bootstrap-servers",
        &bs,
        "--to",
        "latest",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!state.join("app").exists());
}

#[test]
fn broker_down_then_up_mid_run_loses_nothing() {
    let records = input(4_000, 2, 9);
    let topology = topology();
    let tp = topology.to_str().unwrap();

    let a = MockCluster::new(1).unwrap();
    let ba = a.bootstrap_servers();
    create_topics(&a, 2);
    produce(&ba, "clickstream", &records);
    let dir = tempfile::tempdir().unwrap();
    let (sa, oa) = (dir.path().join("sa"), dir.path().join("oa"));
    bounded_run("app", &ba, sa.to_str().unwrap(), oa.to_str().unwrap(), tp);

    let b = MockCluster::new(1).unwrap();
    let bb = b.bootstrap_servers();
    create_topics(&b, 2);
    produce(&bb, "clickstream", &records[..2_000]);
    let (sb, ob) = (dir.path().join("sb"), dir.path().join("ob"));
    let mut app = spawn(&run_args(
        "app",
        &bb,
        sb.to_str().unwrap(),
        ob.to_str().unwrap(),
        tp,
    ));
    app.wait_stderr("running", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    b.broker_down(1).unwrap();
    std::thread::sleep(Duration::from_millis(3_000));
    b.broker_up(1).unwrap();
    produce(&bb, "clickstream", &records[2_000..]);
    std::thread::sleep(Duration::from_millis(3_000));
    // SIGTERM: graceful stop with a final checkpoint, then finish bounded
    let status = app.sigterm_and_wait(Duration::from_secs(60));
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    bounded_run("app", &bb, sb.to_str().unwrap(), ob.to_str().unwrap(), tp);

    for t in TABLES.iter().copied().chain(["app-dlq"]) {
        assert_eq!(
            contents(&bb, t),
            contents(&ba, t),
            "{t} after the broker outage"
        );
    }
}
