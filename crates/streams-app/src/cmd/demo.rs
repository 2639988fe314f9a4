//! `streams-app demo`: the whole pipeline in one process with no broker to install.
//!
//! 1. start an embedded Kafka-compatible broker (librdkafka's mock cluster) on 127.0.0.1;
//! 2. create the input, output and dead-letter topics;
//! 3. produce a messy synthetic clickstream (30 minutes of event time across midnight);
//! 4. run the reference topology to the end of the input (exactly-once, RocksDB state,
//!    Parquet output), exactly as `streams-app run --until end` does;
//! 5. run the daily summary for every date of the input;
//! 6. print the ledger, the top results and where every output is.
//!
//! State and outputs go to `<state-dir>/<app-id>` and `<output-dir>/<app-id>` (default
//! `checkpoints/demo`, `data/demo`); both are replaced on every run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use streams_kafka::embedded::EmbeddedBroker;
use streams_kafka::producer::{Acks, InputProducer, ProducerConfig};
use streams_kafka::ClientConfig;
use streams_runtime::{load_topology, Ledger};
use streams_summary::DeclaredReport;

use super::daily_summary::{problems, summarize_days};
use super::produce::{parse_start_time, send_all};
use super::table;
use super::topics::app_topics;
use crate::runner::{self, app_state_dir, check_not_running, FromArg, RunOptions};
use crate::synth::{Synth, SynthConfig};

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Records to produce (at most 50,000 per partition: the embedded broker keeps about
    /// 5 MiB per partition and silently drops older data beyond that).
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000), env = "STREAMS_DEMO_EVENTS")]
    pub events: u64,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..=64), env = "STREAMS_PARTITIONS")]
    pub partitions: i32,
    /// Event time of the first event (RFC 3339); the input spans 30 minutes from here.
    #[arg(
        long,
        default_value = "2026-01-01T23:45:00Z",
        env = "STREAMS_DEMO_START_TIME"
    )]
    pub start_time: String,
    /// Random seed of the producer.
    #[arg(long, default_value_t = 42, env = "STREAMS_PRODUCE_SEED")]
    pub seed: u64,
    /// Application id of the demo (its state and output are replaced on every run).
    #[arg(long, default_value = "demo", env = "STREAMS_DEMO_APP_ID")]
    pub app_id: String,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    /// State directory.
    #[arg(long, default_value = "checkpoints", env = "STREAMS_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Output directory for Parquet tables.
    #[arg(long, default_value = "data", env = "STREAMS_OUTPUT_DIR")]
    pub output_dir: PathBuf,
}

const EVENT_TIME_SPAN_SECS: f64 = 1_800.0;

/// Records per partition the embedded broker holds safely (input ~180 B, events_clean
/// output ~400 B per record, against its ~5 MiB per partition).
const MAX_EVENTS_PER_PARTITION: u64 = 50_000;

/// The file that marks state and output directories as the demo's own: only those are
/// deleted by the next demo.
const DEMO_MARKER: &str = "_streams_demo";

/// Deletes `dir` (if present) when the demo wrote it; refuses otherwise.
fn remove_demo_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    anyhow::ensure!(
        dir.join(DEMO_MARKER).exists(),
        "{} exists and was not written by `streams-app demo`; refusing to delete it (choose another --app-id, or delete it yourself)",
        dir.display()
    );
    std::fs::remove_dir_all(dir)
        .with_context(|| format!("cannot remove the previous demo's {}", dir.display()))
}

fn mark_demo_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join(DEMO_MARKER),
        "written by `streams-app demo`; the next demo run deletes this directory\n",
    )
    .with_context(|| format!("cannot write to {}", dir.display()))
}

