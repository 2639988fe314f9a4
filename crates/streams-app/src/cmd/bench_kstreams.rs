//! `streams-app bench kafka-streams`: the reference topology on Kafka Streams and on
//! streams-app, on the same broker and the same records, in one run.
//!
//! 1. N clickstream events (event time advancing at 5,000 events/s, disorder within the
//!    watermark delay: no late records), then **flush records**: events far ahead in
//!    event time with keys of their own, so that every window of the real events closes
//!    in both systems. The same records go to two topics, one per system. Kafka
//!    Streams' stream time is per task: a window closes when its task sees a later
//!    record, and a task that read its partition's flush records before the other
//!    partitions' events would drop those as late. So its topic gets the flush records
//!    once it has read every event (its `events_clean` holds them all), as a live
//!    source would deliver them; streams-app's watermark is the minimum over partitions,
//!    so its topic holds everything from the start;
//! 2. `streams-app run --until end` reads them (a child process): its rate and peak RSS;
//! 3. the Kafka Streams program of `bench/kafka-streams/` (DSL, RocksDB stores,
//!    exactly-once v2, `suppress` for final windows; built by
//!    `scripts/build-kafka-streams-bench.sh`) reads them with its heap set explicitly: its
//!    rate is measured from its start to the moment its outputs hold every row
//!    streams-app produced, and its peak RSS;
//! 4. both outputs are compared per table, window and key: counts and integers equal,
//!    sums to 1e-9, approximate distincts within 2 %; rows of the flush records'
//!    windows are left out.
//!
//! Fails (exit 1, state and logs kept) when the outputs differ, after printing the
//! first differences.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value as Json;
use streams_kafka::admin::{self, TopicSpec};
use streams_kafka::bench::{now_ms, Collector};

use super::bench_e2e::{
    bench_topology, child_peak_rss, in_work_dir, produce, spawn_run, tail, wait_child,
};
use crate::synth::{Synth, SynthConfig, SynthRecord};

/// Arguments of `bench kafka-streams`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub broker: super::broker::BrokerArgs,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    /// Events produced (the flush records come on top).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Partitions of the input topic (and of every output and internal topic).
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// The dimension files the events draw users and products from.
    #[arg(long, default_value = "topology/dims")]
    pub dims_dir: PathBuf,
    /// The Kafka Streams program's jars (`scripts/build-kafka-streams-bench.sh` puts
    /// them there).
    #[arg(long, env = "STREAMS_KSTREAMS_LIBS")]
    pub kafka_streams_libs: Option<PathBuf>,
    /// The `java` to run it with.
    #[arg(long, default_value = "java", env = "JAVA")]
    pub java: PathBuf,
    /// The JVM's heap (`-Xms` and `-Xmx`).
    #[arg(long, default_value = "1g")]
    pub heap: String,
    /// Kafka Streams' `num.stream.threads`.
    #[arg(long, default_value_t = 1)]
    pub stream_threads: u32,
    /// Events per second of event time.
    #[arg(long, default_value_t = 5_000.0)]
    pub event_rate: f64,
    /// Grace period of Kafka Streams' windows. Its stream time is per task, and while it
    /// reads a backlog the tasks of a repartitioned aggregate see some input partitions
    /// far ahead of others: with the topology's 10 s it dropped most of 1M records as
    /// late. The window contents are the same with any grace (the input has no late
    /// records and the flush records come 30 min later); only emission waits longer.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub kafka_streams_grace: Duration,
    /// `--threads` of streams-app's `run`: 1 by default, as Kafka Streams' one stream
    /// thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Give up on Kafka Streams once its outputs stop growing for this long.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub idle_timeout: Duration,
    /// Where the runs keep their state, outputs and logs (default: a temporary
    /// directory, removed afterwards).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// Flush records: how many (each with keys of its own, so every task of every
/// repartitioned aggregate gets some) and how far past the last event.
const FLUSH_RECORDS: usize = 256;
const FLUSH_AHEAD_MS: i64 = 30 * 60_000;

