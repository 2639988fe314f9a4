//! The serde shape of a topology file. Every struct denies unknown fields; its `///`
//! lines are the user documentation of each setting.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The top level of a topology file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyFile {
    /// Name of the topology, used in logs and `describe`.
    pub name: String,
    /// One line on what it computes, printed by `describe`.
    #[serde(default)]
    pub description: Option<String>,
    /// Where records come from and what they hold.
    pub source: SourceFile,
    /// Event-time settings.
    #[serde(default)]
    pub time: TimeFile,
    /// Checkpoint settings.
    #[serde(default)]
    pub commit: CommitFile,
    /// The processors; each names its `input` (`source` or another processor).
    #[serde(default)]
    pub processors: Vec<serde_json::Value>,
    /// The outputs: each sends one stream to a table (Kafka topic, Parquet).
    #[serde(default)]
    pub sinks: Vec<SinkFile>,
    /// Batch summaries over the Parquet tables (`streams-app daily-summary`), in order.
    #[serde(default)]
    pub summaries: Vec<SummaryFile>,
}

/// `[[summaries]]`: a batch summary of a table (or of an earlier summary).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryFile {
    /// Its name: the output table `<output-dir>/<app-id>/<name>/`.
    pub name: String,
    /// The table it reads: a sink of this topology, or an earlier summary.
    pub input: String,
    /// A date partition column of the input (e.g. `event_date`): the summary runs per
    /// day and writes `<name>/<column>=D/`. Without it, it reads the whole table.
    #[serde(default)]
    pub date_column: Option<String>,
    /// Group-by expressions, each `column` or `expr AS name`.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Measures: `{ name, fn, expr, where }` as the aggregates of a window_aggregate.
    pub measures: Vec<streams_core::dataflow::config::AggregateFile>,
    /// A dimension table joined to the input rows before grouping.
    #[serde(default)]
    pub join: Option<SummaryJoinFile>,
    /// A rank column: `{ name, partition_by = [...], order_by = ["revenue DESC", "segment"] }`.
    #[serde(default)]
    pub rank: Option<RankFile>,
    /// Quality checks: each output column's sum must equal an input column's sum.
    #[serde(default)]
    pub reconcile: Vec<ReconcileFile>,
}

/// A reconciliation of a summary: `{ output = "daily_revenue", input = "revenue" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconcileFile {
    /// A numeric column of the summary.
    pub output: String,
    /// A numeric column of its input (after the join).
    pub input: String,
}

/// The join of a summary.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryJoinFile {
    /// CSV or Parquet file, relative to the topology file.
    pub table: String,
    /// Key expressions over the input rows.
    pub key: Vec<String>,
    /// The table's key columns (default: the keys).
    #[serde(default)]
    pub table_key: Option<Vec<String>>,
    /// Columns brought, each `column` or `column AS name`.
    pub columns: Vec<String>,
    /// Values for a missing key.
    #[serde(default)]
    pub defaults: BTreeMap<String, serde_json::Value>,
}

/// The rank of a summary.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankFile {
    /// Output column.
    pub name: String,
    /// Columns of the summary that delimit the ranking.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Columns of the summary, each optionally followed by `DESC` or `ASC`.
    pub order_by: Vec<String>,
}

/// `[source]`: the input topics and the declared schema of their JSON records.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Input topics.
    pub topics: Vec<String>,
    /// Record format: `json` (one JSON object per record).
    #[serde(default = "default_format")]
    pub format: String,
    /// Larger records go to the dead-letter queue as `too_large` (default 1 MiB).
    #[serde(default)]
    pub max_record_bytes: Option<u64>,
    /// Event time further than this after the Kafka timestamp is `future_timestamp`
    /// (default `1h`; `none` turns the check off).
    #[serde(default)]
    pub max_future: Option<String>,
    /// Event time: a timestamp expression over the fields and metadata columns
    /// (default: the Kafka record timestamp).
    #[serde(default)]
    pub event_time: Option<String>,
    /// Keep the event time as a column of this name.
    #[serde(default)]
    pub event_time_column: Option<String>,
    /// Kafka metadata as columns: `{ timestamp = "kafka_ts", key = "k", topic = "t",
    /// partition = "p", offset = "o", value = "raw" }` (`value`: the record as text).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// The fields of the JSON object, in column order.
    pub fields: Vec<FieldFile>,
    /// Conditions every accepted record meets, each with its dead-letter reason.
    #[serde(default)]
    pub checks: Vec<CheckFile>,
}

