//! `streams-app run` end to end against librdkafka's mock cluster (started in this test
//! process, reached by the binary over TCP on 127.0.0.1): bounded runs, SIGKILL at
//! random instants with restarts, the refusal of `--from earliest` on existing state,
//! the state lock, and an unreachable broker.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use rdkafka::mocking::MockCluster;

/// A mock cluster with the app's topics and `records` in `clickstream`, and a state and
/// output directory of its own.
struct Setup {
    cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    bs: String,
    _dir: tempfile::TempDir,
    state: PathBuf,
    out: PathBuf,
    topology: PathBuf,
    /// `--threads` of every run (2 unless a test says otherwise).
    threads: &'static str,
}

impl Setup {
    fn new(partitions: i32, records: &[(i32, String, Vec<u8>, i64)]) -> Setup {
        let cluster = MockCluster::new(1).unwrap();
        let bs = cluster.bootstrap_servers();
        // The mock cluster has no CreateTopics: the topics the app would create are
        // made here.
        cluster.create_topic("clickstream", partitions, 1).unwrap();
        let internal = ["app-dlq", "other-dlq", "app-epochs", "other-epochs"];
        for t in TABLES.iter().copied().chain(internal) {
            cluster.create_topic(t, partitions, 1).unwrap();
        }
        produce(&bs, "clickstream", records);
        let dir = tempfile::tempdir().unwrap();
        Setup {
            cluster,
            bs,
            state: dir.path().join("state"),
            out: dir.path().join("data"),
            _dir: dir,
            topology: topology(),
            threads: "2",
        }
    }

    fn st(&self) -> &str {
        self.state.to_str().unwrap()
    }

    fn od(&self) -> &str {
        self.out.to_str().unwrap()
    }

    fn tp(&self) -> &str {
        self.topology.to_str().unwrap()
    }