/// Runs the demo.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    anyhow::ensure!(
        args.events <= MAX_EVENTS_PER_PARTITION * args.partitions as u64,
        "--events {} is too many for {} partition(s): the embedded broker holds at most {} per partition; raise --partitions",
        args.events,
        args.partitions,
        MAX_EVENTS_PER_PARTITION
    );
    let def = Arc::new(load_topology(&args.topology.path)?);
    let start_ms = parse_start_time(&args.start_time)?;
    let synth_cfg = SynthConfig {
        seed: args.seed,
        start_ms,
        rate_per_sec: args.events as f64 / EVENT_TIME_SPAN_SECS,
        ..SynthConfig::from_dims(&def.path.parent().unwrap_or(Path::new(".")).join("dims"))?
    };

    // A fresh start: the demo's state and output from an earlier run would point at
    // offsets of a broker that no longer exists.
    check_not_running(&args.state_dir, &args.app_id)?;
    let state = app_state_dir(&args.state_dir, &args.app_id);
    let out = args.output_dir.join(&args.app_id);
    for dir in [&state, &out] {
        remove_demo_dir(dir)?;
    }
    for dir in [&state, &out] {
        mark_demo_dir(dir)?;
    }

    let broker = EmbeddedBroker::start()?;
    let bootstrap = broker.bootstrap_servers();
    println!("streams-app demo");
    println!("  embedded broker      {bootstrap} (librdkafka mock cluster, in this process)");
    let topics = app_topics(&def, &args.app_id);
    for t in &topics {
        broker.create_topic(t, args.partitions)?;
    }
    println!(
        "  topics               {} ({} partitions each)",
        topics.join(", "),
        args.partitions
    );

    let input = def
        .source_topics
        .first()
        .context("the topology has no input topic")?
        .clone();
    let producer = InputProducer::connect(&ProducerConfig {
        client: ClientConfig::new(&bootstrap),
        topic: input.clone(),
        acks: Acks::All,
        compression: "lz4".into(),
        timeout: Duration::from_secs(30),
    })?;
    let started = Instant::now();
    let sent = send_all(
        &producer,
        Synth::new(synth_cfg).take(args.events as usize),
        start_ms,
        true,
        &AtomicBool::new(false),
        &indicatif::ProgressBar::hidden(),
    )?;
    let delivered = producer.flush(Duration::from_secs(35))?;
    drop(producer);
    println!(
        "  produced             {sent} records to `{input}` in {:.1} s (acknowledged {}), event time {} + 30 min",
        started.elapsed().as_secs_f64(),
        delivered.ok,
        streams_core::value::format_timestamp(start_ms)
    );

    let outcome = runner::run(RunOptions {
        app_id: args.app_id.clone(),
        topology: def.clone(),
        client: ClientConfig::new(&bootstrap),
        from: FromArg::Checkpoint,
        bounded: true,
        state_dir: args.state_dir.clone(),
        output_dir: args.output_dir.clone(),
        replication_factor: Some(1),
        // The embedded broker (librdkafka's mock cluster) has no real transactions.
        guarantee: streams_kafka::Guarantee::IdempotentScan,
        allow_input_loss: false,
        oversized_output_to_dlq: false,
        fetch_wait_max_ms: 10,
        block_cache_mb: 32,
        write_buffer_mb: 64,
        threads: crate::runner::threads_or_cores(None),
        connect_timeout: Duration::from_secs(30),
        parquet_max_file_bytes: 128 << 20,
        parquet_roll_interval: Duration::from_secs(300),
        metrics_addr: None,
        metrics_linger: Duration::ZERO,
        progress: true,
    })?;
    anyhow::ensure!(
        outcome.reached_end,
        "interrupted before the end of the input"
    );
    println!(
        "  processed            to the end of the input in {:.1} s ({:.0} records/s)",
        outcome.elapsed.as_secs_f64(),
        outcome.ledger.consumed as f64 / outcome.elapsed.as_secs_f64().max(1e-9)
    );
    println!();
    print_ledger(&outcome.ledger);

    // The topology's summaries for every date the input touched.
    let first = chrono::DateTime::from_timestamp_millis(start_ms - 60_000)
        .context("start time out of range")?
        .date_naive();
    let last = chrono::DateTime::from_timestamp_millis(
        start_ms + (EVENT_TIME_SPAN_SECS as i64 + 60) * 1000,
    )
    .context("start time out of range")?
    .date_naive();
    let mut reports = summarize_days(
        &args.output_dir,
        &args.app_id,
        &def,
        Some((first, last)),
        &indicatif::ProgressBar::hidden(),
    )?;
    reports.retain(|r| r.had_input);
    let failed = problems(&reports);
    println!();
    print_top(&reports)?;
    println!();
    print_outputs(&args, &reports)?;
    anyhow::ensure!(
        failed.is_empty(),
        "summary checks failed: {}",
        failed.join("; ")
    );
    anyhow::ensure!(
        outcome.ledger.consumed == sent,
        "the app consumed {} records but {sent} were produced",
        outcome.ledger.consumed
    );
    println!();
    println!(
        "demo finished in {:.1} s: every record accounted for, summary checks passed.",
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn print_ledger(l: &Ledger) {
    let mut t = table();
    t.set_header(vec!["ledger", "records"]);
    t.add_row(vec!["consumed".to_string(), l.consumed.to_string()]);
    t.add_row(vec!["accepted".to_string(), l.accepted.to_string()]);
    t.add_row(vec![
        "duplicate (dropped)".to_string(),
        l.duplicate.to_string(),
    ]);
    t.add_row(vec![
        "dead-lettered".to_string(),
        l.dead_lettered.to_string(),
    ]);
    for (reason, n) in &l.dead_letter_reasons {
        t.add_row(vec![format!("  dlq: {reason}"), n.to_string()]);
    }
    for (agg, n) in &l.late {
        t.add_row(vec![format!("late (dropped by {agg})"), n.to_string()]);
    }
    println!("{t}");
    println!(
        "ledger balanced: {} (consumed = accepted + duplicate + dead-lettered)",
        if l.is_balanced() { "yes" } else { "NO" }
    );
}

/// The first rows of each summary (per day).
fn print_top(reports: &[DeclaredReport]) -> anyhow::Result<()> {
    for r in reports {
        let title = r.title();
        let shown = r.rows.num_rows().min(6);
        println!(
            "summary {title}: {} rows from {} input rows{}",
            r.rows.num_rows(),
            r.input_rows,
            if shown < r.rows.num_rows() {
                format!("; the first {shown}:")
            } else {
                ":".into()
            }
        );
        println!(
            "{}",
            arrow::util::pretty::pretty_format_batches(&[r.rows.slice(0, shown)])?
        );
    }
    Ok(())
}

fn print_outputs(args: &Args, reports: &[DeclaredReport]) -> anyhow::Result<()> {
    let base = args.output_dir.join(&args.app_id);
    let mut t = table();
    t.set_header(vec!["Parquet table", "files", "rows"]);
    let mut names: Vec<String> = std::fs::read_dir(&base)
        .with_context(|| format!("cannot list {}", base.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('_') && !n.starts_with('.'))
        .collect();
    names.sort();
    for name in &names {
        let files = streams_parquet::read::visible_files(&base.join(name))?;
        let mut rows = 0usize;
        for f in &files {
            rows += streams_parquet::read::read_file(f)?
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>();
        }
        t.add_row(vec![
            format!("{}/{name}/", base.display()),
            files.len().to_string(),
            rows.to_string(),
        ]);
    }
    println!("{t}");
    let summary_files = reports.iter().filter(|r| r.file.is_some()).count();
    println!(
        "state (RocksDB): {}   summary files: {summary_files}",
        app_state_dir(&args.state_dir, &args.app_id).display()
    );
    println!("read them with DuckDB or pyarrow, e.g.");
    println!(
        "  duckdb -c \"SELECT country, sum(revenue) FROM '{}/country_segment_revenue/*/*.parquet' GROUP BY 1 ORDER BY 2 DESC\"",
        base.display()
    );
    println!(
        "  python3 -c \"import pyarrow.dataset as ds; print(ds.dataset('{}/events_clean', partitioning='hive').to_table().num_rows)\"",
        base.display()
    );
    Ok(())
}