fn default_format() -> String {
    "json".into()
}

/// One declared field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldFile {
    /// Column name.
    pub name: String,
    /// `string`, `bigint` (`int`), `double` (`float`), `boolean` (`bool`), `timestamp`, `date`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Where the value is, as a dotted path (`payload.user.id`); default: the name.
    #[serde(default)]
    pub path: Option<String>,
    /// A record without a value (after cleaning and default) is rejected.
    #[serde(default)]
    pub required: bool,
    /// Value when the field is missing, null or cleaned to null.
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    /// String cleaning: any of `trim`, `lower`, `upper`, `empty_as_null`.
    #[serde(default)]
    pub clean: Vec<String>,
    /// A value of the right JSON type that does not parse: `dlq` (default) or `null`.
    #[serde(default)]
    pub on_invalid: Option<String>,
    /// Dead-letter reason for this field's failures (default `invalid_field` / `missing_field`).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `{ expr = "amount >= 0", reason = "invalid_amount" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckFile {
    /// A boolean expression.
    pub expr: String,
    /// Dead-letter reason of records that fail it.
    pub reason: String,
}

/// `[time]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeFile {
    /// The watermark trails the slowest partition's max event time by this much (default `10s`).
    #[serde(default = "default_delay")]
    pub watermark_delay: String,
    /// A partition without records for this long (wall clock) stops holding the watermark back (default `30s`).
    #[serde(default = "default_idle")]
    pub idle_timeout: String,
}

impl Default for TimeFile {
    fn default() -> Self {
        TimeFile {
            watermark_delay: default_delay(),
            idle_timeout: default_idle(),
        }
    }
}

fn default_delay() -> String {
    "10s".into()
}
fn default_idle() -> String {
    "30s".into()
}

/// `[commit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitFile {
    /// Checkpoint at least this often (default `100ms`, as Kafka Streams under exactly-once).
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Checkpoint after this many records even if the interval has not passed (default 100000).
    #[serde(default = "default_max_records")]
    pub max_records: u64,
}

impl Default for CommitFile {
    fn default() -> Self {
        CommitFile {
            interval: default_interval(),
            max_records: default_max_records(),
        }
    }
}

fn default_interval() -> String {
    "100ms".into()
}
fn default_max_records() -> u64 {
    100_000
}

/// `[[sinks]]`: sends a stream to a table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkFile {
    /// Table name (Parquet directory, default topic name).
    pub name: String,
    /// The stream it takes (`source` or a processor).
    pub input: String,
    /// Columns whose values, joined by `|`, form the Kafka record key.
    #[serde(default)]
    pub key: Vec<String>,
    /// Kafka topic (default: the sink's name).
    #[serde(default)]
    pub topic: Option<String>,
    /// Columns that partition the Parquet output into `name=value` directories (Hive's
    /// layout), in this order; they live in the directory names only. Default:
    /// `["event_date"]` when the table has that column, else none.
    #[serde(default)]
    pub partition_by: Option<Vec<String>>,
    /// Send the rows to the Kafka topic (default true).
    #[serde(default)]
    pub kafka: Option<bool>,
    /// Write the rows as Parquet under `<output-dir>/<app-id>/<name>/` (default true).
    #[serde(default)]
    pub parquet: Option<bool>,
    /// Also write them as CSV with a header row under `<output-dir>/<app-id>/csv/<name>/`,
    /// partitioned as the Parquet copy (default false).
    #[serde(default)]
    pub csv: Option<bool>,
    /// Print every row (and every update) to stdout as it is delivered: a tap for
    /// watching, at-least-once (a restart may print rows again) (default false).
    #[serde(default)]
    pub console: Option<bool>,
}
