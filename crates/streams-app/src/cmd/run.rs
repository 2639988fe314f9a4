//! `streams-app run`: process the input topics with exactly-once outputs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use streams_runtime::{load_topology, TopologyDef};

use crate::runner::{self, FromArg, RunOptions};

/// `--on-output-too-large`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnTooLarge {
    /// Stop the app with one line naming the topic and the cause.
    Fail,
    /// Send the row to the dead-letter topic and go on.
    Dlq,
}

/// `--guarantee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GuaranteeArg {
    /// Transactions where the broker has them, else idempotent delivery + recovery scan.
    Auto,
    /// Kafka transactions, or refuse to start.
    ExactlyOnce,
    /// Idempotent delivery + recovery scan (no transactions).
    IdempotentScan,
}

impl From<GuaranteeArg> for streams_kafka::Guarantee {
    fn from(g: GuaranteeArg) -> Self {
        match g {
            GuaranteeArg::Auto => Self::Auto,
            GuaranteeArg::ExactlyOnce => Self::ExactlyOnce,
            GuaranteeArg::IdempotentScan => Self::IdempotentScan,
        }
    }
}

/// Arguments of `run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where to start: `checkpoint` continues from the app's state (a new app starts at
    /// the earliest offsets); `earliest` and `latest` are for apps without state.
    #[arg(long, value_enum, default_value_t = FromArg::Checkpoint, env = "STREAMS_FROM")]
    pub from: FromArg,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The processing flags that `run` and `replay` share (each adds its own `--from`).
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Application id: names the state directory, the consumer group, the DLQ topic and
    /// the Parquet dataset.
    #[arg(long, env = "STREAMS_APP_ID")]
    pub app_id: String,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    #[command(flatten)]
    pub broker: super::broker::BrokerArgs,
    /// `end`: stop once the end offsets captured at start are reached, emit every open
    /// window, checkpoint and exit 0 (bounded mode).
    #[arg(long, value_parser = ["end"], env = "STREAMS_UNTIL")]
    pub until: Option<String>,
    /// State directory; the app's state lives in `<state-dir>/<app-id>/`.
    #[arg(long, default_value = "checkpoints", env = "STREAMS_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Output directory for Parquet tables (`<output-dir>/<app-id>/<table>/`).
    #[arg(long, default_value = "data", env = "STREAMS_OUTPUT_DIR")]
    pub output_dir: PathBuf,
    /// Replication factor of the output topics the app creates (default: the broker's
    /// `default.replication.factor`).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=100), env = "STREAMS_REPLICATION_FACTOR")]
    pub replication_factor: Option<i32>,
    /// Delivery protocol: `auto` uses Kafka transactions where the broker has them and
    /// an idempotent producer with a recovery scan where it does not; `exactly-once`
    /// requires transactions (refuses to start without them); `idempotent-scan` never
    /// uses them.
    #[arg(long, value_enum, default_value_t = GuaranteeArg::Auto, env = "STREAMS_GUARANTEE")]
    pub guarantee: GuaranteeArg,
    /// Input records the broker's retention deleted before the app read them are skipped
    /// and counted as `lost` in the ledger; without this flag the app stops instead.
    #[arg(long, env = "STREAMS_ALLOW_INPUT_LOSS")]
    pub allow_input_loss: bool,
    /// An output row larger than its topic takes (`max.message.bytes`): `fail` stops the
    /// app with one line naming the topic; `dlq` sends the row to the dead-letter topic
    /// (reason `output_too_large`) and goes on.
    #[arg(long, value_enum, default_value_t = OnTooLarge::Fail, env = "STREAMS_ON_OUTPUT_TOO_LARGE")]
    pub on_output_too_large: OnTooLarge,
    /// Longest time (ms) the broker may hold a fetch open waiting for data.
    #[arg(long, default_value_t = 100, env = "STREAMS_FETCH_WAIT_MAX_MS")]
    pub fetch_wait_max_ms: u32,
    /// RocksDB block cache, MiB.
    #[arg(long, default_value_t = 64, env = "STREAMS_BLOCK_CACHE_MB")]
    pub block_cache_mb: usize,
    /// RocksDB write buffers in total, MiB.
    #[arg(long, default_value_t = 128, env = "STREAMS_WRITE_BUFFER_MB")]
    pub write_buffer_mb: usize,
    /// Worker threads for the topology's tasks (default: the number of cores). Tasks are
    /// input partitions and key groups, never threads: changing it changes no output,
    /// state or transactional id (docs/parallelism.md).
    #[arg(long, env = "STREAMS_THREADS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Publish a Parquet file once it holds about this many MiB.
    #[arg(long, default_value_t = 128, env = "STREAMS_PARQUET_MAX_FILE_MB")]
    pub parquet_max_file_mb: u64,
    /// Publish a Parquet file once it is this old (undelivered rows stay in the outbox
    /// until then).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "STREAMS_PARQUET_ROLL_INTERVAL")]
    pub parquet_roll_interval: std::time::Duration,
    /// Serve Prometheus metrics (`/metrics`), the status document (`/status.json`) and
    /// the live status page (`/`) on this address, e.g. `127.0.0.1:9464` (off unless set;
    /// port 0 picks a free one).
    #[arg(long, env = "STREAMS_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// After a bounded run (`--until end`) ends, keep serving the metrics and the status
    /// page this long, so that a last scrape sees the final counts.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration, env = "STREAMS_METRICS_LINGER")]
    pub metrics_linger: std::time::Duration,
}

impl RunArgs {
    /// Options of a run of `def` (the topology loaded from `--topology`) starting at `from`.
    pub(crate) fn options(
        &self,
        def: Arc<TopologyDef>,
        from: FromArg,
    ) -> anyhow::Result<RunOptions> {
        Ok(RunOptions {
            app_id: self.app_id.clone(),
            topology: def,
            client: self.broker.client()?,
            from,
            bounded: self.until.is_some(),
            state_dir: self.state_dir.clone(),
            output_dir: self.output_dir.clone(),
            replication_factor: self.replication_factor,
            guarantee: self.guarantee.into(),
            allow_input_loss: self.allow_input_loss,
            oversized_output_to_dlq: self.on_output_too_large == OnTooLarge::Dlq,
            fetch_wait_max_ms: self.fetch_wait_max_ms,
            block_cache_mb: self.block_cache_mb,
            write_buffer_mb: self.write_buffer_mb,
            threads: crate::runner::threads_or_cores(self.threads),
            connect_timeout: self.broker.connect_timeout,
            parquet_max_file_bytes: self.parquet_max_file_mb << 20,
            parquet_roll_interval: self.parquet_roll_interval,
            metrics_addr: self.metrics_addr,
            metrics_linger: self.metrics_linger,
            progress: self.until.is_some(),
        })
    }
}

/// Runs the app until SIGTERM/Ctrl-C (or the end, in bounded mode).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let def = Arc::new(load_topology(&args.run.topology.path)?);
    runner::run(args.run.options(def, args.from)?)?;
    Ok(ExitCode::SUCCESS)
}
