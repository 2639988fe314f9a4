//! `streams-app produce`: the synthetic clickstream of DESIGN §3.1 (see `synth.rs` for
//! the mix and the mess) to a topic, keyed by `user_id`. The same `--seed`,
//! `--start-time`, `--rate` and dimension files give the same records.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use streams_kafka::producer::{Acks, InputProducer, ProducerConfig};
use tracing::info;

use super::broker::{parse_share, BrokerArgs};
use crate::synth::{Synth, SynthConfig};

/// Acknowledgements the producer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AcksArg {
    /// Every in-sync replica (idempotent producer: retries never duplicate).
    All,
    /// The partition leader only.
    #[value(name = "1")]
    One,
    /// None (fire and forget).
    #[value(name = "0")]
    Zero,
}

/// Compression codec of produced batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
    /// Zstandard.
    Zstd,
}

/// Arguments of `produce`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// Topic to write to (it must exist: `streams-app topics create`).
    #[arg(long, default_value = "clickstream", env = "STREAMS_PRODUCE_TOPIC")]
    pub topic: String,
    /// Events per second: the send rate, and the pace at which event times advance from
    /// --start-time.
    #[arg(long, default_value_t = 100.0, value_parser = parse_rate, env = "STREAMS_PRODUCE_RATE")]
    pub rate: f64,
    /// Stop after this many records (duplicates and bad records included); without it,
    /// produce until SIGTERM / Ctrl-C.
    #[arg(long, env = "STREAMS_PRODUCE_COUNT")]
    pub count: Option<u64>,
    /// Random seed.
    #[arg(long, default_value_t = 42, env = "STREAMS_PRODUCE_SEED")]
    pub seed: u64,
    /// Event time of the first event: RFC 3339 (`2026-01-01T00:00:00Z`) or `now`.
    #[arg(long, default_value = "now", env = "STREAMS_PRODUCE_START_TIME")]
    pub start_time: String,
    /// Send as fast as the broker takes records instead of at --rate (event times still
    /// advance by 1/rate per event).
    #[arg(long, env = "STREAMS_PRODUCE_UNTHROTTLED")]
    pub unthrottled: bool,
    /// Share of records sent twice (the copy follows within 50 records).
    #[arg(long, default_value_t = 0.02, value_parser = parse_share, env = "STREAMS_PRODUCE_DUPLICATES")]
    pub duplicates: f64,
    /// Share of bad records: malformed JSON, not an object, wrong types, negative
    /// amounts, no event_id (they end in the dead-letter topic).
    #[arg(long, default_value_t = 0.005, value_parser = parse_share, env = "STREAMS_PRODUCE_BAD_RECORDS")]
    pub bad_records: f64,
    /// Share of events with a null amount.
    #[arg(long, default_value_t = 0.01, value_parser = parse_share, env = "STREAMS_PRODUCE_NULL_AMOUNTS")]
    pub null_amounts: f64,
    /// Share of user and product ids that are in no dimension table.
    #[arg(long, default_value_t = 0.03, value_parser = parse_share, env = "STREAMS_PRODUCE_UNKNOWN_IDS")]
    pub unknown_ids: f64,
    /// How far an event time may trail its send time (bounded out-of-order).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, env = "STREAMS_PRODUCE_MAX_DISORDER")]
    pub max_disorder: Duration,
    /// Directory with `users.csv` and `products.csv` to draw ids from.
    #[arg(long, default_value = "topology/dims", env = "STREAMS_DIMS_DIR")]
    pub dims_dir: PathBuf,
    /// Acknowledgements to wait for: `all`, `1` or `0`.
    #[arg(long, value_enum, default_value_t = AcksArg::All, env = "STREAMS_PRODUCE_ACKS")]
    pub acks: AcksArg,
    /// Compression of record batches.
    #[arg(long, value_enum, default_value_t = Compression::Lz4, env = "STREAMS_PRODUCE_COMPRESSION")]
    pub compression: Compression,
    /// Send your own events instead of the synthetic clickstream: a file of JSON lines
    /// (`-` reads standard input), one record per non-empty line, sent as it is (a line
    /// that is not valid JSON still goes: the app dead-letters it), stamped with the send
    /// time, as fast as the broker takes them.
    #[arg(long, value_name = "FILE", env = "STREAMS_PRODUCE_FILE",
        conflicts_with_all = ["rate", "seed", "start_time", "unthrottled", "duplicates", "bad_records", "null_amounts", "unknown_ids", "max_disorder"])]
    pub file: Option<PathBuf>,
    /// With --file: the record key is this top-level field of each line (strings as they
    /// are, numbers and booleans as JSON text); lines without it have no key and spread
    /// over the partitions.
    #[arg(
        long,
        value_name = "FIELD",
        requires = "file",
        env = "STREAMS_PRODUCE_KEY_FIELD"
    )]
    pub key_field: Option<String>,
}

