//! `streams-app replay`: reprocess an app's input from the start (or from a time) with
//! fresh state. It is `reset-state` + `run --from ...`, and it moves the app's previous
//! Parquet output aside to `<output-dir>/<app-id>/_archive/<time>/`, so the live dataset
//! holds exactly one copy of every result. The output topics get every result again
//! (after the old ones): topics cannot be rewritten.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use streams_runtime::load_topology;

use super::reset_state::{parse_reset_to, reset, ResetTo};
use crate::runner::{self, FromArg};

/// Arguments of `replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `earliest` or an RFC 3339 time: reprocess from there.
    #[arg(long = "from", default_value = "earliest", env = "STREAMS_REPLAY_FROM")]
    pub replay_from: String,
    /// Everything else is as for `run` (`--from` there is replaced by the one above).
    #[command(flatten)]
    pub run: super::run::RunArgs,
}

/// Moves every table of the app's dataset to `_archive/<stamp>/`; returns where.
/// The table directories of an app's live Parquet dataset.
fn live_tables(output_dir: &Path, app_id: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(output_dir.join(app_id)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('_') && e.path().is_dir())
        .map(|e| e.path())
        .collect()
}

fn archive_output(output_dir: &Path, app_id: &str) -> anyhow::Result<Option<PathBuf>> {
    let root = output_dir.join(app_id);
    let tables = live_tables(output_dir, app_id);
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
    if let ResetTo::Time(_) = to {
        // The archive takes the whole dataset, but a replay from a time rebuilds only the
        // results after it: the older ones would vanish from the live dataset.
        if !live_tables(&a.output_dir, &a.app_id).is_empty() {
            anyhow::bail!(
                "replay --from {} would rebuild only the results after that time, but the Parquet output in {} also holds older ones; replay --from earliest, or move that directory aside first",
                args.replay_from,
                a.output_dir.join(&a.app_id).display()
            );
        }
    }
    let def = Arc::new(load_topology(&a.topology.path)?);
    reset(
        &a.app_id,
        &a.state_dir,
        &def,
        &a.broker.client()?,
        to,
        false,
        a.broker.connect_timeout,
    )?;
    if let Some(dest) = archive_output(&a.output_dir, &a.app_id)? {
        println!("previous Parquet output moved to {}", dest.display());
    }
    // The reset wrote the start positions (earliest, or the first record at the time).
    let mut opts = a.options(def, FromArg::Checkpoint)?;
    opts.progress = true;
    runner::run(opts)?;
    Ok(ExitCode::SUCCESS)
}
