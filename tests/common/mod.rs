//! Helpers for tests that run the real binary against a broker.
#![allow(dead_code)]

pub mod proxy;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

pub const T: Duration = Duration::from_secs(20);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_streams-app")
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn topology() -> PathBuf {
    repo().join("topology/clickstream.toml")
}

/// Input records with in-partition disorder below the watermark delay, a span below the
/// dedup retention, duplicates in the same partition and some bad records: outputs do
/// not depend on how partitions interleave, so runs can be compared row for row.
/// The reference topology with topics prefixed (runs on one broker stay apart) and
/// absolute dimension paths,
/// and records over `max_record_bytes` dead-lettered as `too_large`.
pub fn topology_with_prefix(
    dir: &Path,
    input: &str,
    prefix: &str,
    max_record_bytes: usize,
) -> PathBuf {
    let text = std::fs::read_to_string(topology()).unwrap();
    let dims = repo().join("topology/dims");
    let mut out = String::new();
    let mut in_sink = false;
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with("[[") {
            in_sink = l == "[[sinks]]";
        }
        if l.starts_with("max_record_bytes") {
            out.push_str(&format!("max_record_bytes = {max_record_bytes}\n"));
            continue;
        }
        if l.starts_with("topics = [") {
            out.push_str(&format!("topics = [\"{input}\"]\n"));
            continue;
        }
        out.push_str(&line.replace("\"dims/", &format!("\"{}/", dims.display())));
        out.push('\n');
        // Every output table goes to a topic of this test's own.
        if let Some(rest) = l.strip_prefix("name = \"").filter(|_| in_sink) {
            let name = rest.trim_end_matches('"');
            out.push_str(&format!("topic = \"{prefix}{name}\"\n"));
        }
    }
    let path = dir.join(format!("{prefix}topology.toml"));
    std::fs::write(&path, out).unwrap();
    path
}

/// `run` of the reference topology against a real broker, with Kafka transactions,
/// 2-second Parquet rolls and short fetch waits (what the broker tests share).
pub fn broker_run_args<'a>(
    app: &'a str,
    bs: &'a str,
    state: &'a str,
    out: &'a str,
    topo: &'a str,
) -> Vec<&'a str> {
    vec![
        "run",
        "--app-id",
        app,
        "--bootstrap-servers",
        bs,
        "--state-dir",
        state,
        "--output-dir",
        out,
        "--topology",
        topo,
        "--fetch-wait-max-ms",
        "5",
        "--parquet-roll-interval",
        "2s",
        "--guarantee",
        "exactly-once",
    ]
}

/// Creates a topic with topic-level settings (e.g. `max.message.bytes`).
pub fn create_topic(bootstrap: &str, name: &str, partitions: i32, config: &[(&str, &str)]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in config {
        topic = topic.set(k, v);
    }
    let opts = AdminOptions::new().operation_timeout(Some(T));
    let r = futures_executor::block_on(admin.create_topics(&[topic], &opts)).unwrap();
    for r in r {
        r.unwrap_or_else(|(t, e)| panic!("cannot create {t}: {e}"));
    }
}

