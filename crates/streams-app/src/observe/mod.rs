//! The live view of a running app: samples taken from the engine, the source and the
//! delivery coordinator once a second (and at the end), turned into Prometheus metrics
//! (`/metrics`) and one JSON document (`/status.json`) that the status page (`/`) and
//! the tests read.
//!
//! ```text
//! runner loop ──(every second)──▶ Sample ─▶ Observer::update ─┬─▶ Metrics (prometheus-client)
//!                                                             └─▶ StatusDoc (JSON string)
//! HTTP thread (tiny_http): /metrics, /status.json, / ◀── both, behind one mutex each
//! ```
//!
//! Nothing here runs per record: the engine counts rows per batch, the sample reads
//! those counts.

pub mod metrics;
pub mod server;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use streams_core::dataflow::GraphNode;
use streams_core::time::{END_OF_TIME, MIN_WATERMARK};
use streams_runtime::outbox::DLQ_TABLE;
use streams_runtime::{CheckpointStats, Delivery, Engine, Ledger};

pub use metrics::Metrics;
pub use server::Server;

/// How long the throughput chart and the rate windows reach back.
const HISTORY_MS: i64 = 10 * 60 * 1000;
/// Rates on the graph's edges are averaged over this window.
const RATE_WINDOW_MS: i64 = 5_000;
/// Checkpoints the status page lists.
const CHECKPOINTS_SHOWN: usize = 20;

/// An input partition in a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSample {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset to read.
    pub next_offset: Option<i64>,
    /// Records read by this process.
    pub consumed: u64,
    /// Records left to read, from the end the last fetch reported (`None`: not known yet).
    pub lag: Option<i64>,
    /// Largest event time seen, ms.
    pub max_event_time_ms: Option<i64>,
    /// Caught up and quiet for the idle timeout.
    pub idle: bool,
}

/// Everything the live view reads from a running app at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Wall clock, ms.
    pub wall_ms: i64,
    /// Last checkpoint's number.
    pub epoch: u64,
    /// The watermark (`None` before the first event time, and after the end of input).
    pub watermark_ms: Option<i64>,
    /// The ledger (since the state was created).
    pub ledger: Ledger,
    /// Input partitions.
    pub partitions: Vec<PartitionSample>,
    /// The topology's steps with rows through each (this process).
    pub graph: Vec<GraphNode>,
    /// The sinks, in delivery order.
    pub sinks: Vec<String>,
    /// Records each sink took, as (sink, table, records); table `dlq` for dead letters.
    pub emitted: Vec<(String, String, u64)>,
    /// Checkpoints written since the previous sample.
    pub checkpoints: Vec<CheckpointStats>,
    /// Outbox entries checkpointed and not yet deleted.
    pub outbox_entries: u64,
    /// Bytes of the state's files.
    pub state_size_bytes: u64,
    /// Bytes in RocksDB's block cache.
    pub block_cache_bytes: u64,
    /// Resident memory of the process.
    pub rss_bytes: u64,
    /// Something changed since the last checkpoint.
    pub uncommitted: bool,
}

impl Sample {
    /// Takes a sample of a running app: `lag` per input partition as the source knows
    /// it, the state's size as last measured (a directory listing is not per second).
    pub fn take(
        engine: &mut Engine,
        delivery: &Delivery,
        lag: &BTreeMap<(String, i32), Option<i64>>,
        state_size_bytes: u64,
        wall_ms: i64,
    ) -> Sample {
        let tables = engine.tables();
        let table_name = |t: u16| {
            if t == DLQ_TABLE {
                "dlq".to_string()
            } else {
                tables
                    .get(t as usize)
                    .map_or_else(|| t.to_string(), |i| i.name.clone())
            }
        };
        let emitted = delivery
            .emitted()
            .into_iter()
            .map(|(s, t, n)| (s.to_string(), table_name(t), n))
            .collect();
        let w = engine.watermark();
        Sample {
            wall_ms,
            epoch: engine.epoch(),
            watermark_ms: (w > MIN_WATERMARK && w < END_OF_TIME).then_some(w),
            ledger: engine.ledger(),
            partitions: engine
                .partition_status(wall_ms)
                .into_iter()
                .map(|p| {
                    let tp = (p.topic.clone(), p.partition);
                    PartitionSample {
                        lag: lag.get(&tp).copied().flatten(),
                        topic: p.topic,
                        partition: p.partition,
                        next_offset: p.next_offset,
                        consumed: p.consumed,
                        max_event_time_ms: p.max_event_time,
                        idle: p.idle,
                    }
                })
                .collect(),
            graph: engine.graph(),
            sinks: delivery.sink_names(),
            emitted,
            checkpoints: engine.take_checkpoint_stats(),
            outbox_entries: engine.outbox_entries(),
            state_size_bytes,
            block_cache_bytes: engine.block_cache_usage(),
            rss_bytes: memory_stats::memory_stats().map_or(0, |m| m.physical_mem as u64),
            uncommitted: engine.has_uncommitted(),
        }
    }
}

