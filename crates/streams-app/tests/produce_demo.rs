//! `produce`, `topics`, `demo` and the `daily-summary` scheduler, each run as the real
//! binary: the producer is deterministic for a seed and start time and its output runs
//! through `run --until end` with a balanced ledger; a missing topic is a one-line error;
//! `topics create` is idempotent on a real broker; the demo finishes with exit 0 and the
//! same ledger every time; the scheduler summarises yesterday and stops on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;

fn produce_args<'a>(
    bootstrap: &'a str,
    topic: &'a str,
    seed: &'a str,
    dims: &'a str,
) -> Vec<&'a str> {
    vec![
        "produce",
        "--bootstrap-servers",
        bootstrap,
        "--topic",
        topic,
        "--seed",
        seed,
        "--start-time",
        "2026-02-01T10:00:00Z",
        "--count",
        "3000",
        "--rate",
        "200",
        "--unthrottled",
        "--compression",
        "none",
        "--dims-dir",
        dims,
    ]
}

#[test]
fn produce_is_deterministic_and_its_output_runs_with_a_balanced_ledger() {
    let c = MockCluster::new(1).unwrap();
    let b = c.bootstrap_servers();
    for t in ["clickstream", "copy", "other"] {
        c.create_topic(t, 4, 1).unwrap();
    }
    for t in TABLES.iter().copied().chain(["app-dlq", "app-epochs"]) {
        c.create_topic(t, 4, 1).unwrap();
    }
    let dims = repo().join("topology/dims");
    let dims = dims.to_str().unwrap();
    for (topic, seed) in [("clickstream", "7"), ("copy", "7"), ("other", "8")] {
        let o = run_cmd(&produce_args(&b, topic, seed, dims));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8(o.stdout).unwrap();
        assert!(out.contains("produced 3000 records"), "{out}");
        assert!(out.contains("acknowledged 3000"), "{out}");
    }
    // (partition, key, value, timestamp) of every record, in partition then offset order.
    let raw = |topic: &str| -> Vec<(i32, Option<String>, String, Option<i64>)> {
        read_records(&b, topic, 10)
            .into_iter()
            .map(|r| (r.partition, r.key, r.value, r.timestamp))
            .collect()
    };
    let a = raw("clickstream");
    let copy = raw("copy");
    let other = raw("other");
    assert_eq!(a.len(), 3000);
    assert_eq!(
        a, copy,
        "same seed and start time: same records, keys, partitions, timestamps"
    );
    assert_ne!(a, other, "another seed: other records");
    // Keyed by user id; event times follow the start time at the rate (3000 records at
    // 200/s ≈ 15 s, less the duplicates).
    let t0 = 1_769_940_000_000; // 2026-02-01T10:00:00Z
    assert!(
        a.iter()
            .all(|r| r.3.is_some_and(|t| t >= t0 && t < t0 + 16_000)),
        "timestamps"
    );
    let mut keyed = 0;
    for (_, k, v, _) in &a {
        if let Ok(j) = serde_json::from_str::<serde_json::Value>(v) {
            if let Some(u) = j.get("user_id").and_then(|u| u.as_i64()) {
                assert_eq!(k.as_deref(), Some(u.to_string().as_str()));
                keyed += 1;
            }
        }
    }
    assert!(keyed > 2500, "{keyed}");

    // The producer's output through the reference topology, to the end.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let data = dir.path().join("data");
    let topology = topology();
    let o = run_cmd_log(
        &[
            "run",
            "--app-id",
            "app",
            "--bootstrap-servers",
            &b,
            "--state-dir",
            state.to_str().unwrap(),
            "--output-dir",
            data.to_str().unwrap(),
            "--topology",
            topology.to_str().unwrap(),
            "--fetch-wait-max-ms",
            "10",
            "--until",
            "end",
        ],
        "info",
    );
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    // The mock cluster accepts transactions without their semantics: `auto` proves it
    // and falls back to the scan protocol, saying so.
    assert!(
        err.contains("does not hide aborted records") && err.contains("protocol=idempotent-scan"),
        "{err}"
    );
    // `ledger` also asserts consumed = accepted + duplicate + dead_lettered.
    let l = ledger(&err);
    assert_eq!(l["consumed"], 3000);
    // `--guarantee exactly-once` refuses such a broker: one line naming the alternatives.
    let o = run_cmd(&[
        "run",
        "--app-id",
        "app",
        "--bootstrap-servers",
        &b,
        "--state-dir",
        state.to_str().unwrap(),
        "--output-dir",
        data.to_str().unwrap(),
        "--topology",
        topology.to_str().unwrap(),
        "--guarantee",
        "exactly-once",
    ]);
    let refusal = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(refusal.trim().lines().count(), 1, "one line: {refusal}");
    assert!(
        refusal.contains("needs Kafka transactions") && refusal.contains("idempotent-scan"),
        "{refusal}"
    );
    assert!(l["duplicate"] > 20 && l["dead_lettered"] > 2, "{l:?}");
    // Independent count: every distinct valid event id once in events_clean.
    let valid: std::collections::BTreeSet<String> = a
        .iter()
        .filter_map(|(_, _, v, ts)| valid_event(v.as_bytes(), ts.unwrap(), 1 << 20))
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(l["accepted"], valid.len() as u64);
    assert_eq!(contents(&b, "events_clean").len(), valid.len());
    assert_eq!(contents(&b, "app-dlq").len() as u64, l["dead_lettered"]);
}

