//! Shared helpers: the golden input format and an independent oracle of DESIGN §3.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use streams_testkit::TopologyTestDriver;

pub const SEC: i64 = 1000;

pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One input line: partition, Kafka timestamp, raw bytes.
#[derive(Debug, Clone)]
pub struct Input {
    pub partition: i32,
    pub kafka_ts: i64,
    pub bytes: Vec<u8>,
}

pub fn parse_time(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

pub fn read_input(path: &Path) -> Vec<Input> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let bytes = if let Some(raw) = v.get("raw") {
                raw.as_str().unwrap().as_bytes().to_vec()
            } else if let Some(n) = v.get("big") {
                let n = n.as_u64().unwrap() as usize;
                let head = br#"{"event_id":"big","pad":""#;
                let mut b = head.to_vec();
                b.resize(n - 2, b'x');
                b.extend(br#""}"#);
                b
            } else {
                serde_json::to_vec(&v["value"]).unwrap()
            };
            Input {
                partition: v["p"].as_i64().unwrap() as i32,
                kafka_ts: parse_time(v["ts"].as_str().unwrap()),
                bytes,
            }
        })
        .collect()
}

pub fn fmt_ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub fn fmt_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

/// The dimension tables, read with plain line splitting (independent of the engine's loader).
pub struct Dims {
    pub users: BTreeMap<i64, (String, String)>,
    pub products: BTreeMap<i64, (String, String, f64)>,
    pub premium: BTreeMap<String, bool>,
}

pub fn dims() -> Dims {
    let read = |f: &str| {
        std::fs::read_to_string(repo().join("topology/dims").join(f))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                l.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    Dims {
        users: read("users.csv")
            .into_iter()
            .map(|r| (r[0].parse().unwrap(), (r[1].clone(), r[2].clone())))
            .collect(),
        products: read("products.csv")
            .into_iter()
            .map(|r| {
                (
                    r[0].parse().unwrap(),
                    (r[1].clone(), r[2].clone(), r[3].parse().unwrap()),
                )
            })
            .collect(),
        premium: read("segments.csv")
            .into_iter()
            .map(|r| (r[0].clone(), r[1] == "true"))
            .collect(),
    }
}

#[derive(Debug, Clone)]
pub struct Ev {
    pub id: String,
    pub user_id: i64,
    pub product_id: Option<i64>,
    pub event_type: String,
    pub page: String,
    pub device: String,
    pub country: String,
    pub amount: f64,
    pub ts: i64,
    pub segment: String,
    pub is_premium: bool,
    pub user_name: Option<String>,
    pub category: String,
    pub product_name: Option<String>,
    pub price: Option<f64>,
}

/// DESIGN §3.1, written out independently of the engine.
pub fn oracle_decode(bytes: &[u8], kafka_ts: i64, dims: &Dims) -> Result<Ev, &'static str> {
    if bytes.len() > 1_048_576 {
        return Err("too_large");
    }
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(bytes) else {
        return Err("malformed_json");
    };
    let get = |k: &str| o.get(k).filter(|v| !v.is_null());
    let id = match get("event_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err("invalid_event"),
    };
    let int = |k: &str| -> Result<Option<i64>, &'static str> {
        match get(k) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|_| v.is_i64() || v.is_u64())
                .map(Some)
                .ok_or("invalid_field"),
        }
    };
    let string = |k: &str| -> Result<Option<String>, &'static str> {
        match get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err("invalid_field"),
        }
    };
    let norm = |s: Option<String>, upper: bool, fallback: &str| {
        let t = s.unwrap_or_default().trim().to_string();
        if t.is_empty() {
            fallback.to_string()
        } else if upper {
            t.to_uppercase()
        } else {
            t.to_lowercase()
        }
    };
    let user_id = int("user_id")?.unwrap_or(0);
    let product_id = int("product_id")?;
    let event_type = norm(string("event_type")?, false, "unknown");
    let page = string("page")?
        .filter(|p| !p.trim().is_empty())
        .unwrap_or("unknown".into());
    let device = norm(string("device")?, false, "unknown");
    let country = norm(string("country")?, true, "UNKNOWN");
    let amount = match get("amount") {
        None => 0.0,
        Some(Value::Number(n)) => n.as_f64().unwrap(),
        Some(_) => return Err("invalid_field"),
    };
    let ts = match get("event_time") {
        None => kafka_ts,
        Some(Value::Number(n)) => n.as_i64().unwrap_or(kafka_ts),
        Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .unwrap_or(kafka_ts),
        Some(_) => return Err("invalid_field"),
    };
    if amount < 0.0 || !amount.is_finite() {
        return Err("invalid_amount");
    }
    if ts > kafka_ts + 3_600_000 {
        return Err("future_timestamp");
    }
    let user = dims.users.get(&user_id);
    let segment = user.map_or("unknown".to_string(), |u| u.1.clone());
    let product = product_id.and_then(|p| dims.products.get(&p));
    Ok(Ev {
        id,
        user_id,
        product_id,
        event_type,
        page,
        device,
        country,
        amount,
        ts,
        is_premium: dims.premium.get(&segment).copied().unwrap_or(false),
        segment,
        user_name: user.map(|u| u.0.clone()),
        category: product.map_or("unknown".to_string(), |p| p.1.clone()),
        product_name: product.map(|p| p.0.clone()),
        price: product.map(|p| p.2),
    })
}