/// A node of the status page's graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDoc {
    /// Unique id (`n0`, `n1`, ... for the topology's steps, `dlq`, `sink:<name>`).
    pub id: String,
    /// Name shown.
    pub name: String,
    /// `source`, a processor type, `table`, `dead_letters` or `sink`.
    pub kind: String,
    /// Rows it received in this process.
    pub rows_in: u64,
    /// Rows it forwarded in this process.
    pub rows_out: u64,
}

/// An edge of the status page's graph: rows that went from one node to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeDoc {
    /// Node id it leaves.
    pub from: String,
    /// Node id it enters.
    pub to: String,
    /// Rows along it in this process.
    pub rows: u64,
    /// Rows per second over the last seconds.
    pub rate: f64,
}

/// One point of the throughput chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputPoint {
    /// Wall clock, ms.
    pub t_ms: i64,
    /// Input records per second since the previous point.
    pub records_per_sec: f64,
}

/// What `/status.json` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDoc {
    /// The app.
    pub app_id: String,
    /// `running`, or `finished` once a bounded run delivered its end.
    pub state: String,
    /// Bounded run (`--until end`).
    pub bounded: bool,
    /// When the process started, ms.
    pub started_at_ms: i64,
    /// When this document was made, ms.
    pub updated_at_ms: i64,
    /// Last checkpoint's number.
    pub epoch: u64,
    /// The watermark, ms (`None` before the first event time and after the end).
    pub watermark_ms: Option<i64>,
    /// Wall clock minus the watermark, ms.
    pub watermark_delay_ms: Option<i64>,
    /// The ledger (since the state was created).
    pub ledger: Ledger,
    /// Whether it balances.
    pub ledger_balanced: bool,
    /// Input records per second over the last seconds.
    pub records_per_sec: f64,
    /// Total lag over the partitions that know theirs.
    pub lag: Option<i64>,
    /// Input partitions.
    pub partitions: Vec<PartitionSample>,
    /// The graph: source, processors, tables, dead letters, sinks.
    pub nodes: Vec<NodeDoc>,
    /// Its edges.
    pub edges: Vec<EdgeDoc>,
    /// The last checkpoints, newest last.
    pub checkpoints: Vec<CheckpointDoc>,
    /// Since when (ms) something changed that no checkpoint holds yet (`None`: nothing).
    pub uncommitted_since_ms: Option<i64>,
    /// Outbox entries checkpointed and not yet deleted.
    pub outbox_entries: u64,
    /// Bytes of the state's files.
    pub state_size_bytes: u64,
    /// Bytes in RocksDB's block cache.
    pub block_cache_bytes: u64,
    /// Resident memory of the process.
    pub rss_bytes: u64,
    /// Input records per second, for the last minutes.
    pub throughput: Vec<ThroughputPoint>,
}

/// A checkpoint as the status page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointDoc {
    /// Its number.
    pub epoch: u64,
    /// When it was written, ms.
    pub at_ms: i64,
    /// Prepare + write, ms.
    pub duration_ms: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Outbox entries it added.
    pub outbox_entries: u64,
}

/// Whether a status document says the app is healthy at `now_ms`: it was updated within
/// `max_age_ms` (the processing loop is alive, not stuck retrying a sink) and nothing has
/// waited longer than that for a checkpoint. Returns the reason when it is not.
pub fn health(doc: &StatusDoc, now_ms: i64, max_age_ms: i64) -> Result<(), String> {
    if doc.state == "finished" {
        return Ok(());
    }
    let age = now_ms - doc.updated_at_ms;
    if age > max_age_ms {
        return Err(format!(
            "the status was last updated {} s ago (the processing loop is stuck or stopped)",
            age / 1000
        ));
    }
    if let Some(since) = doc.uncommitted_since_ms {
        let waited = now_ms - since;
        if waited > max_age_ms {
            return Err(format!(
                "no checkpoint for {} s while there is work to commit",
                waited / 1000
            ));
        }
    }
    Ok(())
}

