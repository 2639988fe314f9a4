//! `streams-app daily-summary`: daily metrics from the Parquet output (DESIGN §6).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use std::collections::HashMap;

use streams_summary::{load_segments, summarize_day, DayReport, SegmentRow, SummaryConfig};

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
    /// First (or only) date: `YYYY-MM-DD`, `today` or `yesterday` (UTC).
    #[arg(
        long,
        env = "STREAMS_SUMMARY_DATE",
        required_unless_present_any = ["daily_at", "every"]
    )]
    pub date: Option<String>,
    /// Last date of a backfill range, `YYYY-MM-DD` (inclusive).
    #[arg(long, env = "STREAMS_SUMMARY_TO", requires = "date")]
    pub to: Option<String>,
    /// Run as a scheduler instead of once: summarise yesterday now, then every day at
    /// this UTC time (`HH:MM`) summarise the day before, until SIGTERM.
    #[arg(long, env = "STREAMS_SUMMARY_DAILY_AT", value_parser = parse_time_of_day, conflicts_with_all = ["date", "to"])]
    pub daily_at: Option<chrono::NaiveTime>,
    /// Run on an interval instead of once (e.g. `5m`): the topology's declared summaries
    /// (per-day ones for today), again and again until SIGTERM.
    #[arg(long, env = "STREAMS_SUMMARY_EVERY", value_parser = humantime::parse_duration, conflicts_with_all = ["date", "to", "daily_at"])]
    pub every: Option<std::time::Duration>,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
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

fn parse_date(s: &str, today: chrono::NaiveDate) -> anyhow::Result<chrono::NaiveDate> {
    match s {
        "today" => Ok(today),
        "yesterday" => today.pred_opt().context("date out of range"),
        _ => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").with_context(|| {
            format!("`{s}` is not a date like 2026-01-31 (or `today`, `yesterday`)")
        }),
    }
}

fn parse_time_of_day(s: &str) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::parse_from_str(s, "%H:%M")
        .map_err(|_| format!("`{s}` is not a time of day like 00:15"))
}

/// The next scheduled run strictly after `now`: today at `at` (UTC) if that is still
/// ahead, else tomorrow at `at`. Each run summarises the day before its own date.
pub fn next_run(
    now: chrono::DateTime<chrono::Utc>,
    at: chrono::NaiveTime,
) -> chrono::DateTime<chrono::Utc> {
    let today = now.date_naive().and_time(at).and_utc();
    if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    }
}

pub fn print_human(r: &DayReport) {
    if r.input_files == 0 {
        println!(
            "{}: no input (no country_segment_revenue files for this date); nothing written",
            r.date
        );
        return;
    }
    let t = segment_table(&r.segments);
    println!(
        "{} ({} input rows from {} files)\n{t}",
        r.date, r.input.rows, r.input_files
    );
    for c in r.checks.iter().filter(|c| !c.ok) {
        println!("  check failed: {} ({})", c.name, c.detail);
    }
}

/// `daily_segment_metrics` rows as a table.
pub fn segment_table<'a>(rows: impl IntoIterator<Item = &'a SegmentRow>) -> comfy_table::Table {
    let mut t = super::table();
    t.set_header(vec![
        "country",
        "segment",
        "revenue",
        "events",
        "purchases",
        "rank in country",
        "premium",
    ]);
    for s in rows {
        t.add_row(vec![
            s.country.clone(),
            s.segment.clone(),
            format!("{:.2}", s.daily_revenue),
            s.daily_events.to_string(),
            s.daily_purchases.to_string(),
            s.revenue_rank_in_country.to_string(),
            if s.is_premium { "yes" } else { "no" }.to_string(),
        ]);
    }
    t
}

