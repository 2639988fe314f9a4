//! The declarative topology file (`topology/*.toml`) → a [`TopologyDef`], which builds
//! the dataflow [`Topology`] and the source's [`Decoder`].
//!
//! Every problem in a file is reported at once, each naming the file and the item:
//! syntax, unknown settings, bad types and durations, expressions that do not parse or
//! type-check (with their position), unknown columns, missing inputs, cycles, missing
//! dimension files and columns.

mod dims;
pub mod spec;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::Digest;
use streams_core::dataflow::config::{agg_defs, duration_ms, join_spec, typed_constant};
use streams_core::dataflow::{Declared, DimTable, Resolve, Stream, Topology, TopologyBuilder};
use streams_core::input::{Check, Clean, Decoder, FieldSpec, InputSchema, Metadata, OnInvalid};
use streams_core::value::ColumnType;

pub use dims::{load_table, parse_bool};
pub use spec::TopologyFile;
pub use streams_core::dataflow::config::parse_type;

use crate::error::RuntimeError;

/// The name processors use to read the source.
pub const SOURCE: &str = "source";

#[derive(Debug, Clone)]
struct SinkDef {
    name: String,
    input: String,
    key: Vec<String>,
    partition_by: Option<Vec<String>>,
}

/// Where one table's rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkOutputs {
    /// Its Kafka topic.
    pub kafka: bool,
    /// Parquet files.
    pub parquet: bool,
    /// CSV files.
    pub csv: bool,
    /// stdout (at-least-once).
    pub console: bool,
}

impl Default for SinkOutputs {
    fn default() -> Self {
        SinkOutputs {
            kafka: true,
            parquet: true,
            csv: false,
            console: false,
        }
    }
}

/// A declared summary.
#[derive(Debug, Clone)]
pub struct SummaryDef {
    /// What it computes.
    pub spec: streams_core::dataflow::summary::SummarySpec,
    /// The table (sink) or earlier summary it reads.
    pub input: String,
    /// The date partition column it runs per day on (a summary of a per-day summary is
    /// per day too, on that one's), if any.
    pub date_column: Option<String>,
    /// Its output columns.
    pub schema: streams_core::value::Schema,
}

/// The graph of a topology built in code (see [`TopologyDef::from_code`]).
#[derive(Clone)]
pub struct CodeTopology(Arc<dyn Fn(&mut TopologyBuilder) + Send + Sync>);

impl std::fmt::Debug for CodeTopology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<built in code>")
    }
}

/// A loaded, checked topology: from a file, or built in code.
#[derive(Debug, Clone)]
pub struct TopologyDef {
    /// The file it came from.
    pub path: PathBuf,
    /// The topology's name.
    pub name: String,
    /// What it computes, in one line.
    pub description: String,
    /// Input topics.
    pub source_topics: Vec<String>,
    /// The declared input.
    pub input: InputSchema,
    /// Watermark delay (ms).
    pub watermark_delay_ms: i64,
    /// Idle timeout (ms).
    pub idle_timeout_ms: i64,
    /// Checkpoint interval (ms).
    pub commit_interval_ms: i64,
    /// Checkpoint after this many records.
    pub max_records_per_commit: u64,
    /// Output topic per table (tables with `kafka = false` have none).
    pub topics: BTreeMap<String, String>,
    /// Where each table's rows go, by table name.
    pub outputs: BTreeMap<String, SinkOutputs>,
    /// Declared batch summaries, in order (each reads a table or an earlier summary).
    pub summaries: Vec<SummaryDef>,
    /// Hash of the semantic parts of the file (source, time, processors, sinks) in a
    /// canonical serialisation: state written under another fingerprint is refused.
    pub fingerprint: String,
    processors: Vec<Declared>,
    sinks: Vec<SinkDef>,
    /// Processors that failed to parse: readers of them are not reported again.
    broken: Vec<String>,
    /// Set for a topology built in code: it adds the processors and sinks.
    code: Option<CodeTopology>,
}

