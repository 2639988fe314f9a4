//! A synthetic clickstream (DESIGN §3.1) with realistic skew and mess, used by
//! `produce`, `demo` and `bench engine`:
//!
//! - event types ≈70 % page_view, 20 % click, 7 % add_to_cart, 3 % purchase (only
//!   purchases carry a positive amount);
//! - users and products drawn from the dimension tables with a Zipf skew (a few users
//!   and products get most of the traffic), plus a share of unknown ids and anonymous
//!   (null) users; the event's country is mostly the user's home country;
//! - messy spelling of `event_type`, `device` and `country` (case, spaces, nulls, empty
//!   strings), event times as epoch ms or RFC 3339 text, sometimes missing;
//! - ≈1 % null amounts, ≈2 % duplicates (the same record re-sent up to 50 records
//!   later), a configurable share of bad records (malformed JSON, not an object, wrong
//!   types, negative amounts, no `event_id`);
//! - event times trail the send time by up to `max_disorder_ms` (bounded disorder);
//!   the n-th fresh event is sent at `start + n / rate`.
//!
//! The same configuration (seed, start time, rate, dimensions) gives the same records;
//! event ids (`<seed>-<start>-<n>`, hex) differ between seeds and start times, so a
//! restarted producer never repeats the ids of an earlier run.

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use streams_core::dataflow::aggregate::value_at;
use streams_core::value::Value;
use streams_runtime::topology_file::load_table;

/// Settings of the generator.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Random seed.
    pub seed: u64,
    /// Send time of the first event, ms.
    pub start_ms: i64,
    /// Fresh events per second of event time.
    pub rate_per_sec: f64,
    /// Known users: id and home country (from `users.csv`).
    pub users: Vec<(i64, String)>,
    /// Known product ids (from `products.csv`).
    pub products: Vec<i64>,
    /// Share of events whose user or product id is in no dimension table.
    pub unknown_ids: f64,
    /// Share of records re-sent as duplicates.
    pub duplicates: f64,
    /// Share of events with a null amount.
    pub null_amounts: f64,
    /// Share of malformed / wrong-typed records.
    pub bad: f64,
    /// Maximum lateness of an event time behind its send time, ms.
    pub max_disorder_ms: i64,
}

const COUNTRIES: [&str; 12] = [
    "US", "GB", "DE", "FR", "IN", "BR", "JP", "CA", "AU", "ES", "NL", "SE",
];

impl SynthConfig {
    /// `n` users with ids `1..=n` spread over a fixed list of countries and products
    /// `1..=200`: for benchmarks that want a chosen key cardinality.
    pub fn with_user_range(n: i64) -> Self {
        SynthConfig {
            users: (1..=n.max(1))
                .map(|i| (i, COUNTRIES[i as usize % COUNTRIES.len()].to_string()))
                .collect(),
            products: (1..=200).collect(),
            ..SynthConfig::empty()
        }
    }

    /// Users (with their home country) and products of the dimension tables in `dir`
    /// (`users.csv`, `products.csv`), loaded as the topology loads them and sorted by id
    /// so that a seed always draws the same ids.
    pub fn from_dims(dir: &Path) -> anyhow::Result<Self> {
        let load = |name: &str| {
            load_table(&dir.join(name), &Default::default())
                .map_err(|e| anyhow::anyhow!("{}", e.join("; ")))
        };
        let users_t = load("users.csv")?;
        let products_t = load("products.csv")?;
        let column =
            |t: &streams_core::dataflow::DimTable, name: &str| -> anyhow::Result<Vec<Value>> {
                let i = t
                    .schema
                    .index_of(name)
                    .ok_or_else(|| anyhow::anyhow!("{}: no column `{name}`", t.origin))?;
                Ok((0..t.data.num_rows())
                    .map(|r| value_at(t.data.column(i).as_ref(), r))
                    .collect())
            };
        let mut users: Vec<(i64, String)> = column(&users_t, "user_id")?
            .into_iter()
            .zip(column(&users_t, "country")?)
            .filter_map(|(id, c)| match (id, c) {
                (Value::Int(id), Value::Str(c)) => Some((id, c.to_string())),
                _ => None,
            })
            .collect();
        users.sort_unstable();
        let mut products: Vec<i64> = column(&products_t, "product_id")?
            .into_iter()
            .filter_map(|v| match v {
                Value::Int(id) => Some(id),
                _ => None,
            })
            .collect();
        products.sort_unstable();
        anyhow::ensure!(!users.is_empty(), "the users dimension is empty");
        anyhow::ensure!(!products.is_empty(), "the products dimension is empty");
        Ok(SynthConfig {
            users,
            products,
            ..SynthConfig::empty()
        })
    }

