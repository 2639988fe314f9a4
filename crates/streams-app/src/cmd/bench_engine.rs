//! `streams-app bench engine`: the full reference topology over in-memory records, with
//! RocksDB state and a checkpoint every second (DESIGN §8).

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use streams_core::record::SourceRecord;
use streams_runtime::{load_topology, Delivery, Engine, EngineOptions, OutboxPayload, Sink};
use streams_state::StateConfig;

use crate::synth::{Synth, SynthConfig, SynthRecord};

/// Arguments of `bench engine`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of input records.
    #[arg(long, default_value_t = 1_000_000, env = "STREAMS_BENCH_EVENTS")]
    pub events: u64,
    /// Distinct user ids in the input.
    #[arg(long, default_value_t = 100_000, env = "STREAMS_BENCH_USERS")]
    pub users: i64,
    /// Input partitions the records are spread over (by user id).
    #[arg(long, default_value_t = 8)]
    pub partitions: i32,
    /// Events per second of event time in the generated input.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u64,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    /// State directory (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// RocksDB block cache, MiB.
    #[arg(long, default_value_t = 64)]
    pub block_cache_mb: usize,
    /// RocksDB write buffers in total, MiB.
    #[arg(long, default_value_t = 128)]
    pub write_buffer_mb: usize,
    /// Worker threads for the topology's tasks (default: the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Generate the input while processing instead of before: peak RSS then counts the
    /// engine only (the memory benchmark), and the rate includes generating.
    #[arg(long)]
    pub stream_input: bool,
    /// Serve the live view (`/metrics`, `/status.json`, `/`) while benchmarking, sampled
    /// once a second as `run` does: measures what the endpoint costs.
    #[arg(long)]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Checkpoint interval (default: the topology's `[commit] interval`), e.g. `1s`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub commit_interval: Option<std::time::Duration>,
}

