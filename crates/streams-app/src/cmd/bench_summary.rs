//! `streams-app bench summary`: `daily-summary` over generated window rows.

use std::process::ExitCode;

use anyhow::Context as _;
use streams_summary::bench;

/// Arguments of `bench summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Window rows in total.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Days they are spread over.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
}

/// Generates the input, summarizes every day, prints the numbers.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let def = streams_runtime::load_topology(&args.topology.path)?;
    anyhow::ensure!(
        def.summaries
            .iter()
            .any(|s| s.input == "country_segment_revenue"),
        "{} declares no summary of `country_segment_revenue` (the benchmark's input)",
        args.topology.path.display()
    );
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    eprintln!(
        "generating {} window rows over {} days...",
        args.rows, args.days
    );
    bench::generate(dir.path(), "bench", args.rows, args.days, 7)?;
    let (per_day, total) = bench::run(dir.path(), "bench", &def, args.days)?;
    let mean = per_day.iter().sum::<f64>() / per_day.len().max(1) as f64;
    let max = per_day.iter().copied().fold(0.0, f64::max);
    println!(
        "daily-summary benchmark: {} rows over {} days",
        args.rows, args.days
    );
    println!("  seconds per day    mean {mean:.3}, max {max:.3}");
    println!(
        "  range              {total:.2} s ({:.0} rows/s)",
        args.rows as f64 / total
    );
    if let Some(rss) = super::peak_rss_bytes() {
        println!(
            "  peak RSS           {:.0} MiB",
            rss as f64 / (1 << 20) as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}
