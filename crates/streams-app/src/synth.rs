//! A synthetic clickstream (DESIGN §3.1) with realistic skew and mess: event types
//! ≈70 % page_view, 20 % click, 7 % add_to_cart, 3 % purchase; users and products
//! partly unknown; messy device/country spelling; duplicates; null amounts; bounded
//! out-of-order event times. Same seed → same records.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Settings of the generator.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Random seed.
    pub seed: u64,
    /// Event time of the first event, ms.
    pub start_ms: i64,
    /// Events per second of event time.
    pub rate_per_sec: u64,
    /// Distinct user ids (1..=users; ids above 1000 are not in the users dimension).
    pub users: i64,
    /// Fraction of records re-sent as duplicates.
    pub duplicates: f64,
    /// Fraction of malformed / wrong-typed records.
    pub bad: f64,
    /// Maximum lateness of an event relative to its position, ms.
    pub max_disorder_ms: i64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 42,
            start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            rate_per_sec: 1_000,
            users: 2_000,
            duplicates: 0.02,
            bad: 0.005,
            max_disorder_ms: 5_000,
        }
    }
}

/// One generated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthRecord {
    /// Key: the user id as text (copies of an event share a partition).
    pub key: Vec<u8>,
    /// JSON value.
    pub value: Vec<u8>,
    /// Kafka timestamp to use, ms.
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
const DEVICES: [&str; 8] = [
    "mobile", "Mobile", " desktop", "DESKTOP", "tablet", "tablet ", "", "mobile",
];
const COUNTRIES: [&str; 14] = [
    "US", "us", " GB", "DE", "de ", "FR", "IN", "BR", "JP", "CA", "AU", "ES", "", "US",
];

/// An endless, deterministic stream of records.
pub struct Synth {
    cfg: SynthConfig,
    rng: SmallRng,
    n: u64,
    pending_dup: Option<SynthRecord>,
}

impl Synth {
    /// A generator.
    pub fn new(cfg: SynthConfig) -> Self {
        Synth {
            rng: SmallRng::seed_from_u64(cfg.seed),
            cfg,
            n: 0,
            pending_dup: None,
        }
    }

    fn event_time(&mut self) -> (i64, i64) {
        let rate = self.cfg.rate_per_sec.max(1) as i64;
        let nominal = self.cfg.start_ms + (self.n as i64 * 1000) / rate;
        let jitter = if self.cfg.max_disorder_ms > 0 {
            self.rng.random_range(0..=self.cfg.max_disorder_ms)
        } else {
            0
        };
        // Event time trails the record time by up to max_disorder: out of order but bounded.
        (nominal - jitter, nominal)
    }
}

impl Iterator for Synth {
    type Item = SynthRecord;

    fn next(&mut self) -> Option<SynthRecord> {
        if let Some(d) = self.pending_dup.take() {
            return Some(d);
        }
        let (event_ts, kafka_ts) = self.event_time();
        let id = self.n;
        self.n += 1;
        let r = &mut self.rng;
        let user: i64 = if r.random_bool(0.05) {
            0
        } else {
            r.random_range(1..=self.cfg.users.max(1))
        };
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
        let key = user.to_string().into_bytes();
        if r.random_bool(self.cfg.bad) {
            let value = match r.random_range(0..4) {
                0 => format!("{{\"event_id\":\"e{id}\",\"user_id\":"),
                1 => format!("{{\"event_id\":\"e{id}\",\"user_id\":\"{user}\"}}"),
                2 => format!("{{\"event_id\":\"e{id}\",\"amount\":-5}}"),
                _ => format!("{{\"user_id\":{user}}}"),
            };
            return Some(SynthRecord {
                key,
                value: value.into_bytes(),
                timestamp: kafka_ts,
            });
        }
        let product = if r.random_bool(0.3) {
            "null".to_string()
        } else {
            r.random_range(1..=220).to_string()
        };
        let amount = if event_type == "purchase" {
            if r.random_bool(0.01 / 0.03) {
                "null".to_string()
            } else {
                format!("{:.2}", r.random_range(1.0..500.0))
            }
        } else {
            "null".to_string()
        };
        let page = PAGES[r.random_range(0..PAGES.len())];
        let device = DEVICES[r.random_range(0..DEVICES.len())];
        let country = COUNTRIES[r.random_range(0..COUNTRIES.len())];
        let time = if r.random_bool(0.5) {
            event_ts.to_string()
        } else {
            format!("\"{}\"", streams_core::value::format_timestamp(event_ts))
        };
        let value = format!(
            "{{\"event_id\":\"e{id}\",\"user_id\":{user},\"product_id\":{product},\"event_type\":\"{event_type}\",\"page\":\"{page}\",\"device\":\"{device}\",\"country\":\"{country}\",\"amount\":{amount},\"event_time\":{time}}}"
        );
        let rec = SynthRecord {
            key,
            value: value.into_bytes(),
            timestamp: kafka_ts,
        };
        if r.random_bool(self.cfg.duplicates) {
            self.pending_dup = Some(rec.clone());
        }
        Some(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_records() {
        let a: Vec<SynthRecord> = Synth::new(SynthConfig::default()).take(2_000).collect();
        let b: Vec<SynthRecord> = Synth::new(SynthConfig::default()).take(2_000).collect();
        assert_eq!(a, b);
        let c: Vec<SynthRecord> = Synth::new(SynthConfig {
            seed: 7,
            ..SynthConfig::default()
        })
        .take(2_000)
        .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn mix_is_roughly_as_documented() {
        let recs: Vec<SynthRecord> = Synth::new(SynthConfig::default()).take(50_000).collect();
        let text: Vec<String> = recs
            .iter()
            .map(|r| String::from_utf8_lossy(&r.value).into_owned())
            .collect();
        let share = |needle: &str| {
            text.iter().filter(|t| t.contains(needle)).count() as f64 / text.len() as f64
        };
        assert!((share("\"page_view\"") - 0.70).abs() < 0.02);
        assert!((share("\"purchase\"") - 0.03).abs() < 0.01);
        let mut ids: Vec<&str> = text.iter().filter_map(|t| t.split('"').nth(3)).collect();
        let before = ids.len();
        ids.sort();
        ids.dedup();
        let dup = 1.0 - ids.len() as f64 / before as f64;
        assert!((0.01..0.03).contains(&dup), "duplicate share {dup}");
    }
}
