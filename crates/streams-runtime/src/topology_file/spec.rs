//! The serde shape of the topology file, and its conversion into checked specs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use streams_core::aggregate::{AggKind, AggSpec};
use streams_core::clickstream::DecodeConfig;
use streams_core::event::Field;
use streams_core::value::KeyPart;
use streams_core::window::WindowSpec;

/// The top level of a topology file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyFile {
    /// Name of the topology, used in logs.
    pub name: String,
    /// Where records come from.
    pub source: SourceFile,
    /// Event-time settings.
    #[serde(default)]
    pub time: TimeFile,
    /// Checkpoint settings.
    #[serde(default)]
    pub commit: CommitFile,
    /// The processors; each names its `input` (`source` or another processor).
    #[serde(default)]
    pub processors: Vec<toml::Value>,
}

/// `[source]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// Input topics.
    pub topics: Vec<String>,
    /// Record format; only `clickstream_json` (DESIGN §3.1) exists.
    #[serde(default = "default_format")]
    pub format: String,
    /// Larger records go to the dead-letter queue as `too_large` (default 1 MiB).
    #[serde(default)]
    pub max_record_bytes: Option<u64>,
    /// Event time further than this after the Kafka timestamp is `future_timestamp` (default `1h`).
    #[serde(default)]
    pub max_future: Option<String>,
}

fn default_format() -> String {
    "clickstream_json".into()
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
    /// Checkpoint at least this often (default `1s`).
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
    "1s".into()
}
fn default_max_records() -> u64 {
    100_000
}

/// `input = "x"` or `input = ["x", "y"]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Inputs {
    /// One input.
    One(String),
    /// Several inputs (their streams are merged).
    Many(Vec<String>),
}

impl Inputs {
    fn to_vec(&self) -> Vec<String> {
        match self {
            Inputs::One(s) => vec![s.clone()],
            Inputs::Many(v) => v.clone(),
        }
    }
}

/// Fields every processor has.
#[derive(Debug, Deserialize)]
pub struct ProcessorFile {
    /// Unique name; also the output table of sinks and aggregates.
    pub name: String,
    /// Processor type.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    #[serde(default = "default_dedup_key")]
    key: String,
    #[serde(default = "default_retention")]
    retention: String,
}

fn default_dedup_key() -> String {
    "event_id".into()
}
fn default_retention() -> String {
    "1h".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrichFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    users: PathBuf,
    products: PathBuf,
    segments: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    #[serde(rename = "where")]
    conditions: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    #[serde(default)]
    fields: Option<Vec<String>>,
    #[serde(default)]
    topic: Option<String>,
}

/// `window = { type = "tumbling", size = "60s" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    /// `tumbling`, `hopping` or `session`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Window length (tumbling, hopping).
    #[serde(default)]
    pub size: Option<String>,
    /// Distance between window starts (hopping).
    #[serde(default)]
    pub advance: Option<String>,
    /// Inactivity gap (session).
    #[serde(default)]
    pub gap: Option<String>,
}

/// `{ name = "revenue", fn = "sum", field = "amount", where = { event_type = "purchase" } }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpecFile {
    /// Output column name.
    pub name: String,
    /// `count`, `sum`, `min`, `max`, `avg`, `approx_distinct` or `exact_distinct`.
    #[serde(rename = "fn")]
    pub func: String,
    /// Input field (all but `count`).
    #[serde(default)]
    pub field: Option<String>,
    /// Only events whose fields equal these values.
    #[serde(default, rename = "where")]
    pub conditions: Option<BTreeMap<String, toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowAggFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    window: WindowFile,
    #[serde(default)]
    group_by: Vec<String>,
    aggregates: Vec<AggregateSpecFile>,
    #[serde(default)]
    topic: Option<String>,
}

/// What kind of processor, with its checked settings.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Dedup {
        key: Field,
        retention_ms: i64,
    },
    Enrich,
    Filter {
        conditions: Vec<(Field, KeyPart)>,
    },
    Sink {
        fields: Vec<Field>,
    },
    Window {
        window: WindowSpec,
        group_by: Vec<Field>,
        aggs: Vec<AggSpec>,
    },
}

/// One checked processor.
#[derive(Debug, Clone)]
pub(crate) struct ProcessorSpec {
    pub name: String,
    pub inputs: Vec<String>,
    pub kind: Kind,
    pub dim_files: Option<(PathBuf, PathBuf, PathBuf)>,
}

pub(crate) struct Parsed {
    pub name: String,
    pub source_topics: Vec<String>,
    pub decode: DecodeConfig,
    pub watermark_delay_ms: i64,
    pub idle_timeout_ms: i64,
    pub commit_interval_ms: i64,
    pub max_records_per_commit: u64,
    pub topics: BTreeMap<String, String>,
    pub processors: Vec<ProcessorSpec>,
    /// Processors that failed to parse (their dependants are not blamed again).
    pub broken: Vec<String>,
    pub fingerprint: String,
}