pub fn input(n: usize, partitions: i32, seed: u64) -> Vec<(i32, String, Vec<u8>, i64)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let base = 1_767_225_600_000i64; // 2026-01-01
    let mut out = Vec::with_capacity(n);
    let mut last: Vec<Option<(i32, String, Vec<u8>, i64)>> = vec![None; partitions as usize];
    for i in 0..n {
        let user: i64 = rng.random_range(1..300);
        let p = (user % partitions as i64) as i32;
        if rng.random_bool(0.02) {
            if let Some(prev) = last[p as usize].clone() {
                out.push(prev);
                continue;
            }
        }
        let kafka_ts = base + i as i64 * 20;
        let ts = kafka_ts - rng.random_range(0..3_000);
        let bytes = if rng.random_bool(0.01) {
            b"{not json".to_vec()
        } else if rng.random_bool(0.01) {
            format!(r#"{{"event_id":"bad{i}","user_id":"x"}}"#).into_bytes()
        } else if rng.random_bool(0.003) {
            // two hours ahead of its Kafka timestamp: future_timestamp
            format!(
                r#"{{"event_id":"fut{i}","user_id":{user},"event_time":{}}}"#,
                kafka_ts + 7_200_000
            )
            .into_bytes()
        } else if rng.random_bool(0.003) {
            // valid, but over the 2 KiB `max_record_bytes` of the broker test's topology
            format!(
                r#"{{"event_id":"big{i}","user_id":{user},"event_time":{ts},"pad":"{}"}}"#,
                "x".repeat(3000)
            )
            .into_bytes()
        } else {
            let types = ["page_view", "page_view", "click", "add_to_cart", "purchase"];
            let t = types[rng.random_range(0..5)];
            let page = ["/", "/a", "/b"][rng.random_range(0..3)];
            let device = ["mobile", " Desktop"][rng.random_range(0..2)];
            let country = ["US", "de", "GB "][rng.random_range(0..3)];
            serde_json::to_vec(&json!({
                "event_id": format!("e{i}"),
                "user_id": user,
                "product_id": rng.random_range(1..50),
                "event_type": t,
                "page": page,
                "device": device,
                "country": country,
                "amount": if t == "purchase" { json!(rng.random_range(1..100) as f64 * 0.5) } else { Value::Null },
                "event_time": ts,
            }))
            .unwrap()
        };
        let rec = (p, user.to_string(), bytes, kafka_ts);
        last[p as usize] = Some(rec.clone());
        out.push(rec);
    }
    out
}

pub fn produce(bootstrap: &str, topic: &str, records: &[(i32, String, Vec<u8>, i64)]) {
    produce_with(bootstrap, topic, records, 10_000)
}

/// [`produce`] with at most `per_batch` records per record batch.
pub fn produce_with(
    bootstrap: &str,
    topic: &str,
    records: &[(i32, String, Vec<u8>, i64)],
    per_batch: u32,
) {
    let p: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("batch.num.messages", per_batch.to_string())
        .create()
        .unwrap();
    for (partition, key, value, ts) in records {
        let mut rec = BaseRecord::to(topic)
            .partition(*partition)
            .key(key.as_str())
            .payload(value.as_slice())
            .timestamp(*ts);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    p.poll(Duration::from_millis(20));
                    rec = r;
                }
            }
        }
    }
    p.flush(Duration::from_secs(300)).unwrap();
}

/// One output record: key, value and headers.
pub type Rec = (Option<String>, String, BTreeMap<String, String>);

/// Everything in `topic`, read with a plain consumer.
pub fn read_topic(bootstrap: &str, topic: &str) -> Vec<Rec> {
    read_topic_with(bootstrap, topic, 500)
}

/// [`read_topic`] with a chosen `fetch.wait.max.ms`.
pub fn read_topic_with(bootstrap: &str, topic: &str, fetch_wait_ms: u32) -> Vec<Rec> {
    read_records(bootstrap, topic, fetch_wait_ms)
        .into_iter()
        .map(|r| {
            let mut headers = r.headers;
            headers.insert("@position".into(), format!("{}:{}", r.partition, r.offset));
            (r.key, r.value, headers)
        })
        .collect()
}

/// One record as read back, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRec {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<String>,
    pub value: String,
    pub headers: BTreeMap<String, String>,
}