impl TopologyDef {
    /// A topology built in code, as Kafka Streams' `StreamsBuilder`: `build` adds
    /// processors (the built-in ones, or any [`Processor`](streams_core::dataflow::Processor))
    /// and sinks to a builder whose source decodes `input`. It runs on the same engine,
    /// with the same checkpoints and exactly-once delivery, as a topology file: pass it to
    /// the test driver (`TopologyTestDriver::with_def`) or to `streams_app::runner::run`.
    /// Sink `x` writes to topic `x` and to Parquet.
    ///
    /// ```
    /// use streams_core::input::{FieldSpec, InputSchema};
    /// use streams_core::ColumnType;
    /// use streams_runtime::TopologyDef;
    ///
    /// let input = InputSchema {
    ///     fields: vec![
    ///         FieldSpec::new("name", ColumnType::Str),
    ///         FieldSpec::new("age", ColumnType::Int),
    ///     ],
    ///     ..InputSchema::default()
    /// };
    /// let def = TopologyDef::from_code("adults", vec!["people".into()], input, |b| {
    ///     let people = b.source();
    ///     let adults = b.filter("adults", &people, "age >= 18");
    ///     b.sink("adults", &adults, &["name"]);
    /// })
    /// .unwrap();
    /// assert_eq!(def.topics["adults"], "adults");
    /// ```
    pub fn from_code(
        name: &str,
        source_topics: Vec<String>,
        input: InputSchema,
        build: impl Fn(&mut TopologyBuilder) + Send + Sync + 'static,
    ) -> Result<TopologyDef, RuntimeError> {
        let mut def = TopologyDef {
            path: PathBuf::from(format!("<{name}, built in code>")),
            name: name.to_string(),
            description: String::new(),
            source_topics,
            input,
            watermark_delay_ms: 10_000,
            idle_timeout_ms: 30_000,
            commit_interval_ms: 100,
            max_records_per_commit: 100_000,
            topics: BTreeMap::new(),
            outputs: BTreeMap::new(),
            summaries: Vec::new(),
            fingerprint: String::new(),
            processors: Vec::new(),
            sinks: Vec::new(),
            broken: Vec::new(),
            code: Some(CodeTopology(Arc::new(build))),
        };
        let (topology, decoder) = def.build()?;
        for s in topology.sinks() {
            def.topics.insert(s.name.clone(), s.name.clone());
            def.outputs.insert(s.name.clone(), SinkOutputs::default());
        }
        // The graph's canonical text (names, kinds, expressions, columns) and the input.
        let canonical = format!("{}\n{}", decoder.spec().canonical(), topology.describe());
        let digest = sha2::Sha256::digest(canonical.as_bytes());
        def.fingerprint = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        Ok(def)
    }

    /// Builds the runnable topology and the source decoder.
    pub fn build(&self) -> Result<(Topology, Decoder), RuntimeError> {
        let file = self.path.display().to_string();
        let decoder = self.input.compile().map_err(|errs| {
            RuntimeError::Topology(errs.iter().map(|e| format!("{file}: {e}")).collect())
        })?;
        let mut b = TopologyBuilder::new(SOURCE, decoder.schema().clone());
        if let Some(code) = &self.code {
            (code.0)(&mut b);
            return b.build().map(|t| (t, decoder)).map_err(|errs| {
                RuntimeError::Topology(errs.iter().map(|e| format!("{file}: {e}")).collect())
            });
        }
        let mut streams: HashMap<String, Stream> = HashMap::new();
        streams.insert(SOURCE.to_string(), b.source());
        let mut errors = Vec::new();
        let mut cycles = Vec::new();
        let ordered = order(&self.processors, &mut cycles);
        errors.extend(cycles.into_iter().map(|e| format!("{file}: {e}")));
        for p in ordered {
            let mut inputs = Vec::new();
            for i in &p.inputs {
                match streams.get(i) {
                    Some(s) => inputs.push(s.clone()),
                    None if self.processors.iter().any(|q| &q.name == i) || self.broken.contains(i) => {}
                    None => errors.push(format!(
                        "{file}: processor `{}`: input `{i}` is not a processor of this topology (nor `{SOURCE}`)",
                        p.name
                    )),
                }
            }
            if inputs.len() != p.inputs.len() {
                continue;
            }
            let refs: Vec<&Stream> = inputs.iter().collect();
            let out = p.add_to(&mut b, &refs);
            streams.insert(p.name.clone(), out);
        }
        for s in &self.sinks {
            match streams.get(&s.input) {
                None if self.broken.contains(&s.input) => {}
                Some(stream) => {
                    let keys: Vec<&str> = s.key.iter().map(String::as_str).collect();
                    b.sink(&s.name, stream, &keys);
                }
                None => errors.push(format!(
                    "{file}: sink `{}`: input `{}` is not a processor of this topology (nor `{SOURCE}`)",
                    s.name, s.input
                )),
            }
        }
        match b.build() {
            Ok(t) if errors.is_empty() => Ok((t, decoder)),
            Ok(_) => Err(RuntimeError::Topology(errors)),
            Err(errs) => {
                errors.extend(errs.iter().map(|e| format!("{file}: {e}")));
                Err(RuntimeError::Topology(errors))
            }
        }
    }

