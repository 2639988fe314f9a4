//! `streams-app bench e2e`: end to end through a Kafka broker, on one topic and one set
//! of client settings, in one command:
//!
//! 1. produce N synthetic clickstream events (unthrottled, acks=all, lz4);
//! 2. **raw consume**: read them back to the end, nothing else;
//! 3. **copy loop**: consume each, produce it to another topic, one Kafka transaction
//!    per commit interval of the topology holding outputs and input offsets (a
//!    hand-written exactly-once copy);
//! 4. **run**: this binary's `run --until end` with the topology (exactly-once, RocksDB
//!    state, every sink), as a child process: its rate and peak RSS;
//! 5. **latency**: `run` again, unbounded, while events are produced at a fixed rate:
//!    from each input record's timestamp to its `events_clean` record becoming visible
//!    to a `read_committed` consumer, p50 / p99 / max.
//!
//! Topics and state are the benchmark's own (`bench-<id>-...`); `scripts/bench-e2e.sh`
//! starts an Apache Kafka broker for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use streams_kafka::admin::{self, TopicSpec};
use streams_kafka::bench::{copy_loop, now_ms, raw_consume, Arrivals};
use streams_kafka::producer::{Acks, InputProducer, ProducerConfig};

use crate::synth::{Synth, SynthConfig};

/// Arguments of `bench e2e`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub broker: super::broker::BrokerArgs,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    /// Events produced for the throughput phases.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Partitions of the benchmark's input topics.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// The dimension files the events draw users and products from.
    #[arg(long, default_value = "topology/dims")]
    pub dims_dir: PathBuf,
    /// Events per second during the latency phase (default: half of `run`'s rate).
    #[arg(long)]
    pub latency_rate: Option<f64>,
    /// How long the latency phase produces (0: skip it).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub latency_duration: Duration,
    /// `--threads` of the `run` it starts (default: `run`'s, the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Where the runs keep their state, outputs and logs (default: a temporary
    /// directory, removed afterwards).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// The topology with the benchmark's topics: input `input`, every table to
/// `<prefix><topic>`, and relative file paths made absolute (the copy lives elsewhere).
pub(super) fn bench_topology(
    src: &Path,
    input: &str,
    prefix: &str,
    dest: &Path,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(src)
        .with_context(|| format!("cannot read the topology {}", src.display()))?;
    let mut doc: toml::Table = toml::from_str(&text)
        .with_context(|| format!("cannot parse the topology {}", src.display()))?;
    let base = std::path::absolute(src.parent().unwrap_or(Path::new(".")))
        .with_context(|| format!("cannot resolve {}", src.display()))?;
    fn absolutize(v: &mut toml::Value, base: &Path) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t.iter_mut() {
                    if k == "table" {
                        if let toml::Value::String(p) = v {
                            if Path::new(p.as_str()).is_relative() {
                                *p = base.join(p.as_str()).display().to_string();
                            }
                            continue;
                        }
                    }
                    absolutize(v, base);
                }
            }
            toml::Value::Array(a) => a.iter_mut().for_each(|v| absolutize(v, base)),
            _ => {}
        }
    }
    for (_, v) in doc.iter_mut() {
        absolutize(v, &base);
    }
    match doc.get_mut("source").and_then(toml::Value::as_table_mut) {
        Some(source) => {
            source.insert("topics".into(), toml::Value::Array(vec![input.into()]));
        }
        None => bail!("{}: no [source] table", src.display()),
    }
    if let Some(sinks) = doc.get_mut("sinks").and_then(toml::Value::as_array_mut) {
        for sink in sinks.iter_mut().filter_map(toml::Value::as_table_mut) {
            let topic = sink
                .get("topic")
                .or_else(|| sink.get("name"))
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_string();
            sink.insert("topic".into(), format!("{prefix}{topic}").into());
        }
    }
    let out = toml::to_string(&doc).context("cannot write the benchmark's topology")?;
    std::fs::write(dest, out).with_context(|| format!("cannot write {}", dest.display()))
}

