//! Tests against librdkafka's in-process mock cluster: source start positions and
//! bounded mode, outbox delivery and recovery, dead letters, a broker outage, and a
//! produce error injected by the mock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::topology::TableInfo;
use streams_core::{Column, ColumnType, Schema, Value};
use streams_kafka::identity;
use streams_kafka::{ClientConfig, Guarantee, KafkaSink, KafkaSource, SinkConfig, SourceConfig};
use streams_runtime::outbox::plan_outbox;
use streams_runtime::{DeadLetterRecord, OutboxBatch};

const T: Duration = Duration::from_secs(10);

fn topic(name: &str) -> String {
    format!("{name}-{}", rand::random::<u32>())
}

fn produce(bootstrap: &str, topic: &str, records: &[(i32, String)]) {
    let p: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (partition, v) in records {
        p.send(
            BaseRecord::<(), str>::to(topic)
                .partition(*partition)
                .payload(v.as_str()),
        )
        .unwrap();
    }
    p.flush(T).unwrap();
}

/// Everything in `topic`: (partition, key, value, headers).
fn read_all(
    bootstrap: &str,
    topic: &str,
) -> Vec<(i32, Option<String>, String, HashMap<String, String>)> {
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "reader")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let md = c.fetch_metadata(Some(topic), T).unwrap();
    let parts: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut tpl = TopicPartitionList::new();
    for p in &parts {
        tpl.add_partition_offset(topic, *p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut eof = 0;
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while eof < parts.len() && std::time::Instant::now() < deadline {
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
                out.push((
                    m.partition(),
                    m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                    headers,
                ));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => eof += 1,
            _ => {}
        }
    }
    assert_eq!(eof, parts.len(), "did not reach the end of {topic}");
    out
}

fn table() -> TableInfo {
    TableInfo {
        name: "counts".into(),
        schema: Schema {
            columns: vec![
                Column::new("window_start", ColumnType::Timestamp),
                Column::new("country", ColumnType::Str),
                Column::new("events", ColumnType::Int),
            ],
        },
        key_columns: vec![1],
        partition_by: vec![],
    }
}

fn batches(epoch: u64, n: usize) -> Vec<OutboxBatch> {
    let rows: Vec<Vec<Value>> = (0..n)
        .map(|i| {
            vec![
                Value::Timestamp(60_000),
                Value::Str(format!("C{}", i % 7).into()),
                Value::Int(i as i64),
            ]
        })
        .collect();
    let dead = vec![DeadLetterRecord {
        reason: "malformed_json".into(),
        detail: "expected value".into(),
        topic: "in".into(),
        partition: 1,
        offset: 42,
        timestamp: 0,
        key: Some(b"k".to_vec()),
        value: b"{oops".to_vec(),
    }];
    plan_outbox(
        0,
        epoch,
        vec![streams_runtime::outbox::TableRows {
            rows: vec![rows.into()],
            updates: Vec::new(),
        }],
        dead,
    )
}

fn sink(bootstrap: &str, out: &str, dlq: &str) -> KafkaSink {
    KafkaSink::connect(SinkConfig {
        client: ClientConfig::new(bootstrap),
        app_id: "app".into(),
        task: 0,
        topics: BTreeMap::from([("counts".to_string(), out.to_string())]),
        dlq_topic: dlq.into(),
        epochs_topic: format!("{out}-epochs"),
        guarantee: Guarantee::IdempotentScan,
        delivery_timeout: Duration::from_secs(10),
        recovery_settle: Duration::from_millis(300),
        max_dead_letter_bytes: 900_000,
        oversized_to_dlq: false,
    })
    .unwrap()
}

fn identities(
    records: &[(i32, Option<String>, String, HashMap<String, String>)],
) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String)> = records
        .iter()
        .map(|r| (r.3[identity::EPOCH].clone(), r.3[identity::SEQ].clone()))
        .collect();
    ids.sort();
    ids
}

#[test]
fn source_starts_at_checkpoint_positions_and_stops_at_the_end() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let input = topic("in");
    cluster.create_topic(&input, 2, 1).unwrap();
    let recs: Vec<(i32, String)> = (0..20).map(|i| (i % 2, format!("v{i}"))).collect();
    produce(&bootstrap, &input, &recs);

    let mut src = KafkaSource::connect(SourceConfig {
        client: ClientConfig::new(&bootstrap),
        group_id: "app".into(),
        topics: vec![input.clone()],
        fetch_wait_max_ms: 10,
    })
    .unwrap();
    let parts = src.discover(T).unwrap();
    assert_eq!(parts, vec![(input.clone(), 0), (input.clone(), 1)]);
    let mut ends = BTreeMap::new();
    for tp in &parts {
        let (low, high) = src.watermarks(tp, T).unwrap();
        assert_eq!((low, high), (0, 10));
        ends.insert(tp.clone(), high);
    }
    // partition 0 resumes at 7 (checkpoint), partition 1 from the start
    src.assign(&[((input.clone(), 0), 7), ((input.clone(), 1), 0)])
        .unwrap();
    src.set_end(ends);
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while !src.reached_end() && std::time::Instant::now() < deadline {
        if let Some(r) = src.poll(Duration::from_millis(100)).unwrap() {
            got.push((r.partition, r.offset));
        }
    }
    assert!(src.reached_end());
    let p0: Vec<i64> = got.iter().filter(|r| r.0 == 0).map(|r| r.1).collect();
    let p1: Vec<i64> = got.iter().filter(|r| r.0 == 1).map(|r| r.1).collect();
    assert_eq!(p0, vec![7, 8, 9]);
    assert_eq!(p1, (0..10).collect::<Vec<_>>());
    src.commit_group_offsets().unwrap();

    let missing = KafkaSource::connect(SourceConfig {
        client: ClientConfig::new(&bootstrap),
        group_id: "app".into(),
        topics: vec!["no-such-topic".into()],
        fetch_wait_max_ms: 10,
    })
    .unwrap();
    let err = missing.discover(T).unwrap_err().to_string();
    assert!(err.contains("`no-such-topic` does not exist"), "{err}");
}

