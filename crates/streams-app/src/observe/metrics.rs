//! The Prometheus metrics of a running app (`/metrics`), set from the live view's samples
//! (once a second and at each checkpoint), never per record.
//!
//! Counters named after the ledger count since the app's state was created: they start
//! at the checkpoint's values, so they agree with the ledger across restarts. The others
//! count since the process started, as Prometheus counters usually do.

use std::collections::BTreeMap;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use streams_runtime::Ledger;

use super::Sample;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every metric family, registered once.
pub struct Metrics {
    registry: Registry,
    consumed: Counter,
    accepted: Counter,
    duplicate: Counter,
    dead_lettered: Family<Labels, Counter>,
    late: Family<Labels, Counter>,
    filtered: Family<Labels, Counter>,
    lost: Counter,
    partition_consumed: Family<Labels, Counter>,
    emitted: Family<Labels, Counter>,
    lag: Family<Labels, Gauge>,
    idle: Family<Labels, Gauge>,
    idle_partitions: Gauge,
    watermark: FloatGauge,
    watermark_delay: FloatGauge,
    checkpoint_duration: Histogram,
    checkpoint_size: Histogram,
    epoch: Gauge,
    last_checkpoint: FloatGauge,
    outbox: Gauge,
    state_size: Gauge,
    block_cache: Gauge,
    rss: Gauge,
    /// What the counters were last set to, to add only the difference.
    published: Published,
}

#[derive(Default)]
struct Published {
    ledger: Ledger,
    partition_consumed: BTreeMap<Labels, u64>,
    emitted: BTreeMap<Labels, u64>,
}

fn add(counter: &Counter, now: u64, before: u64) {
    if now > before {
        counter.inc_by(now - before);
    }
}