/// The key of a JSON line: its top-level `field` (strings as they are, other scalars as
/// JSON text); `None` for a missing or null field, a nested value, or a line that is not
/// a JSON object.
pub fn key_of(line: &[u8], field: &str) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    match v.get(field)? {
        serde_json::Value::String(s) => Some(s.clone().into_bytes()),
        serde_json::Value::Null | serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            None
        }
        other => Some(other.to_string().into_bytes()),
    }
}

/// `produce --file`: every non-empty line of `input` as a record; returns the records sent.
fn send_lines(
    producer: &InputProducer,
    input: impl std::io::BufRead,
    key_field: Option<&str>,
    count: Option<u64>,
    stop: &AtomicBool,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let mut sent = 0u64;
    for (n, line) in input.split(b'\n').enumerate() {
        let mut line = line.with_context(|| format!("cannot read line {}", n + 1))?;
        bar.inc(line.len() as u64 + 1);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if stop.load(Ordering::Relaxed) || count.is_some_and(|c| sent >= c) {
            break;
        }
        let key = key_field.and_then(|f| key_of(&line, f));
        let now = chrono::Utc::now().timestamp_millis();
        if !producer.send(key.as_deref(), &line, now, stop)? {
            break;
        }
        sent += 1;
    }
    Ok(sent)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!(
            "`{s}` is not a positive number of events per second"
        )),
    }
}

/// `now` or an RFC 3339 time, as epoch ms.
pub fn parse_start_time(s: &str) -> anyhow::Result<i64> {
    if s == "now" {
        return Ok(chrono::Utc::now().timestamp_millis());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .with_context(|| format!("--start-time `{s}` is neither `now` nor an RFC 3339 time like 2026-01-01T00:00:00Z"))
}

impl Args {
    /// The generator settings of these arguments.
    pub fn synth_config(&self) -> anyhow::Result<SynthConfig> {
        Ok(SynthConfig {
            seed: self.seed,
            start_ms: parse_start_time(&self.start_time)?,
            rate_per_sec: self.rate,
            unknown_ids: self.unknown_ids,
            duplicates: self.duplicates,
            null_amounts: self.null_amounts,
            bad: self.bad_records,
            max_disorder_ms: self.max_disorder.as_millis() as i64,
            ..SynthConfig::from_dims(&self.dims_dir)?
        })
    }

    fn producer_config(&self) -> anyhow::Result<ProducerConfig> {
        Ok(ProducerConfig {
            client: self.broker.client()?,
            topic: self.topic.clone(),
            acks: match self.acks {
                AcksArg::All => Acks::All,
                AcksArg::One => Acks::Leader,
                AcksArg::Zero => Acks::None,
            },
            compression: format!("{:?}", self.compression).to_lowercase(),
            timeout: self.broker.connect_timeout,
        })
    }
}

/// Sends `records` (at most `count`) to the topic, paced by the records' timestamps
/// unless `unthrottled`; stops early when `stop` is set. Returns the records sent.
pub fn send_all(
    producer: &InputProducer,
    records: impl Iterator<Item = crate::synth::SynthRecord>,
    start_ms: i64,
    unthrottled: bool,
    stop: &AtomicBool,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<u64> {
    let t0 = Instant::now();
    let mut sent = 0u64;
    let mut last_log = Instant::now();
    for rec in records {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if !unthrottled {
            let due = t0 + Duration::from_millis((rec.timestamp - start_ms).max(0) as u64);
            while let Some(wait) = due.checked_duration_since(Instant::now()) {
                if stop.load(Ordering::Relaxed) {
                    return Ok(sent);
                }
                std::thread::sleep(wait.min(Duration::from_millis(200)));
            }
        }
        if !producer.send(Some(&rec.key), &rec.value, rec.timestamp, stop)? {
            break;
        }
        sent += 1;
        bar.inc(1);
        if bar.is_hidden() && last_log.elapsed() >= Duration::from_secs(10) {
            info!(sent, acknowledged = producer.delivered().ok, "producing");
            last_log = Instant::now();
        }
    }
    Ok(sent)
}

/// A progress bar of `len` units on a terminal (hidden otherwise, or without a length).
fn progress_bar(len: Option<u64>, template: &str) -> indicatif::ProgressBar {
    match len {
        Some(n) if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
            let bar = indicatif::ProgressBar::new(n);
            if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        }
        _ => indicatif::ProgressBar::hidden(),
    }
}

/// From here on SIGTERM / Ctrl-C set the returned flag (stop producing, flush what is
/// queued) instead of ending the process at once.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    Ok(stop)
}