    /// The output tables (one per sink), in outbox order.
    pub fn tables(&self) -> Result<Vec<streams_core::topology::TableInfo>, RuntimeError> {
        self.tables_of(&self.build()?.0)
    }

    /// The tables of a topology built from this definition (one per sink), with their
    /// Parquet partition columns.
    pub fn tables_of(
        &self,
        t: &Topology,
    ) -> Result<Vec<streams_core::topology::TableInfo>, RuntimeError> {
        let file = self.path.display();
        let mut errors = Vec::new();
        let mut out = Vec::new();
        for s in t.sinks() {
            let declared = self
                .sinks
                .iter()
                .find(|d| d.name == s.name)
                .and_then(|d| d.partition_by.clone());
            let names = declared.unwrap_or_else(|| {
                s.schema
                    .index_of("event_date")
                    .map(|_| vec!["event_date".to_string()])
                    .unwrap_or_default()
            });
            let mut partition_by = Vec::new();
            for n in &names {
                match s.schema.index_of(n) {
                    Some(i) if !partition_by.contains(&i) => partition_by.push(i),
                    Some(_) => errors.push(format!(
                        "{file}: sink `{}`: partition_by names `{n}` twice",
                        s.name
                    )),
                    None => errors.push(format!(
                        "{file}: sink `{}`: partition_by column `{n}` is not a column of `{}`",
                        s.name, s.input
                    )),
                }
            }
            if !s.schema.columns.is_empty() && partition_by.len() == s.schema.columns.len() {
                errors.push(format!(
                    "{file}: sink `{}`: every column is a partition column; the files would hold none",
                    s.name
                ));
            }
            out.push(streams_core::topology::TableInfo {
                name: s.name.clone(),
                schema: s.schema.clone(),
                key_columns: s.key_columns.clone(),
                partition_by,
            });
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(RuntimeError::Topology(errors))
        }
    }
}

/// The dimension tables of a topology file (paths relative to it), each file loaded
/// once per set of declared column types, for its processors and summaries alike.
struct Tables {
    base: PathBuf,
    loaded: HashMap<(PathBuf, BTreeMap<String, ColumnType>), Arc<DimTable>>,
}

impl Resolve for Tables {
    fn table(
        &mut self,
        path: &str,
        types: &BTreeMap<String, ColumnType>,
    ) -> Result<Arc<DimTable>, Vec<String>> {
        let key = (self.base.join(path), types.clone());
        if let Some(t) = self.loaded.get(&key) {
            return Ok(t.clone());
        }
        let t = load_table(&key.0, types)?;
        self.loaded.insert(key, t.clone());
        Ok(t)
    }
}