/// One point of history: input records, and rows along each edge.
#[derive(Debug, Clone)]
struct Point {
    t_ms: i64,
    consumed: u64,
    edges: BTreeMap<(String, String), u64>,
}

/// Keeps the history the rates and the chart need, and publishes each sample.
pub struct Observer {
    app_id: String,
    bounded: bool,
    started_at_ms: i64,
    history: VecDeque<Point>,
    checkpoints: VecDeque<CheckpointDoc>,
    uncommitted_since: Option<i64>,
    /// Dead letters counted in the ledger when this process started.
    dead_lettered_at_start: Option<u64>,
    metrics: Arc<Mutex<Metrics>>,
    status: Arc<Mutex<String>>,
}

impl Observer {
    /// An observer of `app_id`.
    pub fn new(app_id: &str, bounded: bool, started_at_ms: i64) -> Observer {
        Observer {
            app_id: app_id.to_string(),
            bounded,
            started_at_ms,
            history: VecDeque::new(),
            checkpoints: VecDeque::new(),
            uncommitted_since: None,
            dead_lettered_at_start: None,
            metrics: Arc::new(Mutex::new(Metrics::new(app_id))),
            status: Arc::new(Mutex::new(String::from("{}"))),
        }
    }

    /// What the HTTP server serves: the metrics and the status document.
    pub fn shared(&self) -> (Arc<Mutex<Metrics>>, Arc<Mutex<String>>) {
        (self.metrics.clone(), self.status.clone())
    }

    /// Publishes a sample: metrics, then the status document.
    pub fn update(&mut self, sample: &Sample, finished: bool) {
        if let Ok(mut m) = self.metrics.lock() {
            m.update(sample);
        }
        let doc = self.document(sample, finished);
        let json = serde_json::to_string(&doc).unwrap_or_else(|_| String::from("{}"));
        if let Ok(mut s) = self.status.lock() {
            *s = json;
        }
    }

    /// The status document of a sample (and the history before it).
    pub fn document(&mut self, s: &Sample, finished: bool) -> StatusDoc {
        let at_start = *self
            .dead_lettered_at_start
            .get_or_insert(s.ledger.dead_lettered);
        if s.uncommitted {
            self.uncommitted_since.get_or_insert(s.wall_ms);
        } else {
            self.uncommitted_since = None;
        }
        for c in &s.checkpoints {
            self.checkpoints.push_back(CheckpointDoc {
                epoch: c.epoch,
                at_ms: c.at_ms,
                duration_ms: c.prepare_ms + c.write_ms,
                bytes: c.bytes,
                outbox_entries: c.outbox_entries,
            });
        }
        while self.checkpoints.len() > CHECKPOINTS_SHOWN {
            self.checkpoints.pop_front();
        }
        let (nodes, mut edges) = graph(s, s.ledger.dead_lettered.saturating_sub(at_start));
        let point = Point {
            t_ms: s.wall_ms,
            consumed: s.ledger.consumed,
            edges: edges
                .iter()
                .map(|e| ((e.from.clone(), e.to.clone()), e.rows))
                .collect(),
        };
        if self.history.back().is_some_and(|p| p.t_ms >= point.t_ms) {
            self.history.pop_back();
        }
        self.history.push_back(point);
        while self
            .history
            .front()
            .is_some_and(|p| s.wall_ms - p.t_ms > HISTORY_MS)
        {
            self.history.pop_front();
        }
        let now = self.history.back().cloned();
        let then = self
            .history
            .iter()
            .find(|p| s.wall_ms - p.t_ms <= RATE_WINDOW_MS)
            .cloned();
        let mut records_per_sec = 0.0;
        if let (Some(now), Some(then)) = (now, then) {
            let secs = (now.t_ms - then.t_ms) as f64 / 1000.0;
            if secs > 0.0 {
                records_per_sec = now.consumed.saturating_sub(then.consumed) as f64 / secs;
                for e in &mut edges {
                    let before = then
                        .edges
                        .get(&(e.from.clone(), e.to.clone()))
                        .copied()
                        .unwrap_or(0);
                    e.rate = e.rows.saturating_sub(before) as f64 / secs;
                }
            }
        }
        let throughput = self
            .history
            .iter()
            .zip(self.history.iter().skip(1))
            .filter(|(a, b)| b.t_ms > a.t_ms)
            .map(|(a, b)| ThroughputPoint {
                t_ms: b.t_ms,
                records_per_sec: b.consumed.saturating_sub(a.consumed) as f64
                    / ((b.t_ms - a.t_ms) as f64 / 1000.0),
            })
            .collect();
        let known: Vec<i64> = s.partitions.iter().filter_map(|p| p.lag).collect();
        StatusDoc {
            app_id: self.app_id.clone(),
            state: if finished { "finished" } else { "running" }.into(),
            bounded: self.bounded,
            started_at_ms: self.started_at_ms,
            updated_at_ms: s.wall_ms,
            epoch: s.epoch,
            watermark_ms: s.watermark_ms,
            watermark_delay_ms: s.watermark_ms.map(|w| s.wall_ms - w),
            ledger_balanced: s.ledger.is_balanced(),
            ledger: s.ledger.clone(),
            records_per_sec,
            lag: (!known.is_empty()).then(|| known.iter().sum()),
            partitions: s.partitions.clone(),
            nodes,
            edges,
            checkpoints: self.checkpoints.iter().cloned().collect(),
            uncommitted_since_ms: self.uncommitted_since,
            outbox_entries: s.outbox_entries,
            state_size_bytes: s.state_size_bytes,
            block_cache_bytes: s.block_cache_bytes,
            rss_bytes: s.rss_bytes,
            throughput,
        }
    }
}