/// Every record of `topic` from the beginning to the end of each partition (confirmed by
/// partition EOF), in partition then offset order.
pub fn read_records(bootstrap: &str, topic: &str, fetch_wait_ms: u32) -> Vec<RawRec> {
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .set("group.id", "test-reader")
        // Outputs written in transactions: only committed records count.
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let md = c.fetch_metadata(Some(topic), T).unwrap();
    let parts: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    assert!(!parts.is_empty(), "topic {topic} missing");
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut eof = std::collections::HashSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + T;
    while eof.len() < parts.len() {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(RawRec {
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp().to_millis(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                eof.insert(p);
            }
            _ => {}
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

pub fn run_cmd(args: &[&str]) -> Output {
    run_cmd_log(args, "warn")
}

/// [`run_cmd`] with a chosen `RUST_LOG`.
pub fn run_cmd_log(args: &[&str], log: &str) -> Output {
    app_cmd(log).args(args).output().unwrap()
}

/// The binary with `RUST_LOG=log`, no colours, and none of the developer's `STREAMS_*`
/// settings (they would change defaults the tests rely on).
pub fn app_cmd(log: &str) -> Command {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("STREAMS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RUST_LOG", log).env("NO_COLOR", "1");
    cmd
}

/// A running `streams-app`: its stdout and stderr are collected by threads (a chatty
/// child never blocks on a full pipe), and it is killed when dropped.
pub struct Proc {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut b = b.lock().unwrap();
            b.push_str(&line);
            b.push('\n');
        }
    });
    buf
}

impl Proc {
    /// Starts the binary with `args` and `RUST_LOG=log`.
    pub fn spawn(args: &[&str], log: &str) -> Proc {
        let mut child = app_cmd(log)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn wait_for(&mut self, stream: &Arc<Mutex<String>>, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if stream.lock().unwrap().contains(needle) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                // The collectors may still be draining the pipes.
                std::thread::sleep(Duration::from_millis(200));
                if stream.lock().unwrap().contains(needle) {
                    return;
                }
                panic!(
                    "exited ({status:?}) before printing {needle:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until stderr (the log) contains `needle`; panics with the log otherwise.
    pub fn wait_stderr(&mut self, needle: &str, within: Duration) {
        let s = self.stderr.clone();
        self.wait_for(&s, needle, within)
    }

    /// Waits until stdout contains `needle`; panics with the log otherwise.
    pub fn wait_stdout(&mut self, needle: &str, within: Duration) {
        let s = self.stdout.clone();
        self.wait_for(&s, needle, within)
    }

    /// The exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status; panics if it does not stop within `within`.
    pub fn sigterm_and_wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        self.wait_exit(within)
    }

    /// The exit status; panics with the log if it still runs after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the collectors take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `streams-app` with `RUST_LOG=info` (so tests can wait for its log lines).
pub fn spawn(args: &[&str]) -> Proc {
    Proc::spawn(args, "info")
}

/// Every Parquet row of `<root>/<app>/<table>` as JSON text, sorted.
pub fn parquet_rows(root: &Path, app: &str, table: &str) -> Vec<String> {
    let mut rows: Vec<String> = streams_parquet::read::read_table_json(&root.join(app).join(table))
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    rows.sort();
    rows
}

/// The ledger counters (`consumed=… accepted=… dlq.x=…`) of the last line of `text` that
/// has them: the app's "end of input reached" log line or the benchmark's report.
pub fn ledger(text: &str) -> BTreeMap<String, u64> {
    let line = text
        .lines()
        .rfind(|l| l.contains("consumed="))
        .unwrap_or_else(|| panic!("no ledger in:\n{text}"));
    let mut out = BTreeMap::new();
    for token in line.split_whitespace() {
        let token = token.strip_prefix("ledger=").unwrap_or(token);
        if let Some((k, v)) = token.split_once('=') {
            if let Ok(v) = v.trim_matches('"').parse() {
                out.insert(k.trim_matches('"').to_string(), v);
            }
        }
    }
    let balanced = out["consumed"] == out["accepted"] + out["duplicate"] + out["dead_lettered"];
    assert!(balanced, "ledger does not balance: {line}");
    out
}

pub const TABLES: [&str; 6] = [
    "events_clean",
    "country_segment_revenue",
    "country_traffic_sliding",
    "page_metrics",
    "geo_device",
    "user_sessions",
];

/// Key and value of every record of a topic, sorted (order across partitions is not part
/// of the contract), with the identity headers checked to be unique.
pub fn contents(bootstrap: &str, topic: &str) -> Vec<(Option<String>, String)> {
    let recs = read_topic(bootstrap, topic);
    let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for r in &recs {
        let id = (
            r.2["streams-task"].clone(),
            r.2["streams-epoch"].clone(),
            r.2["streams-seq"].clone(),
        );
        if let Some(first) = seen.insert(id.clone(), r.2["@position"].clone()) {
            panic!(
                "{topic}: identity {id:?} twice, at {first} and {}",
                r.2["@position"]
            );
        }
    }
    let mut kv: Vec<(Option<String>, String)> = recs.into_iter().map(|r| (r.0, r.1)).collect();
    kv.sort();
    kv
}

/// What DESIGN §3.1 makes of an input record: `Some(event)` if accepted by validation
/// (before dedup), `None` if dead-lettered. Written independently of the app's decoder:
/// larger than `max_bytes` (the topology's limit), not a JSON object, `event_id` missing,
/// empty or not a string, a known field of the wrong JSON type, a negative amount, or an
/// event time more than an hour past the Kafka timestamp → dead letter.
pub fn valid_event(bytes: &[u8], kafka_ts: i64, max_bytes: usize) -> Option<Value> {
    if bytes.len() > max_bytes {
        return None;
    }
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let o = v.as_object()?;
    o.get("event_id")?.as_str().filter(|s| !s.is_empty())?;
    let int_or_null = |k: &str| o.get(k).is_none_or(|x| x.is_null() || x.is_i64());
    let str_or_null = |k: &str| o.get(k).is_none_or(|x| x.is_null() || x.is_string());
    if !int_or_null("user_id") || !int_or_null("product_id") {
        return None;
    }
    if !["event_type", "page", "device", "country"]
        .iter()
        .all(|k| str_or_null(k))
    {
        return None;
    }
    match o.get("amount") {
        None | Some(Value::Null) => {}
        Some(a) => {
            if a.as_f64()? < 0.0 {
                return None;
            }
        }
    }
    let event_ts = match o.get("event_time") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(t)) => chrono::DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.timestamp_millis()),
        _ => None,
    };
    if event_ts.is_some_and(|t| t > kafka_ts + 3_600_000) {
        return None;
    }
    Some(v)
}

/// Reads output tables with pandas, pyarrow and DuckDB (`tests/readers/check_parquet.py`,
/// with the Python of `STREAMS_TEST_PYTHON`, which `scripts/test.sh` points at the
/// readers `scripts/setup.sh --tests` installed). `tables`: one JSON object per table
/// (`dir`, `format`, `rows`, `columns` name → type, `partition_by`). Panics with the
/// readers' output on any disagreement; returns the lines they printed.
pub fn check_with_readers(tables: &[serde_json::Value]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect.json");
    std::fs::write(&expect, serde_json::json!({ "tables": tables }).to_string()).unwrap();
    let python = std::env::var("STREAMS_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(repo().join("tests/readers/check_parquet.py"))
        .arg(&expect)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} ({e}): run scripts/setup.sh --tests"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the readers disagree with the output (python: {python}; scripts/setup.sh --tests installs them):\n{text}"
    );
    text
}

/// The readers' description of a table: its columns and types, partition columns.
pub fn reader_table(
    dir: &Path,
    format: &str,
    rows: usize,
    table: &streams_core::topology::TableInfo,
) -> serde_json::Value {
    let columns: serde_json::Map<String, serde_json::Value> = table
        .schema
        .columns
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                serde_json::Value::from(streams_core::input::type_word(c.ty)),
            )
        })
        .collect();
    let partition_by: Vec<&str> = table
        .partition_by
        .iter()
        .map(|&c| table.schema.columns[c].name.as_str())
        .collect();
    serde_json::json!({
        "dir": dir.display().to_string(),
        "format": format,
        "rows": rows,
        "columns": columns,
        "partition_by": partition_by,
    })
}