/// The oracle's result: rows per table (JSON objects), the ledger and the dead letters.
#[derive(Debug, Default)]
pub struct Expected {
    pub tables: BTreeMap<String, Vec<Value>>,
    pub ledger: BTreeMap<String, u64>,
    pub dead_letters: Vec<(String, i32, i64)>,
}

struct Fixed {
    name: &'static str,
    size: i64,
    advance: i64,
    key: fn(&Ev) -> Vec<(&'static str, Value)>,
    fields: fn(&[Ev]) -> Vec<(&'static str, Value)>,
}

fn purchases(evs: &[Ev]) -> impl Iterator<Item = &Ev> {
    evs.iter().filter(|e| e.event_type == "purchase")
}
fn count_type(evs: &[Ev], t: &str) -> usize {
    evs.iter().filter(|e| e.event_type == t).count()
}
fn revenue(evs: &[Ev]) -> f64 {
    purchases(evs).fold(0.0, |acc, e| acc + e.amount)
}
fn users(evs: &[Ev]) -> usize {
    evs.iter().map(|e| e.user_id).collect::<BTreeSet<_>>().len()
}

fn fixed_tables() -> Vec<Fixed> {
    vec![
        Fixed {
            name: "country_segment_revenue",
            size: 60 * SEC,
            advance: 60 * SEC,
            key: |e| vec![("country", json!(e.country)), ("segment", json!(e.segment))],
            fields: |evs| {
                vec![
                    ("events", json!(evs.len())),
                    ("purchases", json!(purchases(evs).count())),
                    ("revenue", json!(revenue(evs))),
                    ("unique_users", json!(users(evs))),
                    (
                        "max_event_time",
                        json!(fmt_ts(evs.iter().map(|e| e.ts).max().unwrap())),
                    ),
                ]
            },
        },
        Fixed {
            name: "country_traffic_sliding",
            size: 60 * SEC,
            advance: 30 * SEC,
            key: |e| vec![("country", json!(e.country))],
            fields: |evs| {
                vec![
                    ("events", json!(evs.len())),
                    ("revenue", json!(revenue(evs))),
                ]
            },
        },
        Fixed {
            name: "page_metrics",
            size: 30 * SEC,
            advance: 30 * SEC,
            key: |e| vec![("page", json!(e.page))],
            fields: |evs| {
                vec![
                    ("views", json!(count_type(evs, "page_view"))),
                    ("clicks", json!(count_type(evs, "click"))),
                    ("add_to_carts", json!(count_type(evs, "add_to_cart"))),
                    ("purchases", json!(count_type(evs, "purchase"))),
                    ("revenue", json!(revenue(evs))),
                    ("unique_users", json!(users(evs))),
                ]
            },
        },
        Fixed {
            name: "geo_device",
            size: 30 * SEC,
            advance: 30 * SEC,
            key: |e| vec![("country", json!(e.country)), ("device", json!(e.device))],
            fields: |evs| vec![("events", json!(evs.len()))],
        },
    ]
}

/// Brute force: every window start `s` (a multiple of `advance`) with `s <= t < s + size`.
fn windows_of(t: i64, size: i64, advance: i64) -> Vec<i64> {
    let mut out = Vec::new();
    let mut k = (t - size).div_euclid(advance) - 1;
    while k * advance <= t {
        let s = k * advance;
        if s <= t && t < s + size {
            out.push(s);
        }
        k += 1;
    }
    out
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// Runs DESIGN §3 over `inputs` fed in order on `partitions` partitions (never idle),
/// ending in bounded mode.
pub fn oracle(inputs: &[Input], partitions: i32) -> Expected {
    let dims = dims();
    let delay = 10 * SEC;
    let gap = 30 * SEC;
    let mut exp = Expected::default();
    let mut max_ts: BTreeMap<i32, i64> = BTreeMap::new();
    let mut w = i64::MIN;
    let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let mut dedup: BTreeMap<String, i64> = BTreeMap::new();
    let fixed = fixed_tables();
    let mut fixed_state: Vec<BTreeMap<(i64, String), (Value, Vec<Ev>)>> =
        vec![BTreeMap::new(); fixed.len()];
    let mut late: BTreeMap<String, u64> = BTreeMap::new();
    // user -> open sessions [(start, last, events)]
    let mut sessions: BTreeMap<i64, Vec<(i64, i64, Vec<Ev>)>> = BTreeMap::new();
    let mut closed_sessions: Vec<(i64, i64, i64, Vec<Ev>)> = Vec::new();
    let mut events_clean = Vec::new();
    let mut ledger: BTreeMap<String, u64> = BTreeMap::new();
    for name in [
        "country_segment_revenue",
        "country_traffic_sliding",
        "page_metrics",
        "geo_device",
        "user_sessions",
    ] {
        late.insert(name.into(), 0);
    }
    for input in inputs {
        let offset = *offsets
            .entry(input.partition)
            .and_modify(|o| *o += 1)
            .or_insert(0);
        *ledger.entry("consumed".into()).or_default() += 1;
        let ev = match oracle_decode(&input.bytes, input.kafka_ts, &dims) {
            Err(reason) => {
                *ledger.entry("dead_lettered".into()).or_default() += 1;
                *ledger.entry(format!("dlq.{reason}")).or_default() += 1;
                exp.dead_letters
                    .push((reason.to_string(), input.partition, offset));
                continue;
            }
            Ok(ev) => ev,
        };
        let t = ev.ts;
        let duplicate = matches!(dedup.get(&ev.id), Some(&exp_at) if w < exp_at);
        if duplicate {
            *ledger.entry("duplicate".into()).or_default() += 1;
        } else {
            *ledger.entry("accepted".into()).or_default() += 1;
            if w < t + 3_600_000 {
                dedup.insert(ev.id.clone(), t + 3_600_000);
            }
            events_clean.push(ev.clone());
            for (f, state) in fixed.iter().zip(fixed_state.iter_mut()) {
                let open: Vec<i64> = windows_of(t, f.size, f.advance)
                    .into_iter()
                    .filter(|s| s + f.size > w)
                    .collect();
                if open.is_empty() {
                    *late.get_mut(f.name).unwrap() += 1;
                }
                for s in open {
                    let key = obj((f.key)(&ev));
                    state
                        .entry((s, key.to_string()))
                        .or_insert((key, Vec::new()))
                        .1
                        .push(ev.clone());
                }
            }
            // sessions: close what W closed, then late check, then merge
            if t + gap <= w {
                *late.get_mut("user_sessions").unwrap() += 1;
            } else {
                let list = sessions.entry(ev.user_id).or_default();
                let (mut start, mut last, mut evs) = (t, t, vec![ev.clone()]);
                let mut keep = Vec::new();
                for s in list.drain(..) {
                    if s.0 < t + gap && t < s.1 + gap {
                        start = start.min(s.0);
                        last = last.max(s.1);
                        evs.extend(s.2);
                    } else {
                        keep.push(s);
                    }
                }
                keep.push((start, last, evs));
                *list = keep;
            }
        }
        let m = max_ts.entry(input.partition).or_insert(t);
        *m = (*m).max(t);
        if max_ts.len() as i32 == partitions {
            w = w.max(max_ts.values().min().unwrap() - delay);
        }
        for (user, list) in sessions.iter_mut() {
            list.retain(|s| {
                if s.1 + gap <= w {
                    closed_sessions.push((*user, s.0, s.1, s.2.clone()));
                    false
                } else {
                    true
                }
            });
        }
    }
    for (user, list) in sessions {
        for s in list {
            closed_sessions.push((user, s.0, s.1, s.2));
        }
    }
    for (f, state) in fixed.iter().zip(fixed_state) {
        let rows = state
            .into_iter()
            .map(|((s, _), (key, evs))| {
                let mut pairs = vec![
                    ("window_start", json!(fmt_ts(s))),
                    ("window_end", json!(fmt_ts(s + f.size))),
                ];
                for (k, v) in key.as_object().unwrap() {
                    let k: &'static str = Box::leak(k.clone().into_boxed_str());
                    pairs.push((k, v.clone()));
                }
                pairs.extend((f.fields)(&evs));
                pairs.push(("event_date", json!(fmt_date(s))));
                obj(pairs)
            })
            .collect();
        exp.tables.insert(f.name.to_string(), rows);
    }
    exp.tables.insert(
        "user_sessions".into(),
        closed_sessions
            .into_iter()
            .map(|(user, start, last, evs)| {
                obj(vec![
                    ("session_start", json!(fmt_ts(start))),
                    ("session_end", json!(fmt_ts(last))),
                    ("user_id", json!(user)),
                    ("events", json!(evs.len())),
                    (
                        "distinct_pages",
                        json!(evs
                            .iter()
                            .map(|e| e.page.clone())
                            .collect::<BTreeSet<_>>()
                            .len()),
                    ),
                    ("revenue", json!(revenue(&evs))),
                    ("event_date", json!(fmt_date(start))),
                ])
            })
            .collect(),
    );
    exp.tables.insert(
        "events_clean".into(),
        events_clean
            .iter()
            .map(|e| {
                obj(vec![
                    ("event_id", json!(e.id)),
                    ("user_id", json!(e.user_id)),
                    ("product_id", json!(e.product_id)),
                    ("event_type", json!(e.event_type)),
                    ("page", json!(e.page)),
                    ("device", json!(e.device)),
                    ("country", json!(e.country)),
                    ("amount", json!(e.amount)),
                    ("event_ts", json!(fmt_ts(e.ts))),
                    ("segment", json!(e.segment)),
                    ("is_premium", json!(e.is_premium)),
                    ("user_name", json!(e.user_name)),
                    ("category", json!(e.category)),
                    ("product_name", json!(e.product_name)),
                    ("price", json!(e.price)),
                    ("event_date", json!(fmt_date(e.ts))),
                ])
            })
            .collect(),
    );
    for (k, v) in late {
        ledger.insert(format!("late.{k}"), v);
    }
    exp.ledger = ledger;
    exp
}

/// The driver's outputs in the same shape as [`Expected`].
pub fn actual(driver: &mut TopologyTestDriver) -> Expected {
    let mut exp = Expected::default();
    for t in driver.tables().to_vec() {
        exp.tables.insert(t.clone(), driver.json(&t));
    }
    let l = driver.ledger();
    let mut ledger = BTreeMap::new();
    for (k, v) in [
        ("consumed", l.consumed),
        ("accepted", l.accepted),
        ("duplicate", l.duplicate),
        ("dead_lettered", l.dead_lettered),
    ] {
        if v > 0 {
            ledger.insert(k.to_string(), v);
        }
    }
    for (r, n) in &l.dead_letter_reasons {
        ledger.insert(format!("dlq.{r}"), *n);
    }
    for (a, n) in &l.late {
        ledger.insert(format!("late.{a}"), *n);
    }
    exp.ledger = ledger;
    exp.dead_letters = driver
        .dead_letters()
        .iter()
        .map(|d| (d.reason.clone(), d.partition, d.offset))
        .collect();
    exp
}

/// Rows sorted by their JSON text, for order-insensitive comparison of window tables.
pub fn sorted(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    v.sort();
    v
}

/// Feeds all inputs, committing every `commit_every` records, then ends the input.
pub fn run_uninterrupted(
    inputs: &[Input],
    partitions: i32,
    commit_every: usize,
) -> TopologyTestDriver {
    let mut d =
        TopologyTestDriver::new(&streams_testkit::reference_topology(), partitions).unwrap();
    d.commit_every(commit_every);
    for i in inputs {
        d.pipe(i.partition, i.kafka_ts, &i.bytes).unwrap();
    }
    d.end().unwrap();
    d
}

/// Random messy input: out-of-order event times (up to 40 s behind), duplicates, bad
/// records, sessions, purchases with exactly representable amounts.
pub fn random_inputs(seed: u64, n: usize, partitions: i32) -> Vec<Input> {
    random_inputs_with(seed, n, partitions, 40_000)
}

/// [`random_inputs`] with a chosen maximum disorder of event times.
pub fn random_inputs_with(seed: u64, n: usize, partitions: i32, disorder_ms: i64) -> Vec<Input> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let base = parse_time("2026-03-01T00:00:00Z");
    let countries = ["US", "de", " GB ", "", "FR"];
    let types = ["page_view", "page_view", "click", "add_to_cart", "purchase"];
    let pages = ["/", "/a", "/b", "/checkout"];
    let mut out: Vec<Input> = Vec::with_capacity(n);
    let mut sent: Vec<(i32, Vec<u8>, i64)> = Vec::new();
    for i in 0..n {
        if !sent.is_empty() && rng.random_bool(0.05) {
            let (p, bytes, ts) = sent[rng.random_range(0..sent.len())].clone();
            out.push(Input {
                partition: p,
                kafka_ts: ts + 1,
                bytes,
            });
            continue;
        }
        let nominal = base + i as i64 * 700;
        let ts = nominal - rng.random_range(0..=disorder_ms);
        let user = rng.random_range(0..40i64);
        let partition = (user % partitions as i64) as i32;
        let bytes = if rng.random_bool(0.03) {
            match rng.random_range(0..3) {
                0 => b"{oops".to_vec(),
                1 => format!(r#"{{"event_id":"x{i}","user_id":"u"}}"#).into_bytes(),
                _ => format!(r#"{{"event_id":"x{i}","amount":-3}}"#).into_bytes(),
            }
        } else {
            let t = types[rng.random_range(0..types.len())];
            let amount = if t == "purchase" {
                json!(rng.random_range(1..400) as f64 * 0.25)
            } else {
                Value::Null
            };
            serde_json::to_vec(&json!({
                "event_id": format!("r{i}"),
                "user_id": user,
                "product_id": rng.random_range(0..6),
                "event_type": t,
                "page": pages[rng.random_range(0..pages.len())],
                "device": if rng.random_bool(0.5) { "Mobile" } else { "desktop " },
                "country": countries[rng.random_range(0..countries.len())],
                "amount": amount,
                "event_time": ts,
            }))
            .unwrap()
        };
        sent.push((partition, bytes.clone(), nominal));
        out.push(Input {
            partition,
            kafka_ts: nominal,
            bytes,
        });
    }
    out
}

/// Rows by `user_id`, each user's in their order.
pub fn per_user(rows: &[Value]) -> BTreeMap<String, Vec<&Value>> {
    let mut m: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in rows {
        m.entry(r["user_id"].to_string()).or_default().push(r);
    }
    m
}

/// Compares two runs: events_clean in order per user, window tables as sets, ledgers,
/// dead letters.
pub fn assert_same(got: &Expected, want: &Expected, context: &str) {
    assert_eq!(got.ledger, want.ledger, "ledger ({context})");
    assert_eq!(
        got.dead_letters, want.dead_letters,
        "dead letters ({context})"
    );
    assert_eq!(
        got.tables.keys().collect::<Vec<_>>(),
        want.tables.keys().collect::<Vec<_>>(),
        "tables ({context})"
    );
    for (table, rows) in &got.tables {
        let w = &want.tables[table];
        if table == "events_clean" {
            // In order per user (a user's events share an input partition, whose order
            // its task keeps); partitions' rows are not ordered among each other.
            assert_eq!(per_user(rows), per_user(w), "{table} ({context})");
        } else {
            assert_eq!(sorted(rows), sorted(w), "{table} ({context})");
        }
    }
}
