//! Processors as a topology file declares them: what every processor type shares when
//! it reads its `[[processors]]` table, and the one registry of processor types
//! ([`PROCESSOR_TYPES`]).
//!
//! Each processor type is one folder of `dataflow/` (its config, its runtime, its
//! tests) and one line in [`PROCESSOR_TYPES`]: its parser reads the table into a
//! [`Declared`] processor, checked on its own (durations, constants, aggregate
//! functions); expressions and columns are checked when the topology is built, against
//! the schema of the stream the processor reads.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use super::aggregate::{AggDef, AggFn};
use super::window::split_alias;
use super::{DimTable, LookupJoinSpec, Stream, TopologyBuilder};
use crate::value::{parse_date, parse_timestamp, ColumnType, Value};

/// Every processor type a topology file can name (`type = "..."`) with its parser. A
/// new processor type is a folder of `dataflow/` and a line here.
pub const PROCESSOR_TYPES: &[(&str, Parse)] = &[
    ("filter", super::filter::config::parse),
    ("map", super::map::config::parse),
    ("dedup", super::dedup::config::parse),
    ("lookup_join", super::lookup_join::config::parse),
    ("window_aggregate", super::window::config::parse),
];

/// Reads one processor's table (`type` picks the parser); problems are pushed.
pub fn parse_processor(
    value: serde_json::Value,
    resolve: &mut dyn Resolve,
    errs: &mut Vec<String>,
) -> Option<Declared> {
    let Some(kind) = value.get("type").and_then(|t| t.as_str()) else {
        errs.push("missing field `type` (a string naming the processor type)".into());
        return None;
    };
    match PROCESSOR_TYPES.iter().find(|(name, _)| *name == kind) {
        Some((_, parse)) => parse(value, resolve, errs),
        None => {
            let names: Vec<&str> = PROCESSOR_TYPES.iter().map(|(n, _)| *n).collect();
            errs.push(format!(
                "unknown processor type `{kind}` ({})",
                names.join(", ")
            ));
            None
        }
    }
}

/// A processor type's parser: its table → a declared processor (or problems).
pub type Parse = fn(serde_json::Value, &mut dyn Resolve, &mut Vec<String>) -> Option<Declared>;

/// What parsing needs from outside this crate: dimension tables (files).
pub trait Resolve {
    /// The dimension table at `path` (relative to the topology file), with the declared
    /// types of some CSV columns.
    fn table(
        &mut self,
        path: &str,
        types: &BTreeMap<String, ColumnType>,
    ) -> Result<Arc<DimTable>, Vec<String>>;
}

type AddFn = dyn Fn(&mut TopologyBuilder, &str, &[&Stream]) -> Stream + Send + Sync;

/// A processor read from a topology file: its name, its inputs, and how it adds itself
/// to a builder (for every build of the topology).
#[derive(Clone)]
pub struct Declared {
    /// Its name.
    pub name: String,
    /// The streams it reads (`source` or other processors).
    pub inputs: Vec<String>,
    add: Arc<AddFn>,
}

impl Declared {
    /// A declared processor that `add`s itself to a builder.
    pub fn new(
        name: String,
        inputs: Vec<String>,
        add: impl Fn(&mut TopologyBuilder, &str, &[&Stream]) -> Stream + Send + Sync + 'static,
    ) -> Declared {
        Declared {
            name,
            inputs,
            add: Arc::new(add),
        }
    }

    /// Adds the processor to `b`, reading `inputs` (one stream per declared input).
    pub fn add_to(&self, b: &mut TopologyBuilder, inputs: &[&Stream]) -> Stream {
        (self.add)(b, &self.name, inputs)
    }
}

impl std::fmt::Debug for Declared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Declared")
            .field("name", &self.name)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

/// `input = "x"` or `input = ["x", "y"]`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Inputs {
    /// One input.
    One(String),
    /// Several inputs with the same columns (their rows are merged).
    Many(Vec<String>),
}

impl Inputs {
    /// The input names.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Inputs::One(s) => vec![s.clone()],
            Inputs::Many(v) => v.clone(),
        }
    }
}