/// Produces `records` paced by their timestamps (or as fast as the broker takes them);
/// returns (records sent, seconds).
pub(super) fn produce(
    broker: &super::broker::BrokerArgs,
    topic: &str,
    records: impl Iterator<Item = crate::synth::SynthRecord>,
    start_ms: i64,
    unthrottled: bool,
) -> anyhow::Result<(u64, f64)> {
    let producer = InputProducer::connect(&ProducerConfig {
        client: broker.client()?,
        topic: topic.to_string(),
        acks: Acks::All,
        compression: "lz4".into(),
        timeout: Duration::from_secs(60),
    })?;
    let started = Instant::now();
    let never = AtomicBool::new(false);
    let hidden = indicatif::ProgressBar::hidden();
    let sent =
        super::produce::send_all(&producer, records, start_ms, unthrottled, &never, &hidden)?;
    let delivered = producer.flush(Duration::from_secs(120))?;
    if delivered.ok != sent {
        bail!(
            "the broker acknowledged {} of {sent} records ({} failed)",
            delivered.ok,
            delivered.failed
        );
    }
    Ok((sent, started.elapsed().as_secs_f64()))
}

/// `streams-app run` of the benchmark's topology as a child process, logging to a file.
pub(super) fn spawn_run(
    broker: &super::broker::BrokerArgs,
    app_id: &str,
    topology: &Path,
    work: &Path,
    bounded: bool,
    threads: Option<u16>,
) -> anyhow::Result<(Child, PathBuf)> {
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let log = work.join(format!("{app_id}.log"));
    let file =
        std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.args(["run", "--app-id", app_id, "--bootstrap-servers"])
        .arg(&broker.bootstrap_servers)
        .arg("--topology")
        .arg(topology)
        .arg("--state-dir")
        .arg(work.join("state"))
        .arg("--output-dir")
        .arg(work.join("data"))
        .args(["--guarantee", "exactly-once"]);
    for (k, v) in &broker.kafka_config {
        cmd.arg("--kafka-config").arg(format!("{k}={v}"));
    }
    if let Some(f) = &broker.kafka_config_file {
        cmd.arg("--kafka-config-file").arg(f);
    }
    if bounded {
        cmd.args(["--until", "end"]);
    }
    if let Some(t) = threads {
        cmd.arg("--threads").arg(t.to_string());
    }
    // The child reads nothing of the developer's STREAMS_* settings but these flags.
    for (k, _) in std::env::vars() {
        if k.starts_with("STREAMS_") {
            cmd.env_remove(k);
        }
    }
    let child = cmd
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .context("cannot start `streams-app run`")?;
    Ok((child, log))
}

/// Peak RSS (`VmHWM`) of a running child, bytes.
pub(super) fn child_peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