/// How one table's rows are keyed and compared.
#[derive(Debug, Clone, PartialEq)]
struct TableShape {
    name: String,
    /// Columns identifying a row (group columns and window start, or the sink key).
    key: Vec<String>,
    /// Column holding the window's (or session's) start, if windowed.
    start: Option<String>,
    /// Approximate aggregates: equal within 2 %.
    approx: BTreeSet<String>,
    /// Every row is kept (windowed tables); otherwise a digest per key.
    full_rows: bool,
}

/// The tables of the topology and how to compare them, from the topology file.
fn shapes(topology: &Path) -> anyhow::Result<Vec<TableShape>> {
    let text = std::fs::read_to_string(topology)
        .with_context(|| format!("cannot read {}", topology.display()))?;
    let doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("cannot parse {}", topology.display()))?;
    let strings = |v: Option<&toml::Value>| -> Vec<String> {
        v.and_then(toml::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(toml::Value::as_str)
                    .map(column_name)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut windows: HashMap<String, (Vec<String>, &'static str, BTreeSet<String>)> =
        HashMap::new();
    for p in doc
        .get("processors")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
    {
        if p.get("type").and_then(toml::Value::as_str) != Some("window_aggregate") {
            continue;
        }
        let name = p.get("name").and_then(toml::Value::as_str).unwrap_or("");
        let session = p
            .get("window")
            .and_then(|w| w.get("type"))
            .and_then(toml::Value::as_str)
            == Some("session");
        let approx = p
            .get("aggregates")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| a.get("fn").and_then(toml::Value::as_str) == Some("approx_distinct"))
            .filter_map(|a| a.get("name").and_then(toml::Value::as_str))
            .map(str::to_string)
            .collect();
        let start = if session {
            "session_start"
        } else {
            "window_start"
        };
        windows.insert(
            name.to_string(),
            (strings(p.get("group_by")), start, approx),
        );
    }
    let mut out = Vec::new();
    for s in doc
        .get("sinks")
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table)
    {
        let name = s.get("name").and_then(toml::Value::as_str).unwrap_or("");
        let input = s.get("input").and_then(toml::Value::as_str).unwrap_or("");
        out.push(match windows.get(input) {
            Some((group, start, approx)) => {
                let mut key = group.clone();
                key.push((*start).to_string());
                TableShape {
                    name: name.to_string(),
                    key,
                    start: Some((*start).to_string()),
                    approx: approx.clone(),
                    full_rows: true,
                }
            }
            None => TableShape {
                name: name.to_string(),
                key: strings(s.get("key")),
                start: None,
                approx: BTreeSet::new(),
                full_rows: false,
            },
        });
    }
    if out.is_empty() {
        bail!("{}: no [[sinks]] to compare", topology.display());
    }
    Ok(out)
}

/// `expr AS name` → `name`; a plain column stays itself.
fn column_name(expr: &str) -> String {
    let lower = expr.to_ascii_lowercase();
    match lower.rfind(" as ") {
        Some(i) => expr[i + 4..].trim().to_string(),
        None => expr.trim().to_string(),
    }
}

/// One table's rows as read from a topic: by key, the whole row (windowed tables) or a
/// digest of it (the event stream: a million rows kept whole would cost gigabytes).
#[derive(Debug, Default)]
struct Rows {
    rows: BTreeMap<String, Json>,
    digests: HashMap<String, u64>,
    /// Rows whose key was seen before (a table with final rows has none).
    repeated: usize,
    /// Values that are not JSON objects.
    malformed: usize,
}

fn key_of(row: &serde_json::Map<String, Json>, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| row.get(c).map_or("null".to_string(), Json::to_string))
        .collect::<Vec<_>>()
        .join("|")
}