/// Runs `produce`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(path) = &args.file {
        return run_file(&args, path);
    }
    let cfg = args.synth_config()?;
    let start_ms = cfg.start_ms;
    // Until connected, SIGTERM / Ctrl-C keep their default effect (end the process at
    // once); from here on they stop producing and flush what is queued.
    let producer = InputProducer::connect(&args.producer_config()?)?;
    let stop = stop_on_signals()?;
    info!(
        topic = %args.topic,
        partitions = producer.partitions().len(),
        rate = args.rate,
        seed = args.seed,
        start_time = %streams_core::value::format_timestamp(start_ms),
        "producing"
    );
    let bar = progress_bar(
        args.count,
        "{bar:40} {pos}/{len} records  {per_sec}  eta {eta}",
    );
    let started = Instant::now();
    let synth = Synth::new(cfg);
    let sent = match args.count {
        Some(n) => send_all(
            &producer,
            synth.take(n as usize),
            start_ms,
            args.unthrottled,
            &stop,
            &bar,
        )?,
        None => send_all(&producer, synth, start_ms, args.unthrottled, &stop, &bar)?,
    };
    bar.finish_and_clear();
    // Asked to stop: wait a little for acknowledgements (container runtimes kill after
    // ~10 s), not the whole delivery timeout.
    let flush_timeout = if stop.load(Ordering::Relaxed) {
        Duration::from_secs(5)
    } else {
        producer.timeout() + Duration::from_secs(5)
    };
    let delivered = producer.flush(flush_timeout)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "produced {} records to `{}` in {:.1} s ({:.0} records/s); acknowledged {}",
        sent,
        args.topic,
        secs,
        sent as f64 / secs.max(1e-9),
        delivered.ok
    );
    Ok(ExitCode::SUCCESS)
}

/// `produce --file`: the user's own JSON lines, with a progress bar over the file's bytes.
fn run_file(args: &Args, path: &std::path::Path) -> anyhow::Result<ExitCode> {
    let (input, size): (Box<dyn std::io::BufRead>, Option<u64>) = if path.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(path)
            .with_context(|| format!("cannot read --file {}", path.display()))?;
        let size = f.metadata().ok().map(|m| m.len());
        (Box::new(std::io::BufReader::new(f)), size)
    };
    let producer = InputProducer::connect(&args.producer_config()?)?;
    let stop = stop_on_signals()?;
    let bar = progress_bar(
        size,
        "{bar:40} {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}",
    );
    let started = Instant::now();
    let sent = send_lines(
        &producer,
        input,
        args.key_field.as_deref(),
        args.count,
        &stop,
        &bar,
    )?;
    bar.finish_and_clear();
    let delivered = producer.flush(producer.timeout() + Duration::from_secs(5))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "produced {sent} records from {} to `{}` in {secs:.1} s; acknowledged {}",
        path.display(),
        args.topic,
        delivered.ok
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::key_of;

    #[test]
    fn key_of_table() {
        let cases: Vec<(&str, Option<&str>)> = vec![
            (r#"{"id":"a1","v":1}"#, Some("a1")),
            (r#"{"id":42}"#, Some("42")),
            (r#"{"id":true}"#, Some("true")),
            (r#"{"id":null}"#, None),
            (r#"{"v":1}"#, None),
            (r#"{"id":{"x":1}}"#, None),
            (r#"[1,2]"#, None),
            ("{not json", None),
        ];
        for (line, want) in cases {
            assert_eq!(
                key_of(line.as_bytes(), "id"),
                want.map(|s| s.as_bytes().to_vec()),
                "{line}"
            );
        }
    }
}