    /// `run` (or `replay`) of app `app` on this cluster and directories.
    fn args<'a>(&'a self, cmd: &'a str, app: &'a str) -> Vec<&'a str> {
        vec![
            cmd,
            "--app-id",
            app,
            "--bootstrap-servers",
            &self.bs,
            "--state-dir",
            self.st(),
            "--output-dir",
            self.od(),
            "--topology",
            self.tp(),
            "--fetch-wait-max-ms",
            "10",
            "--parquet-roll-interval",
            "700ms",
            // The mock cluster has no real transactions: this tier proves the scan path.
            "--guarantee",
            "idempotent-scan",
            "--threads",
            self.threads,
        ]
    }

    fn run_args(&self) -> Vec<&str> {
        self.args("run", "app")
    }

    /// `run --until end`, which must succeed.
    fn bounded_run(&self) {
        let mut args = self.run_args();
        args.extend(["--until", "end"]);
        let o = run_cmd(&args);
        assert!(
            o.status.success(),
            "run failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// `reset-state` of app `app` with `extra` flags.
    fn reset_state(&self, extra: &[&str]) -> std::process::Output {
        let mut args = vec![
            "reset-state",
            "--app-id",
            "app",
            "--state-dir",
            self.st(),
            "--topology",
            self.tp(),
            "--bootstrap-servers",
            &self.bs,
        ];
        args.extend(extra);
        run_cmd(&args)
    }
}

#[test]
fn bounded_run_then_sigkill_restarts_give_identical_outputs() {
    let records = input(6_000, 4, 1);

    // Uninterrupted run, on one worker thread.
    let mut a = Setup::new(4, &records);
    a.threads = "1";
    a.bounded_run();
    let (ba, outd) = (&a.bs, &a.out);

    // The same input on two worker threads, killed with SIGKILL at random instants,
    // restarted, then bounded: the same outputs as one uninterrupted thread.
    let b = Setup::new(4, &records);
    for i in 0..10u64 {
        let mut child = spawn(&b.run_args());
        // Every other kill lands after processing started (so the restarts are tested
        // against real progress); the others may land during start-up or recovery.
        if i % 2 == 0 {
            child.wait_stderr("running", Duration::from_secs(30));
        }
        std::thread::sleep(Duration::from_millis(300 + (i * 7919) % 900));
        child.kill(); // SIGKILL
    }
    b.bounded_run();
    let (bb, out_b) = (&b.bs, &b.out);

    for t in TABLES.iter().copied().chain(["app-dlq"]) {
        let want = contents(ba, t);
        let got = contents(bb, t);
        assert!(!want.is_empty(), "{t} is empty");
        assert_eq!(got.len(), want.len(), "{t}: row count after kills");
        assert_eq!(got, want, "{t}: contents after kills");
    }

    // Parquet: the same rows in both datasets, each once, in published files only.
    for t in TABLES {
        let want = parquet_rows(outd, "app", t);
        let got = parquet_rows(out_b, "app", t);
        assert!(!want.is_empty(), "parquet {t} is empty");
        assert_eq!(got.len(), want.len(), "parquet {t}: row count after kills");
        assert_eq!(got, want, "parquet {t}: rows after kills");
        let kafka_rows = contents(ba, t).len();
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
    let clean = contents(ba, "events_clean");
    assert_eq!(clean.len(), valid.len());
    let csr_events: i64 = contents(ba, "country_segment_revenue")
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
    let dlq = read_topic(ba, "app-dlq");
    assert_eq!(dlq.len(), bad);
    let reasons = ["malformed_json", "invalid_field", "future_timestamp"];
    assert!(dlq
        .iter()
        .all(|r| reasons.contains(&r.2["streams-dlq-reason"].as_str())));
}

#[test]
fn refusals_and_one_line_errors() {
    let c = Setup::new(2, &input(200, 2, 3));
    c.bounded_run();
    let (st, od, tp) = (c.st(), c.od(), c.tp());

    // --from earliest on existing state names replay
    let mut args = c.run_args();
    args.extend(["--from", "earliest", "--until", "end"]);
    let o = run_cmd(&args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("replay"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // a second instance on the same state is refused while the first runs
    let mut first = spawn(&c.run_args());
    first.wait_stderr("running", Duration::from_secs(30));
    let mut args = c.run_args();
    args.extend(["--until", "end"]);
    let o = run_cmd(&args);
    first.kill();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is running"), "{err}");

    // unreachable broker: one line, non-zero, in bounded time
    let mut args = vec![
        "run",
        "--app-id",
        "other",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--state-dir",
        st,
        "--output-dir",
        od,
        "--topology",
        tp,
    ];
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
    let c = Setup::new(3, &input(1500, 3, 5));
    c.bounded_run();
    let (bs, state, outd) = (c.bs.as_str(), &c.state, &c.out);

    let first: Vec<Vec<String>> = TABLES
        .iter()
        .map(|t| parquet_rows(outd, "app", t))
        .collect();
    let topics_before: Vec<Vec<(Option<String>, String)>> =
        TABLES.iter().map(|t| contents(bs, t)).collect();

    // --dry-run prints the plan and changes nothing
    let before = listing(state);
    let o = c.reset_state(&["--dry-run"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan = String::from_utf8_lossy(&o.stdout);
    assert!(
        plan.contains("would delete local state") && plan.contains("nothing changed"),
        "{plan}"
    );
    assert_eq!(
        listing(state),
        before,
        "dry run changed the state directory"
    );

    // refused while the app runs
    let mut running = spawn(&c.run_args());
    running.wait_stderr("running", Duration::from_secs(30));
    let o = c.reset_state(&[]);
    running.kill();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is running"));

    // replay: identical results, exactly one copy in the live dataset, the old one archived
    let mut args = c.args("replay", "app");
    args.extend(["--from", "earliest", "--until", "end"]);
    let o = run_cmd(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (t, want) in TABLES.iter().zip(&first) {
        assert_eq!(&parquet_rows(outd, "app", t), want, "replayed parquet {t}");
    }
    let archived = std::fs::read_dir(outd.join("app/_archive"))
        .unwrap()
        .count();
    assert_eq!(archived, 1);
    // the topics now hold the first run and the replay: the replay wrote the same records
    for (t, before) in TABLES.iter().zip(&topics_before) {
        let all = contents(bs, t);
        let mut doubled: Vec<(Option<String>, String)> =
            before.iter().chain(before.iter()).cloned().collect();
        doubled.sort();
        assert_eq!(all, doubled, "topic {t} after replay");
    }

    // replay from a time would rebuild only part of the dataset it archives: refused
    let mut args = c.args("replay", "app");
    args.extend(["--from", "2026-01-01T00:10:00Z", "--until", "end"]);
    let o = run_cmd(&args);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("older ones") && err.contains("--from earliest"),
        "{err}"
    );
    for (t, want) in TABLES.iter().zip(&first) {
        assert_eq!(&parquet_rows(outd, "app", t), want, "untouched parquet {t}");
    }

    // reset-state --to latest: the state is gone, and the next run reads only what is
    // produced after the reset (before the fix it started over at the earliest offsets
    // and re-emitted all history)
    let o = c.reset_state(&["--to", "latest"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!state.join("app/CURRENT").exists(), "no state left");
    let later: Vec<(i32, String, Vec<u8>, i64)> = input(300, 3, 77)
        .into_iter()
        .map(|(p, k, v, ts)| {
            let v = String::from_utf8(v)
                .unwrap()
                .replace(r#""event_id":""#, r#""event_id":"later-"#);
            (p, k, v.into_bytes(), ts)
        })
        .collect();
    produce(bs, "clickstream", &later);
    let mut args = c.run_args();
    args.extend(["--until", "end"]);
    let o = run_cmd_log(&args, "info");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ledger = ledger(&String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        ledger["consumed"], 300,
        "only the records after the reset: {ledger:?}"
    );
    let before: usize = topics_before[0].len();
    let now = contents(bs, "events_clean");
    let new = now.iter().filter(|(_, v)| v.contains("later-")).count();
    assert_eq!(now.len(), 2 * before + new, "history is not re-emitted");
    assert!(new > 250, "the new events are there: {new}");
}

#[test]
fn broker_down_then_up_mid_run_loses_nothing() {
    let records = input(4_000, 2, 9);
    let a = Setup::new(2, &records);
    a.bounded_run();

    let b = Setup::new(2, &records[..2_000]);
    let bb = b.bs.as_str();
    let mut app = spawn(&b.run_args());
    app.wait_stderr("running", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    b.cluster.broker_down(1).unwrap();
    std::thread::sleep(Duration::from_millis(3_000));
    b.cluster.broker_up(1).unwrap();
    produce(bb, "clickstream", &records[2_000..]);
    std::thread::sleep(Duration::from_millis(3_000));
    // SIGTERM: graceful stop with a final checkpoint, then finish bounded
    let status = app.sigterm_and_wait(Duration::from_secs(60));
    assert!(status.success(), "graceful stop exits 0: {status:?}");
    b.bounded_run();

    for t in TABLES.iter().copied().chain(["app-dlq"]) {
        assert_eq!(
            contents(bb, t),
            contents(&a.bs, t),
            "{t} after the broker outage"
        );
    }
}

/// A small tmpfs at `dir` (root only): a disk that fills up.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: PathBuf, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(&dir).unwrap();
        let o = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .unwrap();
        if !o.status.success() {
            // Only root may mount; a developer's unprivileged run says so and skips.
            let root = std::process::Command::new("id").arg("-u").output().unwrap();
            assert!(
                String::from_utf8_lossy(&root.stdout).trim() != "0",
                "root but cannot mount a tmpfs: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            eprintln!("not root: the disk-full test needs a tmpfs mount, skipped");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn grow(&self, size: &str) {
        let o = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

/// A run whose `dir_of` directory sits on a disk of `size` that fills up stops with
/// one line naming the cause (and, with `path_in_error`, the directory); once the disk
/// is grown, a bounded run gives exactly an uninterrupted run's topics and Parquet.
fn full_disk_then_freed(seed: u64, dir_of: fn(&Setup) -> PathBuf, size: &str, path_in_error: bool) {
    let records = input(6_000, 2, seed);
    let a = Setup::new(2, &records);
    a.bounded_run();

    let b = Setup::new(2, &records);
    let Some(disk) = SmallDisk::mount(dir_of(&b), size) else {
        return;
    };
    let mut args = b.run_args();
    args.extend(["--until", "end"]);
    let o = run_cmd(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a full disk stops the app: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("No space left on device"),
        "names the cause: {err}"
    );
    if path_in_error {
        let dir = dir_of(&b);
        assert!(err.contains(dir.to_str().unwrap()), "names the path: {err}");
    }

    disk.grow("256m");
    b.bounded_run();
    for t in TABLES.iter().copied().chain(["app-dlq"]) {
        assert_eq!(contents(&b.bs, t), contents(&a.bs, t), "topic {t}");
    }
    for t in TABLES {
        let want = parquet_rows(&a.out, "app", t);
        assert!(!want.is_empty(), "parquet {t} is empty");
        assert_eq!(parquet_rows(&b.out, "app", t), want, "parquet {t}");
    }
}

#[test]
fn a_full_parquet_disk_stops_the_app_and_a_restart_after_freeing_space_loses_nothing() {
    full_disk_then_freed(21, |s| s.out.clone(), "48k", true);
}

#[test]
fn a_full_state_disk_stops_the_app_and_a_restart_after_freeing_space_loses_nothing() {
    // Too small for this input's state (its write-ahead log alone outgrows it).
    full_disk_then_freed(23, |s| s.state.clone(), "256k", false);
}

/// One pass, several sinks: `topology/clickstream_by_country.toml` writes the clean
/// events as Parquet partitioned by country and as CSV, an aggregate to Kafka, and
/// prints the raw and the parsed records to stdout.
#[test]
fn one_pass_writes_parquet_by_country_csv_and_console_taps() {
    let records = input(3_000, 2, 9);
    let mut s = Setup::new(2, &records);
    s.cluster.create_topic("country_traffic", 2, 1).unwrap();
    s.topology = repo().join("topology/clickstream_by_country.toml");
    let mut args = s.run_args();
    args.extend(["--until", "end"]);
    let o = run_cmd_log(&args, "info");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{stderr}");
    let l = ledger(&stderr);
    let accepted = l["accepted"] as usize;
    let fitting = accepted + l["duplicate"] as usize;

    // Console taps: every record that fits the schema, raw and parsed.
    let raw: Vec<&str> = stdout.lines().filter(|x| x.starts_with("raw {")).collect();
    let parsed = stdout.lines().filter(|x| x.starts_with("parsed {")).count();
    assert_eq!((raw.len(), parsed), (fitting, fitting));
    let first: serde_json::Value = serde_json::from_str(&raw[0]["raw ".len()..]).unwrap();
    let inner: serde_json::Value =
        serde_json::from_str(first["raw_json"].as_str().unwrap()).unwrap();
    assert!(inner["event_id"].is_string(), "{inner}");

    // Parquet partitioned by country only (kafka = false: no topic), country not in files.
    let pq_dir = s.out.join("app/events_by_country");
    let mut countries: Vec<String> = std::fs::read_dir(&pq_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    countries.sort();
    assert!(
        countries.iter().all(|c| c.starts_with("country=")),
        "{countries:?}"
    );
    assert!(countries.len() > 3);
    let rows = streams_parquet::read::read_table_json(&pq_dir).unwrap();
    assert_eq!(rows.len(), accepted);
    let file = &streams_parquet::read::visible_files(&pq_dir).unwrap()[0];
    let schema = streams_parquet::read::read_file(file).unwrap()[0].schema();
    assert!(schema.field_with_name("country").is_err());

    // The CSV copy: the same partitions, a header row per file, every row once.
    let csv_dir = s.out.join("app/csv/events_by_country");
    let mut csv_countries: Vec<String> = std::fs::read_dir(&csv_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    csv_countries.sort();
    assert_eq!(csv_countries, countries);
    let mut csv_rows = 0;
    for c in &countries {
        for f in std::fs::read_dir(csv_dir.join(c)).unwrap() {
            let f = f.unwrap();
            let name = f.file_name().to_string_lossy().into_owned();
            assert!(
                name.starts_with("part-") && name.ends_with(".csv"),
                "{name}"
            );
            let text = std::fs::read_to_string(f.path()).unwrap();
            let mut lines = text.lines();
            assert!(
                lines.next().unwrap().starts_with("event_id,user_id,"),
                "{name}"
            );
            csv_rows += lines.count();
        }
    }
    assert_eq!(csv_rows, accepted);
    // The aggregate still goes to Kafka.
    assert!(!contents(&s.bs, "country_traffic").is_empty());
    // pandas, pyarrow and DuckDB read both copies, country coming from the directories.
    let def = streams_runtime::load_topology(&s.topology).unwrap();
    let table = def
        .tables()
        .unwrap()
        .into_iter()
        .find(|t| t.name == "events_by_country")
        .unwrap();
    let text = check_with_readers(&[
        reader_table(&pq_dir, "parquet", accepted, &table),
        reader_table(&csv_dir, "csv", accepted, &table),
    ]);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        6,
        "{text}"
    );
}

/// `emit = "update"` through the real binary: the sensors topology (checkpointing every
/// 40 records) sends the averages of still-open windows to Kafka with a
/// `streams-emit: update` header and prints them marked `(update)`; the final row of
/// every window comes once, without the header, with the average worked out here.
#[test]
fn window_updates_reach_kafka_and_the_console_marked_and_finals_once() {
    let cluster = MockCluster::new(1).unwrap();
    let bs = cluster.bootstrap_servers();
    for t in [
        "sensors",
        "sensor_readings",
        "avg_value_10s",
        "app-dlq",
        "app-epochs",
    ] {
        cluster.create_topic(t, 1, 1).unwrap();
    }
    let t0: i64 = 1_767_225_600_000;
    let mut sums: std::collections::BTreeMap<(i64, i64), (f64, i64)> = Default::default();
    let mut records = Vec::new();
    for i in 0..400i64 {
        let (id, t, value) = (i % 3, t0 + i * 200, (i % 17) as f64);
        let e = sums.entry((t.div_euclid(10_000) * 10_000, id)).or_default();
        e.0 += value;
        e.1 += 1;
        let json = format!(
            r#"{{"id":{id},"ts":"{}","value":{value},"source":"probe"}}"#,
            streams_core::value::format_timestamp(t)
        );
        records.push((0, id.to_string(), json.into_bytes(), t));
    }
    produce(&bs, "sensors", &records);
    let dir = tempfile::tempdir().unwrap();
    // A checkpoint every 40 records, so windows are still open at most of them.
    let text = std::fs::read_to_string(repo().join("topology/sensors.toml")).unwrap()
        + "\n[commit]\ninterval = \"1s\"\nmax_records = 40\n";
    let topo = dir.path().join("sensors.toml");
    std::fs::write(&topo, text).unwrap();
    let (st, od) = (dir.path().join("state"), dir.path().join("data"));
    let o = run_cmd_log(
        &[
            "run",
            "--app-id",
            "app",
            "--bootstrap-servers",
            &bs,
            "--state-dir",
            st.to_str().unwrap(),
            "--output-dir",
            od.to_str().unwrap(),
            "--topology",
            topo.to_str().unwrap(),
            "--fetch-wait-max-ms",
            "10",
            "--guarantee",
            "idempotent-scan",
            "--until",
            "end",
        ],
        "warn",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let printed_updates = stdout
        .lines()
        .filter(|l| l.starts_with("avg_value_10s (update) {"))
        .count();
    let printed_finals = stdout
        .lines()
        .filter(|l| l.starts_with("avg_value_10s {"))
        .count();
    assert_eq!(printed_finals, sums.len(), "{stdout}");
    assert!(printed_updates > 0, "no update printed:\n{stdout}");

    let recs = read_topic(&bs, "avg_value_10s");
    let (updates, finals): (Vec<_>, Vec<_>) = recs
        .iter()
        .partition(|r| r.2.get("streams-emit").map(String::as_str) == Some("update"));
    assert_eq!(updates.len(), printed_updates);
    assert_eq!(finals.len(), sums.len());
    for r in finals {
        let v: serde_json::Value = serde_json::from_str(&r.1).unwrap();
        let start =
            streams_core::value::parse_timestamp(v["window_start"].as_str().unwrap()).unwrap();
        let id = v["id"].as_i64().unwrap();
        let (sum, n) = sums[&(start, id)];
        assert_eq!(v["readings"].as_i64(), Some(n));
        assert!(
            (v["avg_value"].as_f64().unwrap() - sum / n as f64).abs() < 1e-9,
            "{v}"
        );
    }
    // Parquet keeps final rows only.
    let pq = streams_parquet::read::read_table_json(&od.join("app/avg_value_10s")).unwrap();
    assert_eq!(pq.len(), sums.len());
}

/// `status` through the real binary: on an app that is running (it reads the state
/// without taking it over, and says an instance holds the lock), then on the stopped
/// app, whose last checkpoint accounts for every record and whose positions are the
/// end of the input; `--format json` too; an app without state is a one-line error.
#[test]
fn status_of_a_running_and_a_stopped_app() {
    let records = input(3_000, 2, 11);
    let s = Setup::new(2, &records);
    let status = |format: &str| {
        let o = run_cmd(&[
            "status",
            "--app-id",
            "app",
            "--state-dir",
            s.st(),
            "--format",
            format,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let json = |text: &str| -> serde_json::Value { serde_json::from_str(text).unwrap() };

    let mut app = spawn(&s.run_args());
    // Running: wait for a checkpoint that holds every record.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let running = loop {
        if s.state.join("app/CURRENT").exists() {
            let doc = json(&status("json"));
            if doc["checkpoint"]["ledger"]["consumed"] == 3_000 {
                break doc;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint with every record: {}",
            app.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(running["running"], true, "{running}");
    assert!(running["checkpoint"]["epoch"].as_u64().unwrap() >= 1);
    assert_eq!(running["checkpoint"]["ledger_balanced"], true);
    let written = running["checkpoint"]["written_at_ms"].as_i64().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    assert!(now - written < 60_000 && written <= now, "{running}");
    let text = status("human");
    assert!(text.contains("running: yes"), "{text}");

    let code = app.sigterm_and_wait(Duration::from_secs(30));
    assert!(code.success(), "{}", app.stderr());
    let stopped = json(&status("json"));
    assert_eq!(stopped["running"], false, "{stopped}");
    assert!(stopped["checkpoint"]["epoch"].as_u64() >= running["checkpoint"]["epoch"].as_u64());
    // The positions are the end of the input: every record, per partition.
    let mut want = [0i64; 2];
    for (p, ..) in &records {
        want[*p as usize] += 1;
    }
    let offsets = stopped["checkpoint"]["offsets"].as_array().unwrap();
    let got: Vec<(i64, i64)> = offsets
        .iter()
        .map(|o| {
            (
                o["partition"].as_i64().unwrap(),
                o["next_offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![(0, want[0]), (1, want[1])], "{stopped}");
    let l = &stopped["checkpoint"]["ledger"];
    assert_eq!(
        l["consumed"].as_u64().unwrap(),
        l["accepted"].as_u64().unwrap()
            + l["duplicate"].as_u64().unwrap()
            + l["dead_lettered"].as_u64().unwrap()
    );
    // After a clean stop the outbox is forgotten.
    assert_eq!(stopped["outbox"]["entries"], 0, "{stopped}");
    let text = status("human");
    assert!(
        text.contains("running: no") && text.contains("last checkpoint: epoch"),
        "{text}"
    );

    let o = run_cmd(&["status", "--app-id", "nope", "--state-dir", s.st()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("has no state"), "{err}");
}
