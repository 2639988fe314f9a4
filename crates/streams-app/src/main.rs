//! The `streams-app` binary: command line, configuration, tracing and wiring.

mod cmd;
mod runner;
mod synth;

use clap::{Parser, Subcommand};

// The engine allocates many small, short-lived objects (events, rows, store keys);
// mimalloc handles that pattern far better than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Kafka Streams-style stateful stream processor for click and transaction events.
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
    /// Parquet output is archived.
    Replay(cmd::replay::Args),
    /// Delete an app's local state and reset its consumer group offsets.
    ResetState(cmd::reset_state::Args),
    /// Turn the Parquet output of `country_segment_revenue` into daily metrics.
    DailySummary(cmd::daily_summary::Args),
    /// Run a benchmark and print its numbers.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The full reference topology over in-memory records, with RocksDB and checkpoints.
    Engine(cmd::bench_engine::Args),
    /// `daily-summary` over generated window rows.
    Summary(cmd::bench_summary::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    cmd::init_tracing();
    let result = match cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Replay(args) => cmd::replay::run(args),
        Command::ResetState(args) => cmd::reset_state::run(args),
        Command::DailySummary(args) => cmd::daily_summary::run(args),
        Command::Bench(BenchCommand::Engine(args)) => cmd::bench_engine::run(args),
        Command::Bench(BenchCommand::Summary(args)) => cmd::bench_summary::run(args),
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
            std::process::ExitCode::from(1)
        }
    }
}