/// Runs the benchmark and prints its numbers.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut def = load_topology(&args.topology.path)?;
    if let Some(i) = args.commit_interval {
        def.commit_interval_ms = i64::try_from(i.as_millis()).unwrap_or(i64::MAX).max(1);
    }
    let def = Arc::new(def);
    let tmp = tempfile::tempdir().context("cannot create a temporary state directory")?;
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| tmp.path().join("bench"));
    let topic: Arc<str> = Arc::from(
        def.source_topics
            .first()
            .map_or("clickstream", |s| s.as_str()),
    );

    let synth = Synth::new(SynthConfig {
        rate_per_sec: args.rate as f64,
        ..SynthConfig::with_user_range(args.users)
    });
    let mut next_offset = vec![0i64; args.partitions.max(1) as usize];
    // Input bytes, counted as the records are made.
    let bytes = Rc::new(std::cell::Cell::new(0usize));
    let counted = bytes.clone();
    let record_topic = topic.clone();
    let to_record = move |r: SynthRecord| {
        let user: u64 = std::str::from_utf8(&r.key)
            .ok()
            .and_then(|k| k.parse().ok())
            .unwrap_or(0);
        counted.set(counted.get() + r.value.len());
        let p = (user % next_offset.len() as u64) as usize;
        let offset = next_offset[p];
        next_offset[p] += 1;
        SourceRecord {
            topic: record_topic.clone(),
            partition: p as i32,
            offset,
            timestamp: r.timestamp,
            key: Some(r.key),
            value: r.value,
        }
    };
    let records: Box<dyn Iterator<Item = SourceRecord>> = if args.stream_input {
        eprintln!(
            "processing {} records generated on the fly ({} users, {} partitions)...",
            args.events, args.users, args.partitions
        );
        Box::new(synth.take(args.events as usize).map(to_record))
    } else {
        eprintln!(
            "generating {} records ({} users, {} partitions)...",
            args.events, args.users, args.partitions
        );
        let v: Vec<SourceRecord> = synth.take(args.events as usize).map(to_record).collect();
        Box::new(v.into_iter())
    };

    let opts = EngineOptions {
        state_dir,
        task: 0,
        state: StateConfig {
            block_cache_bytes: args.block_cache_mb << 20,
            write_buffer_bytes: (args.write_buffer_mb << 20) / 4,
            total_write_buffer_bytes: args.write_buffer_mb << 20,
        },
        threads: crate::runner::threads_or_cores(args.threads),
    };
    let clock = Instant::now();
    let wall = |c: &Instant| c.elapsed().as_millis() as i64;
    let mut engine = Engine::open(def.clone(), opts, 0)?;
    let parts: Vec<(String, i32)> = (0..args.partitions)
        .map(|p| (topic.to_string(), p))
        .collect();
    engine.assign(&parts, 0);

    // The coordinator `run` uses (commit → deliver → forget), delivering to a sink that
    // counts rows per table.
    // Pipelined as in `run`: a delivery thread writes each checkpoint and delivers it
    // while the engine goes on, to real sinks: every table as Parquet files (run's
    // defaults) and every row encoded as its Kafka record (the broker left out).
    let delivered_rows = Arc::new(std::sync::Mutex::new(vec![0u64; engine.tables().len() + 1]));
    let encoded_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let out_dir = tmp.path().join("data");
    let parquet = streams_parquet::ParquetSink::open(
        streams_parquet::ParquetSinkConfig {
            output_dir: out_dir.clone(),
            app_id: "bench".into(),
            task: 0,
            max_file_bytes: 128 << 20,
            max_file_age: std::time::Duration::from_secs(300),
            format: streams_parquet::FileFormat::Parquet,
            tables: Vec::new(),
        },
        engine.tables(),
        &[],
    )?;
    let never = AtomicBool::new(false);
    let mut delivery = Delivery::spawn(
        vec![
            Box::new(parquet),
            Box::new(EncodingSink {
                rows: delivered_rows.clone(),
                bytes: encoded_bytes.clone(),
            }),
        ],
        engine.tables().to_vec(),
        Arc::new(AtomicBool::new(false)),
    )?;
    // The live view, as `run` serves it: sampled once a second from the loop.
    let mut live = match args.metrics_addr {
        Some(addr) => {
            let observer =
                crate::observe::Observer::new("bench", true, chrono::Utc::now().timestamp_millis());
            let (metrics, status) = observer.shared();
            let server = crate::observe::Server::start(addr, metrics, status)?;
            eprintln!("serving the live view on http://{}/", server.addr());
            Some((observer, server, Instant::now()))
        }
        None => None,
    };
    let no_lag = std::collections::BTreeMap::new();
    let mut checkpoints = 0u64;
    let start = Instant::now();
    let mut in_commit = std::time::Duration::ZERO;
    let mut now = 0;
    let mut n_records = 0usize;
    // The engine takes each record as Kafka hands it over: owned.
    for (i, rec) in records.enumerate() {
        n_records += 1;
        if i % 1024 == 0 {
            now = wall(&clock);
        }
        engine.process(rec, now)?;
        if i % 1024 == 0 {
            delivery.poll(&mut engine)?;
        }
        if i % 1024 == 0 && engine.commit_due(now) {
            let c = Instant::now();
            delivery.commit(&mut engine, now, &never)?;
            in_commit += c.elapsed();
            checkpoints += 1;
        }
        if i % 1024 == 0 {
            if let Some((observer, _, last)) = &mut live {
                if last.elapsed() >= std::time::Duration::from_secs(1) {
                    *last = Instant::now();
                    let wall_ms = chrono::Utc::now().timestamp_millis();
                    let sample =
                        crate::observe::Sample::take(&mut engine, &delivery, &no_lag, 0, wall_ms);
                    observer.update(&sample, false);
                }
            }
        }
    }
    engine.process_pending()?;
    // Every session and window is still open here (unless the input spans more event
    // time than they last), and every event id is in the dedup store.
    let rss_before_end = super::current_rss_bytes();
    // A checkpoint first, so that what the end of input emits is the open windows only.
    delivery.commit(&mut engine, wall(&clock), &never)?;
    checkpoints += 1;
    delivery.wait(&mut engine)?;
    let rows_before_end = lock(&delivered_rows).clone();
    engine.end_of_input()?;
    delivery.finish(&mut engine, wall(&clock), &never)?;
    checkpoints += 2;
    let elapsed = start.elapsed().as_secs_f64();
    let bytes = bytes.get();

    let ledger = engine.ledger();
    let rate = n_records as f64 / elapsed;
    println!(
        "engine benchmark: full reference topology, RocksDB state, checkpoint every {} ms",
        def.commit_interval_ms
    );
    println!("  records            {n_records}");
    println!(
        "  input bytes        {:.1} MiB",
        bytes as f64 / (1 << 20) as f64
    );
    println!("  distinct users     {}", args.users);
    println!(
        "  distinct event ids {} (accepted: all in the dedup store at the end)",
        engine.ledger().accepted
    );
    println!("  elapsed            {elapsed:.2} s");
    println!("  throughput         {rate:.0} events/s");
    println!(
        "  checkpoints        {checkpoints} ({:.2} s writing and delivering them)",
        in_commit.as_secs_f64()
    );
    println!("  ledger             {ledger}");
    let delivered_rows = lock(&delivered_rows);
    for (t, n) in engine.tables().iter().zip(delivered_rows.iter()) {
        println!("  rows {:<24} {n}", t.name);
    }
    println!(
        "  rows dead letters         {}",
        delivered_rows.last().copied().unwrap_or(0)
    );
    println!(
        "  sinks              every row encoded as a Kafka record ({:.1} MiB) and written as Parquet ({:.1} MiB of files)",
        encoded_bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 / (1 << 20) as f64,
        tree_bytes(&out_dir) as f64 / (1 << 20) as f64
    );
    // What the end of input emitted: the windows and sessions still open then.
    for ((t, n), before) in engine
        .tables()
        .iter()
        .zip(delivered_rows.iter())
        .zip(&rows_before_end)
    {
        if n > before {
            println!("  open at end        {:<18} {}", t.name, n - before);
        }
    }
    if let Some(rss) = rss_before_end {
        println!(
            "  RSS at end of input {:.0} MiB (before the open windows are emitted)",
            rss as f64 / (1 << 20) as f64
        );
    }
    if let Some(rss) = super::peak_rss_bytes() {
        println!(
            "  peak RSS           {:.0} MiB{}",
            rss as f64 / (1 << 20) as f64,
            if args.stream_input {
                " (input generated on the fly: the engine's own)"
            } else {
                " (includes the pre-generated input)"
            }
        );
    }
    anyhow::ensure!(ledger.is_balanced(), "ledger does not balance: {ledger}");
    Ok(ExitCode::SUCCESS)
}