/// Processors with their inputs first; cycles are reported.
fn order<'a>(procs: &'a [Declared], errors: &mut Vec<String>) -> Vec<&'a Declared> {
    let mut done: Vec<&str> = vec![SOURCE];
    let mut out = Vec::new();
    let mut left: Vec<&Declared> = procs.iter().collect();
    let known: Vec<&str> = procs.iter().map(|p| p.name.as_str()).collect();
    loop {
        let before = left.len();
        left.retain(|p| {
            let ready = p
                .inputs
                .iter()
                .all(|i| done.contains(&i.as_str()) || !known.contains(&i.as_str()));
            if ready {
                out.push(*p);
                done.push(p.name.as_str());
            }
            !ready
        });
        if left.is_empty() || left.len() == before {
            break;
        }
    }
    for p in left {
        errors.push(format!(
            "processor `{}`: is part of a cycle of inputs",
            p.name
        ));
    }
    out
}

/// Reads and checks a topology file.
pub fn load_topology(path: &Path) -> Result<TopologyDef, RuntimeError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        RuntimeError::Topology(vec![format!(
            "{}: cannot read topology file: {e}",
            path.display()
        )])
    })?;
    parse_topology(path, &text)
}

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

fn input_schema(src: &spec::SourceFile, errors: &mut Vec<String>) -> InputSchema {
    let mut input = InputSchema::default();
    if let Some(b) = src.max_record_bytes {
        input.max_record_bytes = usize::try_from(b).unwrap_or(usize::MAX);
    }
    match src.max_future.as_deref() {
        None => {}
        Some("none") => input.max_future_ms = None,
        Some(f) => input.max_future_ms = Some(duration_ms(f, "[source] max_future", errors)),
    }
    input.event_time = src.event_time.clone();
    input.event_time_column = src.event_time_column.clone();
    for (k, name) in &src.metadata {
        let m = match k.as_str() {
            "timestamp" => Metadata::Timestamp,
            "key" => Metadata::Key,
            "topic" => Metadata::Topic,
            "partition" => Metadata::Partition,
            "offset" => Metadata::Offset,
            "value" => Metadata::Value,
            other => {
                errors.push(format!(
                    "[source] metadata: unknown `{other}` (timestamp, key, topic, partition, offset, value)"
                ));
                continue;
            }
        };
        input.metadata.push((m, name.clone()));
    }
    for f in &src.fields {
        let item = format!("source field `{}`", f.name);
        let Some(ty) = parse_type(&f.ty) else {
            errors.push(format!(
                "{item}: unknown type `{}` (string, bigint, double, boolean, timestamp, date)",
                f.ty
            ));
            continue;
        };
        let mut spec = FieldSpec::new(&f.name, ty);
        spec.path = f
            .path
            .as_deref()
            .map(|p| p.split('.').map(str::to_string).collect())
            .unwrap_or_default();
        spec.required = f.required;
        spec.reason = f.reason.clone();
        if let Some(d) = &f.default {
            match typed_constant(d, ty) {
                Some(v) => spec.default = Some(v),
                None => errors.push(format!("{item}: the default {d} is not a {}", f.ty)),
            }
        }
        let mut clean = Clean::default();
        for c in &f.clean {
            match c.as_str() {
                "trim" => clean.trim = true,
                "lower" => clean.upper = Some(false),
                "upper" => clean.upper = Some(true),
                "empty_as_null" => clean.empty_as_null = true,
                other => errors.push(format!(
                    "{item}: unknown cleaning `{other}` (trim, lower, upper, empty_as_null)"
                )),
            }
        }
        spec.clean = clean;
        spec.on_invalid = match f.on_invalid.as_deref() {
            None | Some("dlq") => OnInvalid::DeadLetter,
            Some("null") => OnInvalid::Null,
            Some(other) => {
                errors.push(format!(
                    "{item}: on_invalid is `dlq` or `null`, not `{other}`"
                ));
                OnInvalid::DeadLetter
            }
        };
        input.fields.push(spec);
    }
    input.checks = src
        .checks
        .iter()
        .map(|c| Check {
            expr: c.expr.clone(),
            reason: c.reason.clone(),
        })
        .collect();
    input
}