pub(super) fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Waits for a child, sampling its peak RSS; fails with its log's tail if it failed.
pub(super) fn wait_child(child: &mut Child, log: &Path) -> anyhow::Result<u64> {
    let mut peak = 0;
    loop {
        if let Some(rss) = child_peak_rss(child.id()) {
            peak = peak.max(rss);
        }
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!(
                    "`streams-app run` failed ({status}); its log ends:\n{}",
                    tail(log)
                );
            }
            return Ok(peak);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_log(log: &Path, needle: &str, within: Duration, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(needle)
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "`streams-app run` exited ({status}); its log ends:\n{}",
                tail(log)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "`streams-app run` did not log `{needle}` within {within:?}; its log ends:\n{}",
                tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The latency phase's figures are also given per slice of this many ms of input, so a
/// warm-up or a stall shows where it happened.
const LATENCY_SLICE_MS: i64 = 5000;

/// Latencies summed up: overall and per slice of send time.
#[derive(Debug, PartialEq)]
struct LatencyReport {
    records: usize,
    p50: i64,
    p99: i64,
    max: i64,
    /// p99 of the records sent in each slice, from the first record's slice on.
    p99_per_slice: Vec<i64>,
}

impl LatencyReport {
    /// From (sent at, latency) pairs; `None` when there are none.
    fn of(samples: &[(i64, i64)], slice_ms: i64) -> Option<LatencyReport> {
        let first = samples.iter().map(|(s, _)| *s).min()?;
        let mut all: Vec<i64> = samples.iter().map(|(_, l)| *l).collect();
        all.sort_unstable();
        let mut slices: Vec<Vec<i64>> = Vec::new();
        for (sent, l) in samples {
            let i = ((sent - first) / slice_ms) as usize;
            if slices.len() <= i {
                slices.resize_with(i + 1, Vec::new);
            }
            slices[i].push(*l);
        }
        let p99_per_slice = slices
            .into_iter()
            .map(|mut s| {
                s.sort_unstable();
                percentile(&s, 0.99)
            })
            .collect();
        Some(LatencyReport {
            records: all.len(),
            p50: percentile(&all, 0.5),
            p99: percentile(&all, 0.99),
            max: all[all.len() - 1],
            p99_per_slice,
        })
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `f` in `given` (created if missing) or else in a temporary directory that is
/// removed afterwards, unless `f` fails: the logs its error names are then kept.
pub(super) fn in_work_dir(
    given: Option<&Path>,
    f: impl FnOnce(&Path) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    if let Some(dir) = given {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        return f(dir);
    }
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let result = f(tmp.path());
    if result.is_err() {
        let kept = tmp.keep();
        eprintln!("bench: its state and logs are kept in {}", kept.display());
    }
    result
}

/// Runs every phase and prints one line per measurement.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    in_work_dir(args.work_dir.as_deref(), |work| phases(&args, work))
}

fn phases(args: &Args, work: &Path) -> anyhow::Result<ExitCode> {
    let client = args.broker.client()?;
    let timeout = args.broker.connect_timeout;
    let id = format!("bench-{}", now_ms());
    let input = format!("{id}-input");
    let copy = format!("{id}-copy");
    let latency_input = format!("{id}-latency");
    let specs: Vec<TopicSpec> = [&input, &copy, &latency_input]
        .into_iter()
        .map(|name| TopicSpec {
            name: name.clone(),
            partitions: args.partitions,
            replication: None,
            compact: false,
        })
        .collect();
    admin::ensure_topics(&client, &specs, timeout)?;
    println!(
        "bench e2e on {} ({} partitions, topics {id}-*)",
        args.broker.bootstrap_servers, args.partitions
    );

    // 1. The input: event times spread at 5,000 events/s, ending now.
    let cfg = SynthConfig::from_dims(&args.dims_dir)?;
    let event_rate = 5_000.0;
    let start_ms = now_ms() - (args.events as f64 / event_rate * 1000.0) as i64;
    let synth = Synth::new(SynthConfig {
        start_ms,
        rate_per_sec: event_rate,
        ..cfg.clone()
    });
    let (sent, secs) = produce(
        &args.broker,
        &input,
        synth.take(args.events as usize),
        start_ms,
        true,
    )?;
    println!(
        "  produce            {:>9.0} records/s ({sent} records, acks=all, lz4)",
        sent as f64 / secs
    );

    // 2. Raw consume.
    let raw = raw_consume(&client, &input, timeout)?;
    println!("  raw consume        {:>9.0} records/s", raw.rate());

    // 3. The exactly-once copy loop, committing as often as the topology does.
    let interval_ms = streams_runtime::load_topology(&args.topology.path)?
        .commit_interval_ms
        .max(1);
    let copied = copy_loop(
        &client,
        &input,
        &copy,
        &format!("{id}-copy"),
        Duration::from_millis(interval_ms as u64),
        timeout,
    )?;
    println!(
        "  copy loop (EOS)    {:>9.0} records/s (a transaction every {interval_ms} ms with the input offsets)",
        copied.rate()
    );

    // 4. `run --until end` with the topology.
    let topo = work.join(format!("{id}-topology.toml"));
    bench_topology(&args.topology.path, &input, &format!("{id}-out-"), &topo)?;
    let started = Instant::now();
    let (mut child, log) = spawn_run(
        &args.broker,
        &format!("{id}-run"),
        &topo,
        work,
        true,
        args.threads,
    )?;
    let peak = wait_child(&mut child, &log)?;
    let secs = started.elapsed().as_secs_f64();
    let run_rate = sent as f64 / secs;
    println!(
        "  run --until end    {run_rate:>9.0} records/s ({:.0} % of the copy loop; {secs:.1} s incl. start-up; peak RSS {} MiB)",
        100.0 * run_rate / copied.rate(),
        peak >> 20
    );

    // 5. Latency at a fixed rate, against an unbounded `run`.
    if !args.latency_duration.is_zero() {
        let rate = args
            .latency_rate
            .unwrap_or((run_rate / 2.0).max(1.0))
            .round();
        let topo = work.join(format!("{id}-latency-topology.toml"));
        let prefix = format!("{id}-lat-");
        bench_topology(&args.topology.path, &latency_input, &prefix, &topo)?;
        let (mut child, log) = spawn_run(
            &args.broker,
            &format!("{id}-lat"),
            &topo,
            work,
            false,
            args.threads,
        )?;
        let measured = (|| -> anyhow::Result<Vec<(i64, i64)>> {
            wait_log(&log, "running", Duration::from_secs(120), &mut child)?;
            let arrivals = Arrivals::start(&client, &format!("{prefix}events_clean"), timeout)?;
            let n = (rate * args.latency_duration.as_secs_f64()) as usize;
            // A record's timestamp is the wall time it is due (`produce` paces by it, from
            // the time it starts): records are made as they are sent, so that no
            // preparation delays the first ones behind their timestamps.
            let start_ms = now_ms();
            let mut sent_at = std::collections::HashMap::with_capacity(n);
            let records = Synth::new(SynthConfig {
                start_ms,
                rate_per_sec: rate,
                seed: 7,
                ..cfg.clone()
            })
            .take(n)
            .inspect(|r| {
                let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap_or_default();
                if let Some(id) = v.get("event_id").and_then(|i| i.as_str()) {
                    sent_at.entry(id.as_bytes().to_vec()).or_insert(r.timestamp);
                }
            });
            produce(&args.broker, &latency_input, records, start_ms, false)?;
            // Until nothing new arrives for 3 s (the last commit interval has passed).
            let mut last = (arrivals.count(), Instant::now());
            while last.1.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(200));
                let c = arrivals.count();
                if c != last.0 {
                    last = (c, Instant::now());
                }
            }
            let seen = arrivals.finish()?;
            let lat: Vec<(i64, i64)> = seen
                .iter()
                .filter_map(|(k, at)| sent_at.get(k).map(|s| (*s, at - s)))
                .collect();
            // Every accepted event of the phase should arrive (duplicates and bad
            // records do not); a shortfall is said, not hidden.
            if lat.len() * 10 < sent_at.len() * 9 {
                bail!(
                    "only {} of {} events reached events_clean in the latency phase; log: {}",
                    lat.len(),
                    sent_at.len(),
                    log.display()
                );
            }
            Ok(lat)
        })();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        wait_child(&mut child, &log)?;
        let lat = measured?;
        let Some(report) = LatencyReport::of(&lat, LATENCY_SLICE_MS) else {
            bail!(
                "no events_clean record arrived during the latency phase; log: {}",
                log.display()
            );
        };
        println!(
            "  latency @ {rate:.0}/s   p50 {} ms, p99 {} ms, max {} ms (input timestamp -> events_clean visible to read_committed; {} records)",
            report.p50, report.p99, report.max, report.records
        );
        println!(
            "    p99 per {} s of input: {}",
            LATENCY_SLICE_MS / 1000,
            report
                .p99_per_slice
                .iter()
                .map(|p| format!("{p}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_report_overall_and_per_slice() {
        assert_eq!(LatencyReport::of(&[], 1000), None);
        // 100 records in the first second (latencies 1..=100), none in the second, two
        // in the third.
        let mut samples: Vec<(i64, i64)> = (1..=100).map(|l| (10_000 + l, l)).collect();
        samples.push((12_100, 500));
        samples.push((12_900, 700));
        let r = LatencyReport::of(&samples, 1000).unwrap();
        assert_eq!(r.records, 102);
        assert_eq!(r.p50, 52);
        assert_eq!(r.max, 700);
        assert_eq!(r.p99, 500);
        assert_eq!(r.p99_per_slice, vec![99, 0, 700]);
    }
}
