//! `streams-app status`: an app's last checkpoint, read from its state directory
//! without taking it over (the app may be running): time and epoch, input positions,
//! watermark, ledger, the outbox not yet forgotten, and whether an instance holds the
//! lock.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::Format;
use streams_core::value::format_timestamp;

use crate::runner::{app_state_dir, is_running};

/// Arguments of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Application id.
    #[arg(long, env = "STREAMS_APP_ID")]
    pub app_id: String,
    /// State directory (the app's state is `<state-dir>/<app-id>`).
    #[arg(long, default_value = "checkpoints", env = "STREAMS_STATE_DIR")]
    pub state_dir: PathBuf,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "STREAMS_STATUS_FORMAT")]
    pub format: Format,
}

/// Prints the status; an app without state is a one-line error.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let dir = app_state_dir(&args.state_dir, &args.app_id);
    anyhow::ensure!(
        dir.join("CURRENT").exists(),
        "app `{}` has no state in {} (it has not run here, or its state was reset)",
        args.app_id,
        dir.display()
    );
    let running = is_running(&args.state_dir, &args.app_id);
    let status = streams_runtime::checkpoint::read_status(&dir)
        .with_context(|| format!("cannot read the state in {}", dir.display()))?;
    let now = chrono::Utc::now().timestamp_millis();
    let cp = status.checkpoint.as_ref();
    let offsets: Vec<(String, i32, i64)> = cp
        .map(|c| {
            c.partitions
                .iter()
                .zip(&c.offsets)
                .map(|((t, p), o)| (t.clone(), *p, *o))
                .collect()
        })
        .unwrap_or_default();
    let watermark = cp.map(|c| c.watermark.emitted).filter(|w| *w > i64::MIN);
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({
                "app_id": args.app_id,
                "state_dir": dir,
                "running": running,
                "size_on_disk_bytes": status.size_on_disk,
                "checkpoint": cp.map(|c| serde_json::json!({
                    "epoch": c.epoch,
                    "written_at_ms": status.written_at_ms,
                    "written_at": status.written_at_ms.map(format_timestamp),
                    "fingerprint": c.fingerprint,
                    "watermark_ms": watermark,
                    "watermark": watermark.map(format_timestamp),
                    "offsets": offsets.iter().map(|(t, p, o)| serde_json::json!({
                        "topic": t, "partition": p, "next_offset": o,
                    })).collect::<Vec<_>>(),
                    "ledger": c.ledger,
                    "ledger_balanced": c.ledger.is_balanced(),
                })),
                "outbox": {
                    "entries": status.outbox.0,
                    "bytes": status.outbox.1,
                },
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        Format::Human => {
            println!(
                "app {}: state {} ({:.1} MiB on disk)",
                args.app_id,
                dir.display(),
                status.size_on_disk as f64 / (1 << 20) as f64
            );
            println!(
                "running: {}",
                if running {
                    "yes (an instance holds the lock)"
                } else {
                    "no"
                }
            );
            match cp {
                None => println!("last checkpoint: none yet"),
                Some(c) => {
                    let when = match status.written_at_ms {
                        Some(t) => format!(
                            " at {} ({:.1} s ago)",
                            format_timestamp(t),
                            (now - t) as f64 / 1000.0
                        ),
                        None => String::new(),
                    };
                    println!("last checkpoint: epoch {}{when}", c.epoch);
                    println!(
                        "watermark: {}",
                        watermark.map_or("none yet".into(), format_timestamp)
                    );
                    println!(
                        "ledger: {} ({})",
                        c.ledger,
                        if c.ledger.is_balanced() {
                            "balanced"
                        } else {
                            "NOT balanced"
                        }
                    );
                    let mut t = super::table();
                    t.set_header(vec!["topic", "partition", "next offset"]);
                    for (topic, p, o) in &offsets {
                        t.add_row(vec![topic.clone(), p.to_string(), o.to_string()]);
                    }
                    println!("{t}");
                }
            }
            println!(
                "outbox: {} entries ({} bytes) checkpointed and not yet forgotten",
                status.outbox.0, status.outbox.1
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