/// Checks the declared summaries against the tables (and earlier summaries) they read.
fn parse_summaries(
    files: &[spec::SummaryFile],
    tables: &[streams_core::topology::TableInfo],
    dims: &mut Tables,
) -> (Vec<SummaryDef>, Vec<String>) {
    use streams_core::dataflow::summary::{RankSpec, Summary, SummarySpec};
    let mut out: Vec<SummaryDef> = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        let item = format!("summary `{}`", f.name);
        let mut errs = Vec::new();
        let input_schema = match tables.iter().find(|t| t.name == f.input) {
            Some(t) => Some(t.schema.clone()),
            None => out
                .iter()
                .find(|s| s.spec.name == f.input)
                .map(|s| s.schema.clone()),
        };
        let Some(input_schema) = input_schema else {
            errors.push(format!(
                "{item}: input `{}` is neither a sink nor an earlier summary",
                f.input
            ));
            continue;
        };
        if let Some(d) = &f.date_column {
            let partitioned = tables.iter().find(|t| t.name == f.input).is_some_and(|t| {
                t.partition_by
                    .iter()
                    .any(|&c| t.schema.columns[c].name == *d)
            });
            if !partitioned {
                errs.push(format!(
                    "date_column `{d}` is not a partition column of `{}`",
                    f.input
                ));
            }
        }
        let measures = agg_defs(&f.measures, "measure", &mut errs);
        let join = match &f.join {
            None => None,
            Some(j) => match dims.table(&j.table, &BTreeMap::new()) {
                Err(es) => {
                    errs.extend(es);
                    None
                }
                Ok(table) => Some((
                    table,
                    join_spec(
                        &j.key,
                        j.table_key.as_ref(),
                        &j.columns,
                        &j.defaults,
                        &mut errs,
                    ),
                )),
            },
        };
        let rank = f.rank.as_ref().map(|r| RankSpec {
            name: r.name.clone(),
            partition_by: r.partition_by.clone(),
            order_by: r
                .order_by
                .iter()
                .map(|o| {
                    let t = o.trim();
                    let lower = t.to_ascii_lowercase();
                    if let Some(c) = lower.strip_suffix(" desc") {
                        (t[..c.len()].trim().to_string(), true)
                    } else if let Some(c) = lower.strip_suffix(" asc") {
                        (t[..c.len()].trim().to_string(), false)
                    } else {
                        (t.to_string(), false)
                    }
                })
                .collect(),
        });
        let spec = SummarySpec {
            name: f.name.clone(),
            group_by: f.group_by.clone(),
            measures,
            join,
            rank,
            reconcile: f
                .reconcile
                .iter()
                .map(|r| (r.output.clone(), r.input.clone()))
                .collect(),
        };
        if errs.is_empty() {
            match Summary::compile(&spec, &input_schema) {
                Ok((_, schema)) => out.push(SummaryDef {
                    spec,
                    input: f.input.clone(),
                    // A summary of a per-day summary is per day too.
                    date_column: f.date_column.clone().or_else(|| {
                        out.iter()
                            .find(|s| s.spec.name == f.input)
                            .and_then(|s| s.date_column.clone())
                    }),
                    schema,
                }),
                Err(es) => errs.extend(es),
            }
        }
        errors.extend(errs.into_iter().map(|e| format!("{item}: {e}")));
    }
    (out, errors)
}