    fn empty() -> Self {
        SynthConfig {
            seed: 42,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            rate_per_sec: 1_000.0,
            users: Vec::new(),
            products: Vec::new(),
            unknown_ids: 0.03,
            duplicates: 0.02,
            null_amounts: 0.01,
            bad: 0.005,
            max_disorder_ms: 5_000,
        }
    }
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig::with_user_range(1_000)
    }
}

/// One generated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthRecord {
    /// Key: the user id as text (copies of an event share a partition).
    pub key: Vec<u8>,
    /// JSON value.
    pub value: Vec<u8>,
    /// Kafka timestamp (the send time), ms.
    pub timestamp: i64,
}

const PAGES: [&str; 12] = [
    "/",
    "/home",
    "/search",
    "/product",
    "/product/reviews",
    "/cart",
    "/checkout",
    "/account",
    "/deals",
    "/category/books",
    "/category/electronics",
    "/help",
];

/// Device spellings: JSON literals (strings with stray case and spaces, empty, null).
const DEVICES: [&str; 10] = [
    "\"mobile\"",
    "\"mobile\"",
    "\"Mobile\"",
    "\"desktop\"",
    "\" desktop\"",
    "\"DESKTOP\"",
    "\"tablet\"",
    "\"tablet \"",
    "\"\"",
    "null",
];

/// An endless, deterministic stream of records.
pub struct Synth {
    cfg: SynthConfig,
    rng: SmallRng,
    users: Zipf<f64>,
    products: Zipf<f64>,
    /// Unknown ids are drawn above these.
    max_user: i64,
    max_product: i64,
    /// Fresh events generated so far.
    n: u64,
    /// Records emitted so far (fresh and duplicates).
    emitted: u64,
    /// Duplicates (key, value) waiting to be re-sent, by (due position, sequence).
    resend: BTreeMap<(u64, u64), (Vec<u8>, Vec<u8>)>,
}

impl Synth {
    /// A generator. `cfg.users` and `cfg.products` must not be empty.
    pub fn new(cfg: SynthConfig) -> Self {
        let zipf = |n: usize, s: f64| {
            // Zipf::new only fails for n < 1 or s < 0, excluded here.
            Zipf::new(n.max(1) as f64, s).unwrap_or_else(|_| unreachable!("valid Zipf"))
        };
        Synth {
            rng: SmallRng::seed_from_u64(cfg.seed),
            users: zipf(cfg.users.len(), 0.8),
            products: zipf(cfg.products.len(), 1.0),
            max_user: cfg.users.iter().map(|u| u.0).max().unwrap_or(0),
            max_product: cfg.products.iter().max().copied().unwrap_or(0),
            cfg,
            n: 0,
            emitted: 0,
            resend: BTreeMap::new(),
        }
    }

    /// Send time of the next fresh event, ms.
    fn send_time(&self) -> i64 {
        let rate = self.cfg.rate_per_sec.max(1e-3);
        self.cfg.start_ms + (self.n as f64 * 1000.0 / rate) as i64
    }

    fn bad_record(&mut self, id: &str, user: i64) -> String {
        match self.rng.random_range(0..6) {
            0 => format!("{{\"event_id\":\"{id}\",\"user_id\":"),
            1 => format!("[\"{id}\",{user}]"),
            2 => {
                format!("{{\"event_id\":\"{id}\",\"user_id\":\"{user}\",\"event_type\":\"click\"}}")
            }
            3 => format!("{{\"event_id\":\"{id}\",\"event_type\":\"purchase\",\"amount\":-5}}"),
            4 => format!(
                "{{\"event_id\":\"{id}\",\"event_type\":\"purchase\",\"amount\":\"12.50\"}}"
            ),
            _ => format!("{{\"user_id\":{user},\"event_type\":\"page_view\"}}"),
        }
    }

