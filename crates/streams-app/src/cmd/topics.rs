//! `streams-app topics create | list`: the topics an app needs, created if missing
//! (idempotent: run it before every start), and a listing of the cluster's topics.

use std::process::ExitCode;

use streams_kafka::admin::{self, TopicSpec, TopicState};
use streams_runtime::load_topology;

use super::broker::BrokerArgs;
use crate::runner::{output_topics, topic_spec};

/// Arguments of `topics create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub topology: super::broker::TopologyArg,
    /// Application id: the dead-letter topic is `<app-id>-dlq`.
    #[arg(long, default_value = "clickstream", env = "STREAMS_APP_ID")]
    pub app_id: String,
    /// Partitions of every topic created (existing topics are left as they are).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(1..=10_000), env = "STREAMS_PARTITIONS")]
    pub partitions: i32,
    /// Replication factor of every topic created (default: the broker's
    /// `default.replication.factor`).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=100), env = "STREAMS_REPLICATION_FACTOR")]
    pub replication_factor: Option<i32>,
}

/// Arguments of `topics list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
}

/// Every topic an app reads or writes: inputs, outputs, then the DLQ.
pub fn app_topics(def: &streams_runtime::TopologyDef, app_id: &str) -> Vec<String> {
    let mut names: Vec<String> = def.source_topics.clone();
    names.extend(
        output_topics(def, app_id)
            .into_iter()
            .filter(|t| !def.source_topics.contains(t)),
    );
    names
}

/// Runs `topics create`.
pub fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let def = load_topology(&args.topology.path)?;
    let specs: Vec<TopicSpec> = app_topics(&def, &args.app_id)
        .into_iter()
        .map(|name| topic_spec(name, &args.app_id, args.partitions, args.replication_factor))
        .collect();
    let outcome =
        admin::ensure_topics(&args.broker.client()?, &specs, args.broker.connect_timeout)?;
    let wanted = args.partitions as usize;
    for (name, state) in outcome {
        match state {
            TopicState::Created => println!("created  {name} ({wanted} partitions)"),
            TopicState::Existed {
                partitions: Some(p),
            } if p != wanted => println!(
                "exists   {name} ({p} partitions; left as it is, --partitions {wanted} not applied)"
            ),
            TopicState::Existed {
                partitions: Some(p),
            } => println!("exists   {name} ({p} partitions)"),
            TopicState::Existed { partitions: None } => {
                println!("exists   {name} (created concurrently)")
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `topics list`.
pub fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = args.broker.client()?;
    let topics = admin::describe_topics(&client, args.broker.connect_timeout)?;
    let mut t = super::table();
    t.set_header(vec!["topic", "partitions", "records"]);
    for d in &topics {
        t.add_row(vec![
            d.name.clone(),
            d.partitions.to_string(),
            d.records.to_string(),
        ]);
    }
    if topics.is_empty() {
        println!("no topics on {}", args.broker.bootstrap_servers);
    } else {
        println!("{t}");
    }
    Ok(ExitCode::SUCCESS)
}