#[test]
fn outbox_delivery_is_idempotent_across_a_crash() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let out = topic("out");
    let dlq = topic("dlq");
    cluster.create_topic(&out, 3, 1).unwrap();
    cluster.create_topic(&dlq, 1, 1).unwrap();
    let tables = [table()];
    let e1 = batches(1, 50);
    let e2 = batches(2, 30);

    let mut s = sink(&bootstrap, &out, &dlq);
    assert_eq!(s.deliver(&tables, &e1, false).unwrap(), 51);
    let positions = s.positions();
    // epoch 2: only part of it reaches Kafka before the "crash"
    let mut partial = e2.clone();
    partial.truncate(1);
    if let streams_runtime::OutboxPayload::Rows(r) = &mut partial[0].payload {
        let mut rows = r.rows().into_owned();
        rows.truncate(12);
        *r = rows.into();
    }
    s.deliver(&tables, &partial, false).unwrap();
    drop(s);

    // restart: positions from the checkpoint (taken after epoch 1), epoch 2 re-delivered
    let mut s = sink(&bootstrap, &out, &dlq);
    s.restore_positions(&positions);
    let sent = s.deliver(&tables, &e2, true).unwrap();
    assert_eq!(sent, 30 - 12 + 1, "only the missing records are written");
    // and once more, as if the crash came after delivery but before cleanup
    let mut s = sink(&bootstrap, &out, &dlq);
    assert_eq!(
        s.deliver(&tables, &[e1.clone(), e2.clone()].concat(), true)
            .unwrap(),
        0
    );

    let records = read_all(&bootstrap, &out);
    assert_eq!(records.len(), 80);
    let ids = identities(&records);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique, "no record twice");
    // keys are the group key; values are JSON rows with RFC 3339 timestamps
    let r = records
        .iter()
        .find(|r| r.3[identity::EPOCH] == "1" && r.3[identity::SEQ] == "3")
        .unwrap();
    assert_eq!(r.1.as_deref(), Some("C3"));
    assert_eq!(
        r.2,
        r#"{"window_start":"1970-01-01T00:01:00.000Z","country":"C3","events":3}"#
    );
    assert_eq!(r.3[identity::APP_ID], "app");
    assert_eq!(r.3[identity::TASK], "0");

    let dead = read_all(&bootstrap, &dlq);
    assert_eq!(dead.len(), 2, "one dead letter per epoch");
    assert_eq!(dead[0].2, "{oops", "original bytes");
    assert_eq!(dead[0].1.as_deref(), Some("k"), "original key");
    assert_eq!(dead[0].3[identity::DLQ_REASON], "malformed_json");
    assert_eq!(dead[0].3[identity::DLQ_PARTITION], "1");
    assert_eq!(dead[0].3[identity::DLQ_OFFSET], "42");
}

#[test]
fn broker_down_then_up_loses_nothing_and_duplicates_nothing() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let out = topic("out");
    let dlq = topic("dlq");
    cluster.create_topic(&out, 2, 1).unwrap();
    cluster.create_topic(&dlq, 1, 1).unwrap();
    let tables = [table()];
    let mut s = KafkaSink::connect(SinkConfig {
        client: ClientConfig::new(&bootstrap),
        app_id: "app".into(),
        task: 0,
        topics: BTreeMap::from([("counts".to_string(), out.clone())]),
        dlq_topic: dlq.clone(),
        epochs_topic: format!("{out}-epochs"),
        guarantee: Guarantee::IdempotentScan,
        delivery_timeout: Duration::from_secs(2),
        recovery_settle: Duration::from_millis(300),
        max_dead_letter_bytes: 900_000,
        oversized_to_dlq: false,
    })
    .unwrap();
    s.deliver(&tables, &batches(1, 20), false).unwrap();
    cluster.broker_down(1).unwrap();
    let e2 = batches(2, 20);
    let err = s.deliver(&tables, &e2, false).unwrap_err();
    assert!(err.is_retriable(), "{err}");
    cluster.broker_up(1).unwrap();
    // the runner retries a failed delivery with recovery until it succeeds
    let mut attempts = 0;
    loop {
        attempts += 1;
        match s.deliver(&tables, &e2, true) {
            Ok(_) => break,
            Err(e) if e.is_retriable() && attempts < 10 => {
                std::thread::sleep(Duration::from_millis(500))
            }
            Err(e) => panic!("delivery never recovered: {e}"),
        }
    }
    let records = read_all(&bootstrap, &out);
    assert_eq!(records.len(), 40);
    let ids = identities(&records);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
}

#[test]
fn produce_errors_injected_by_the_mock_are_retried_without_duplicates() {
    let cluster = MockCluster::new(1).unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let out = topic("out");
    let dlq = topic("dlq");
    cluster.create_topic(&out, 2, 1).unwrap();
    cluster.create_topic(&dlq, 1, 1).unwrap();
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        ],
    );
    let tables = [table()];
    let mut s = sink(&bootstrap, &out, &dlq);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match s.deliver(&tables, &batches(1, 40), attempts > 1) {
            Ok(_) => break,
            Err(e) if e.is_retriable() && attempts < 10 => {}
            Err(e) => panic!("{e}"),
        }
    }
    let records = read_all(&bootstrap, &out);
    assert_eq!(records.len(), 40);
    let ids = identities(&records);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique);
}
