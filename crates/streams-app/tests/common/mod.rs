//! Helpers for tests that run the real binary against a broker.
#![allow(dead_code)]

pub mod broker;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

pub const T: Duration = Duration::from_secs(20);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_streams-app")
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn topology() -> PathBuf {
    repo().join("topology/clickstream.toml")
}

/// Input records with in-partition disorder below the watermark delay, a span below the
/// dedup retention, duplicates in the same partition and some bad records: outputs do
/// not depend on how partitions interleave, so runs can be compared row for row.
pub fn input(n: usize, partitions: i32, seed: u64) -> Vec<(i32, String, Vec<u8>, i64)> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let base = 1_767_225_600_000i64; // 2026-01-01
    let mut out = Vec::with_capacity(n);
    let mut last: Vec<Option<(i32, String, Vec<u8>, i64)>> = vec![None; partitions as usize];
    for i in 0..n {
        let user: i64 = rng.random_range(1..300);
        let p = (user % partitions as i64) as i32;
        if rng.random_bool(0.02) {
            if let Some(prev) = last[p as usize].clone() {
                out.push(prev);
                continue;
            }
        }
        let kafka_ts = base + i as i64 * 20;
        let ts = kafka_ts - rng.random_range(0..3_000);
        let bytes = if rng.random_bool(0.01) {
            b"{not json".to_vec()
        } else if rng.random_bool(0.01) {
            format!(r#"{{"event_id":"bad{i}","user_id":"x"}}"#).into_bytes()
        } else if rng.random_bool(0.003) {
            // two hours ahead of its Kafka timestamp: future_timestamp
            format!(
                r#"{{"event_id":"fut{i}","user_id":{user},"event_time":{}}}"#,
                kafka_ts + 7_200_000
            )
            .into_bytes()
        } else if rng.random_bool(0.003) {
            // valid, but over the 2 KiB `max_record_bytes` of the broker test's topology
            format!(
                r#"{{"event_id":"big{i}","user_id":{user},"event_time":{ts},"pad":"{}"}}"#,
                "x".repeat(3000)
            )
            .into_bytes()
        } else {
            let types = ["page_view", "page_view", "click", "add_to_cart", "purchase"];
            let t = types[rng.random_range(0..5)];
            let page = ["/", "/a", "/b"][rng.random_range(0..3)];
            let device = ["mobile", " Desktop"][rng.random_range(0..2)];
            let country = ["US", "de", "GB "][rng.random_range(0..3)];
            serde_json::to_vec(&json!({
                "event_id": format!("e{i}"),
                "user_id": user,
                "product_id": rng.random_range(1..50),
                "event_type": t,
                "page": page,
                "device": device,
                "country": country,
                "amount": if t == "purchase" { json!(rng.random_range(1..100) as f64 * 0.5) } else { Value::Null },
                "event_time": ts,
            }))
            .unwrap()
        };
        let rec = (p, user.to_string(), bytes, kafka_ts);
        last[p as usize] = Some(rec.clone());
        out.push(rec);
    }
    out
}

pub fn produce(bootstrap: &str, topic: &str, records: &[(i32, String, Vec<u8>, i64)]) {
    produce_with(bootstrap, topic, records, 10_000)
}

/// [`produce`] with at most `per_batch` records per record batch.
pub fn produce_with(
    bootstrap: &str,
    topic: &str,
    records: &[(i32, String, Vec<u8>, i64)],
    per_batch: u32,
) {
    let p: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("batch.num.messages", per_batch.to_string())
        .create()
        .unwrap();
    for (partition, key, value, ts) in records {
        let mut rec = BaseRecord::to(topic)
            .partition(*partition)
            .key(key.as_str())
            .payload(value.as_slice())
            .timestamp(*ts);
        loop {
            match p.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    p.poll(Duration::from_millis(20));
                    rec = r;
                }
            }
        }
    }
    p.flush(Duration::from_secs(300)).unwrap();
}

/// One output record: key, value and headers.
pub type Rec = (Option<String>, String, BTreeMap<String, String>);

/// Everything in `topic`, read with a plain consumer.
pub fn read_topic(bootstrap: &str, topic: &str) -> Vec<Rec> {
    read_topic_with(bootstrap, topic, 500)
}

/// [`read_topic`] with a chosen `fetch.wait.max.ms`.
pub fn read_topic_with(bootstrap: &str, topic: &str, fetch_wait_ms: u32) -> Vec<Rec> {
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("fetch.wait.max.ms", fetch_wait_ms.to_string())
        .set("group.id", "test-reader")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let md = c.fetch_metadata(Some(topic), T).unwrap();
    let parts: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    assert!(!parts.is_empty(), "topic {topic} missing");
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut eof = std::collections::HashSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + T;
    while eof.len() < parts.len() {
        assert!(Instant::now() < deadline, "timed out reading {topic}");
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let mut headers: BTreeMap<String, String> = headers;
                headers.insert(
                    "@position".into(),
                    format!("{}:{}", m.partition(), m.offset()),
                );
                out.push((
                    m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    headers,
                ));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                eof.insert(p);
            }
            _ => {}
        }
    }
    out
}

pub fn run_cmd(args: &[&str]) -> Output {
    run_cmd_log(args, "warn")
}

/// [`run_cmd`] with a chosen `RUST_LOG`.
pub fn run_cmd_log(args: &[&str], log: &str) -> Output {
    Command::new(bin())
        .args(args)
        .env("RUST_LOG", log)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

pub fn spawn(args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

pub const TABLES: [&str; 6] = [
    "events_clean",
    "country_segment_revenue",
    "country_traffic_sliding",
    "page_metrics",
    "geo_device",
    "user_sessions",
];

/// Key and value of every record of a topic, sorted (order across partitions is not part
/// of the contract), with the identity headers checked to be unique.
pub fn contents(bootstrap: &str, topic: &str) -> Vec<(Option<String>, String)> {
    let recs = read_topic(bootstrap, topic);
    let mut seen: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for r in &recs {
        let id = (
            r.2["streams-task"].clone(),
            r.2["streams-epoch"].clone(),
            r.2["streams-seq"].clone(),
        );
        if let Some(first) = seen.insert(id.clone(), r.2["@position"].clone()) {
            panic!(
                "{topic}: identity {id:?} twice, at {first} and {}",
                r.2["@position"]
            );
        }
    }
    let mut kv: Vec<(Option<String>, String)> = recs.into_iter().map(|r| (r.0, r.1)).collect();
    kv.sort();
    kv
}

/// What DESIGN §3.1 makes of an input record: `Some(event)` if accepted by validation
/// (before dedup), `None` if dead-lettered. `max_bytes` is the topology's limit.
pub fn valid_event(bytes: &[u8], kafka_ts: i64, max_bytes: usize) -> Option<Value> {
    if bytes.len() > max_bytes {
        return None;
    }
    let v: Value = serde_json::from_slice(bytes).ok()?;
    if !v["user_id"].is_i64() {
        return None;
    }
    if v["event_time"]
        .as_i64()
        .is_some_and(|t| t > kafka_ts + 3_600_000)
    {
        return None;
    }
    Some(v)
}