/// Encodes every delivered row as the Kafka sink does (key and JSON value) and counts
/// rows per table (dead letters last) and encoded bytes.
struct EncodingSink {
    rows: Arc<std::sync::Mutex<Vec<u64>>>,
    bytes: Arc<std::sync::atomic::AtomicU64>,
}

fn lock(m: &std::sync::Mutex<Vec<u64>>) -> std::sync::MutexGuard<'_, Vec<u64>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sink for EncodingSink {
    fn name(&self) -> &str {
        "kafka-records"
    }

    fn deliver(
        &mut self,
        tables: &[streams_core::topology::TableInfo],
        batches: &[streams_runtime::OutboxBatch],
        _recover: bool,
    ) -> Result<(), streams_runtime::SinkError> {
        let mut bytes = 0u64;
        let mut counts = Vec::with_capacity(batches.len());
        for b in batches {
            let n = match (&b.payload, tables.get(b.table as usize)) {
                (OutboxPayload::Rows(r) | OutboxPayload::Updates(r), Some(info)) => {
                    for row in r.rows().iter() {
                        let (k, v) = streams_kafka::sink::encode_record(info, row);
                        bytes += (k.map_or(0, |k| k.len()) + v.len()) as u64;
                    }
                    r.len() as u64
                }
                (OutboxPayload::Rows(r) | OutboxPayload::Updates(r), None) => r.len() as u64,
                (OutboxPayload::DeadLetters(d), _) => d.len() as u64,
            };
            counts.push((b.table as usize, n));
        }
        self.bytes
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        let mut rows = lock(&self.rows);
        let last = rows.len() - 1;
        for (t, n) in counts {
            rows[t.min(last)] += n;
        }
        Ok(())
    }
}

/// Bytes of the files under `dir`, recursively.
fn tree_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => tree_bytes(&e.path()),
                    _ => e.metadata().map_or(0, |m| m.len()),
                })
                .sum()
        })
        .unwrap_or(0)
}
