//! `streams-app replay`: reprocess an app's input from the start (or from a time) with
//! fresh state. It is `reset-state` + `run --from ...`, and it moves the app's previous
//! Parquet output aside to `<output-dir>/<app-id>/_archive/<time>/`, so the live dataset
//! holds exactly one copy of every result.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::reset_state::{parse_reset_to, reset, ResetTo};
use crate::runner::{self, From};

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `earliest` or an RFC 3339 time: reprocess from there.
    #[arg(long = "from", default_value = "earliest", env = "STREAMS_REPLAY_FROM")]
    pub replay_from: String,
    /// Everything else is as for `run` (`--from` there is replaced by the one above).
    #[command(flatten)]
    pub run: ReplayRunArgs,
}

/// The `run` arguments that `replay` accepts.
#[derive(Debug, clap::Args)]
pub struct ReplayRunArgs {
    /// Application id.
    #[arg(long, env = "STREAMS_APP_ID")]
    pub app_id: String,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    #[command(flatten)]
    pub broker: super::broker::BrokerArgs,
    /// `end`: stop at the end offsets captured at start (bounded mode).
    #[arg(long, value_parser = ["end"], env = "STREAMS_UNTIL")]
    pub until: Option<String>,
    /// State directory.
    #[arg(long, default_value = "checkpoints", env = "STREAMS_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Output directory for Parquet tables.
    #[arg(long, default_value = "data", env = "STREAMS_OUTPUT_DIR")]
    pub output_dir: PathBuf,
    /// Longest time (ms) the broker may hold a fetch open waiting for data.
    #[arg(long, default_value_t = 100, env = "STREAMS_FETCH_WAIT_MAX_MS")]
    pub fetch_wait_max_ms: u32,
    /// Publish a Parquet file once it is this old.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "STREAMS_PARQUET_ROLL_INTERVAL")]
    pub parquet_roll_interval: std::time::Duration,
}

/// Moves every table of the app's dataset to `_archive/<stamp>/`; returns where.
fn archive_output(output_dir: &Path, app_id: &str) -> anyhow::Result<Option<PathBuf>> {
    let root = output_dir.join(app_id);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Ok(None);
    };
    let tables: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('_') && e.path().is_dir())
        .map(|e| e.path())
        .collect();
    if tables.is_empty() {
        return Ok(None);
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let dest = root.join("_archive").join(stamp);
    std::fs::create_dir_all(&dest).with_context(|| format!("cannot create {}", dest.display()))?;
    for t in tables {
        let target = dest.join(t.file_name().unwrap_or_default());
        std::fs::rename(&t, &target)
            .with_context(|| format!("cannot move {} to {}", t.display(), target.display()))?;
    }
    Ok(Some(dest))
}

/// Runs `replay`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let to = parse_reset_to(&args.replay_from)?;
    if to == ResetTo::Latest {
        anyhow::bail!(
            "replay reprocesses existing input: use `--from earliest` or an RFC 3339 time"
        );
    }
    let a = &args.run;
    reset(
        &a.app_id,
        &a.state_dir,
        &a.topology.path,
        &a.broker.bootstrap_servers,
        to,
        false,
        a.broker.connect_timeout,
    )?;
    if let Some(dest) = archive_output(&a.output_dir, &a.app_id)? {
        println!("previous Parquet output moved to {}", dest.display());
    }
    let outcome = runner::run(runner::RunOptions {
        app_id: a.app_id.clone(),
        topology: a.topology.path.clone(),
        bootstrap_servers: a.broker.bootstrap_servers.clone(),
        from: From::Earliest,
        bounded: a.until.is_some(),
        state_dir: a.state_dir.clone(),
        output_dir: a.output_dir.clone(),
        replication_factor: 1,
        fetch_wait_max_ms: a.fetch_wait_max_ms,
        block_cache_mb: 64,
        write_buffer_mb: 128,
        connect_timeout: a.broker.connect_timeout,
        parquet_max_file_bytes: 128 << 20,
        parquet_roll_interval: a.parquet_roll_interval,
        start_time: match to {
            ResetTo::Time(ms) => Some(ms),
            _ => None,
        },
    })?;
    Ok(outcome.exit_code())
}