/// Rows of `table` from raw values, leaving out windows that start after `last_ms`
/// (the flush records' own windows).
fn collect_rows(shape: &TableShape, values: &[Vec<u8>], last_ms: i64) -> Rows {
    let mut out = Rows::default();
    for v in values {
        let Ok(Json::Object(row)) = serde_json::from_slice::<Json>(v) else {
            out.malformed += 1;
            continue;
        };
        if let Some(start) = &shape.start {
            let at = row
                .get(start)
                .and_then(Json::as_str)
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.timestamp_millis());
            if at.is_some_and(|t| t > last_ms) {
                continue;
            }
        }
        let key = key_of(&row, &shape.key);
        let repeated = if shape.full_rows {
            out.rows.insert(key, Json::Object(row)).is_some()
        } else {
            // Columns in name order (serde_json keeps them in arrival order here), so
            // that equal rows hash equally whatever order each system writes.
            let sorted: BTreeMap<&String, &Json> = row.iter().collect();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            serde_json::to_string(&sorted)
                .unwrap_or_default()
                .hash(&mut h);
            out.digests.insert(key, h.finish()).is_some()
        };
        out.repeated += usize::from(repeated);
    }
    out
}

/// Whether two values agree: numbers of an approximate aggregate within 2 %, other
/// numbers to 1e-9 relative, everything else exactly.
fn values_agree(a: &Json, b: &Json, approx: bool) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                if approx {
                    let (x, y) = (x as f64, y as f64);
                    return (x - y).abs() <= 0.02 * x.abs().max(y.abs());
                }
                return x == y;
            }
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            let tol = if approx { 0.02 } else { 1e-9 };
            (x - y).abs() <= tol * x.abs().max(y.abs()).max(1e-9)
        }
        _ => a == b,
    }
}

/// Differences between two tables' rows, at most `limit` described.
fn differences(shape: &TableShape, app: &Rows, ks: &Rows, limit: usize) -> (usize, Vec<String>) {
    let mut n = 0;
    let mut said = Vec::new();
    let mut say = |s: String| {
        n += 1;
        if said.len() < limit {
            said.push(s);
        }
    };
    if app.repeated + ks.repeated > 0 {
        say(format!(
            "{}: rows repeated for one key: streams-app {}, Kafka Streams {}",
            shape.name, app.repeated, ks.repeated
        ));
    }
    if app.malformed + ks.malformed > 0 {
        say(format!(
            "{}: values that are not JSON objects: streams-app {}, Kafka Streams {}",
            shape.name, app.malformed, ks.malformed
        ));
    }
    if shape.full_rows {
        for (k, a) in &app.rows {
            match ks.rows.get(k) {
                None => say(format!("{}: only streams-app has {a}", shape.name)),
                Some(b) => {
                    let (Json::Object(a), Json::Object(b)) = (a, b) else {
                        continue;
                    };
                    let columns: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                    for c in columns {
                        let agree = match (a.get(c), b.get(c)) {
                            (Some(x), Some(y)) => values_agree(x, y, shape.approx.contains(c)),
                            _ => false,
                        };
                        if !agree {
                            say(format!(
                                "{} [{k}]: {c} is {} in streams-app, {} in Kafka Streams",
                                shape.name,
                                a.get(c).map_or("missing".into(), Json::to_string),
                                b.get(c).map_or("missing".into(), Json::to_string)
                            ));
                        }
                    }
                }
            }
        }
        for (k, b) in &ks.rows {
            if !app.rows.contains_key(k) {
                say(format!("{}: only Kafka Streams has {b}", shape.name));
            }
        }
    } else {
        for (k, a) in &app.digests {
            match ks.digests.get(k) {
                None => say(format!(
                    "{}: only streams-app has the row of {k}",
                    shape.name
                )),
                Some(b) if a != b => say(format!("{}: the rows of {k} differ", shape.name)),
                Some(_) => {}
            }
        }
        for k in ks.digests.keys() {
            if !app.digests.contains_key(k) {
                say(format!(
                    "{}: only Kafka Streams has the row of {k}",
                    shape.name
                ));
            }
        }
    }
    (n, said)
}

impl Rows {
    fn len(&self) -> usize {
        self.rows.len() + self.digests.len()
    }
}

