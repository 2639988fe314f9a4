//! `streams-app daily-summary`: the summaries a topology declares, over its Parquet
//! output (DESIGN §6): once for a date or a range, every day at a time of day
//! (`--daily-at`), or on an interval (`--every`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;

use super::Format;
use streams_runtime::TopologyDef;
use streams_summary::DeclaredReport;

/// Arguments of `daily-summary`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Application id (whose Parquet output is read).
    #[arg(long, env = "STREAMS_APP_ID")]
    pub app_id: String,
    /// First (or only) date: `YYYY-MM-DD`, `today` or `yesterday` (UTC); needed when a
    /// summary runs per day (declares a `date_column`).
    #[arg(long, env = "STREAMS_SUMMARY_DATE")]
    pub date: Option<String>,
    /// Last date of a backfill range, `YYYY-MM-DD` (inclusive).
    #[arg(long, env = "STREAMS_SUMMARY_TO", requires = "date")]
    pub to: Option<String>,
    /// Run as a scheduler instead of once: summarise yesterday now, then every day at
    /// this UTC time (`HH:MM`) summarise the day before, until SIGTERM.
    #[arg(long, env = "STREAMS_SUMMARY_DAILY_AT", value_parser = parse_time_of_day, conflicts_with_all = ["date", "to"])]
    pub daily_at: Option<chrono::NaiveTime>,
    /// Run on an interval instead of once (e.g. `5m`): every summary (per-day ones for
    /// today), again and again until SIGTERM.
    #[arg(long, env = "STREAMS_SUMMARY_EVERY", value_parser = humantime::parse_duration, conflicts_with_all = ["date", "to", "daily_at"])]
    pub every: Option<std::time::Duration>,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    /// Output directory of the streaming app (input and output of this job).
    #[arg(long, default_value = "data", env = "STREAMS_OUTPUT_DIR")]
    pub output_dir: PathBuf,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Human, env = "STREAMS_SUMMARY_FORMAT")]
    pub format: Format,
    /// Exit with 2 when a check fails or a per-day summary has no input for its day.
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

fn day(d: chrono::NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Runs every declared summary for each date from `first` to `last` (inclusive; `None`:
/// once, for topologies whose summaries are not per day), advancing `bar` per day.
pub fn summarize_days(
    output_dir: &std::path::Path,
    app_id: &str,
    def: &TopologyDef,
    days: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<DeclaredReport>> {
    let Some((first, last)) = days else {
        return Ok(streams_summary::run_declared(
            output_dir, app_id, def, None,
        )?);
    };
    let mut reports = Vec::new();
    for d in first.iter_days().take_while(|d| *d <= last) {
        bar.set_message(day(d));
        reports.extend(streams_summary::run_declared(
            output_dir,
            app_id,
            def,
            Some(&day(d)),
        )?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(reports)
}

/// What is wrong with a run, for `--strict` and the schedulers' logs: a failed check,
/// or a per-day summary without input for its day.
pub fn problems(reports: &[DeclaredReport]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reports {
        let title = r.title();
        for c in r.failed() {
            out.push(format!("{title}: check `{}` failed ({})", c.name, c.detail));
        }
        if r.date.is_some() && !r.had_input {
            out.push(format!("{title}: no input"));
        }
    }
    out
}

/// Runs `daily-summary` once, or as a scheduler with `--daily-at` or `--every`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let def = streams_runtime::load_topology(&args.topology.path)?;
    anyhow::ensure!(
        !def.summaries.is_empty(),
        "{} declares no [[summaries]]: there is nothing for daily-summary to run",
        args.topology.path.display()
    );
    let today = chrono::Utc::now().date_naive();
    if args.daily_at.is_none() && args.every.is_none() {
        let days = match &args.date {
            None => None,
            Some(d) => {
                let first = parse_date(d, today)?;
                let last = match &args.to {
                    Some(t) => parse_date(t, today)?,
                    None => first,
                };
                anyhow::ensure!(last >= first, "--to {last} is before --date {first}");
                Some((first, last))
            }
        };
        let n = days.map_or(1, |(f, l)| (l - f).num_days() as u64 + 1);
        let bar = indicatif::ProgressBar::new(n);
        if n == 1 || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let reports = summarize_days(&args.output_dir, &args.app_id, &def, days, &bar)?;
        print(args.format, &reports)?;
        let problems = problems(&reports);
        if args.strict && !problems.is_empty() {
            eprintln!("error: daily-summary --strict: {}", problems.join("; "));
            return Ok(ExitCode::from(2));
        }
        return Ok(ExitCode::SUCCESS);
    }
    // A scheduler: a failed run is logged and retried at the next one; SIGTERM stops it.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    let once = |date: chrono::NaiveDate| {
        let days = def
            .summaries
            .iter()
            .any(|s| s.date_column.is_some())
            .then_some((date, date));
        let hidden = indicatif::ProgressBar::hidden();
        match summarize_days(&args.output_dir, &args.app_id, &def, days, &hidden) {
            Ok(reports) => {
                if let Err(e) = print(args.format, &reports) {
                    tracing::error!(error = %e, "cannot print the summary");
                }
                for p in problems(&reports) {
                    tracing::warn!("{p}");
                }
            }
            Err(e) => tracing::error!(error = %e, "summary failed; it runs again next time"),
        }
    };
    loop {
        let now = chrono::Utc::now();
        let next = match (args.daily_at, args.every) {
            (Some(at), _) => {
                once(now.date_naive().pred_opt().context("date out of range")?);
                let next = next_run(chrono::Utc::now(), at);
                tracing::info!(next = %next.to_rfc3339(), "daily summary: waiting for the next run");
                next
            }
            (None, Some(every)) => {
                once(now.date_naive());
                now + chrono::Duration::from_std(every).context("--every is too long")?
            }
            (None, None) => unreachable!("handled above"),
        };
        while chrono::Utc::now() < next {
            if stop.load(Ordering::Relaxed) {
                return Ok(ExitCode::SUCCESS);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Prints the reports: a table per summary (and day), or one JSON document.
pub fn print(format: Format, reports: &[DeclaredReport]) -> anyhow::Result<()> {
    match format {
        Format::Human => {
            for r in reports {
                let title = r.title();
                if !r.had_input {
                    println!("{title}: no input; nothing written");
                    continue;
                }
                println!(
                    "{title}: {} rows from {} input rows -> {}",
                    r.rows.num_rows(),
                    r.input_rows,
                    r.file
                        .as_ref()
                        .map(|f| f.display().to_string())
                        .unwrap_or_default()
                );
                println!(
                    "{}",
                    arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&r.rows))?
                );
                for c in r.failed() {
                    println!("  check failed: {} ({})", c.name, c.detail);
                }
            }
        }
        Format::Json => {
            let mut out = Vec::new();
            for r in reports {
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
                out.push(serde_json::json!({
                    "summary": r.name,
                    "date": r.date,
                    "input_files": r.input_files,
                    "input_rows": r.input_rows,
                    "had_input": r.had_input,
                    "file": r.file,
                    "checks": r.checks,
                    "rows": rows,
                }));
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({ "summaries": out }))?
            );
        }
    }
    Ok(())
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
