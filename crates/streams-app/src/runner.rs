//! The processing loop: Kafka source → engine → checkpoint → outbox delivery (Kafka
//! topics, dead letters) → group offsets for lag monitoring.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::ValueEnum as _;
use streams_kafka::admin::{self, TopicSpec};
use streams_kafka::{ClientConfig, Guarantee, KafkaSink, KafkaSource, SinkConfig, SourceConfig};
use streams_parquet::{FileFormat, ParquetSink, ParquetSinkConfig};
use streams_runtime::checkpoint::{start_offset, StartFrom};
use streams_runtime::{ConsoleSink, Delivery, Engine, EngineOptions, Sink, TopologyDef};
use streams_state::StateConfig;
use tracing::{info, warn};

use crate::observe::{Observer, Sample, Server};

/// How often a running app looks for partitions added to its input topics.
const DISCOVER_EVERY: Duration = Duration::from_secs(10);

/// Where a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FromArg {
    /// Continue from the app's checkpoint (a new app starts at the earliest offsets).
    Checkpoint,
    /// The earliest retained offsets (apps without state only).
    Earliest,
    /// Only records produced from now on (apps without state only).
    Latest,
}

impl From<FromArg> for StartFrom {
    fn from(f: FromArg) -> Self {
        match f {
            FromArg::Checkpoint => StartFrom::Checkpoint,
            FromArg::Earliest => StartFrom::Earliest,
            FromArg::Latest => StartFrom::Latest,
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub app_id: String,
    pub topology: Arc<TopologyDef>,
    /// The Kafka client settings (servers, TLS, SASL, ...).
    pub client: ClientConfig,
    pub from: FromArg,
    pub bounded: bool,
    pub state_dir: PathBuf,
    pub output_dir: PathBuf,
    /// Replication factor of the topics the app creates (`None`: the broker's default).
    pub replication_factor: Option<i32>,
    /// The delivery protocol asked for.
    pub guarantee: Guarantee,
    /// Skip input records retention deleted before they were read (counted as `lost`)
    /// instead of stopping.
    pub allow_input_loss: bool,
    /// Send output rows larger than their topic takes to the DLQ instead of stopping.
    pub oversized_output_to_dlq: bool,
    pub fetch_wait_max_ms: u32,
    pub block_cache_mb: usize,
    pub write_buffer_mb: usize,
    /// Worker threads for the topology's tasks.
    pub threads: usize,
    pub connect_timeout: Duration,
    pub parquet_max_file_bytes: u64,
    pub parquet_roll_interval: Duration,
    /// Serve `/metrics`, `/status.json` and the status page here.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// After a bounded run ends, keep serving them this long (a last scrape).
    pub metrics_linger: Duration,
    /// Show progress (a bar on a terminal, log lines otherwise) towards the ends the
    /// input had at start: bounded runs and replays.
    pub progress: bool,
}

/// The app's state directory.
pub fn app_state_dir(state_dir: &Path, app_id: &str) -> PathBuf {
    state_dir.join(app_id)
}

/// The dead-letter topic of an app.
pub fn dlq_topic(app_id: &str) -> String {
    format!("{app_id}-dlq")
}

/// The app's internal topic of committed-epoch markers (transactional delivery).
pub fn epochs_topic(app_id: &str) -> String {
    format!("{app_id}-epochs")
}

/// The topics an app writes: one per output table, the DLQ, then its epochs topic.
pub fn output_topics(def: &TopologyDef, app_id: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in def.topics.values() {
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    names.push(dlq_topic(app_id));
    names.push(epochs_topic(app_id));
    names
}

/// How the app creates one of its topics: the epochs topic is compacted (only the
/// newest marker per task matters), the others keep the broker's retention.
pub fn topic_spec(
    name: String,
    app_id: &str,
    partitions: i32,
    replication: Option<i32>,
) -> TopicSpec {
    TopicSpec {
        compact: name == epochs_topic(app_id),
        name,
        partitions,
        replication,
    }
}

/// An exclusive lock on the app's state: two processes never share one state directory.
pub struct StateLock {
    _file: File,
}

fn lock_path(state_dir: &Path, app_id: &str) -> PathBuf {
    state_dir.join(format!("{app_id}.lock"))
}

/// Takes the exclusive lock on an open lock file, or says who holds it.
fn try_lock(file: &File, state_dir: &Path, app_id: &str) -> anyhow::Result<()> {
    let path = lock_path(state_dir, app_id);
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "app `{app_id}` is running on state directory {} (lock {} is held); stop it first",
            state_dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Whether a process holds the app's lock (it is running on this state); creates nothing.
pub fn is_running(state_dir: &Path, app_id: &str) -> bool {
    match File::options()
        .write(true)
        .open(lock_path(state_dir, app_id))
    {
        Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Fails if a process holds the app's lock; creates nothing (for dry runs).
pub fn check_not_running(state_dir: &Path, app_id: &str) -> anyhow::Result<()> {
    match File::options()
        .write(true)
        .open(lock_path(state_dir, app_id))
    {
        Ok(file) => try_lock(&file, state_dir, app_id),
        Err(_) => Ok(()),
    }
}

/// Takes the lock next to the app's state directory, or says who holds it.
pub fn lock_state(state_dir: &Path, app_id: &str) -> anyhow::Result<StateLock> {
    let not_writable = || format!("state directory {} is not writable", state_dir.display());
    std::fs::create_dir_all(state_dir).with_context(not_writable)?;
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(state_dir, app_id))
        .with_context(not_writable)?;
    try_lock(&file, state_dir, app_id)?;
    Ok(StateLock { _file: file })
}

fn wall_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Records the broker deleted before the app read them: an error, unless the user
/// allowed it (then they are counted as `lost` in the ledger).
fn input_lost(
    opts: &RunOptions,
    engine: &mut Engine,
    topic: &str,
    partition: i32,
    from: i64,
    records: u64,
) -> anyhow::Result<()> {
    if !opts.allow_input_loss {
        bail!(
            "{records} records of `{topic}` partition {partition} (from offset {from}) were deleted by the broker's retention before the app read them; rerun with --allow-input-loss to skip them (counted as `lost` in the ledger), or raise the topic's retention"
        );
    }
    warn!(
        topic,
        partition,
        from,
        records,
        "input records deleted by retention before they were read; skipped and counted as lost"
    );
    engine.count_lost(records);
    Ok(())
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The app's ledger at the end (it counts since the state was created).
    pub ledger: streams_runtime::Ledger,
    /// Bounded mode reached the end (rather than a signal stopping the run).
    pub reached_end: bool,
    /// Wall-clock duration of processing.
    pub elapsed: Duration,
}

/// How often the live view samples the app.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// How often the state directory's size is measured (a directory listing).
const STATE_SIZE_EVERY: Duration = Duration::from_secs(10);

/// The live view of a run: metrics and status page (when `--metrics-addr` is set), and
/// the progress shown towards the input's ends at start.
struct Live {
    observer: Option<(Observer, Server)>,
    last_sample: Instant,
    state_size: (Instant, u64),
    progress: Option<Progress>,
}

/// Progress towards the ends the input had at start: a bar on a terminal, else the
/// periodic log line says how much is left.
struct Progress {
    starts: BTreeMap<(String, i32), i64>,
    ends: BTreeMap<(String, i32), i64>,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    /// Offsets read and offsets left, over every partition.
    fn done_and_left(&self, source: &KafkaSource) -> (u64, u64) {
        let mut done = 0;
        let mut left = 0;
        for (tp, end) in &self.ends {
            let start = self.starts.get(tp).copied().unwrap_or(*end);
            let pos = source.positions().get(tp).copied().unwrap_or(start);
            done += (pos.min(*end) - start).max(0) as u64;
            left += (end - pos).max(0) as u64;
        }
        (done, left)
    }

    fn update(&self, source: &KafkaSource) {
        if let Some(bar) = self.bar.as_ref().filter(|b| !b.is_finished()) {
            let (done, left) = self.done_and_left(source);
            bar.set_position(done);
            bar.set_message(format!("{left} left"));
            if left == 0 {
                // A replay runs on past the ends it had at start: log lines take over.
                bar.finish_with_message("caught up");
            }
        }
    }
}

impl Live {
    fn start(opts: &RunOptions, started_ms: i64) -> anyhow::Result<Live> {
        let observer = match opts.metrics_addr {
            Some(addr) => {
                let observer = Observer::new(&opts.app_id, opts.bounded, started_ms);
                let (metrics, status) = observer.shared();
                let server = Server::start(addr, metrics, status)?;
                info!(addr = %server.addr(), "serving /metrics, /status.json and the status page");
                Some((observer, server))
            }
            None => None,
        };
        Ok(Live {
            observer,
            last_sample: Instant::now(),
            state_size: (Instant::now() - STATE_SIZE_EVERY, 0),
            progress: None,
        })
    }

    fn show_progress(
        &mut self,
        starts: &[((String, i32), i64)],
        ends: &BTreeMap<(String, i32), i64>,
    ) {
        let starts: BTreeMap<(String, i32), i64> = starts.iter().cloned().collect();
        let total: i64 = ends
            .iter()
            .map(|(tp, end)| (end - starts.get(tp).copied().unwrap_or(*end)).max(0))
            .sum();
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} records ({per_sec}, {msg}, eta {eta})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        self.progress = Some(Progress {
            starts,
            ends: ends.clone(),
            bar,
        });
    }

    /// Whether a progress bar is drawn (log lines would break it).
    fn has_bar(&self) -> bool {
        self.progress
            .as_ref()
            .and_then(|p| p.bar.as_ref())
            .is_some_and(|b| !b.is_finished())
    }

    /// Records left to the ends at start, when progress is shown.
    fn left(&self, source: &KafkaSource) -> Option<u64> {
        self.progress.as_ref().map(|p| p.done_and_left(source).1)
    }

    /// Samples the app if a second passed (or `force`), and updates the progress bar.
    fn tick(
        &mut self,
        engine: &mut Engine,
        source: &KafkaSource,
        delivery: &Delivery,
        force: bool,
        finished: bool,
    ) {
        if !force && self.last_sample.elapsed() < SAMPLE_EVERY {
            return;
        }
        self.last_sample = Instant::now();
        if let Some(p) = &self.progress {
            p.update(source);
            if finished {
                if let Some(bar) = &p.bar {
                    bar.finish_with_message("done");
                }
            }
        }
        let Some((observer, _)) = &mut self.observer else {
            return;
        };
        if self.state_size.0.elapsed() >= STATE_SIZE_EVERY || force {
            self.state_size = (Instant::now(), engine.state_size_on_disk());
        }
        let sample = Sample::take(
            engine,
            delivery,
            &source.fetch_lag(),
            self.state_size.1,
            wall_ms(),
        );
        observer.update(&sample, finished);
    }

    /// After a bounded run: keep serving for `linger` (or until a signal).
    fn linger(&self, linger: Duration, stop: &AtomicBool) {
        if self.observer.is_none() || linger.is_zero() {
            return;
        }
        info!(
            seconds = linger.as_secs_f64(),
            "run ended; still serving metrics and the status page"
        );
        let until = Instant::now() + linger;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Runs the app. Returns when stopped by a signal or, in bounded mode, at the end.
pub fn run(opts: RunOptions) -> anyhow::Result<RunOutcome> {
    // One span per task: every line the run logs names the app and the task.
    let _task = tracing::info_span!("task", app_id = %opts.app_id, task = 0u32).entered();
    let def = opts.topology.clone();
    let _lock = lock_state(&opts.state_dir, &opts.app_id)?;
    let dir = app_state_dir(&opts.state_dir, &opts.app_id);
    let has_state = dir.join("CURRENT").exists();
    if has_state && opts.from != FromArg::Checkpoint {
        bail!(
            "app `{}` already has state in {}; `--from {}` would process its input twice. Use `streams-app replay --app-id {}` to reprocess from the start",
            opts.app_id,
            dir.display(),
opts
                .from
                .to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default(),
            opts.app_id
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let mut live = Live::start(&opts, wall_ms())?;

    let client = opts.client.clone();
    let timeout = opts.connect_timeout;
    let mut source = KafkaSource::connect(SourceConfig {
        client: client.clone(),
        group_id: opts.app_id.clone(),
        topics: def.source_topics.clone(),
        fetch_wait_max_ms: opts.fetch_wait_max_ms,
    })?;
    let partitions = source.discover(timeout)?;

    // Output topics and the DLQ are created if missing, with the input's partition count.
    let out_partitions = partitions
        .iter()
        .filter(|(t, _)| *t == def.source_topics[0])
        .count() as i32;
    let wanted: Vec<TopicSpec> = output_topics(&def, &opts.app_id)
        .into_iter()
        .map(|name| topic_spec(name, &opts.app_id, out_partitions, opts.replication_factor))
        .collect();
    for (t, state) in admin::ensure_topics(&client, &wanted, timeout)? {
        if state == admin::TopicState::Created {
            info!(topic = %t, "created output topic");
        }
    }

    let opts_engine = EngineOptions {
        state_dir: dir.clone(),
        task: 0,
        state: StateConfig {
            block_cache_bytes: opts.block_cache_mb << 20,
            write_buffer_bytes: (opts.write_buffer_mb << 20) / 4,
            total_write_buffer_bytes: opts.write_buffer_mb << 20,
        },
        threads: opts.threads,
    };
    let mut engine = Engine::open(def.clone(), opts_engine, wall_ms())?;
    engine.assign(&partitions, wall_ms());

    // Start positions: the checkpoint's, else --from.
    let checkpointed: BTreeMap<(String, i32), i64> = engine
        .positions()
        .into_iter()
        .filter_map(|(tp, o)| o.map(|o| (tp, o)))
        .collect();
    // Partitions without a checkpointed position start where `reset-state --to` put them.
    let requested = streams_runtime::checkpoint::read_start_positions(&dir)
        .with_context(|| format!("cannot read the start positions in {}", dir.display()))?;
    let from = StartFrom::from(opts.from);
    let mut starts = Vec::new();
    let mut ends = BTreeMap::new();
    for tp in &partitions {
        let (low, high) = source.watermarks(tp, timeout)?;
        let position = checkpointed.get(tp).or(requested.get(tp)).copied();
        let start = start_offset(position, from, low, high);
        // Only records past a checkpoint are the app's to lose: a start position that
        // `reset-state` chose and retention passed since simply starts later.
        if start.skipped > 0 && checkpointed.contains_key(tp) {
            let from = position.unwrap_or(low);
            input_lost(&opts, &mut engine, &tp.0, tp.1, from, start.skipped)?;
        }
        if start.beyond_reported_end {
            warn!(topic = %tp.0, partition = tp.1, checkpoint = start.offset, reported_end = high, "checkpoint is past the end the broker reports; continuing from the checkpoint");
        }
        let start = start.offset;
        starts.push((tp.clone(), start));
        ends.insert(tp.clone(), high);
    }
    source.assign(&starts)?;
    if opts.progress {
        live.show_progress(&starts, &ends);
    }
    if opts.bounded {
        source.set_end(ends);
    }

    let mut kafka = KafkaSink::connect(SinkConfig {
        client: client.clone(),
        app_id: opts.app_id.clone(),
        task: 0,
        topics: def.topics.clone(),
        dlq_topic: dlq_topic(&opts.app_id),
        epochs_topic: epochs_topic(&opts.app_id),
        guarantee: opts.guarantee,
        delivery_timeout: Duration::from_secs(30),
        recovery_settle: Duration::from_secs(5),
        max_dead_letter_bytes: streams_kafka::sink::MAX_MESSAGE_BYTES
            - streams_kafka::sink::DEAD_LETTER_OVERHEAD,
        oversized_to_dlq: opts.oversized_output_to_dlq,
    })?;
    info!(
        protocol = %kafka.protocol(),
        "kafka delivery: {}",
        match kafka.protocol() {
            streams_kafka::Protocol::Transactions => "one transaction per checkpoint; read outputs with isolation.level=read_committed",
            streams_kafka::Protocol::IdempotentScan => "idempotent producer with recovery scan (the broker has no transactions)",
        }
    );
    let outputs: Vec<streams_runtime::topology_file::SinkOutputs> = engine
        .tables()
        .iter()
        .map(|t| def.outputs.get(&t.name).copied().unwrap_or_default())
        .collect();
    kafka.restore_positions(engine.sink_positions());
    // Delivered in this order: Kafka, the files, the console tap.
    let mut sinks: Vec<Box<dyn Sink + Send>> = vec![Box::new(kafka)];
    for format in [FileFormat::Parquet, FileFormat::Csv] {
        let name = format.state_name();
        let wanted: Vec<bool> = outputs
            .iter()
            .map(|o| {
                if format == FileFormat::Parquet {
                    o.parquet
                } else {
                    o.csv
                }
            })
            .collect();
        if !wanted.iter().any(|w| *w) {
            continue;
        }
        let committed_staging: Vec<streams_parquet::StagedFile> = match engine.sink_state(name) {
            Some(bytes) => serde_json::from_slice(bytes).with_context(|| {
                format!(
                    "state at {}: cannot decode the staged {name} files",
                    dir.display()
                )
            })?,
            None => Vec::new(),
        };
        let sink = ParquetSink::open(
            ParquetSinkConfig {
                output_dir: opts.output_dir.clone(),
                app_id: opts.app_id.clone(),
                task: 0,
                max_file_bytes: opts.parquet_max_file_bytes,
                max_file_age: opts.parquet_roll_interval,
                format,
                tables: wanted,
            },
            engine.tables(),
            &committed_staging,
        )?;
        sinks.push(Box::new(sink));
    }
    if outputs.iter().any(|o| o.console) {
        sinks.push(Box::new(ConsoleSink::new(
            outputs.iter().map(|o| o.console).collect(),
            std::io::stdout(),
        )));
    }
    // The sinks live on a delivery thread: a checkpoint's outbox is delivered while the
    // next interval's records are processed (at most one delivery in flight).
    let mut delivery = Delivery::spawn(sinks, engine.tables().to_vec(), stop.clone())?;
    if !delivery.recover(&mut engine, &stop)? {
        return Ok(RunOutcome {
            ledger: engine.ledger(),
            reached_end: false,
            elapsed: Duration::ZERO,
        });
    }
    info!(
        app_id = %opts.app_id,
        partitions = partitions.len(),
        epoch = engine.epoch(),
        bounded = opts.bounded,
        watermark = %streams_core::value::format_timestamp(engine.watermark()),
        ledger = %engine.ledger(),
        "running"
    );

    engine.start_consuming(wall_ms());
    let started = Instant::now();
    let mut last_log = Instant::now();
    let mut last_roll = Instant::now();
    let mut last_discover = Instant::now();
    let mut consumed_at_log = engine.ledger().consumed;
    loop {
        if stop.load(Ordering::Relaxed) {
            info!("stopping: final checkpoint");
            delivery.finish(&mut engine, wall_ms(), &stop)?;
            source.commit_group_offsets()?;
            live.tick(&mut engine, &source, &delivery, true, false);
            info!(ledger = %engine.ledger(), "stopped");
            return Ok(RunOutcome {
                ledger: engine.ledger(),
                reached_end: false,
                elapsed: started.elapsed(),
            });
        }
        let now = wall_ms();
        let polled = match source.poll(Duration::from_millis(50)) {
            Err(e @ streams_kafka::KafkaError::OffsetOutOfRange { .. }) => {
                // A broker that restarts can report ranges it has not loaded yet: only a
                // position outside what the broker holds now is an error.
                warn!(error = %e, "input position reported out of range; checking");
                std::thread::sleep(Duration::from_secs(1));
                for ((topic, partition), from, records) in source.recover_out_of_range(timeout)? {
                    input_lost(&opts, &mut engine, &topic, partition, from, records)?;
                }
                continue;
            }
            other => other?,
        };
        for ((t, p), caught_up) in source.take_caught_up() {
            engine.caught_up(&t, p, caught_up, now)?;
        }
        match polled {
            Some(rec) => engine.process(rec, now)?,
            None => engine.tick(now)?,
        }
        // A delivery that finished: what it made durable goes into the next checkpoint.
        if !delivery.poll(&mut engine)? {
            continue;
        }
        live.tick(&mut engine, &source, &delivery, false, false);
        if opts.bounded && source.reached_end() {
            engine.end_of_input()?;
            let delivered = delivery.finish(&mut engine, wall_ms(), &stop)?;
            source.commit_group_offsets()?;
            let ledger = engine.ledger();
            if !delivered {
                // Stopped while a sink retried: the checkpoint keeps the outputs.
                info!(ledger = %ledger, "stopped before the end of input was delivered");
                return Ok(RunOutcome {
                    ledger,
                    reached_end: false,
                    elapsed: started.elapsed(),
                });
            }
            info!(
                ledger = %ledger,
                seconds = started.elapsed().as_secs_f64(),
                "end of input reached"
            );
            anyhow::ensure!(ledger.is_balanced(), "ledger does not balance: {ledger}");
            live.tick(&mut engine, &source, &delivery, true, true);
            live.linger(opts.metrics_linger, &stop);
            return Ok(RunOutcome {
                ledger,
                reached_end: true,
                elapsed: started.elapsed(),
            });
        }
        if !opts.bounded && last_discover.elapsed() >= DISCOVER_EVERY {
            // Partitions added to the input while running: read from their start, in
            // event time like the others (they hold the watermark until they show data).
            last_discover = Instant::now();
            let now_parts = source.discover(timeout).unwrap_or_else(|e| {
                // The broker may be down for a while: that costs time, not the app.
                warn!(error = %e, "cannot list the input partitions; retrying");
                Vec::new()
            });
            let added: Vec<(String, i32)> = now_parts
                .into_iter()
                .filter(|tp| !source.positions().contains_key(tp))
                .collect();
            let mut starts = Vec::new();
            for tp in added {
                // A partition just created may have no leader yet: try again next time.
                match source.watermarks(&tp, timeout) {
                    Ok((low, _)) => starts.push((tp, low)),
                    Err(e) => {
                        warn!(topic = %tp.0, partition = tp.1, error = %e, "new input partition not ready; retrying")
                    }
                }
            }
            if !starts.is_empty() {
                let added: Vec<(String, i32)> = starts.iter().map(|(tp, _)| tp.clone()).collect();
                engine.assign(&added, wall_ms());
                source.add_partitions(&starts)?;
                info!(partitions = ?added, "reading input partitions added while running");
            }
        }
        if last_roll.elapsed() >= Duration::from_secs(1) {
            // Age-based publishing also happens while no records arrive.
            delivery.roll(&mut engine)?;
            last_roll = Instant::now();
        }
        if engine.commit_due(now) {
            if !delivery.commit(&mut engine, now, &stop)? {
                continue;
            }
            engine.restart_commit_interval(wall_ms());
            source.commit_group_offsets()?;
            if last_log.elapsed() >= Duration::from_secs(1) && !live.has_bar() {
                let ledger = engine.ledger();
                let rate =
                    (ledger.consumed - consumed_at_log) as f64 / last_log.elapsed().as_secs_f64();
                // The ends the last fetches reported: no request to the broker.
                let lag: i64 = source.fetch_lag().values().flatten().sum();
                info!(
                    records_per_sec = rate as u64,
                    lag,
                    left = live.left(&source),
                    watermark = %streams_core::value::format_timestamp(engine.watermark()),
                    epoch = engine.epoch(),
                    consumed = ledger.consumed,
                    accepted = ledger.accepted,
                    duplicate = ledger.duplicate,
                    dead_lettered = ledger.dead_lettered,
                    "progress"
                );
                consumed_at_log = ledger.consumed;
                last_log = Instant::now();
            }
        }
    }
}

/// `--threads`, or the number of cores this process may use.
pub fn threads_or_cores(threads: Option<u16>) -> usize {
    threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    )
}