/// The flush records: one event each, keyed and grouped apart from every real event,
/// `FLUSH_AHEAD_MS` after `last_ms` (as Kafka timestamp, so within `max_future`).
fn flush_records(last_ms: i64) -> Vec<SynthRecord> {
    let ts = last_ms + FLUSH_AHEAD_MS;
    (0..FLUSH_RECORDS)
        .map(|i| {
            let user = 900_000_000 + i as i64;
            SynthRecord {
                key: user.to_string().into_bytes(),
                value: format!(
                    r#"{{"event_id":"flush-{ts}-{i}","user_id":{user},"product_id":0,"event_type":"page_view","page":"/flush/{i}","device":"flush-{i}","country":"ZZ{i}","amount":0}}"#
                )
                .into_bytes(),
                timestamp: ts,
            }
        })
        .collect()
}

fn libs_dir(args: &Args) -> anyhow::Result<PathBuf> {
    let dir = match &args.kafka_streams_libs {
        Some(d) => d.clone(),
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .context("HOME is not set: give --kafka-streams-libs")?
            .join(".cache/streams-app/kafka-streams/libs"),
    };
    if !dir.is_dir() {
        bail!(
            "no Kafka Streams program in {}: build it with scripts/build-kafka-streams-bench.sh",
            dir.display()
        );
    }
    Ok(dir)
}

/// Starts the Kafka Streams program, logging to a file.
fn spawn_kafka_streams(
    args: &Args,
    libs: &Path,
    app_id: &str,
    input: &str,
    prefix: &str,
    work: &Path,
) -> anyhow::Result<(Child, PathBuf)> {
    let log = work.join(format!("{app_id}.log"));
    let file =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let err = file
        .try_clone()
        .with_context(|| format!("cannot open {}", log.display()))?;
    let dims = std::path::absolute(&args.dims_dir)
        .with_context(|| format!("cannot resolve {}", args.dims_dir.display()))?;
    let child = Command::new(&args.java)
        .arg(format!("-Xms{}", args.heap))
        .arg(format!("-Xmx{}", args.heap))
        .arg("-cp")
        .arg(format!("{}/*", libs.display()))
        .arg("streamsapp.bench.ClickstreamKafkaStreams")
        .arg("--bootstrap-servers")
        .arg(&args.broker.bootstrap_servers)
        .args(["--application-id", app_id, "--input-topic", input])
        .args(["--output-prefix", prefix])
        .arg("--state-dir")
        .arg(work.join("kafka-streams-state"))
        .arg("--dims")
        .arg(dims)
        .arg("--threads")
        .arg(args.stream_threads.to_string())
        .arg("--grace-ms")
        .arg(args.kafka_streams_grace.as_millis().to_string())
        .stdout(file)
        .stderr(err)
        .spawn()
        .with_context(|| format!("cannot start {}", args.java.display()))?;
    Ok((child, log))
}

/// Stops a child with SIGTERM (SIGKILL after 30 s).
fn stop_child(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs both and compares; prints one line per measurement.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The arguments are checked before any work directory exists.
    if args.kafka_streams_grace.as_millis() as i64 + 60_000 >= FLUSH_AHEAD_MS {
        bail!(
            "--kafka-streams-grace must be shorter than {} min: the flush records come that far ahead",
            FLUSH_AHEAD_MS / 60_000 - 1
        );
    }
    let libs = libs_dir(&args)?;
    let shapes = shapes(&args.topology.path)?;
    in_work_dir(args.work_dir.as_deref(), |work| {
        compare(&args, &libs, &shapes, work)
    })
}

