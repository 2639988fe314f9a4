//! Topic administration: partitions of a topic, creating topics idempotently.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use crate::error::KafkaError;
use crate::ClientConfig;

/// What [`create_topics`] did for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The topic was created.
    Created,
    /// It existed already (left as it is).
    Existed,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replication factor; `None`: the broker's `default.replication.factor`.
    pub replication: Option<i32>,
    /// Log compaction (`cleanup.policy=compact`) instead of deletion by age.
    pub compact: bool,
}

fn metadata_client(cfg: &ClientConfig) -> Result<BaseConsumer, KafkaError> {
    cfg.rd()
        .create()
        .map_err(KafkaError::client("create metadata client"))
}

/// Partition ids of `topic`, or [`KafkaError::MissingTopic`].
pub fn partitions(
    cfg: &ClientConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, KafkaError> {
    partitions_with(&metadata_client(cfg)?, cfg, topic, timeout)
}

/// [`partitions`] through an existing client (whose metadata cache this refreshes).
pub fn partitions_with<C: rdkafka::consumer::ConsumerContext>(
    client: &BaseConsumer<C>,
    cfg: &ClientConfig,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, KafkaError> {
    let md = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|source| KafkaError::Unreachable {
            bootstrap: cfg.bootstrap_servers.clone(),
            source,
        })?;
    let missing = || KafkaError::MissingTopic {
        topic: topic.to_string(),
        bootstrap: cfg.bootstrap_servers.clone(),
    };
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(missing)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return Err(missing());
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Metadata of every topic, with the client that fetched it.
fn cluster_metadata(
    cfg: &ClientConfig,
    timeout: Duration,
) -> Result<(BaseConsumer, rdkafka::metadata::Metadata), KafkaError> {
    let client = metadata_client(cfg)?;
    let md = client
        .fetch_metadata(None, timeout)
        .map_err(|source| KafkaError::Unreachable {
            bootstrap: cfg.bootstrap_servers.clone(),
            source,
        })?;
    Ok((client, md))
}

/// Every topic name on the cluster, sorted.
pub fn list_topics(
    cfg: &ClientConfig,
    timeout: Duration,
) -> Result<Vec<(String, usize)>, KafkaError> {
    let (_, md) = cluster_metadata(cfg, timeout)?;
    let mut topics: Vec<(String, usize)> = md
        .topics()
        .iter()
        .filter(|t| !t.name().starts_with("__"))
        .map(|t| (t.name().to_string(), t.partitions().len()))
        .collect();
    topics.sort();
    Ok(topics)
}

/// Creates the topics that do not exist yet; existing ones are left alone.
pub fn create_topics(
    cfg: &ClientConfig,
    topics: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<(String, Created)>, KafkaError> {
    let admin: AdminClient<DefaultClientContext> = cfg
        .rd()
        .create()
        .map_err(KafkaError::client("create admin client"))?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            // -1 asks the broker for its default (KIP-464).
            let new = NewTopic::new(
                &t.name,
                t.partitions,
                TopicReplication::Fixed(t.replication.unwrap_or(-1)),
            );
            if t.compact {
                new.set("cleanup.policy", "compact")
            } else {
                new
            }
        })
        .collect();
    let opts = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    let results =
        futures_executor::block_on(admin.create_topics(&new, &opts)).map_err(|source| {
            KafkaError::Unreachable {
                bootstrap: cfg.bootstrap_servers.clone(),
                source,
            }
        })?;
    let mut out = Vec::new();
    for r in results {
        match r {
            Ok(name) => out.push((name, Created::Created)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => out.push((name, Created::Existed)),
            Err((name, code)) => {
                tracing::warn!(topic = %name, error = %code, "topic creation failed");
                return Err(KafkaError::Client {
                    op: "create topic",
                    source: rdkafka::error::KafkaError::AdminOp(code),
                });
            }
        }
    }
    Ok(out)
}

/// What [`ensure_topics`] found or did for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicState {
    /// It was missing and is created now.
    Created,
    /// It exists (its partition count, when the listing knew it), left as it is.
    Existed {
        /// Partitions of the existing topic.
        partitions: Option<usize>,
    },
}

/// Creates those of `specs` that are missing (idempotent); reports each one in order.
pub fn ensure_topics(
    cfg: &ClientConfig,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<(String, TopicState)>, KafkaError> {
    let existing: std::collections::BTreeMap<String, usize> =
        list_topics(cfg, timeout)?.into_iter().collect();
    let missing: Vec<TopicSpec> = specs
        .iter()
        .filter(|t| !existing.contains_key(&t.name))
        .cloned()
        .collect();
    let created = if missing.is_empty() {
        Vec::new()
    } else {
        create_topics(cfg, &missing, timeout)?
    };
    Ok(specs
        .iter()
        .map(|spec| {
            let made = created
                .iter()
                .any(|(n, c)| *n == spec.name && *c == Created::Created);
            let state = if made {
                TopicState::Created
            } else {
                TopicState::Existed {
                    partitions: existing.get(&spec.name).copied(),
                }
            };
            (spec.name.clone(), state)
        })
        .collect())
}

/// The largest record batch each topic takes (`max.message.bytes`), as the broker
/// reports it; topics it does not answer for are left out.
pub fn max_message_bytes(
    cfg: &ClientConfig,
    topics: &[String],
    timeout: Duration,
) -> Result<std::collections::BTreeMap<String, usize>, KafkaError> {
    use rdkafka::admin::ResourceSpecifier;
    let admin: AdminClient<DefaultClientContext> = cfg
        .rd()
        .create()
        .map_err(KafkaError::client("create admin client"))?;
    let specs: Vec<ResourceSpecifier<'_>> =
        topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let opts = AdminOptions::new().request_timeout(Some(timeout));
    let results =
        futures_executor::block_on(admin.describe_configs(&specs, &opts)).map_err(|source| {
            KafkaError::Unreachable {
                bootstrap: cfg.bootstrap_servers.clone(),
                source,
            }
        })?;
    let mut out = std::collections::BTreeMap::new();
    for (topic, r) in topics.iter().zip(results) {
        let limit = r
            .ok()
            .and_then(|c| c.get("max.message.bytes")?.value.as_deref()?.parse().ok());
        if let Some(limit) = limit {
            out.insert(topic.clone(), limit);
        }
    }
    Ok(out)
}

/// A topic with its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Name.
    pub name: String,
    /// Partition count.
    pub partitions: usize,
    /// Records retained (sum over partitions of high − low watermark; brokers that
    /// under-report the high watermark in ListOffsets make this a lower bound).
    pub records: i64,
}

/// Every topic of the cluster (internal `__` topics left out), sorted, with sizes.
pub fn describe_topics(
    cfg: &ClientConfig,
    timeout: Duration,
) -> Result<Vec<TopicInfo>, KafkaError> {
    let (client, md) = cluster_metadata(cfg, timeout)?;
    let mut out = Vec::new();
    for t in md.topics().iter().filter(|t| !t.name().starts_with("__")) {
        let mut records = 0;
        for p in t.partitions() {
            let (low, high) = client
                .fetch_watermarks(t.name(), p.id(), timeout)
                .map_err(KafkaError::client("fetch watermarks"))?;
            records += (high - low).max(0);
        }
        out.push(TopicInfo {
            name: t.name().to_string(),
            partitions: t.partitions().len(),
            records,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