    fn fresh(&mut self) -> SynthRecord {
        let send_ts = self.send_time();
        // Unique across runs with another seed or start time (a restarted producer must
        // not repeat the ids of its previous run), the same for the same ones.
        let id = format!("{:x}-{:x}-{}", self.cfg.seed, self.cfg.start_ms, self.n);
        self.n += 1;
        let cfg = &self.cfg;
        let r = &mut self.rng;
        let event_ts = send_ts - r.random_range(0..=cfg.max_disorder_ms.max(0));

        let (user, home) = if r.random_bool(0.03) {
            (None, None)
        } else if r.random_bool(cfg.unknown_ids) {
            (Some(self.max_user + r.random_range(1..=500)), None)
        } else {
            let i = self.users.sample(r) as usize - 1;
            let (id, c) = &cfg.users[i.min(cfg.users.len() - 1)];
            (Some(*id), Some(c.as_str()))
        };
        let key = user.unwrap_or(0).to_string().into_bytes();
        if r.random_bool(cfg.bad) {
            let value = self.bad_record(&id, user.unwrap_or(0)).into_bytes();
            return SynthRecord {
                key,
                value,
                timestamp: send_ts,
            };
        }

        let roll: f64 = r.random();
        let event_type = if roll < 0.70 {
            "page_view"
        } else if roll < 0.90 {
            "click"
        } else if roll < 0.97 {
            "add_to_cart"
        } else {
            "purchase"
        };
        let event_type = match r.random_range(0..40) {
            0 => event_type.to_uppercase(),
            1 => format!(" {event_type} "),
            _ => event_type.to_string(),
        };
        let product = if event_type.contains("page_view") && r.random_bool(0.4) {
            "null".to_string()
        } else if r.random_bool(cfg.unknown_ids) {
            (self.max_product + r.random_range(1..=50)).to_string()
        } else {
            let i = self.products.sample(r) as usize - 1;
            cfg.products[i.min(cfg.products.len() - 1)].to_string()
        };
        let amount = if r.random_bool(cfg.null_amounts) {
            "null".to_string()
        } else if event_type.trim().eq_ignore_ascii_case("purchase") {
            format!("{:.2}", r.random_range(1.0..500.0))
        } else {
            "0".to_string()
        };
        let page = if r.random_bool(0.01) {
            "null".to_string()
        } else {
            format!("\"{}\"", PAGES[r.random_range(0..PAGES.len())])
        };
        let device = DEVICES[r.random_range(0..DEVICES.len())];
        let country_code = match home {
            Some(c) if r.random_bool(0.9) => c.to_string(),
            _ => COUNTRIES[r.random_range(0..COUNTRIES.len())].to_string(),
        };
        let country = match r.random_range(0..50) {
            0 => "null".to_string(),
            1 => "\"\"".to_string(),
            2..=4 => format!("\"{}\"", country_code.to_lowercase()),
            5 | 6 => format!("\" {country_code} \""),
            _ => format!("\"{country_code}\""),
        };
        let time = match r.random_range(0..200) {
            0 => None,
            1..=100 => Some(event_ts.to_string()),
            _ => Some(format!(
                "\"{}\"",
                streams_core::value::format_timestamp(event_ts)
            )),
        };
        let user_json = user.map_or("null".to_string(), |u| u.to_string());
        let mut value = format!(
            "{{\"event_id\":\"{id}\",\"user_id\":{user_json},\"product_id\":{product},\"event_type\":\"{event_type}\",\"page\":{page},\"device\":{device},\"country\":{country},\"amount\":{amount}"
        );
        if let Some(t) = time {
            value.push_str(",\"event_time\":");
            value.push_str(&t);
        }
        value.push('}');
        SynthRecord {
            key,
            value: value.into_bytes(),
            timestamp: send_ts,
        }
    }
}

impl Iterator for Synth {
    type Item = SynthRecord;

    fn next(&mut self) -> Option<SynthRecord> {
        self.emitted += 1;
        if let Some(entry) = self.resend.first_entry() {
            if entry.key().0 <= self.emitted {
                let (key, value) = entry.remove();
                return Some(SynthRecord {
                    key,
                    value,
                    timestamp: self.send_time(),
                });
            }
        }
        let rec = self.fresh();
        if self.rng.random_bool(self.cfg.duplicates) {
            let due = self.emitted + self.rng.random_range(1..=50);
            self.resend
                .insert((due, self.n), (rec.key.clone(), rec.value.clone()));
        }
        Some(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(cfg: SynthConfig, n: usize) -> Vec<SynthRecord> {
        Synth::new(cfg).take(n).collect()
    }

    #[test]
    fn same_seed_same_records() {
        let a = take(SynthConfig::default(), 5_000);
        assert_eq!(a, take(SynthConfig::default(), 5_000));
        let c = take(
            SynthConfig {
                seed: 7,
                ..SynthConfig::default()
            },
            5_000,
        );
        assert_ne!(a, c);
        let d = take(
            SynthConfig {
                start_ms: 0,
                ..SynthConfig::default()
            },
            5_000,
        );
        assert_ne!(a, d);
        // Ids of runs with another start time never collide (a restarted producer).
        let ids = |recs: &[SynthRecord]| -> std::collections::HashSet<String> {
            recs.iter()
                .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.value).ok())
                .filter_map(|v| v.get("event_id").and_then(|i| i.as_str()).map(String::from))
                .collect()
        };
        assert!(ids(&a).is_disjoint(&ids(&d)));
        assert!(ids(&a).is_disjoint(&ids(&c)));
    }