impl Metrics {
    /// The families of app `app_id`, every one labelled with it.
    pub fn new(app_id: &str) -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix_and_labels(
                "streams",
                [("app_id".into(), app_id.to_string().into())].into_iter(),
            ),
            consumed: Counter::default(),
            accepted: Counter::default(),
            duplicate: Counter::default(),
            dead_lettered: Family::default(),
            late: Family::default(),
            filtered: Family::default(),
            lost: Counter::default(),
            partition_consumed: Family::default(),
            emitted: Family::default(),
            lag: Family::default(),
            idle: Family::default(),
            idle_partitions: Gauge::default(),
            watermark: FloatGauge::default(),
            watermark_delay: FloatGauge::default(),
            checkpoint_duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            checkpoint_size: Histogram::new(exponential_buckets(1024.0, 4.0, 12)),
            epoch: Gauge::default(),
            last_checkpoint: FloatGauge::default(),
            outbox: Gauge::default(),
            state_size: Gauge::default(),
            block_cache: Gauge::default(),
            rss: Gauge::default(),
            published: Published::default(),
        };
        let r = &mut m.registry;
        r.register(
            "records_consumed",
            "Input records read (ledger; since the state was created)",
            m.consumed.clone(),
        );
        r.register(
            "records_accepted",
            "Input records that passed validation and dedup (ledger)",
            m.accepted.clone(),
        );
        r.register(
            "records_duplicate",
            "Input records dropped as duplicates (ledger)",
            m.duplicate.clone(),
        );
        r.register(
            "records_dead_lettered",
            "Input records sent to the dead-letter topic, per reason (ledger)",
            m.dead_lettered.clone(),
        );
        r.register(
            "records_late",
            "Rows left out by a window aggregate because their windows had closed (ledger)",
            m.late.clone(),
        );
        r.register(
            "records_filtered",
            "Rows a filter left out (ledger)",
            m.filtered.clone(),
        );
        r.register("records_lost", "Input records deleted by retention before they were read, skipped with --allow-input-loss (ledger)", m.lost.clone());
        r.register(
            "partition_records_consumed",
            "Input records read per partition by this process",
            m.partition_consumed.clone(),
        );
        r.register("rows_emitted", "Output records handed to each sink by this process, per table (dead letters: table dlq)", m.emitted.clone());
        r.register("consumer_lag_records", "Records between the position and the end of the partition as the last fetch reported it", m.lag.clone());
        r.register("partition_idle", "1 when the input partition is idle (caught up and quiet: it no longer holds the watermark)", m.idle.clone());
        r.register(
            "idle_partitions",
            "Input partitions that are idle",
            m.idle_partitions.clone(),
        );
        r.register(
            "watermark_timestamp_seconds",
            "The event-time watermark (Unix seconds; NaN before the first)",
            m.watermark.clone(),
        );
        r.register(
            "watermark_delay_seconds",
            "Wall clock minus the watermark (NaN before the first)",
            m.watermark_delay.clone(),
        );
        r.register(
            "checkpoint_duration_seconds",
            "Time to prepare and write a checkpoint",
            m.checkpoint_duration.clone(),
        );
        r.register(
            "checkpoint_size_bytes",
            "Bytes a checkpoint wrote (state, outbox, meta)",
            m.checkpoint_size.clone(),
        );
        r.register(
            "checkpoint_epoch",
            "Number of the last checkpoint",
            m.epoch.clone(),
        );
        r.register(
            "last_checkpoint_timestamp_seconds",
            "Wall-clock time of the last checkpoint written by this process (Unix seconds)",
            m.last_checkpoint.clone(),
        );
        r.register(
            "outbox_entries",
            "Outbox entries checkpointed and not yet deleted",
            m.outbox.clone(),
        );
        r.register(
            "state_size_bytes",
            "Bytes of the state directory's files",
            m.state_size.clone(),
        );
        r.register(
            "rocksdb_block_cache_usage_bytes",
            "Bytes in RocksDB's block cache",
            m.block_cache.clone(),
        );
        r.register(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            m.rss.clone(),
        );
        m
    }

    /// Sets every metric from a sample.
    pub fn update(&mut self, s: &Sample) {
        let l = &s.ledger;
        let old = &self.published.ledger;
        add(&self.consumed, l.consumed, old.consumed);
        add(&self.accepted, l.accepted, old.accepted);
        add(&self.duplicate, l.duplicate, old.duplicate);
        add(&self.lost, l.lost, old.lost);
        for (family, label, now, before) in [
            (
                &self.dead_lettered,
                "reason",
                &l.dead_letter_reasons,
                &old.dead_letter_reasons,
            ),
            (&self.late, "aggregate", &l.late, &old.late),
            (&self.filtered, "processor", &l.filtered, &old.filtered),
        ] {
            for (k, n) in now {
                let c = family.get_or_create(&labels(&[(label, k)]));
                add(&c, *n, before.get(k).copied().unwrap_or(0));
            }
        }
        self.published.ledger = l.clone();

        let mut idle = 0;
        for p in &s.partitions {
            let part = p.partition.to_string();
            let key = labels(&[("topic", &p.topic), ("partition", &part)]);
            let before = self
                .published
                .partition_consumed
                .insert(key.clone(), p.consumed);
            add(
                &self.partition_consumed.get_or_create(&key),
                p.consumed,
                before.unwrap_or(0),
            );
            self.idle.get_or_create(&key).set(i64::from(p.idle));
            idle += i64::from(p.idle);
            if let Some(lag) = p.lag {
                self.lag.get_or_create(&key).set(lag);
            }
        }
        self.idle_partitions.set(idle);
        for (sink, table, rows) in &s.emitted {
            let key = labels(&[("table", table), ("sink", sink)]);
            let before = self.published.emitted.insert(key.clone(), *rows);
            add(
                &self.emitted.get_or_create(&key),
                *rows,
                before.unwrap_or(0),
            );
        }
        match s.watermark_ms {
            Some(w) => {
                self.watermark.set(w as f64 / 1000.0);
                self.watermark_delay.set((s.wall_ms - w) as f64 / 1000.0);
            }
            None => {
                self.watermark.set(f64::NAN);
                self.watermark_delay.set(f64::NAN);
            }
        }
        for c in &s.checkpoints {
            self.checkpoint_duration
                .observe((c.prepare_ms + c.write_ms) as f64 / 1000.0);
            self.checkpoint_size.observe(c.bytes as f64);
            self.last_checkpoint.set(c.at_ms as f64 / 1000.0);
        }
        self.epoch.set(s.epoch as i64);
        self.outbox.set(s.outbox_entries as i64);
        self.state_size.set(s.state_size_bytes as i64);
        self.block_cache.set(s.block_cache_bytes as i64);
        self.rss.set(s.rss_bytes as i64);
    }

    /// The exposition text (OpenMetrics).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