/// The fingerprint: a hash of the canonical JSON of the file's semantic parts (TOML
/// tables are ordered maps, so the serialisation does not depend on the file's layout).
fn fingerprint(value: &toml::Value) -> String {
    let mut semantic = BTreeMap::new();
    for key in ["source", "time", "processors", "sinks"] {
        if let Some(v) = value.get(key) {
            semantic.insert(key, v.clone());
        }
    }
    let json = serde_json::to_string(&semantic).unwrap_or_default();
    let digest = sha2::Sha256::digest(json.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Parses and checks a topology file's text; `path` names it in messages and anchors
/// relative dimension-file paths.
pub fn parse_topology(path: &Path, text: &str) -> Result<TopologyDef, RuntimeError> {
    let file_name = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let fail = |errs: Vec<String>| {
        RuntimeError::Topology(
            errs.into_iter()
                .map(|e| format!("{file_name}: {e}"))
                .collect(),
        )
    };
    let raw: toml::Value = toml::from_str(text).map_err(|e| fail(vec![one_line(&e, text)]))?;
    let file: TopologyFile = toml::from_str(text).map_err(|e| fail(vec![one_line(&e, text)]))?;
    let mut errors = Vec::new();
    if file.source.topics.is_empty() {
        errors.push("[source]: `topics` is empty".to_string());
    }
    if file.source.format != "json" {
        errors.push(format!(
            "[source]: unknown format `{}` (json)",
            file.source.format
        ));
    }
    let input = input_schema(&file.source, &mut errors);
    let watermark_delay_ms = duration_ms(
        &file.time.watermark_delay,
        "[time] watermark_delay",
        &mut errors,
    );
    let idle_timeout_ms = duration_ms(&file.time.idle_timeout, "[time] idle_timeout", &mut errors);
    let commit_interval_ms = duration_ms(&file.commit.interval, "[commit] interval", &mut errors);
    if file.commit.max_records == 0 {
        errors.push("[commit]: `max_records` must be positive".into());
    }
    let mut processors = Vec::new();
    let mut broken = Vec::new();
    let mut dims = Tables {
        base: base.clone(),
        loaded: HashMap::new(),
    };
    for (i, value) in file.processors.into_iter().enumerate() {
        let item = value
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("#{}", i + 1));
        let mut errs = Vec::new();
        let p = streams_core::dataflow::parse_processor(value, &mut dims, &mut errs);
        if !errs.is_empty() {
            broken.push(item.clone());
        }
        errors.extend(errs.into_iter().map(|e| format!("processor `{item}`: {e}")));
        if let Some(p) = p {
            processors.push(p);
        }
    }
    let mut topics = BTreeMap::new();
    let mut outputs = BTreeMap::new();
    let mut sinks = Vec::new();
    for s in file.sinks {
        let d = SinkOutputs::default();
        let out = SinkOutputs {
            kafka: s.kafka.unwrap_or(d.kafka),
            parquet: s.parquet.unwrap_or(d.parquet),
            csv: s.csv.unwrap_or(d.csv),
            console: s.console.unwrap_or(d.console),
        };
        if !(out.kafka || out.parquet || out.csv || out.console) {
            errors.push(format!(
                "sink `{}`: kafka, parquet, csv and console are all off: its rows would go nowhere",
                s.name
            ));
        }
        if s.topic.is_some() && !out.kafka {
            errors.push(format!("sink `{}`: a `topic` with `kafka = false`", s.name));
        }
        if out.kafka {
            topics.insert(
                s.name.clone(),
                s.topic.clone().unwrap_or_else(|| s.name.clone()),
            );
        }
        outputs.insert(s.name.clone(), out);
        sinks.push(SinkDef {
            name: s.name,
            input: s.input,
            key: s.key,
            partition_by: s.partition_by,
        });
    }
    let mut def = TopologyDef {
        path: path.to_path_buf(),
        name: file.name,
        description: file.description.unwrap_or_default(),
        source_topics: file.source.topics,
        input,
        watermark_delay_ms,
        idle_timeout_ms,
        commit_interval_ms,
        max_records_per_commit: file.commit.max_records,
        topics,
        outputs,
        summaries: Vec::new(),
        fingerprint: fingerprint(&raw),
        processors,
        sinks,
        broken,
        code: None,
    };
    let mut all: Vec<String> = errors
        .into_iter()
        .map(|e| format!("{file_name}: {e}"))
        .collect();
    let built = def.build().and_then(|(t, _)| def.tables_of(&t));
    match built {
        Err(RuntimeError::Topology(build_errors)) => {
            for e in build_errors {
                if !all.contains(&e) {
                    all.push(e);
                }
            }
        }
        Err(e) => all.push(e.to_string()),
        Ok(tables) => {
            let (summaries, errs) = parse_summaries(&file.summaries, &tables, &mut dims);
            all.extend(errs.into_iter().map(|e| format!("{file_name}: {e}")));
            def.summaries = summaries;
        }
    }
    if all.is_empty() {
        Ok(def)
    } else {
        Err(RuntimeError::Topology(all))
    }
}
