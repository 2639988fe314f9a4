//! Golden test: the hand-written input in `tests/golden/input.jsonl` (duplicates, messy
//! fields, every dead-letter reason, out-of-order and late events, two sessions that
//! merge, a dedup entry that expires) through the reference topology. The driver's
//! outputs must equal both the golden files in `tests/golden/expected/` and an
//! independent computation of DESIGN §3 in `common::oracle`.
//! Regenerate the golden files with `BLESS=1` (and review the diff by hand).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

fn check_against_golden(name: &str, actual: &[String]) {
    let path = golden_dir().join("expected").join(format!("{name}.jsonl"));
    let text = actual.join("\n") + "\n";
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let golden =
        std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing {}", path.display()));
    assert_eq!(text, golden, "{name} differs from {}", path.display());
}

#[test]
fn reference_topology_matches_golden_files_and_oracle() {
    let inputs = read_input(&golden_dir().join("input.jsonl"));
    let mut driver = run_uninterrupted(&inputs, 2, 3);
    let got = actual(&mut driver);
    let want = oracle(&inputs, 2);

    // Hand-checked anchors (see the comments in input.jsonl's description in the test docs):
    // 30 records, 8 dead letters, 3 duplicates (e1 and e2 re-sent, far1 re-sent), and e1
    // accepted again once its dedup entry expired.
    assert_eq!(got.ledger["consumed"], 30);
    assert_eq!(got.ledger["dead_lettered"], 8);
    assert_eq!(got.ledger["duplicate"], 3);
    assert_eq!(got.ledger["accepted"], 19);
    assert_eq!(got.ledger["dlq.malformed_json"], 2);
    assert_eq!(got.ledger["dlq.invalid_event"], 2);
    assert_eq!(got.ledger["dlq.invalid_field"], 1);
    assert_eq!(got.ledger["dlq.invalid_amount"], 1);
    assert_eq!(got.ledger["dlq.future_timestamp"], 1);
    assert_eq!(got.ledger["dlq.too_large"], 1);
    // late1 (00:00:40) is late everywhere; late2 (00:02:55) only where its windows closed.
    assert_eq!(got.ledger["late.country_segment_revenue"], 2);
    assert_eq!(got.ledger["late.country_traffic_sliding"], 1);
    assert_eq!(got.ledger["late.page_metrics"], 2);
    assert_eq!(got.ledger["late.geo_device"], 2);
    assert_eq!(got.ledger["late.user_sessions"], 1);

    assert_eq!(got.ledger, want.ledger, "ledger vs oracle");
    assert_eq!(
        got.dead_letters, want.dead_letters,
        "dead letters vs oracle"
    );
    assert_eq!(got.tables.len(), 6);
    for (table, rows) in &got.tables {
        let expected = want
            .tables
            .get(table)
            .unwrap_or_else(|| panic!("oracle has no {table}"));
        if table == "events_clean" {
            // events_clean keeps each input partition's order (a user's events share
            // a partition); partitions are not ordered among each other.
            assert_eq!(per_user(rows), per_user(expected), "{table} vs oracle");
        } else {
            assert_eq!(sorted(rows), sorted(expected), "{table} vs oracle");
        }
        check_against_golden(table, &sorted(rows));
    }
    let ledger: Vec<String> = got.ledger.iter().map(|(k, v)| format!("{k}={v}")).collect();
    check_against_golden("ledger", &ledger);
    let dl: Vec<String> = got
        .dead_letters
        .iter()
        .map(|(r, p, o)| format!("{r} p{p} o{o}"))
        .collect();
    check_against_golden("dead_letters", &dl);

    // The two user-12 sessions merged through s3.
    let sessions = &got.tables["user_sessions"];
    let s12: Vec<&serde_json::Value> = sessions.iter().filter(|r| r["user_id"] == 12).collect();
    assert_eq!(s12.len(), 1, "{s12:?}");
    assert_eq!(s12[0]["events"], 3);
    assert_eq!(s12[0]["session_start"], "2026-01-01T00:02:00.000Z");
    assert_eq!(s12[0]["session_end"], "2026-01-01T00:02:50.000Z");
    assert_eq!(s12[0]["revenue"], 12.25);
    // Dead letters keep the original bytes.
    let big = driver
        .dead_letters()
        .into_iter()
        .find(|d| d.reason == "too_large")
        .unwrap();
    assert_eq!(big.value.len(), 1_048_577);
}

#[test]
fn every_window_row_is_emitted_once_even_with_a_commit_per_record() {
    let inputs = read_input(&golden_dir().join("input.jsonl"));
    let a = actual(&mut run_uninterrupted(&inputs, 2, 1));
    let b = actual(&mut run_uninterrupted(&inputs, 2, 1000));
    for (t, rows) in &a.tables {
        assert_eq!(sorted(rows), sorted(&b.tables[t]), "{t}");
        let unique: std::collections::BTreeSet<String> = sorted(rows).into_iter().collect();
        if t != "events_clean" {
            assert_eq!(unique.len(), rows.len(), "{t} has a row twice");
        }
    }
    assert_eq!(a.ledger, b.ledger);
}

/// `topology/clickstream_by_country.toml` on the golden input: its clean events are the
/// oracle's `events_clean`, its sliding traffic the oracle's `country_traffic_sliding`
/// (events and revenue), and its taps hold every record that fits the schema (raw, as
/// received, and parsed).
#[test]
fn clickstream_by_country_matches_the_oracle() {
    let inputs = read_input(&golden_dir().join("input.jsonl"));
    let want = oracle(&inputs, 2);
    let topo = repo().join("topology/clickstream_by_country.toml");
    let mut d = streams_testkit::TopologyTestDriver::new(&topo, 2).unwrap();
    d.commit_every(3);
    for i in &inputs {
        d.pipe(i.partition, i.kafka_ts, &i.bytes).unwrap();
    }
    d.end().unwrap();
    assert_eq!(
        sorted(&d.json("events_by_country")),
        sorted(&want.tables["events_clean"]),
        "events_by_country vs the oracle's events_clean"
    );
    let project = |rows: &[serde_json::Value]| -> Vec<String> {
        let mut v: Vec<String> = rows
            .iter()
            .map(|r| {
                serde_json::json!([r["window_start"], r["country"], r["events"], r["revenue"]])
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        project(&d.json("country_traffic")),
        project(&want.tables["country_traffic_sliding"])
    );
    let l = d.ledger();
    let fitting = (l.accepted + l.duplicate) as usize;
    let raw = d.json("raw");
    assert_eq!(raw.len(), fitting);
    assert_eq!(d.json("parsed").len(), fitting);
    // The raw tap holds the records' bytes as they came.
    let sent: std::collections::BTreeSet<String> = inputs
        .iter()
        .map(|i| String::from_utf8_lossy(&i.bytes).into_owned())
        .collect();
    for r in &raw {
        assert!(sent.contains(r["raw_json"].as_str().unwrap()), "{r}");
    }
}