/// The graph of a sample: the topology's steps (`n<i>`), the dead letters (`dlq`, fed by
/// the source) and the sinks (`sink:<name>`, fed by the tables they take); every edge
/// carries the rows its upstream end forwarded (rates are filled in by the caller).
fn graph(s: &Sample, dead_letters: u64) -> (Vec<NodeDoc>, Vec<EdgeDoc>) {
    let mut nodes: Vec<NodeDoc> = s
        .graph
        .iter()
        .enumerate()
        .map(|(i, n)| NodeDoc {
            id: format!("n{i}"),
            name: n.name.clone(),
            kind: n.kind.clone(),
            rows_in: n.rows_in,
            rows_out: n.rows_out,
        })
        .collect();
    let mut edges = Vec::new();
    // Inputs are the source or processors (a table feeds no step).
    let step = |name: &str| {
        s.graph
            .iter()
            .position(|n| n.name == name && n.kind != "table")
    };
    for (i, n) in s.graph.iter().enumerate() {
        for input in &n.inputs {
            if let Some(j) = step(input) {
                edges.push(EdgeDoc {
                    from: format!("n{j}"),
                    to: format!("n{i}"),
                    rows: s.graph[j].rows_out,
                    rate: 0.0,
                });
            }
        }
    }
    nodes.push(NodeDoc {
        id: "dlq".into(),
        name: "dead letters".into(),
        kind: "dead_letters".into(),
        rows_in: dead_letters,
        rows_out: dead_letters,
    });
    if !s.graph.is_empty() {
        edges.push(EdgeDoc {
            from: "n0".into(),
            to: "dlq".into(),
            rows: dead_letters,
            rate: 0.0,
        });
    }
    let mut sinks: Vec<(&str, u64)> = s.sinks.iter().map(|n| (n.as_str(), 0)).collect();
    for (sink, table, rows) in &s.emitted {
        match sinks.iter_mut().find(|(n, _)| n == sink) {
            Some((_, n)) => *n += rows,
            None => sinks.push((sink, *rows)),
        }
        let from = if table == "dlq" {
            Some("dlq".to_string())
        } else {
            s.graph
                .iter()
                .position(|n| n.kind == "table" && n.name == *table)
                .map(|i| format!("n{i}"))
        };
        if let Some(from) = from {
            edges.push(EdgeDoc {
                from,
                to: format!("sink:{sink}"),
                rows: *rows,
                rate: 0.0,
            });
        }
    }
    for (sink, rows) in sinks {
        nodes.push(NodeDoc {
            id: format!("sink:{sink}"),
            name: sink.to_string(),
            kind: "sink".into(),
            rows_in: rows,
            rows_out: rows,
        });
    }
    (nodes, edges)
}
