//! Faults against Apache Kafka (started by each test; any broker with
//! `STREAMS_TEST_BOOTSTRAP` where the test needs no broker of its own), running the real
//! binary with `--guarantee exactly-once`:
//! - a killed instance's produce requests delivered late (held by a TCP proxy until
//!   after its successor recovered) change nothing: the successor fenced them;
//! - a dead letter larger than any record Kafka takes reaches the DLQ truncated, with its
//!   original size and SHA-256 in headers, instead of stalling the app;
//! - an output record the topic refuses for good stops the app with one line naming the
//!   topic and the cause, and a non-zero exit, instead of retrying forever.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::proxy::Proxy;
use common::*;
use serde_json::Value;
use streams_testkit::{BrokerOptions, KafkaBroker};

/// A 4-partition input topic holding `n` messy records, and the reference: app `a`
/// (outputs prefixed `a-`) ran it uninterrupted to the end. The test's own app is `b`.
struct Reference {
    dir: tempfile::TempDir,
    bs: String,
    /// The reference run's final ledger.
    ledger: std::collections::BTreeMap<String, u64>,
}

impl Reference {
    fn new(bs: &str, input_topic: &str, n: usize, seed: u64) -> Reference {
        create_topic(bs, input_topic, 4, &[]);
        produce(bs, input_topic, &input(n, 4, seed));
        let dir = tempfile::tempdir().unwrap();
        for prefix in ["a-", "b-"] {
            topology_with_prefix(dir.path(), input_topic, prefix, 2048);
        }
        let mut r = Reference {
            dir,
            bs: bs.to_string(),
            ledger: Default::default(),
        };
        let a = r.args("a");
        let mut a = strs(&a);
        a.extend(["--until", "end"]);
        let o = run_cmd_log(&a, "info");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        r.ledger = ledger(&String::from_utf8_lossy(&o.stderr));
        r
    }

