//! `streams-app topics create | list`: the topics an app needs, created if missing
//! (idempotent: run it before every start), and a listing of the cluster's topics.

use std::process::ExitCode;

use streams_kafka::admin::{self, Created, TopicSpec};
use streams_runtime::load_topology;

use super::broker::BrokerArgs;
use crate::runner::dlq_topic;

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
    /// Replication factor of every topic created.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100), env = "STREAMS_REPLICATION_FACTOR")]
    pub replication_factor: i32,
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
    for t in def.topics.values() {
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    names.push(dlq_topic(app_id));
    names
}

/// Runs `topics create`.
pub fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let def = load_topology(&args.topology.path)?;
    let client = args.broker.client();
    let timeout = args.broker.connect_timeout;
    let existing: std::collections::BTreeMap<String, usize> =
        admin::list_topics(&client, timeout)?.into_iter().collect();
    let specs: Vec<TopicSpec> = app_topics(&def, &args.app_id)
        .into_iter()
        .map(|name| TopicSpec {
            name,
            partitions: args.partitions,
            replication: args.replication_factor,
        })
        .collect();
    let missing: Vec<TopicSpec> = specs
        .iter()
        .filter(|t| !existing.contains_key(&t.name))
        .cloned()
        .collect();
    let created = if missing.is_empty() {
        Vec::new()
    } else {
        admin::create_topics(&client, &missing, timeout)?
    };
    for spec in &specs {
        let made = created
            .iter()
            .any(|(n, c)| *n == spec.name && *c == Created::Created);
        match existing.get(&spec.name) {
            _ if made => println!("created  {} ({} partitions)", spec.name, spec.partitions),
            Some(p) if *p as i32 != spec.partitions => println!(
                "exists   {} ({p} partitions; left as it is, --partitions {} not applied)",
                spec.name, spec.partitions
            ),
            Some(p) => println!("exists   {} ({p} partitions)", spec.name),
            None => println!("exists   {} (created concurrently)", spec.name),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `topics list`.
pub fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let client = args.broker.client();
    let topics = admin::describe_topics(&client, args.broker.connect_timeout)?;
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
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