/// Deserialises a processor's table; a problem is pushed as one line.
pub fn de<T: for<'de> Deserialize<'de>>(v: serde_json::Value, errs: &mut Vec<String>) -> Option<T> {
    match serde_json::from_value(v) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.push(e.to_string().trim().replace('\n', " "));
            None
        }
    }
}

/// A duration like `30s` in milliseconds (positive); `what` names it in problems.
pub fn duration_ms(s: &str, what: &str, errors: &mut Vec<String>) -> i64 {
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

/// A column type by its SQL name (`string`, `bigint`, `double`, `boolean`, `timestamp`,
/// `date`, and the usual synonyms).
pub fn parse_type(s: &str) -> Option<ColumnType> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "string" | "str" | "varchar" | "text" => ColumnType::Str,
        "bigint" | "int" | "integer" | "long" => ColumnType::Int,
        "double" | "float" | "real" => ColumnType::Float,
        "boolean" | "bool" => ColumnType::Bool,
        "timestamp" => ColumnType::Timestamp,
        "date" => ColumnType::Date,
        _ => return None,
    })
}

/// A constant of a topology file (e.g. a default value), typed by the column it fills.
pub fn constant(v: &serde_json::Value) -> Option<Value> {
    Some(match v {
        serde_json::Value::String(s) => Value::Str(s.as_str().into()),
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64()?),
        },
        _ => return None,
    })
}

/// A constant of a topology file as a value of `ty` (timestamps as RFC 3339 or epoch
/// milliseconds, dates as `YYYY-MM-DD`).
pub fn typed_constant(v: &serde_json::Value, ty: ColumnType) -> Option<Value> {
    Some(match (constant(v)?, ty) {
        (Value::Str(s), ColumnType::Str) => Value::Str(s),
        (Value::Int(i), ColumnType::Int) => Value::Int(i),
        (Value::Int(i), ColumnType::Float) => Value::Float(i as f64),
        (Value::Float(f), ColumnType::Float) => Value::Float(f),
        (Value::Bool(b), ColumnType::Bool) => Value::Bool(b),
        (Value::Str(s), ColumnType::Timestamp) => Value::Timestamp(parse_timestamp(&s)?),
        (Value::Int(i), ColumnType::Timestamp) => Value::Timestamp(i),
        (Value::Str(s), ColumnType::Date) => Value::Date(parse_date(&s)?),
        _ => return None,
    })
}

/// `{ name = "revenue", fn = "sum", expr = "amount", where = "event_type = 'purchase'" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateFile {
    /// Output column.
    pub name: String,
    /// count, sum, min, max, avg, approx_distinct, count_distinct, first, last.
    #[serde(rename = "fn")]
    pub func: String,
    /// Input expression (all but `count`).
    #[serde(default)]
    pub expr: Option<String>,
    /// Only rows where this is true count.
    #[serde(default, rename = "where")]
    pub condition: Option<String>,
}

/// Aggregate entries as definitions; `what` names them in problems (`aggregate`,
/// `measure`).
pub fn agg_defs(files: &[AggregateFile], what: &str, errs: &mut Vec<String>) -> Vec<AggDef> {
    let mut out = Vec::new();
    for a in files {
        match AggFn::parse(&a.func) {
            Some(func) => out.push(AggDef {
                name: a.name.clone(),
                func,
                expr: a.expr.clone(),
                condition: a.condition.clone(),
            }),
            None => errs.push(format!(
                "{what} `{}`: unknown function `{}` ({})",
                a.name,
                a.func,
                AggFn::NAMES
            )),
        }
    }
    out
}

