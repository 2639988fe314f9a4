//! The replaced stacks' pipelines as topology files (`topology/*.toml`), run through the
//! test driver. Every expectation is worked out here, from the generated input, without
//! the engine: the filter by hand, the windows by brute force over the readings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use streams_core::value::{format_timestamp, Value};
use streams_testkit::TopologyTestDriver;

fn topology(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../topology/{name}.toml"))
}

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// A small deterministic generator (xorshift), so the input is varied but repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn float(v: &Value) -> f64 {
    match v {
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Timestamp(t) => format_timestamp(*t),
        other => format!("{other:?}"),
    }
}

#[test]
fn adults_keeps_people_of_eighteen_and_over() {
    let people: &[(&str, &str)] = &[
        ("Alice", r#"{"name":"Alice","age":25,"city":"New York"}"#),
        ("Bob", r#"{"name":"Bob","age":17,"city":"Boston"}"#),
        ("Charlie", r#"{"name":"Charlie","age":30}"#),
        ("Diana", r#"{"name":"Diana","age":16,"city":"Denver"}"#),
        ("Eve", r#"{"name":"Eve","age":18,"city":"Austin"}"#),
        ("Nobody", r#"{"name":"Nobody","city":"Nowhere"}"#),
        ("Broken", r#"{"name":"Broken","age":"old"}"#),
        ("Garbage", "not json"),
    ];
    let mut d = TopologyTestDriver::new(&topology("adults"), 1).unwrap();
    for (_, json) in people {
        d.pipe(0, T0, json.as_bytes()).unwrap();
    }
    d.end().unwrap();
    // Worked out by hand: ages 25, 30 and 18 pass; 17, 16 and a missing age do not.
    let names: Vec<String> = d.rows("adults").iter().map(|r| text(&r[0])).collect();
    assert_eq!(names, ["Alice", "Charlie", "Eve"]);
    let json = d.json("adults");
    assert_eq!(
        json[0],
        serde_json::json!({"name": "Alice", "age": 25, "city": "New York"})
    );
    assert_eq!(json[1]["city"], serde_json::Value::Null);
    let ledger = d.ledger();
    assert_eq!(
        (ledger.consumed, ledger.accepted, ledger.dead_lettered),
        (8, 6, 2)
    );
    assert_eq!(ledger.filtered.get("adults"), Some(&3));
    let reasons: Vec<String> = d.dead_letters().iter().map(|x| x.reason.clone()).collect();
    assert_eq!(reasons, ["invalid_field", "malformed_json"]);
}

/// (sensor, time) readings spread over a few minutes, out of order within a minute.
fn sensor_readings(n: usize, rng: &mut Rng) -> Vec<(String, i64)> {
    (0..n)
        .map(|i| {
            let sensor = format!("s{}", rng.below(4));
            let t = T0 + (i as i64) * 700 + rng.below(5_000) as i64;
            (sensor, t)
        })
        .collect()
}

#[test]
fn sensor_counts_counts_readings_per_sensor_and_minute() {
    let mut rng = Rng(7);
    let readings = sensor_readings(600, &mut rng);
    let mut d = TopologyTestDriver::new(&topology("sensor_counts"), 2).unwrap();
    for (i, (s, t)) in readings.iter().enumerate() {
        let json = format!(
            r#"{{"sensor_id":"{s}","timestamp":"{}"}}"#,
            format_timestamp(*t)
        );
        d.pipe((i % 2) as i32, *t, json.as_bytes()).unwrap();
    }
    d.end().unwrap();
    let mut want: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for (s, t) in &readings {
        *want
            .entry((t.div_euclid(60_000) * 60_000, s.clone()))
            .or_default() += 1;
    }
    let mut got: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for r in d.rows("sensor_counts") {
        let (Value::Timestamp(start), Value::Timestamp(end)) = (&r[0], &r[1]) else {
            panic!("{r:?}")
        };
        assert_eq!(end - start, 60_000);
        assert!(
            got.insert((*start, text(&r[2])), float(&r[3]) as i64)
                .is_none(),
            "twice: {r:?}"
        );
    }
    assert_eq!(got, want);
    let ledger = d.ledger();
    assert_eq!(ledger.late.get("per_minute"), Some(&0));
}

#[test]
fn air_quality_alerts_on_five_minute_averages_above_the_threshold() {
    let mut rng = Rng(11);
    let locations = ["Delhi", "Oslo", "Lima"];
    // Ten minutes of readings every 10 s per location; Delhi's PM2.5 climbs past the
    // threshold, Oslo stays clean, Lima hovers around it.
    let mut readings = Vec::new();
    for step in 0..60i64 {
        for (l, loc) in locations.iter().enumerate() {
            let t = T0 + step * 10_000 + l as i64 * 1_000;
            let pm25 = match l {
                0 => 20.0 + step as f64,
                1 => 5.0 + (rng.below(10) as f64) / 2.0,
                _ => 30.0 + (rng.below(120) as f64) / 10.0,
            };
            readings.push((
                loc.to_string(),
                t,
                pm25,
                pm25 * 1.5,
                20.0 + l as f64,
                40.0 + step as f64 / 10.0,
            ));
        }
    }
    let mut d = TopologyTestDriver::new(&topology("air_quality"), 1).unwrap();
    for (loc, t, pm25, pm10, temp, hum) in &readings {
        let json = format!(
            r#"{{"sensor_id":"x-{loc}","timestamp":"{}","pm25":{pm25},"pm10":{pm10},"temperature":{temp},"humidity":{hum},"location":"{loc}"}}"#,
            format_timestamp(*t)
        );
        d.pipe(0, *t, json.as_bytes()).unwrap();
    }
    d.end().unwrap();
    // Brute force: every window start that is a multiple of 1 minute with
    // start <= t < start + 5 minutes, then the mean per (window, location).
    let mut sums: BTreeMap<(i64, String), (f64, f64, f64, f64, u32)> = BTreeMap::new();
    for (loc, t, pm25, pm10, temp, hum) in &readings {
        let mut start = t.div_euclid(60_000) * 60_000;
        while start > t - 300_000 {
            let e = sums.entry((start, loc.clone())).or_default();
            e.0 += pm25;
            e.1 += pm10;
            e.2 += temp;
            e.3 += hum;
            e.4 += 1;
            start -= 60_000;
        }
    }
    let want: BTreeMap<(i64, String), [f64; 4]> = sums
        .into_iter()
        .map(|(k, (a, b, c, h, n))| (k, [a / n as f64, b / n as f64, c / n as f64, h / n as f64]))
        .filter(|(_, v)| v[0] > 35.4)
        .collect();
    assert!(want.keys().any(|(_, l)| l == "Delhi") && !want.keys().any(|(_, l)| l == "Oslo"));
    let rows = d.rows("air_quality_alerts");
    assert_eq!(rows.len(), want.len(), "{rows:?}");
    for r in rows {
        let Value::Timestamp(start) = r[0] else {
            panic!("{r:?}")
        };
        let key = (start, text(&r[2]));
        let w = want
            .get(&key)
            .unwrap_or_else(|| panic!("unexpected alert {key:?}"));
        for (i, expected) in w.iter().enumerate() {
            assert!(
                (float(&r[3 + i]) - expected).abs() < 1e-9,
                "{key:?} column {i}: {r:?} vs {w:?}"
            );
        }
    }
}

#[test]
fn sensors_average_per_id_in_ten_second_windows_with_live_updates() {
    let mut rng = Rng(3);
    let mut readings = Vec::new();
    for i in 0..400i64 {
        let id = rng.below(5) as i64;
        let t = T0 + i * 250 + rng.below(2_000) as i64;
        let value = (rng.below(1_000) as f64) / 10.0;
        readings.push((id, t, value));
    }
    let mut d = TopologyTestDriver::new(&topology("sensors"), 1).unwrap();
    d.commit_every(50);
    for (id, t, value) in &readings {
        let json = format!(
            r#"{{"id":{id},"ts":"{}","value":{value},"source":"probe"}}"#,
            format_timestamp(*t)
        );
        d.pipe(0, *t, json.as_bytes()).unwrap();
    }
    d.pipe(0, T0, br#"{"id":9,"value":1.0}"#).unwrap();
    d.end().unwrap();
    let mut sums: BTreeMap<(i64, i64), (f64, i64)> = BTreeMap::new();
    for (id, t, v) in &readings {
        let e = sums
            .entry((t.div_euclid(10_000) * 10_000, *id))
            .or_default();
        e.0 += v;
        e.1 += 1;
    }
    let mut got = BTreeMap::new();
    for r in d.rows("avg_value_10s") {
        let Value::Timestamp(start) = r[0] else {
            panic!("{r:?}")
        };
        let Value::Int(id) = r[2] else {
            panic!("{r:?}")
        };
        got.insert((start, id), (float(&r[3]), float(&r[4]) as i64));
    }
    assert_eq!(got.len(), sums.len());
    for (k, (sum, n)) in &sums {
        let (avg, count) = got[k];
        assert_eq!(count, *n, "{k:?}");
        assert!((avg - sum / *n as f64).abs() < 1e-9, "{k:?}");
    }
    // Every parsed reading is kept; the one without a timestamp is a dead letter.
    assert_eq!(d.rows("sensor_readings").len(), readings.len());
    let dl = d.dead_letters();
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].reason, "missing_ts");
    // Updates came while windows were open, and each is a partial state of its window.
    let updates = d.updates("avg_value_10s");
    assert!(!updates.is_empty());
    for u in &updates {
        let Value::Timestamp(start) = u[0] else {
            panic!("{u:?}")
        };
        let Value::Int(id) = u[2] else {
            panic!("{u:?}")
        };
        let (_, n) = sums[&(start, id)];
        assert!(
            float(&u[4]) as i64 <= n,
            "an update counts no more than the final row"
        );
    }
}
