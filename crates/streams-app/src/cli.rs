//! The command line: subcommands, parsing, and one-line errors.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::cmd;

/// A Kafka Streams-style stateful stream processor: your events, your topology, exactly once.
#[derive(Debug, Parser)]
#[command(name = "streams-app", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Process the input topics: exactly-once results to Kafka topics (and Parquet).
    Run(cmd::run::Args),
    /// Reprocess the input from the start (or a time) with fresh state; the previous
    /// Parquet output is archived, and the output topics get every result again.
    Replay(cmd::replay::Args),
    /// Delete an app's local state; the next run starts where --to says.
    ResetState(cmd::reset_state::Args),
    /// Run the summaries a topology declares over its Parquet output (the daily summary).
    DailySummary(cmd::daily_summary::Args),
    /// Send a synthetic, messy clickstream to a topic (deterministic for a seed).
    Produce(cmd::produce::Args),
    /// Create (idempotently) or list the app's topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Everything in one process, no broker needed: an embedded broker, the producer,
    /// the reference topology to the end, the daily summary, and a report.
    Demo(cmd::demo::Args),
    /// Run a benchmark and print its numbers.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print the graph a topology file builds: source, processors, stores, sinks.
    Describe(cmd::topology::DescribeArgs),
    /// Check a topology file and report every problem at once.
    Validate(cmd::topology::ValidateArgs),
    /// Show an app's last checkpoint from its state directory (running or not).
    Status(cmd::status::Args),
    /// Ask a running app (its `--metrics-addr`) whether it is healthy: exit 0 if so.
    Health(cmd::health::Args),
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create the input, output and dead-letter topics that are missing.
    Create(cmd::topics::CreateArgs),
    /// List the topics of the cluster with partitions and record counts.
    List(cmd::topics::ListArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The full reference topology over in-memory records, with RocksDB and checkpoints.
    Engine(cmd::bench_engine::Args),
    /// `daily-summary` over generated window rows.
    Summary(cmd::bench_summary::Args),
    /// Through a Kafka broker: raw consume, an exactly-once copy loop and `run` on the
    /// same topic, then latency at a fixed rate.
    E2e(cmd::bench_e2e::Args),
    /// The reference topology on Kafka Streams (bench/kafka-streams) and on streams-app,
    /// same broker and records: both rates and peak RSS, and their outputs compared.
    KafkaStreams(cmd::bench_kstreams::Args),
}

/// The full command-line definition (subcommands, flags, environment variables).
pub fn command() -> clap::Command {
    Cli::command()
}

/// A clap error as one line: what is wrong, then where to read more.
fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let mut parts: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line);
        }
    }
    let msg = parts.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    format!("error: {msg} (see --help)")
}

/// Parses the command line, runs the subcommand, and turns any error into one line on
/// stderr and a non-zero exit code (2 for usage errors, 1 for failures).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            use clap::error::ErrorKind;
            return match err.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = err.print();
                    ExitCode::from(err.exit_code().clamp(0, 255) as u8)
                }
                _ => {
                    eprintln!("{}", one_line(&err));
                    ExitCode::from(2)
                }
            };
        }
    };
    let quiet = matches!(
        cli.command,
        Command::Demo(_)
            | Command::Describe(_)
            | Command::Validate(_)
            | Command::Status(_)
            | Command::Health(_)
    );
    cmd::init_tracing(if quiet { "warn" } else { "info" });
    let result = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Replay(args) => cmd::replay::run(args),
        Command::ResetState(args) => cmd::reset_state::run(args),
        Command::DailySummary(args) => cmd::daily_summary::run(args),
        Command::Produce(args) => cmd::produce::run(args),
        Command::Topics(TopicsCommand::Create(args)) => cmd::topics::create(args),
        Command::Topics(TopicsCommand::List(args)) => cmd::topics::list(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Bench(BenchCommand::Engine(args)) => cmd::bench_engine::run(args),
        Command::Bench(BenchCommand::Summary(args)) => cmd::bench_summary::run(args),
        Command::Bench(BenchCommand::E2e(args)) => cmd::bench_e2e::run(args),
        Command::Bench(BenchCommand::KafkaStreams(args)) => cmd::bench_kstreams::run(args),
        Command::Describe(args) => cmd::topology::describe(args),
        Command::Validate(args) => cmd::topology::validate(args),
        Command::Status(args) => cmd::status::run(args),
        Command::Health(args) => cmd::health::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // One line: the top-level message already says what to do next; causes that
            // repeat it are left out.
            let mut line = err.to_string();
            for cause in err.chain().skip(1) {
                let c = cause.to_string();
                if !line.contains(&c) {
                    line.push_str(": ");
                    line.push_str(&c);
                }
            }
            eprintln!("error: {}", line.replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn usage_errors_are_one_line() {
        for args in [
            vec!["streams-app", "run", "--bogus"],
            vec!["streams-app", "run"],
            vec!["streams-app", "produce", "--rate", "fast"],
            vec!["streams-app", "nonsense"],
        ] {
            let err = Cli::try_parse_from(&args).unwrap_err();
            let line = one_line(&err);
            assert!(!line.contains('\n'), "{line}");
            assert!(line.starts_with("error: "), "{line}");
            assert!(line.len() > 20, "{line}");
        }
        let err = Cli::try_parse_from(["streams-app", "run"]).unwrap_err();
        assert!(one_line(&err).contains("--app-id"), "{}", one_line(&err));
    }
}
