//! `streams-app reset-state`: forget an app's progress so it can start over.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use streams_kafka::{ClientConfig, KafkaSource, SourceConfig};
use streams_runtime::{load_topology, TopologyDef};

use crate::runner::{app_state_dir, check_not_running, lock_state};

/// Arguments of `reset-state`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Application id.
    #[arg(long, env = "STREAMS_APP_ID")]
    pub app_id: String,
    /// Where the next run starts: `earliest`, `latest` or an RFC 3339 time (the first
    /// record at or after it). Written into the new state (the consumer group's offsets
    /// are set too, for lag monitoring).
    #[arg(long, default_value = "earliest", env = "STREAMS_RESET_TO")]
    pub to: String,
    /// Print the plan and change nothing.
    #[arg(long, env = "STREAMS_RESET_DRY_RUN")]
    pub dry_run: bool,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    #[command(flatten)]
    pub broker: super::broker::BrokerArgs,
    /// State directory.
    #[arg(long, default_value = "checkpoints", env = "STREAMS_STATE_DIR")]
    pub state_dir: PathBuf,
}

/// Where offsets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// Earliest retained offsets.
    Earliest,
    /// End of each partition.
    Latest,
    /// First record at or after this time (ms).
    Time(i64),
}

/// Parses `earliest`, `latest` or an RFC 3339 time.
pub fn parse_reset_to(s: &str) -> anyhow::Result<ResetTo> {
    match s {
        "earliest" => Ok(ResetTo::Earliest),
        "latest" => Ok(ResetTo::Latest),
        t => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| ResetTo::Time(d.timestamp_millis()))
            .map_err(|_| {
                anyhow::anyhow!(
                    "`{t}` is not earliest, latest or an RFC 3339 time like 2026-01-01T00:00:00Z"
                )
            }),
    }
}

fn dir_size(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => {
                    files += 1;
                    bytes += m.len();
                }
                Err(_) => {}
            }
        }
    }
    (files, bytes)
}

/// Deletes the local state and resets the group's offsets (after taking the state lock).
pub fn reset(
    app_id: &str,
    state_dir: &Path,
    def: &TopologyDef,
    client: &ClientConfig,
    to: ResetTo,
    dry_run: bool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let lock = if dry_run {
        check_not_running(state_dir, app_id)?;
        None
    } else {
        Some(lock_state(state_dir, app_id)?)
    };
    let dir = app_state_dir(state_dir, app_id);
    let (files, bytes) = dir_size(&dir);
    let prefix = if dry_run { "would" } else { "will" };
    println!("reset-state plan for app `{app_id}`:");
    if dir.exists() {
        println!(
            "  - {prefix} delete local state {} ({files} files, {:.1} MiB)",
            dir.display(),
            bytes as f64 / (1 << 20) as f64
        );
    } else {
        println!("  - local state {}: none", dir.display());
    }
    println!(
        "  - {prefix} start the next run of `{app_id}` on {} at {} (written into the new state; the consumer group's offsets are set too, for lag monitoring)",
        def.source_topics.join(", "),
        match to {
            ResetTo::Earliest => "earliest".to_string(),
            ResetTo::Latest => "latest".to_string(),
            ResetTo::Time(ms) => streams_core::value::format_timestamp(ms),
        }
    );
    println!("  - internal topics: none (this topology has no repartition or changelog topics)");
    if dry_run {
        println!("dry run: nothing changed");
        return Ok(());
    }
    let source = KafkaSource::connect(SourceConfig {
        client: client.clone(),
        group_id: app_id.to_string(),
        topics: def.source_topics.clone(),
        fetch_wait_max_ms: 100,
    })?;
    let partitions = source.discover(timeout)?;
    let offsets = match to {
        ResetTo::Time(ms) => source.offsets_for_time(&partitions, ms, timeout)?,
        _ => {
            let mut m = std::collections::BTreeMap::new();
            for tp in &partitions {
                let (low, high) = source.watermarks(tp, timeout)?;
                m.insert(tp.clone(), if to == ResetTo::Latest { high } else { low });
            }
            m
        }
    };
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot delete {}", dir.display()))?;
    }
    let positions: Vec<(String, i32, i64)> = offsets
        .iter()
        .map(|((t, p), o)| (t.clone(), *p, *o))
        .collect();
    streams_runtime::checkpoint::write_start_positions(&dir, &positions)
        .with_context(|| format!("cannot write the start positions into {}", dir.display()))?;
    source.commit_offsets(&offsets)?;
    drop(lock);
    println!(
        "done: state deleted; the next run starts at the chosen positions on {} partitions",
        offsets.len()
    );
    Ok(())
}

/// Runs `reset-state`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let to = parse_reset_to(&args.to)?;
    reset(
        &args.app_id,
        &args.state_dir,
        &load_topology(&args.topology.path)?,
        &args.broker.client()?,
        to,
        args.dry_run,
        args.broker.connect_timeout,
    )?;
    Ok(ExitCode::SUCCESS)
}