/// The join of a `lookup_join` or a summary: keys, table keys (default: the keys),
/// `column [AS name]` items and defaults.
pub fn join_spec(
    key: &[String],
    table_key: Option<&Vec<String>>,
    columns: &[String],
    defaults: &BTreeMap<String, serde_json::Value>,
    errs: &mut Vec<String>,
) -> LookupJoinSpec {
    let mut values = Vec::new();
    for (name, v) in defaults {
        match constant(v) {
            Some(value) => values.push((name.clone(), value)),
            None => errs.push(format!("default for `{name}`: {v} is not a constant")),
        }
    }
    LookupJoinSpec {
        key: key.to_vec(),
        table_key: table_key.cloned().unwrap_or_else(|| key.to_vec()),
        columns: columns
            .iter()
            .map(|c| match split_alias(c) {
                (col, Some(name)) => (col, name),
                (col, None) => (col.clone(), col),
            })
            .collect(),
        defaults: values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::harness::people;

    struct NoTables;

    impl Resolve for NoTables {
        fn table(
            &mut self,
            path: &str,
            _: &BTreeMap<String, ColumnType>,
        ) -> Result<Arc<DimTable>, Vec<String>> {
            Err(vec![format!("{path}: no such file")])
        }
    }

    fn parse(v: serde_json::Value) -> Result<Declared, Vec<String>> {
        let mut errs = Vec::new();
        match parse_processor(v, &mut NoTables, &mut errs) {
            Some(d) if errs.is_empty() => Ok(d),
            _ => Err(errs),
        }
    }

    /// Every registered type parses its table into a processor that adds itself to a
    /// builder (and shows in `describe`).
    #[test]
    fn every_registered_type_parses_and_builds() {
        use serde_json::json;
        let tables = [
            json!({"name": "f", "type": "filter", "input": "source", "where": "age >= 18"}),
            json!({"name": "m", "type": "map", "input": "f", "set": ["age * 2 AS double_age"]}),
            json!({"name": "d", "type": "dedup", "input": "m", "key": "name", "retention": "1h"}),
            json!({"name": "w", "type": "window_aggregate", "input": ["d", "m"],
                   "window": {"type": "tumbling", "size": "60s"}, "group_by": ["city"],
                   "aggregates": [{"name": "n", "fn": "count"}]}),
        ];
        let mut b = TopologyBuilder::new("people", people().schema());
        let mut streams = BTreeMap::new();
        streams.insert("source".to_string(), b.source());
        for t in tables {
            let d = parse(t).unwrap();
            let inputs: Vec<&Stream> = d.inputs.iter().map(|i| &streams[i]).collect();
            let out = d.add_to(&mut b, &inputs);
            streams.insert(d.name.clone(), out);
        }
        b.sink("out", &streams["w"], &["city"]);
        let text = b.build().unwrap().describe();
        for want in [
            "processor f (filter",
            "processor m (map",
            "processor d (dedup",
            "processor w (window_aggregate",
        ] {
            assert!(text.contains(want), "{want} not in {text}");
        }
        let names: Vec<&str> = PROCESSOR_TYPES.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["filter", "map", "dedup", "lookup_join", "window_aggregate"]
        );
    }

    #[test]
    fn problems_of_a_table_are_reported_each() {
        use serde_json::json;
        let cases = [
            (
                json!({"name": "x", "type": "flter", "input": "source"}),
                "unknown processor type `flter` (filter, map, dedup, lookup_join, window_aggregate)",
            ),
            (
                json!({"name": "x", "type": "filter", "input": "source", "where": "1", "extra": 1}),
                "unknown field `extra`",
            ),
            (
                json!({"name": "x", "type": "dedup", "input": "source", "key": "k", "retention": "soon"}),
                "retention: `soon` is not a duration like `30s`",
            ),
            (
                json!({"name": "x", "type": "lookup_join", "input": "source", "table": "t.csv",
                       "key": ["k"], "columns": ["c"]}),
                "t.csv: no such file",
            ),
            (
                json!({"name": "x", "type": "window_aggregate", "input": "source",
                       "window": {"type": "tumbling"}, "aggregates": [{"name": "n", "fn": "cnt"}]}),
                "aggregate `n`: unknown function `cnt`",
            ),
            (
                json!({"name": "x", "type": "window_aggregate", "input": "source",
                       "window": {"type": "tumbling"}, "aggregates": []}),
                "a tumbling window needs a `size`",
            ),
            (
                json!({"name": "x", "type": "map", "input": "source", "set": ["age + 1"]}),
                "set `age + 1`: name the column (`age + 1 AS name`)",
            ),
        ];
        for (table, want) in cases {
            let errs = parse(table.clone()).err().unwrap_or_default();
            assert!(
                errs.iter().any(|e| e.contains(want)),
                "{table}: {errs:?} lacks {want}"
            );
        }
    }
}