fn compare(
    args: &Args,
    libs: &Path,
    shapes: &[TableShape],
    work: &Path,
) -> anyhow::Result<ExitCode> {
    let client = args.broker.client()?;
    let timeout = args.broker.connect_timeout;
    let id = format!("versus-{}", now_ms());
    let input = format!("{id}-input");
    let ks_input = format!("{id}-input-ks");
    let app_prefix = format!("{id}-app-");
    let ks_prefix = format!("{id}-ks-");
    let topic = |prefix: &str, table: &str| format!("{prefix}{table}");
    let mut specs = vec![input.clone(), ks_input.clone()];
    for s in shapes {
        specs.push(topic(&app_prefix, &s.name));
        specs.push(topic(&ks_prefix, &s.name));
    }
    specs.push(topic(&ks_prefix, "dlq"));
    let specs: Vec<TopicSpec> = specs
        .into_iter()
        .map(|name| TopicSpec {
            name,
            partitions: args.partitions,
            replication: None,
            compact: false,
        })
        .collect();
    admin::ensure_topics(&client, &specs, timeout)?;
    println!(
        "bench kafka-streams on {} ({} partitions, topics {id}-*)",
        args.broker.bootstrap_servers, args.partitions
    );

    // 1. The input (the same generator twice: the same records), and the flush records.
    let cfg = SynthConfig::from_dims(&args.dims_dir)?;
    let event_rate = args.event_rate.max(1.0);
    let start_ms = now_ms() - (args.events as f64 / event_rate * 1000.0) as i64;
    let synth = || {
        Synth::new(SynthConfig {
            start_ms,
            rate_per_sec: event_rate,
            ..cfg.clone()
        })
        .take(args.events as usize)
    };
    let last_ms = synth().map(|r| r.timestamp).max().unwrap_or(start_ms);
    let flush = flush_records(last_ms);
    let (events, _) = produce(&args.broker, &ks_input, synth(), start_ms, true)?;
    produce(
        &args.broker,
        &input,
        synth().chain(flush.iter().cloned()),
        start_ms,
        true,
    )?;
    println!("  input              {events} events (+{FLUSH_RECORDS} flush records)");

    // 2. streams-app.
    let topo = work.join(format!("{id}-topology.toml"));
    bench_topology(&args.topology.path, &input, &app_prefix, &topo)?;
    let started = Instant::now();
    let (mut child, log) = spawn_run(
        &args.broker,
        &format!("{id}-app"),
        &topo,
        work,
        true,
        Some(args.threads),
    )?;
    let app_peak = wait_child(&mut child, &log)?;
    let app_secs = started.elapsed().as_secs_f64();
    let mut app_rows = BTreeMap::new();
    for s in shapes {
        let c = Collector::start(&client, &topic(&app_prefix, &s.name), timeout)?;
        let deadline = Instant::now() + timeout;
        while !c.at_end() {
            if Instant::now() > deadline {
                bail!("cannot read {} to its end", c.topic());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let values = c.finish()?;
        app_rows.insert(s.name.clone(), collect_rows(s, &values, last_ms));
    }

    // 3. Kafka Streams, until its outputs hold as many rows as streams-app's.
    let collectors: Vec<Collector> = shapes
        .iter()
        .map(|s| Collector::start(&client, &topic(&ks_prefix, &s.name), timeout))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let (mut child, ks_log) =
        spawn_kafka_streams(args, libs, &format!("{id}-ks"), &ks_input, &ks_prefix, work)?;
    let mut ks_peak = 0;
    let mut last_growth = (0usize, Instant::now());
    let clean = shapes
        .iter()
        .position(|s| !s.full_rows)
        .context("the topology has no event table to tell when every event was read")?;
    let events_out = app_rows[&shapes[clean].name]
        .len()
        .saturating_sub(FLUSH_RECORDS);
    let mut flushed = false;
    let outcome: anyhow::Result<f64> = loop {
        if let Some(rss) = child_peak_rss(child.id()) {
            ks_peak = ks_peak.max(rss);
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(anyhow::anyhow!(
                "Kafka Streams exited ({status}); its log ends:\n{}",
                tail(&ks_log)
            ));
        }
        // Raw record counts include the flush windows (never emitted by Kafka Streams:
        // they do not close) and nothing else.
        let counts: Vec<usize> = collectors.iter().map(Collector::count).collect();
        if !flushed && counts[clean] >= events_out {
            if let Err(e) = produce(
                &args.broker,
                &ks_input,
                flush.iter().cloned(),
                last_ms,
                true,
            ) {
                break Err(e);
            }
            flushed = true;
        }
        let done = flushed
            && shapes
                .iter()
                .zip(&counts)
                .all(|(s, n)| *n >= app_rows.get(&s.name).map_or(0, Rows::len));
        if done {
            break Ok(started.elapsed().as_secs_f64());
        }
        let total: usize = counts.iter().sum();
        if total != last_growth.0 {
            last_growth = (total, Instant::now());
        } else if last_growth.1.elapsed() > args.idle_timeout {
            break Ok(f64::NAN);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Rows that come late (a second result for a window) are caught by waiting a little.
    if outcome.is_ok() {
        std::thread::sleep(Duration::from_secs(2));
    }
    stop_child(&mut child);
    let ks_secs = outcome?;
    let mut ks_rows = BTreeMap::new();
    for (s, c) in shapes.iter().zip(collectors) {
        let values = c.finish()?;
        ks_rows.insert(s.name.clone(), collect_rows(s, &values, last_ms));
    }

    // The program's last line counts the records its windows dropped as late.
    let dropped = std::fs::read_to_string(&ks_log)
        .unwrap_or_default()
        .rsplit("dropped_records=")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok());
    let app_rate = events as f64 / app_secs;
    println!(
        "  streams-app        {app_rate:>9.0} events/s ({app_secs:.1} s incl. start-up; peak RSS {} MiB; {} worker thread(s))",
        app_peak >> 20,
        args.threads
    );
    if ks_secs.is_nan() {
        println!(
            "  Kafka Streams      outputs incomplete: no new row for {:?}",
            args.idle_timeout
        );
    } else {
        let ks_rate = events as f64 / ks_secs;
        println!(
            "  Kafka Streams      {ks_rate:>9.0} events/s ({ks_secs:.1} s incl. JVM start-up; peak RSS {} MiB; heap -Xmx{}; grace {}; {} stream thread{})",
            ks_peak >> 20,
            args.heap,
            humantime::format_duration(args.kafka_streams_grace),
            args.stream_threads,
            if args.stream_threads == 1 { "" } else { "s" }
        );
        println!("  ratio              {:.2}x", app_rate / ks_rate);
    }
    if let Some(n) = dropped.filter(|n| *n > 0) {
        println!(
            "  Kafka Streams dropped {n} records as late (stream time per task ran ahead while it read the backlog; try a longer --kafka-streams-grace)"
        );
    }

    // 4. Compare.
    let mut failed = false;
    for s in shapes {
        let (app, ks) = (&app_rows[&s.name], &ks_rows[&s.name]);
        let (n, said) = differences(s, app, ks, 5);
        if n == 0 {
            println!("  {:<28} {} rows equal", s.name, app.len());
        } else {
            failed = true;
            println!(
                "  {:<28} {n} differences (streams-app {} rows, Kafka Streams {} rows):",
                s.name,
                app.len(),
                ks.len()
            );
            for d in said {
                println!("      {d}");
            }
        }
    }
    if failed {
        bail!(
            "the outputs differ (above); logs: {} (streams-app), {} (Kafka Streams)",
            log.display(),
            ks_log.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(full: bool) -> TableShape {
        TableShape {
            name: "t".into(),
            key: vec!["country".into(), "window_start".into()],
            start: Some("window_start".into()),
            approx: ["unique_users".to_string()].into_iter().collect(),
            full_rows: full,
        }
    }

    fn rows(values: &[&str]) -> Vec<Vec<u8>> {
        values.iter().map(|v| v.as_bytes().to_vec()).collect()
    }

    #[test]
    fn the_reference_topology_is_compared_per_window_and_key() {
        let s = shapes(Path::new("../../topology/clickstream.toml")).unwrap();
        let by_name: HashMap<&str, &TableShape> = s.iter().map(|t| (t.name.as_str(), t)).collect();
        assert_eq!(by_name["events_clean"].key, ["event_id"]);
        assert!(!by_name["events_clean"].full_rows);
        assert_eq!(
            by_name["country_segment_revenue"].key,
            ["country", "segment", "window_start"]
        );
        assert!(by_name["country_segment_revenue"]
            .approx
            .contains("unique_users"));
        assert_eq!(by_name["user_sessions"].key, ["user_id", "session_start"]);
        assert_eq!(s.len(), 6);
    }

    #[test]
    fn equal_rows_agree_and_every_kind_of_difference_is_found() {
        let s = shape(true);
        let last = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:10:00Z")
            .unwrap()
            .timestamp_millis();
        let a = collect_rows(
            &s,
            &rows(&[
                r#"{"country":"US","window_start":"2026-01-01T00:00:00.000Z","events":3,"revenue":1.5,"unique_users":100}"#,
                r#"{"country":"DE","window_start":"2026-01-01T00:00:00.000Z","events":1,"revenue":null,"unique_users":1}"#,
                // a flush window: left out
                r#"{"country":"ZZ0","window_start":"2026-01-01T00:40:00.000Z","events":1,"revenue":null,"unique_users":1}"#,
            ]),
            last,
        );
        assert_eq!(a.len(), 2);
        let same = collect_rows(
            &s,
            &rows(&[
                r#"{"country":"DE","window_start":"2026-01-01T00:00:00.000Z","events":1,"revenue":null,"unique_users":1}"#,
                r#"{"country":"US","window_start":"2026-01-01T00:00:00.000Z","events":3,"revenue":1.5000000000000002,"unique_users":101}"#,
            ]),
            last,
        );
        assert_eq!(differences(&s, &a, &same, 10).0, 0);
        let other = collect_rows(
            &s,
            &rows(&[
                r#"{"country":"US","window_start":"2026-01-01T00:00:00.000Z","events":4,"revenue":1.5,"unique_users":103}"#,
                r#"{"country":"FR","window_start":"2026-01-01T00:00:00.000Z","events":1,"revenue":null,"unique_users":1}"#,
                r#"{"country":"FR","window_start":"2026-01-01T00:00:00.000Z","events":1,"revenue":null,"unique_users":1}"#,
            ]),
            last,
        );
        let (n, said) = differences(&s, &a, &other, 10);
        // events 3 vs 4, unique_users beyond 2 %, DE only in streams-app, FR only in
        // Kafka Streams, FR twice.
        assert_eq!(n, 5, "{said:?}");
        assert!(said
            .iter()
            .any(|d| d.contains("events is 3 in streams-app, 4")));
        assert!(said.iter().any(|d| d.contains("unique_users")));
        assert!(said.iter().any(|d| d.contains("only streams-app has")));
        assert!(said.iter().any(|d| d.contains("only Kafka Streams has")));
        assert!(said.iter().any(|d| d.contains("repeated")));
    }

    #[test]
    fn event_rows_are_compared_by_digest() {
        let s = TableShape {
            name: "events_clean".into(),
            key: vec!["event_id".into()],
            start: None,
            approx: BTreeSet::new(),
            full_rows: false,
        };
        let a = collect_rows(
            &s,
            &rows(&[r#"{"event_id":"a","amount":1.0,"page":"/"}"#]),
            0,
        );
        let reordered = collect_rows(
            &s,
            &rows(&[r#"{"page":"/","amount":1.0,"event_id":"a"}"#]),
            0,
        );
        assert_eq!(differences(&s, &a, &reordered, 5).0, 0);
        let changed = collect_rows(
            &s,
            &rows(&[r#"{"event_id":"a","amount":2.0,"page":"/"}"#]),
            0,
        );
        assert_eq!(differences(&s, &a, &changed, 5).0, 1);
    }

    #[test]
    fn flush_records_close_every_window_and_stay_apart() {
        let f = flush_records(1_000);
        assert_eq!(f.len(), FLUSH_RECORDS);
        let keys: BTreeSet<&Vec<u8>> = f.iter().map(|r| &r.key).collect();
        assert_eq!(keys.len(), FLUSH_RECORDS);
        assert!(f.iter().all(|r| r.timestamp == 1_000 + FLUSH_AHEAD_MS));
        let v: Json = serde_json::from_slice(&f[3].value).unwrap();
        assert_eq!(v["country"], "ZZ3");
    }

    #[test]
    fn column_names_of_expressions() {
        assert_eq!(column_name("country"), "country");
        assert_eq!(column_name("lower(name) AS who"), "who");
        assert_eq!(column_name("x as y"), "y");
    }
}
