//! `streams-app daily-summary`: daily metrics from the Parquet output (DESIGN §6).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use streams_summary::{load_segments, summarize_day, DayReport, SummaryConfig};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table per day.
    Human,
    /// One JSON document.
    Json,
}

/// Arguments of `daily-summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Application id (whose Parquet output is read).
    #[arg(long, env = "STREAMS_APP_ID")]
    pub app_id: String,
    /// First (or only) date, `YYYY-MM-DD`.
    #[arg(long, env = "STREAMS_SUMMARY_DATE")]
    pub date: String,
    /// Last date of a backfill range, `YYYY-MM-DD` (inclusive).
    #[arg(long, env = "STREAMS_SUMMARY_TO")]
    pub to: Option<String>,
    /// Output directory of the streaming app (input and output of this job).
    #[arg(long, default_value = "data", env = "STREAMS_OUTPUT_DIR")]
    pub output_dir: PathBuf,
    /// Segments dimension (`segment,is_premium`).
    #[arg(
        long,
        default_value = "topology/dims/segments.csv",
        env = "STREAMS_SEGMENTS"
    )]
    pub segments: PathBuf,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "STREAMS_SUMMARY_FORMAT")]
    pub format: Format,
    /// Exit non-zero when a quality check fails or a day has no input.
    #[arg(long, env = "STREAMS_SUMMARY_STRICT")]
    pub strict: bool,
}

fn parse_date(s: &str) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("`{s}` is not a date like 2026-01-31"))
}

fn print_human(r: &DayReport) {
    if r.input_files == 0 {
        println!(
            "{}: no input (no country_segment_revenue files for this date); nothing written",
            r.date
        );
        return;
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    t.set_header(vec![
        "country", "segment", "revenue", "events", "rank", "premium",
    ]);
    for s in &r.segments {
        t.add_row(vec![
            s.country.clone(),
            s.segment.clone(),
            format!("{:.2}", s.daily_revenue),
            s.daily_events.to_string(),
            s.revenue_rank_in_country.to_string(),
            if s.is_premium {
                "yes".into()
            } else {
                "no".into()
            },
        ]);
    }
    println!(
        "{} ({} input rows from {} files)\n{t}",
        r.date, r.input.rows, r.input_files
    );
    for c in r.checks.iter().filter(|c| !c.ok) {
        println!("  check failed: {} ({})", c.name, c.detail);
    }
}

/// Runs `daily-summary`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let first = parse_date(&args.date)?;
    let last = match &args.to {
        Some(t) => parse_date(t)?,
        None => first,
    };
    anyhow::ensure!(last >= first, "--to {last} is before --date {first}");
    let premium = load_segments(&args.segments)?;
    let cfg = SummaryConfig {
        output_dir: args.output_dir.clone(),
        app_id: args.app_id.clone(),
        segments: args.segments.clone(),
    };
    let days: Vec<String> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect();
    let bar = indicatif::ProgressBar::new(days.len() as u64);
    if days.len() == 1 || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut reports = Vec::new();
    for d in &days {
        bar.set_message(d.clone());
        reports.push(summarize_day(&cfg, &premium, d)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "days": reports }))?
        ),
        Format::Human => reports.iter().for_each(print_human),
    }
    let failed = reports.iter().any(|r| r.checks.iter().any(|c| !c.ok));
    let empty = reports.iter().any(|r| r.input_files == 0);
    if args.strict && (failed || empty) {
        eprintln!(
            "error: daily-summary --strict: {}",
            if failed {
                "a quality check failed"
            } else {
                "a day has no input"
            }
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}