const TYPES: &str = "dedup, enrich, filter, sink, window_aggregate";

fn one_line(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

fn duration_ms(s: &str, what: &str, errors: &mut Vec<String>) -> i64 {
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.as_millis() > 0 => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Ok(_) => {
            errors.push(format!("{what} must be positive, got `{s}`"));
            0
        }
        Err(e) => {
            errors.push(format!("{what}: `{s}` is not a duration like `30s` ({e})"));
            0
        }
    }
}

fn field(name: &str, what: &str, errors: &mut Vec<String>) -> Option<Field> {
    let f = Field::parse(name);
    if f.is_none() {
        let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
        errors.push(format!(
            "unknown field `{name}` in {what} (known fields: {})",
            known.join(", ")
        ));
    }
    f
}

fn conditions(
    map: &BTreeMap<String, toml::Value>,
    what: &str,
    errors: &mut Vec<String>,
) -> Vec<(Field, KeyPart)> {
    let mut out = Vec::new();
    for (k, v) in map {
        let Some(f) = field(k, what, errors) else {
            continue;
        };
        let part = match v {
            toml::Value::String(s) => KeyPart::Str(s.as_str().into()),
            toml::Value::Integer(i) => KeyPart::Int(*i),
            toml::Value::Boolean(b) => KeyPart::Bool(*b),
            other => {
                errors.push(format!(
                    "{what}: `{k}` must equal a string, integer or boolean, not {}",
                    other.type_str()
                ));
                continue;
            }
        };
        if !f.is_keyable() {
            errors.push(format!(
                "{what}: cannot compare float field `{k}` for equality"
            ));
            continue;
        }
        out.push((f, part));
    }
    out
}

fn window_spec(w: &WindowFile, errors: &mut Vec<String>) -> Option<WindowSpec> {
    let spec = window_kind(w, errors)?;
    errors.extend(spec.validate().iter().map(|e| e.to_string()));
    Some(spec)
}