/// Summarises every day from `first` to `last` (inclusive), advancing `bar` per day.
pub fn summarize_days(
    cfg: &SummaryConfig,
    premium: &HashMap<String, bool>,
    first: chrono::NaiveDate,
    last: chrono::NaiveDate,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<DayReport>> {
    let mut reports = Vec::new();
    for day in first.iter_days().take_while(|d| *d <= last) {
        let d = day.format("%Y-%m-%d").to_string();
        bar.set_message(d.clone());
        reports.push(summarize_day(cfg, premium, &d)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(reports)
}

/// Runs `daily-summary` once, or as a daily scheduler with `--daily-at`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // The clickstream's summary needs no topology file; without one where the default
    // points, it runs as it always has.
    let default = std::path::Path::new("topology/clickstream.toml");
    if args.topology.path != default || default.exists() {
        let def = streams_runtime::load_topology(&args.topology.path)?;
        if !def.summaries.is_empty() {
            return run_declared(&args, &def);
        }
    }
    anyhow::ensure!(
        args.every.is_none(),
        "{} declares no [[summaries]]; --every runs declared summaries",
        args.topology.path.display()
    );
    let Some(at) = args.daily_at else {
        let date = args.date.as_deref().unwrap_or("yesterday");
        return run_once(&args, date);
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
    loop {
        // A failed day is reported and retried at the next run; the scheduler goes on.
        match run_once(&args, "yesterday") {
            Ok(code) if code != ExitCode::SUCCESS => {
                tracing::warn!("daily summary of yesterday did not pass; next run tomorrow")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "daily summary failed; next run tomorrow"),
        }
        let next = next_run(chrono::Utc::now(), at);
        tracing::info!(next = %next.to_rfc3339(), "daily summary: waiting for the next run");
        while chrono::Utc::now() < next {
            if stopped() {
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
}

/// The summaries the topology declares: once (for `--date`, or a `--to` range), or on
/// an interval with `--every` (per-day summaries for today) until SIGTERM.
fn run_declared(args: &Args, def: &streams_runtime::TopologyDef) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.daily_at.is_none(),
        "--daily-at runs the clickstream's daily summary; use --every for declared summaries"
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let once = |date: Option<String>| -> anyhow::Result<()> {
        let reports = streams_summary::declared::run_declared(
            &args.output_dir,
            &args.app_id,
            def,
            date.as_deref(),
        )?;
        print_declared(args.format, &reports)
    };
    let today = chrono::Utc::now().date_naive();
    let Some(every) = args.every else {
        let first = parse_date(args.date.as_deref().unwrap_or("today"), today)?;
        let last = match &args.to {
            Some(t) => parse_date(t, today)?,
            None => first,
        };
        anyhow::ensure!(last >= first, "--to {last} is before --date {first}");
        for day in first.iter_days().take_while(|d| *d <= last) {
            once(Some(day.format("%Y-%m-%d").to_string()))?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    loop {
        let today = chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string();
        // A failed run is reported and retried at the next interval.
        if let Err(e) = once(Some(today)) {
            tracing::error!(error = %e, "summary failed; next run after the interval");
        }
        let next = std::time::Instant::now() + every;
        while std::time::Instant::now() < next {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

fn print_declared(
    format: Format,
    reports: &[streams_summary::declared::DeclaredReport],
) -> anyhow::Result<()> {
    for r in reports {
        match format {
            Format::Human => {
                let when = r
                    .date
                    .as_deref()
                    .map(|d| format!(" {d}"))
                    .unwrap_or_default();
                println!(
                    "{}{when}: {} rows{}",
                    r.name,
                    r.rows.num_rows(),
                    r.file
                        .as_ref()
                        .map(|f| format!(" -> {}", f.display()))
                        .unwrap_or_else(|| " (no input; nothing written)".into())
                );
                println!(
                    "{}",
                    arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&r.rows))?
                );
            }
            Format::Json => {
                let mut buf = Vec::new();
                {
                    let mut w = arrow::json::ArrayWriter::new(&mut buf);
                    w.write(&r.rows)?;
                    w.finish()?;
                }
                let rows: serde_json::Value = if buf.is_empty() {
                    serde_json::json!([])
                } else {
                    serde_json::from_slice(&buf)?
                };
                println!(
                    "{}",
                    serde_json::json!({
                        "summary": r.name,
                        "date": r.date,
                        "input_files": r.input_files,
                        "file": r.file,
                        "rows": rows,
                    })
                );
            }
        }
    }
    Ok(())
}

fn run_once(args: &Args, date: &str) -> anyhow::Result<ExitCode> {
    let today = chrono::Utc::now().date_naive();
    let first = parse_date(date, today)?;
    let last = match &args.to {
        Some(t) => parse_date(t, today)?,
        None => first,
    };
    anyhow::ensure!(last >= first, "--to {last} is before --date {first}");
    let premium = load_segments(&args.segments)?;
    let cfg = SummaryConfig {
        output_dir: args.output_dir.clone(),
        app_id: args.app_id.clone(),
        segments: args.segments.clone(),
    };
    let days = (last - first).num_days() as u64 + 1;
    let bar = indicatif::ProgressBar::new(days);
    if days == 1 || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let reports = summarize_days(&cfg, &premium, first, last, &bar)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn next_run_is_strictly_after_now() {
        let at = parse_time_of_day("00:15").unwrap();
        for (now, want) in [
            ("2026-03-01T00:00:00Z", "2026-03-01T00:15:00Z"),
            ("2026-03-01T00:14:59Z", "2026-03-01T00:15:00Z"),
            ("2026-03-01T00:15:00Z", "2026-03-02T00:15:00Z"),
            ("2026-03-01T23:59:59Z", "2026-03-02T00:15:00Z"),
            ("2026-12-31T12:00:00Z", "2027-01-01T00:15:00Z"),
        ] {
            assert_eq!(next_run(t(now), at), t(want), "now {now}");
        }
    }

    #[test]
    fn dates_and_times_of_day_parse() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(parse_date("today", today).unwrap(), today);
        assert_eq!(
            parse_date("yesterday", today).unwrap().to_string(),
            "2026-02-28"
        );
        assert_eq!(
            parse_date("2026-01-31", today).unwrap().to_string(),
            "2026-01-31"
        );
        assert!(parse_date("31/01/2026", today).is_err());
        assert!(parse_time_of_day("24:00").is_err());
        assert!(parse_time_of_day("7").is_err());
        assert_eq!(parse_time_of_day("07:30").unwrap().to_string(), "07:30:00");
    }
}