    /// `run` of app `app` (`a` or `b`) with its own prefixed topology.
    fn args(&self, app: &'static str) -> Vec<String> {
        let topo = self.dir.path().join(format!("{app}-topology.toml"));
        let d = self.dir.path().to_str().unwrap();
        broker_run_args(app, &self.bs, d, d, topo.to_str().unwrap())
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// Every output topic and the DLQ of `b` equal the reference's, row for row.
    fn assert_b_equals_a(&self) {
        for t in TABLES {
            let want = contents(&self.bs, &format!("a-{t}"));
            let got = contents(&self.bs, &format!("b-{t}"));
            assert!(!want.is_empty(), "{t} empty");
            assert_eq!(got.len(), want.len(), "topic {t}: row count");
            assert_eq!(got, want, "topic {t}");
        }
        assert_eq!(contents(&self.bs, "b-dlq"), contents(&self.bs, "a-dlq"));
    }
}

/// Appends an event `wide` to partition 0 whose `page` is `page_len` characters long:
/// its events_clean row (and its page_metrics row, keyed by page) are as large.
fn push_wide_event(records: &mut Vec<(i32, String, Vec<u8>, i64)>, page_len: usize) {
    let ts = records.last().map_or(0, |r| r.3);
    let wide = format!(
        r#"{{"event_id":"wide","user_id":1,"page":"/{}","event_time":{ts}}}"#,
        "p".repeat(page_len)
    );
    records.push((0, "1".into(), wide.into_bytes(), ts));
}

/// Produces records of up to 3 MB (the topic must take them: `max.message.bytes`).
fn produce_large(bs: &str, topic: &str, records: &[(i32, String, Vec<u8>, i64)]) {
    let p: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bs)
        .set("message.max.bytes", "3000000")
        .create()
        .unwrap();
    for (partition, key, value, ts) in records {
        p.send(
            rdkafka::producer::BaseRecord::to(topic)
                .partition(*partition)
                .key(key.as_str())
                .payload(value.as_slice())
                .timestamp(*ts),
        )
        .unwrap();
        p.poll(Duration::ZERO);
    }
    rdkafka::producer::Producer::flush(&p, T).unwrap();
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn writes_of_a_killed_instance_that_land_after_its_successor_started_change_nothing() {
    let proxy = Proxy::start();
    let broker = KafkaBroker::start_with(BrokerOptions {
        advertised_port: Some(proxy.port),
        ..Default::default()
    });
    assert!(
        KafkaBroker::external().is_none(),
        "this test needs a broker of its own behind its proxy"
    );
    proxy.set_upstream(broker.listen_port());
    let bs = broker.bootstrap().to_string();
    let r = Reference::new(&bs, "held-clickstream", 200_000, 7);

    // The victim: hold its produce requests (records on the wire) from some instant on,
    // then kill it.
    let b = r.args("b");
    let mut victim = spawn(&strs(&b));
    victim.wait_stderr("progress", Duration::from_secs(60));
    proxy.hold_produce();
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.held_bytes() == 0 {
        assert!(
            Instant::now() < deadline,
            "the victim sent no records ({} bytes held):\n{}",
            proxy.held_bytes(),
            victim.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    victim.kill();
    let held = proxy.held_bytes();

    // Its successor fences it, recovers and runs to the end; the victim's held requests
    // reach the broker in the middle of that.
    let mut bounded = strs(&b);
    bounded.extend(["--until", "end"]);
    let mut successor = spawn(&bounded);
    successor.wait_stderr("running", Duration::from_secs(60));
    proxy.release();
    let status = successor.wait_exit(Duration::from_secs(240));
    assert!(status.success(), "{}", successor.stderr());
    eprintln!("released {held} held bytes after the successor started");

    r.assert_b_equals_a();

    // The victim's outputs hold aborted transactions and their control records. Another
    // app reading them as its input sees committed records only, and its bounded run
    // finds the end although the last offsets are transaction markers.
    let d = r.dir.path().to_str().unwrap();
    let topo_c = topology_with_prefix(r.dir.path(), "b-events_clean", "c-", 2048);
    let mut c = broker_run_args("c", &bs, d, d, topo_c.to_str().unwrap());
    c.extend(["--until", "end"]);
    let mut chained = Proc::spawn(&c, "info");
    let status = chained.wait_exit(Duration::from_secs(120));
    assert!(status.success(), "{}", chained.stderr());
    let l = ledger(&chained.stderr());
    assert_eq!(
        l["consumed"] as usize,
        contents(&bs, "b-events_clean").len(),
        "committed records only: {l:?}"
    );
}

#[test]
fn a_dead_letter_over_the_record_size_limit_is_delivered_truncated() {
    let broker = KafkaBroker::start();
    let bs = broker.bootstrap().to_string();
    let run: u32 = rand::random();
    let input_topic = format!("big-{run}");
    // The input topic takes records of up to 3 MB; the DLQ has Kafka's default limit.
    create_topic(&bs, &input_topic, 1, &[("max.message.bytes", "3000000")]);
    let mut records = input(200, 1, 3);
    let huge = format!(
        r#"{{"event_id":"huge","user_id":1,"page":"{}"}}"#,
        "y".repeat(1_500_000)
    )
    .into_bytes();
    let ts = records.last().unwrap().3;
    records.push((0, "1".into(), huge.clone(), ts));
    produce_large(&bs, &input_topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let prefix = format!("p{run}-");
    let topo = topology_with_prefix(dir.path(), &input_topic, &prefix, 1 << 20);
    let app = format!("big{run}");
    let mut args = broker_run_args(&app, &bs, d, d, topo.to_str().unwrap());
    args.extend(["--until", "end"]);
    let mut p = Proc::spawn(&args, "info");
    let status = p.wait_exit(Duration::from_secs(120));
    assert!(status.success(), "{}", p.stderr());

    let dlq = read_topic(&bs, &format!("{app}-dlq"));
    let big: Vec<&Rec> = dlq
        .iter()
        .filter(|r| r.2["streams-dlq-reason"] == "too_large")
        .collect();
    assert_eq!(big.len(), 1, "one too_large dead letter");
    let h = &big[0].2;
    assert_eq!(h["streams-dlq-original-size"], huge.len().to_string());
    let sha = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&huge)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(h["streams-dlq-original-sha256"], sha);
    assert!(big[0].1.len() < 1_000_000 && big[0].1.len() > 900_000);
    assert!(
        huge.starts_with(big[0].1.as_bytes()),
        "a prefix of the original"
    );
    let ledger = ledger(&p.stderr());
    assert_eq!(ledger["consumed"], 201, "{ledger:?}");
}

#[test]
fn an_output_record_the_topic_refuses_stops_the_app_with_one_line() {
    let broker = KafkaBroker::start();
    let bs = broker.bootstrap().to_string();
    let run: u32 = rand::random();
    let input_topic = format!("wide-{run}");
    create_topic(&bs, &input_topic, 1, &[]);
    let prefix = format!("w{run}-");
    // events_clean takes records of at most 2,000 bytes.
    create_topic(
        &bs,
        &format!("{prefix}events_clean"),
        1,
        &[("max.message.bytes", "2000")],
    );
    let mut records = input(100, 1, 5);
    push_wide_event(&mut records, 5000);
    produce(&bs, &input_topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let topo = topology_with_prefix(dir.path(), &input_topic, &prefix, 1 << 20);
    let app = format!("wide{run}");
    let mut args = broker_run_args(&app, &bs, d, d, topo.to_str().unwrap());
    args.extend(["--until", "end"]);
    let mut p = Proc::spawn(&args, "warn");
    let status = p.wait_exit(Duration::from_secs(120));
    assert!(!status.success(), "the app must stop: {}", p.stderr());
    let err = p.stderr();
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: ")
            && last.contains(&format!("`{prefix}events_clean`"))
            && last.contains("retrying cannot clear"),
        "one line naming the topic and the cause: {err}"
    );
    let ids: BTreeSet<String> = read_topic(&bs, &format!("{prefix}events_clean"))
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.1).unwrap()["event_id"].to_string())
        .collect();
    assert!(
        !ids.contains("\"wide\""),
        "the refused record is not in the topic"
    );
}

#[test]
fn a_broker_paused_past_the_delivery_timeout_then_restarted_costs_only_time() {
    let mut broker = KafkaBroker::start();
    assert!(
        KafkaBroker::external().is_none(),
        "this test pauses and restarts a broker of its own"
    );
    let bs = broker.bootstrap().to_string();
    let r = Reference::new(&bs, "paused-clickstream", 200_000, 11);

    let b = r.args("b");
    let mut app = spawn(&strs(&b));
    app.wait_stderr("progress", Duration::from_secs(60));
    // Longer than the 30 s delivery timeout, shorter than the 60 s transaction timeout.
    broker.signal("STOP");
    std::thread::sleep(Duration::from_secs(40));
    broker.signal("CONT");
    std::thread::sleep(Duration::from_secs(5));
    broker.restart();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        app.try_wait().is_none(),
        "the app survived: {}",
        app.stderr()
    );
    let status = app.sigterm_and_wait(Duration::from_secs(120));
    assert!(status.success(), "{}", app.stderr());
    let mut bounded = strs(&b);
    bounded.extend(["--until", "end"]);
    let o = run_cmd_log(&bounded, "info");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got_ledger = ledger(&String::from_utf8_lossy(&o.stderr));
    assert_eq!(got_ledger, r.ledger, "same ledger, no record late");