fn window_kind(w: &WindowFile, errors: &mut Vec<String>) -> Option<WindowSpec> {
    let need = |v: &Option<String>, what: &str, errors: &mut Vec<String>| match v {
        Some(s) => Some(duration_ms(s, &format!("window {what}"), errors)),
        None => {
            errors.push(format!("a {} window needs `{what}`", w.kind));
            None
        }
    };
    let forbid = |v: &Option<String>, what: &str, errors: &mut Vec<String>| {
        if v.is_some() {
            errors.push(format!("a {} window has no `{what}`", w.kind));
        }
    };
    match w.kind.as_str() {
        "tumbling" => {
            forbid(&w.advance, "advance", errors);
            forbid(&w.gap, "gap", errors);
            Some(WindowSpec::Tumbling {
                size: need(&w.size, "size", errors)?,
            })
        }
        "hopping" => {
            forbid(&w.gap, "gap", errors);
            let size = need(&w.size, "size", errors);
            let advance = need(&w.advance, "advance", errors);
            Some(WindowSpec::Hopping {
                size: size?,
                advance: advance?,
            })
        }
        "session" => {
            forbid(&w.size, "size", errors);
            forbid(&w.advance, "advance", errors);
            Some(WindowSpec::Session {
                gap: need(&w.gap, "gap", errors)?,
            })
        }
        other => {
            errors.push(format!(
                "unknown window type `{other}` (expected tumbling, hopping or session)"
            ));
            None
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Parses the file; returns `None` when the top level itself is unusable.
pub(crate) fn parse(text: &str, errors: &mut Vec<String>) -> Option<Parsed> {
    let file: TopologyFile = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            errors.push(one_line(&e, text));
            return None;
        }
    };
    let mut top = Vec::new();
    if file.source.topics.is_empty() {
        top.push("[source]: `topics` is empty".to_string());
    }
    if file.source.format != "clickstream_json" {
        top.push(format!(
            "[source]: unknown format `{}` (expected clickstream_json)",
            file.source.format
        ));
    }
    let mut decode = DecodeConfig::default();
    if let Some(b) = file.source.max_record_bytes {
        decode.max_record_bytes = usize::try_from(b).unwrap_or(usize::MAX);
    }
    let mut sub = Vec::new();
    if let Some(f) = &file.source.max_future {
        decode.max_future_ms = duration_ms(f, "max_future", &mut sub);
    }
    let watermark_delay_ms = duration_ms(&file.time.watermark_delay, "watermark_delay", &mut sub);
    let idle_timeout_ms = duration_ms(&file.time.idle_timeout, "idle_timeout", &mut sub);
    let commit_interval_ms = duration_ms(&file.commit.interval, "interval", &mut sub);
    top.extend(
        sub.into_iter()
            .map(|e| format!("[source/time/commit]: {e}")),
    );
    if file.commit.max_records == 0 {
        top.push("[commit]: `max_records` must be positive".into());
    }
    errors.extend(top);

    let mut processors = Vec::new();
    let mut broken = Vec::new();
    let mut topics = BTreeMap::new();
    for (i, value) in file.processors.into_iter().enumerate() {
        let head: Result<ProcessorFile, _> = value.clone().try_into();
        let item = match &head {
            Ok(h) => h.name.clone(),
            Err(_) => value
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{}", i + 1)),
        };
        let mut errs = Vec::new();
        let spec = match head {
            Err(e) => {
                errs.push(e.message().trim().replace('\n', " "));
                None
            }
            Ok(h) => parse_processor(&h.kind, value, &mut errs, &mut topics),
        };
        match spec {
            Some(s) if errs.is_empty() => processors.push(s),
            _ => broken.push(item.clone()),
        }
        errors.extend(errs.into_iter().map(|e| format!("processor `{item}`: {e}")));
    }
    let semantic: Vec<String> = processors
        .iter()
        .map(|p| format!("{}<-{:?}:{:?}", p.name, p.inputs, p.kind))
        .collect();
    let fingerprint = format!("{:016x}", fnv1a(semantic.join(";").as_bytes()));
    Some(Parsed {
        name: file.name,
        source_topics: file.source.topics,
        decode,
        watermark_delay_ms,
        idle_timeout_ms,
        commit_interval_ms,
        max_records_per_commit: file.commit.max_records,
        topics,
        processors,
        broken,
        fingerprint,
    })
}

fn parse_processor(
    kind: &str,
    value: toml::Value,
    errs: &mut Vec<String>,
    topics: &mut BTreeMap<String, String>,
) -> Option<ProcessorSpec> {
    fn de<T: for<'de> Deserialize<'de>>(v: toml::Value, errs: &mut Vec<String>) -> Option<T> {
        match v.try_into() {
            Ok(t) => Some(t),
            Err(e) => {
                let e: toml::de::Error = e;
                errs.push(e.message().trim().replace('\n', " "));
                None
            }
        }
    }
    match kind {
        "dedup" => {
            let f: DedupFile = de(value, errs)?;
            let key = field(&f.key, "key", errs);
            let retention_ms = duration_ms(&f.retention, "retention", errs);
            Some(ProcessorSpec {
                name: f.name,
                inputs: f.input.to_vec(),
                kind: Kind::Dedup {
                    key: key?,
                    retention_ms,
                },
                dim_files: None,
            })
        }
        "enrich" => {
            let f: EnrichFile = de(value, errs)?;
            Some(ProcessorSpec {
                name: f.name,
                inputs: f.input.to_vec(),
                kind: Kind::Enrich,
                dim_files: Some((f.users, f.products, f.segments)),
            })
        }
        "filter" => {
            let f: FilterFile = de(value, errs)?;
            let conditions = conditions(&f.conditions, "where", errs);
            Some(ProcessorSpec {
                name: f.name,
                inputs: f.input.to_vec(),
                kind: Kind::Filter { conditions },
                dim_files: None,
            })
        }
        "sink" => {
            let f: SinkFile = de(value, errs)?;
            let fields = match &f.fields {
                None => Field::ALL.to_vec(),
                Some(names) => names
                    .iter()
                    .filter_map(|n| field(n, "fields", errs))
                    .collect(),
            };
            topics.insert(
                f.name.clone(),
                f.topic.clone().unwrap_or_else(|| f.name.clone()),
            );
            Some(ProcessorSpec {
                name: f.name,
                inputs: f.input.to_vec(),
                kind: Kind::Sink { fields },
                dim_files: None,
            })
        }
        "window_aggregate" => {
            let f: WindowAggFile = de(value, errs)?;
            let window = window_spec(&f.window, errs);
            let group_by: Vec<Field> = f
                .group_by
                .iter()
                .filter_map(|n| field(n, "group_by", errs))
                .collect();
            let mut aggs = Vec::new();
            for a in &f.aggregates {
                let Some(kind) = AggKind::parse(&a.func) else {
                    errs.push(format!(
                        "aggregate `{}`: unknown function `{}` (expected count, sum, min, max, avg, approx_distinct or exact_distinct)",
                        a.name, a.func
                    ));
                    continue;
                };
                let what = format!("aggregate `{}`", a.name);
                let fld = match &a.field {
                    Some(n) => field(n, &what, errs),
                    None => None,
                };
                let filter = a
                    .conditions
                    .as_ref()
                    .map(|c| conditions(c, &format!("{what} where"), errs))
                    .unwrap_or_default();
                aggs.push(AggSpec {
                    name: a.name.clone(),
                    kind,
                    field: fld,
                    filter,
                });
            }
            topics.insert(
                f.name.clone(),
                f.topic.clone().unwrap_or_else(|| f.name.clone()),
            );
            Some(ProcessorSpec {
                name: f.name,
                inputs: f.input.to_vec(),
                kind: Kind::Window {
                    window: window?,
                    group_by,
                    aggs,
                },
                dim_files: None,
            })
        }
        other => {
            errs.push(format!(
                "unknown processor type `{other}` (expected one of: {TYPES})"
            ));
            None
        }
    }
}