    #[test]
    fn the_dimension_files_are_read() {
        let dims = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../topology/dims");
        let cfg = SynthConfig::from_dims(&dims).unwrap();
        assert_eq!(cfg.users.len(), 1_000);
        assert_eq!(cfg.products.len(), 200);
        assert_eq!(cfg.users[0], (1, "FR".to_string()));
        let err = SynthConfig::from_dims(Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/users.csv"), "{err}");
    }

    #[test]
    fn mix_mess_and_skew_are_as_documented() {
        let n = 100_000;
        let recs = take(SynthConfig::default(), n);
        let values: Vec<Option<serde_json::Value>> = recs
            .iter()
            .map(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.value)
                    .ok()
                    .filter(|v| v.is_object() && v.get("event_id").is_some())
            })
            .collect();
        let share = |f: &dyn Fn(&serde_json::Value) -> bool| {
            values.iter().flatten().filter(|v| f(v)).count() as f64 / n as f64
        };
        let kind =
            |v: &serde_json::Value| v["event_type"].as_str().unwrap_or("").trim().to_lowercase();
        let near = |x: f64, want: f64, tol: f64| assert!((x - want).abs() < tol, "{x} vs {want}");
        near(share(&|v| kind(v) == "page_view"), 0.70, 0.02);
        near(share(&|v| kind(v) == "click"), 0.20, 0.02);
        near(share(&|v| kind(v) == "purchase"), 0.03, 0.005);
        near(
            share(&|v| v.get("amount").is_some_and(|a| a.is_null())),
            0.01,
            0.003,
        );
        // Only purchases carry money.
        assert_eq!(
            share(&|v| kind(v) != "purchase" && v["amount"].as_f64().is_some_and(|a| a != 0.0)),
            0.0
        );
        // Messy spelling exists.
        assert!(share(&|v| v["event_type"].as_str().is_some_and(|s| s != s.trim())) > 0.01);
        assert!(share(&|v| v["country"].is_null()) > 0.01);
        assert!(share(&|v| v["device"].as_str() == Some("")) > 0.01);
        // Duplicates: the same event id again, with the same bytes.
        let mut seen = std::collections::HashMap::new();
        let mut dups = 0;
        for r in &recs {
            if let Some(prev) = seen.insert(r.value.clone(), r.key.clone()) {
                assert_eq!(prev, r.key, "a duplicate keeps its key");
                dups += 1;
            }
        }
        near(dups as f64 / n as f64, 0.02, 0.005);
        // Bad records: neither JSON objects nor with an event id.
        let bad = values.iter().filter(|v| v.is_none()).count() as f64 / n as f64;
        assert!(bad > 0.001 && bad < 0.01, "bad share {bad}");
        // Skew: the most active 1 % of users make far more than 1 % of the events.
        let mut per_user: std::collections::HashMap<i64, usize> = Default::default();
        for v in values.iter().flatten() {
            if let Some(u) = v["user_id"].as_i64() {
                *per_user.entry(u).or_default() += 1;
            }
        }
        let mut counts: Vec<usize> = per_user.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top: usize = counts.iter().take(10).sum();
        assert!(top as f64 / n as f64 > 0.05, "top-10 users {top}");
        // Unknown users exist (ids above the dimension's).
        assert!(share(&|v| v["user_id"].as_i64().is_some_and(|u| u > 1_000)) > 0.01);
    }

    #[test]
    fn event_times_advance_at_the_rate_with_bounded_disorder() {
        let cfg = SynthConfig {
            rate_per_sec: 100.0,
            max_disorder_ms: 2_000,
            ..SynthConfig::default()
        };
        let start = cfg.start_ms;
        let recs = take(cfg, 10_000);
        let last = recs.last().unwrap().timestamp;
        // 10,000 records ≈ 9,800 fresh events at 100/s ≈ 98 s.
        assert!(
            (97_000..=100_000).contains(&(last - start)),
            "{}",
            last - start
        );
        for w in recs.windows(2) {
            assert!(w[1].timestamp >= w[0].timestamp, "send times never go back");
        }
        for r in &recs {
            let v: serde_json::Value = match serde_json::from_slice(&r.value) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if let Some(t) = v.get("event_time").and_then(|t| t.as_i64()) {
                assert!(
                    t <= r.timestamp && t >= r.timestamp - 2_000 - 500 * 10,
                    "{t}"
                );
            }
        }
    }
}
