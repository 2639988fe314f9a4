//! `describe` and `validate`: what a topology file builds, or everything wrong with it.

use std::process::ExitCode;

use clap::Parser;
use streams_runtime::{load_topology, RuntimeError};

use super::broker::TopologyArg;

/// `describe` flags.
#[derive(Debug, Parser)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub topology: TopologyArg,
}

/// `validate` flags.
#[derive(Debug, Parser)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub topology: TopologyArg,
}

/// Prints the graph: the source with its columns, each processor with its input, what
/// it does, its stores and columns, and the sinks with their keys and topics.
pub fn describe(args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let def = load_topology(&args.topology.path)?;
    let (topology, _) = def.build()?;
    println!("topology {} ({})", def.name, def.path.display());
    if !def.description.is_empty() {
        println!("{}", def.description);
    }
    println!("input topics: {}", def.source_topics.join(", "));
    print!("{}", topology.describe());
    for (table, topic) in &def.topics {
        println!("table {table} -> topic {topic}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks a topology file; prints every problem, one per line, and exits 1 if any.
pub fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    match load_topology(&args.topology.path) {
        Ok(def) => {
            println!(
                "{}: valid ({} sinks, fingerprint {})",
                def.path.display(),
                def.outputs.len(),
                def.fingerprint
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(RuntimeError::Topology(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s) found", errors.len());
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}