    r.assert_b_equals_a();
}

#[test]
fn sasl_scram_connections_are_configured_with_kafka_config_flags() {
    let broker = KafkaBroker::start_with(BrokerOptions {
        scram_user: Some(("alice".into(), "alice-secret".into())),
        ..Default::default()
    });
    let Some(sasl) = broker.sasl_bootstrap() else {
        eprintln!("external broker: no SASL listener of ours to test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("client.properties");
    std::fs::write(
        &settings,
        "# the Java clients' layout\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\nsasl.username=alice\n",
    )
    .unwrap();
    let settings = settings.to_str().unwrap();
    let sasl_args = |cmd: &[&'static str]| -> Vec<String> {
        let mut v: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
        v.extend(
            [
                "--bootstrap-servers",
                &sasl,
                "--kafka-config-file",
                settings,
                "--kafka-config",
                "sasl.password=alice-secret",
                "--connect-timeout",
                "20s",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        v
    };
    let d = dir.path().to_str().unwrap();
    let topo = topology();
    let topo = topo.to_str().unwrap();
    let dims = repo().join("topology/dims");
    let mut create = sasl_args(&["topics", "create", "--partitions", "2"]);
    create.extend(["--topology".to_string(), topo.to_string()]);
    // zstd-compressed input, as many producers write it.
    let mut produce = sasl_args(&[
        "produce",
        "--count",
        "500",
        "--seed",
        "3",
        "--compression",
        "zstd",
    ]);
    produce.extend(["--dims-dir".to_string(), dims.display().to_string()]);
    for step in [create, produce] {
        let args: Vec<&str> = step.iter().map(String::as_str).collect();
        let o = run_cmd(&args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let mut run = sasl_args(&["run", "--app-id", "clickstream", "--until", "end"]);
    run.extend(
        [
            "--state-dir",
            d,
            "--output-dir",
            d,
            "--topology",
            topo,
            "--guarantee",
            "exactly-once",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = run.iter().map(String::as_str).collect();
    let o = run_cmd_log(&args, "info");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(ledger(&String::from_utf8_lossy(&o.stderr))["consumed"], 500);

    // A wrong password is one line and a non-zero exit.
    let mut bad = sasl_args(&["topics", "list"]);
    bad.extend(["--kafka-config", "sasl.password=wrong"].map(String::from));
    let args: Vec<&str> = bad.iter().map(String::as_str).collect();
    let o = run_cmd(&args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn partitions_added_to_the_input_while_running_are_read_in_event_time() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
    let broker = KafkaBroker::start();
    let bs = broker.bootstrap().to_string();
    let run: u32 = rand::random();
    let input_topic = format!("growing-{run}");
    create_topic(&bs, &input_topic, 2, &[]);
    // The first half on 2 partitions, the second half (later event times) on 4.
    let records = input(20_000, 4, 13);
    let (early, late): (Vec<_>, Vec<_>) = records
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| *i < 10_000);
    let early: Vec<_> = early
        .into_iter()
        .map(|(_, r)| (r.0 % 2, r.1, r.2, r.3))
        .collect();
    let late: Vec<_> = late.into_iter().map(|(_, r)| r).collect();
    produce(&bs, &input_topic, &early);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let prefix = format!("g{run}-");
    let topo = topology_with_prefix(dir.path(), &input_topic, &prefix, 2048);
    let app = format!("grow{run}");
    let args = broker_run_args(&app, &bs, d, d, topo.to_str().unwrap());
    let mut p = spawn(&args);
    p.wait_stderr("progress", Duration::from_secs(60));

    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .create()
        .unwrap();
    let r = futures_executor::block_on(
        admin.create_partitions(&[NewPartitions::new(&input_topic, 4)], &AdminOptions::new()),
    )
    .unwrap();
    assert!(r.iter().all(|r| r.is_ok()), "{r:?}");
    // Producers learn of new partitions from their metadata (every 5 minutes by default);
    // the app within 10 s. Once it reads them, they hold the watermark until they show
    // data, so what is written to them is processed in event time.
    p.wait_stderr(
        "reading input partitions added while running",
        Duration::from_secs(60),
    );
    produce(&bs, &input_topic, &late);
    // Let it read the new partitions' backlog, then stop and finish bounded.
    std::thread::sleep(Duration::from_secs(3));
    let status = p.sigterm_and_wait(Duration::from_secs(60));
    assert!(status.success(), "{}", p.stderr());
    let mut bounded = args.clone();
    bounded.extend(["--until", "end"]);
    let o = run_cmd_log(&bounded, "info");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let l = ledger(&String::from_utf8_lossy(&o.stderr));
    assert_eq!(l["consumed"], 20_000, "{l:?}");
    for (k, v) in &l {
        if k.starts_with("late.") {
            assert_eq!(*v, 0, "no record late: {l:?}");
        }
    }
    let valid: BTreeSet<String> = records
        .iter()
        .filter_map(|r| valid_event(&r.2, r.3, 2048))
        .map(|v| v["event_id"].as_str().unwrap().to_string())
        .collect();
    let clean = contents(&bs, &format!("{prefix}events_clean"));
    assert_eq!(clean.len(), valid.len(), "every valid event once");
}

/// `key=value` of a log line's field.
fn field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|t| t.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_restart_after_sigkill_reads_one_checkpoint_whatever_the_roll_interval_and_history() {
    let broker = KafkaBroker::start();
    let bs = broker.bootstrap().to_string();
    let run: u32 = rand::random();
    let input_topic = format!("history-{run}");
    create_topic(&bs, &input_topic, 4, &[]);
    let records = input(300_000, 4, 17);
    produce(&bs, &input_topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let prefix = format!("h{run}-");
    let topo = topology_with_prefix(dir.path(), &input_topic, &prefix, 2048);
    let app = format!("hist{run}");
    // The default roll interval (5 minutes): no Parquet file is published during the test.
    let mut args = broker_run_args(&app, &bs, d, d, topo.to_str().unwrap());
    let roll = args
        .iter()
        .position(|a| *a == "--parquet-roll-interval")
        .unwrap();
    args.drain(roll..roll + 2);
    let mut victim = spawn(&args);
    victim.wait_stderr("running", Duration::from_secs(60));
    // Several seconds of checkpoints (history) before the kill.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let consumed = victim
            .stderr()
            .lines()
            .filter(|l| l.contains(" progress "))
            .filter_map(|l| field(l, "consumed"))
            .max()
            .unwrap_or(0);
        if consumed >= 150_000 {
            break;
        }
        assert!(Instant::now() < deadline, "too slow:\n{}", victim.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    victim.kill();

    let mut bounded = args.clone();
    bounded.extend(["--until", "end"]);
    let o = run_cmd_log(&bounded, "info");
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    // What the restart loaded and read: at most the outbox of the last two checkpoints
    // (the one being delivered at the kill, and the one before it while its cleanup was
    // not yet written), and a few marker records; no output topic is scanned.
    let redelivered = log.lines().find(|l| l.contains("re-delivering the outbox"));
    if let Some(line) = redelivered {
        let epochs = field(line, "epochs").unwrap();
        assert!(epochs <= 2, "outbox of {epochs} checkpoints loaded: {line}");
    }
    let read = log
        .lines()
        .find(|l| l.contains("committed to Kafka"))
        .and_then(|l| field(l, "records_read"))
        .unwrap_or_else(|| panic!("no recovery line:\n{log}"));
    assert!(read <= 64, "{read} marker records read");
    eprintln!(
        "restart loaded: {}; marker records read: {read}",
        redelivered.unwrap_or("no outbox")
    );

    // And nothing is lost or doubled: every unique valid event once, in the topic and in
    // Parquet.
    let valid: BTreeSet<String> = records
        .iter()
        .filter_map(|r| valid_event(&r.2, r.3, 2048))
        .map(|v| v["event_id"].as_str().unwrap().to_string())
        .collect();
    let clean = contents(&bs, &format!("{prefix}events_clean"));
    assert_eq!(
        clean.len(),
        valid.len(),
        "every valid event once in the topic"
    );
    let pq = parquet_rows(dir.path(), &app, "events_clean");
    assert_eq!(pq.len(), valid.len(), "every valid event once in Parquet");
}

#[test]
fn input_deleted_by_retention_before_it_was_read_stops_the_app_unless_allowed() {
    use rdkafka::admin::{AdminClient, AdminOptions};
    let broker = KafkaBroker::start();
    let bs = broker.bootstrap().to_string();
    let run: u32 = rand::random();
    let input_topic = format!("retained-{run}");
    create_topic(&bs, &input_topic, 1, &[]);
    let records = input(3_000, 1, 19);
    produce(&bs, &input_topic, &records[..1_000]);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let prefix = format!("r{run}-");
    let topo = topology_with_prefix(dir.path(), &input_topic, &prefix, 2048);
    let app = format!("ret{run}");
    let mut args = broker_run_args(&app, &bs, d, d, topo.to_str().unwrap());
    args.extend(["--until", "end"]);
    let o = run_cmd(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // While the app is stopped, 2,000 more records arrive and the first 1,500 offsets are
    // deleted (as retention would): offsets 1000..1500 were never read.
    produce(&bs, &input_topic, &records[1_000..]);
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &bs)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&input_topic, 0, rdkafka::Offset::Offset(1_500))
        .unwrap();
    futures_executor::block_on(admin.delete_records(&tpl, &AdminOptions::new())).unwrap();

    let o = run_cmd(&args);
    assert!(!o.status.success(), "lost input stops the app");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("500 records") && err.contains("--allow-input-loss"),
        "{err}"
    );

    let mut allowed = args.clone();
    allowed.push("--allow-input-loss");
    let o = run_cmd_log(&allowed, "info");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let l = ledger(&String::from_utf8_lossy(&o.stderr));
    assert_eq!(l["lost"], 500, "{l:?}");
    assert_eq!(l["consumed"], 2_500, "{l:?}");
}

#[test]
fn an_output_row_larger_than_kafka_takes_goes_to_the_dlq_when_asked() {
    let broker = KafkaBroker::start();
    let bs = broker.bootstrap().to_string();
    let run: u32 = rand::random();
    let input_topic = format!("widest-{run}");
    create_topic(&bs, &input_topic, 1, &[("max.message.bytes", "3000000")]);
    let mut records = input(100, 1, 29);
    // Accepted as input (under the topology's 1 MiB limit), but its events_clean row is
    // larger than any record the producer sends (1,000,000 bytes).
    push_wide_event(&mut records, 1_010_000);
    produce_large(&bs, &input_topic, &records);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let prefix = format!("x{run}-");
    let topo = topology_with_prefix(dir.path(), &input_topic, &prefix, 1 << 20);
    let topo = topo.to_str().unwrap();

    // By default the app stops, naming the topic.
    let fails = format!("fail{run}");
    let mut args = broker_run_args(&fails, &bs, d, d, topo);
    args.extend(["--until", "end"]);
    let o = run_cmd(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.trim().lines().count() == 1 && err.contains(&format!("`{prefix}events_clean`")),
        "{err}"
    );

    // With --on-output-too-large dlq the row goes to the DLQ and the run finishes.
    let app = format!("dlq{run}");
    let mut args = broker_run_args(&app, &bs, d, d, topo);
    args.extend(["--until", "end", "--on-output-too-large", "dlq"]);
    let o = run_cmd_log(&args, "info");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dlq = read_topic(&bs, &format!("{app}-dlq"));
    let rerouted: Vec<&Rec> = dlq
        .iter()
        .filter(|r| r.2["streams-dlq-reason"] == "output_too_large")
        .collect();
    // The wide event's events_clean row, and its page's page_metrics row (the page is
    // the group key), each once.
    let mut topics: Vec<String> = rerouted
        .iter()
        .map(|r| r.2["streams-dlq-topic"].clone())
        .collect();
    topics.sort();
    assert_eq!(
        topics,
        vec![
            format!("{prefix}events_clean"),
            format!("{prefix}page_metrics")
        ]
    );
    for r in &rerouted {
        let original: usize = r.2["streams-dlq-original-size"].parse().unwrap();
        assert!(
            original > 1_000_000 && r.1.len() < 1_000_000,
            "cut, with its size"
        );
    }
    let clean = read_topic(&bs, &format!("{prefix}events_clean"));
    assert!(clean.iter().all(|r| !r.1.contains(r#""event_id":"wide""#)));
    assert!(clean.len() > 50, "the other rows are delivered");
}
