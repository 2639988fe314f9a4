//! The `streams-app` binary: command line, configuration, tracing and wiring.

mod cmd;
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
    /// Run a benchmark and print its numbers.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The full reference topology over in-memory records, with RocksDB and checkpoints.
    Engine(cmd::bench_engine::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    cmd::init_tracing();
    let result = match cli.command {
        Command::Bench(BenchCommand::Engine(args)) => cmd::bench_engine::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(1)
        }
    }
}