#[test]
fn produce_to_a_missing_topic_is_a_one_line_error() {
    let c = MockCluster::new(1).unwrap();
    let b = c.bootstrap_servers();
    let dims = repo().join("topology/dims");
    let o = run_cmd_log(
        &produce_args(&b, "nope", "1", dims.to_str().unwrap()),
        "off",
    );
    let err = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("topic `nope` does not exist") && err.contains("topics create"),
        "{err}"
    );
}

#[test]
fn topics_create_is_idempotent_and_topics_list_shows_them() {
    let broker = streams_testkit::KafkaBroker::start();
    let b = broker.bootstrap();
    // A broker shared through STREAMS_TEST_BOOTSTRAP may hold the topology's fixed topics
    // already; the DLQ of a fresh app id is new on every run.
    let fresh_broker = std::env::var("STREAMS_TEST_BOOTSTRAP").is_err();
    let app = format!("shop{}", std::process::id());
    let dlq = format!("{app}-dlq");
    let epochs = format!("{app}-epochs");
    let topology = topology();
    let args = [
        "topics",
        "create",
        "--bootstrap-servers",
        b,
        "--topology",
        topology.to_str().unwrap(),
        "--app-id",
        &app,
        "--partitions",
        "3",
    ];
    let first = run_cmd(&args);
    let out1 = String::from_utf8(first.stdout).unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mut want: Vec<&str> = vec!["clickstream", &dlq, &epochs];
    want.extend(TABLES);
    for t in &want {
        let created = out1.contains(&format!("created  {t} (3 partitions)"));
        let existed = out1.contains(&format!("exists   {t} ("));
        assert!(
            created || (!fresh_broker && *t != dlq && *t != epochs && existed),
            "{t}: {out1}"
        );
    }
    let second = run_cmd(&args);
    let out2 = String::from_utf8(second.stdout).unwrap();
    assert!(second.status.success());
    for t in &want {
        assert!(out2.contains(&format!("exists   {t} (")), "{t}: {out2}");
    }
    assert!(
        out2.contains(&format!("exists   {dlq} (3 partitions)")),
        "{out2}"
    );
    assert!(!out2.contains("created"), "{out2}");
    // The input topic is usable: produce to it, then list.
    let dims = repo().join("topology/dims");
    let o = run_cmd(&[
        "produce",
        "--bootstrap-servers",
        b,
        "--count",
        "50",
        "--unthrottled",
        "--compression",
        "none",
        "--dims-dir",
        dims.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list = run_cmd(&["topics", "list", "--bootstrap-servers", b]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let out = String::from_utf8(list.stdout).unwrap();
    let row = |t: &str| {
        out.lines()
            .find(|l| l.split_whitespace().any(|w| w == t))
            .unwrap_or_else(|| panic!("{t} not listed: {out}"))
            .to_string()
    };
    for t in &want {
        row(t);
    }
    assert!(row(&dlq).contains(" 3 "), "{}", row(&dlq));
    // Record counts come from the offsets the broker reports (a lower bound on Tansu,
    // which under-reports them): the 50 records produced show as some, never more.
    let n: i64 = row("clickstream")
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .next_back()
        .unwrap();
    assert!(
        n > 0 && (!fresh_broker || n <= 50),
        "{}",
        row("clickstream")
    );
}

fn demo(dir: &std::path::Path) -> (String, std::time::Duration) {
    let started = Instant::now();
    let o = app_cmd("warn")
        .current_dir(repo())
        .args([
            "demo",
            "--events",
            "20000",
            "--state-dir",
            dir.join("checkpoints").to_str().unwrap(),
            "--output-dir",
            dir.join("data").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.status.success(),
        "demo failed: {}\n{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    (out, started.elapsed())
}

fn ledger_rows(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| {
            ["consumed", "accepted", "duplicate", "dead-lettered", "dlq:"]
                .iter()
                .any(|k| l.contains(k))
        })
        .map(|l| l.to_string())
        .collect()
}

#[test]
fn demo_runs_end_to_end_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let (out, took) = demo(dir.path());
    assert!(out.contains("ledger balanced: yes"), "{out}");
    assert!(out.contains("produced             20000 records"), "{out}");
    let consumed = out.lines().find(|l| l.contains(" consumed ")).unwrap();
    assert!(consumed.contains("20000"), "{consumed}");
    // The input spans midnight: two days of summary.
    for name in ["daily_segment_metrics", "premium_summary"] {
        for day in ["2026-01-01", "2026-01-02"] {
            assert!(out.contains(&format!("summary {name} {day}")), "{out}");
        }
    }
    assert!(out.contains("summary checks passed"), "{out}");
    for t in TABLES {
        assert!(
            out.contains(&format!("/demo/{t}/")),
            "{t} not reported: {out}"
        );
        let files = std::fs::read_dir(dir.path().join("data/demo").join(t))
            .unwrap()
            .count();
        assert!(files > 0, "{t} has no partitions");
    }
    assert!(dir
        .path()
        .join("data/demo/daily_segment_metrics/event_date=2026-01-01/summary.parquet")
        .exists());
    eprintln!("demo took {took:?}");
    // A second run starts fresh (the embedded broker is new) and accounts the same.
    let (again, _) = demo(dir.path());
    assert_eq!(ledger_rows(&out), ledger_rows(&again));
    assert!(!ledger_rows(&out).is_empty());

    // The demo deletes only what it wrote: another app's state is refused and kept; too
    // many events for the embedded broker are refused up front.
    let other = dir.path().join("checkpoints/real-app");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("CURRENT"), "x").unwrap();
    let state = dir.path().join("checkpoints");
    let data = dir.path().join("data");
    for (extra, needle) in [
        (vec!["--app-id", "real-app"], "refusing to delete"),
        (vec!["--events", "60000", "--partitions", "1"], "too many"),
    ] {
        let mut args = vec![
            "demo",
            "--state-dir",
            state.to_str().unwrap(),
            "--output-dir",
            data.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = app_cmd("off")
            .current_dir(repo())
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
    assert!(other.join("CURRENT").exists());
}

#[test]
fn daily_summary_scheduler_runs_yesterday_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let topology = repo().join("topology/clickstream.toml");
    let yesterday = || {
        (chrono::Utc::now() - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string()
    };
    let before = yesterday();
    let mut child = Proc::spawn(
        &[
            "daily-summary",
            "--app-id",
            "x",
            "--daily-at",
            "00:15",
            "--output-dir",
            dir.path().to_str().unwrap(),
            "--topology",
            topology.to_str().unwrap(),
        ],
        "info",
    );
    child.wait_stdout(": no input", Duration::from_secs(30));
    let after = yesterday();
    let out = child.stdout();
    assert!(
        [before, after]
            .iter()
            .any(|d| out.starts_with(&format!("daily_segment_metrics {d}: no input"))),
        "{out}"
    );
    child.wait_stderr("waiting for the next run", Duration::from_secs(30));
    let log = child.stderr();
    let waiting = log
        .lines()
        .find(|l| l.contains("waiting for the next run"))
        .unwrap();
    assert!(waiting.contains("00:15:00"), "{waiting}");
    let status = child.sigterm_and_wait(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn produce_without_count_stops_on_sigterm_with_everything_acknowledged() {
    let c = MockCluster::new(1).unwrap();
    let b = c.bootstrap_servers();
    c.create_topic("clickstream", 2, 1).unwrap();
    let dims = repo().join("topology/dims");
    let mut child = Proc::spawn(
        &[
            "produce",
            "--bootstrap-servers",
            &b,
            "--rate",
            "2000",
            "--dims-dir",
            dims.to_str().unwrap(),
        ],
        "warn",
    );
    // Paced at 2000/s from now: wait until records arrive, then stop it like
    // `docker stop` would, in the middle of producing.
    let watcher: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &b)
        .create()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = (0..2)
            .map(|p| watcher.fetch_watermarks("clickstream", p, T).unwrap().1)
            .sum();
        if n >= 200 {
            break;
        }
        assert!(Instant::now() < deadline, "produce sent nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = child.sigterm_and_wait(Duration::from_secs(15));
    let out = child.stdout();
    assert!(status.success(), "{status:?}: {out}");
    // "produced N records to `clickstream` in ... acknowledged N"
    let n: usize = out
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        out.trim_end().ends_with(&format!("acknowledged {n}")),
        "{out}"
    );
    assert!(n >= 200, "{out}");
    assert_eq!(read_records(&b, "clickstream", 10).len(), n);
}

#[test]
fn produce_file_sends_each_line_keyed_by_a_field_and_reads_stdin() {
    let c = MockCluster::new(1).unwrap();
    let b = c.bootstrap_servers();
    c.create_topic("mine", 3, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(
        &file,
        "{\"user_id\":\"u1\",\"x\":1}\n{\"user_id\":7,\"x\":2}\n\n{\"x\":3}\n{not json\n{\"user_id\":\"u1\",\"x\":4}\r\n",
    )
    .unwrap();
    let o = run_cmd(&[
        "produce",
        "--bootstrap-servers",
        &b,
        "--topic",
        "mine",
        "--file",
        file.to_str().unwrap(),
        "--key-field",
        "user_id",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("produced 5 records"), "{out}");

    // From standard input too.
    let mut child = app_cmd("warn")
        .args([
            "produce",
            "--bootstrap-servers",
            &b,
            "--topic",
            "mine",
            "--file",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"{\"user_id\":\"u2\"}\n{\"user_id\":\"u3\"}\n")
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("produced 2 records"));

    let recs = read_records(&b, "mine", 10);
    let mut got: Vec<(Option<String>, String)> = recs
        .iter()
        .map(|r| (r.key.clone(), r.value.clone()))
        .collect();
    got.sort();
    let mut want: Vec<(Option<String>, String)> = vec![
        (Some("u1".into()), r#"{"user_id":"u1","x":1}"#.into()),
        (Some("7".into()), r#"{"user_id":7,"x":2}"#.into()),
        (None, r#"{"x":3}"#.into()),
        (None, "{not json".into()),
        (Some("u1".into()), r#"{"user_id":"u1","x":4}"#.into()),
        (None, r#"{"user_id":"u2"}"#.into()),
        (None, r#"{"user_id":"u3"}"#.into()),
    ];
    want.sort();
    assert_eq!(got, want, "every line once, as it was, keyed by the field");
    let u1: std::collections::BTreeSet<i32> = recs
        .iter()
        .filter(|r| r.key.as_deref() == Some("u1"))
        .map(|r| r.partition)
        .collect();
    assert_eq!(u1.len(), 1, "one key, one partition");

    // Synthetic-only flags do not mix with --file.
    let o = run_cmd(&["produce", "--file", "-", "--seed", "3"]);
    assert!(!o.status.success());
}
