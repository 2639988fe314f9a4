//! The declared input: the fields of a source's JSON records with their types, cleaning,
//! defaults and checks, Kafka metadata as columns, and event time as an expression.
//!
//! [`InputSchema::compile`] checks the declaration (every problem at once) and gives a
//! [`Decoder`], which turns a slice of source records into one Arrow batch of accepted
//! rows plus the records it rejected, each with a dead-letter reason. For every record,
//! the first failing step decides the reason:
//!
//! 1. `too_large`: the value is larger than `max_record_bytes`;
//! 2. `malformed_json`: not JSON, or not a JSON object;
//! 3. per field, in declaration order: a value of the wrong JSON type or one that does
//!    not parse (`invalid_field`), a required field missing or null after cleaning and
//!    defaults (`missing_field`); a field's `reason` replaces both;
//! 4. `invalid_event_time`: the event-time expression gives NULL;
//! 5. the checks, in order, each with its own reason (e.g. `amount >= 0` →
//!    `invalid_amount`); a check that is NULL fails;
//! 6. `future_timestamp`: event time more than `max_future` after the Kafka timestamp.

mod decode;
#[cfg(test)]
mod tests;

use crate::expr::CompiledExpr;
use crate::topology::BuildError;
use crate::value::{Column, ColumnType, Schema, Value};

pub use decode::{Decoded, Decoder};

/// Dead-letter reasons the decoder gives (checks add their own).
pub mod reason {
    /// The record is larger than `max_record_bytes`.
    pub const TOO_LARGE: &str = "too_large";
    /// Not JSON, or not a JSON object.
    pub const MALFORMED_JSON: &str = "malformed_json";
    /// A field has the wrong JSON type or a value that does not parse.
    pub const INVALID_FIELD: &str = "invalid_field";
    /// A required field is missing or null.
    pub const MISSING_FIELD: &str = "missing_field";
    /// The event-time expression gave NULL.
    pub const INVALID_EVENT_TIME: &str = "invalid_event_time";
    /// Event time too far after the record's Kafka timestamp.
    pub const FUTURE_TIMESTAMP: &str = "future_timestamp";
}

/// A rejected record's reason and what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The reason (ledger key and `streams-dlq-reason` header).
    pub reason: String,
    /// A human-readable detail.
    pub detail: String,
}

/// String cleaning, applied in this order: trim, change case, blank to NULL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clean {
    /// Remove leading and trailing whitespace.
    pub trim: bool,
    /// Lowercase (`Some(false)`) or uppercase (`Some(true)`).
    pub upper: Option<bool>,
    /// An empty or all-whitespace string becomes NULL (then the default applies).
    pub empty_as_null: bool,
}

/// What to do with a value of the right JSON type that does not parse (a timestamp
/// string that is not a time, a fractional epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnInvalid {
    /// Reject the record (`invalid_field`, or the field's reason).
    #[default]
    DeadLetter,
    /// Treat the value as NULL.
    Null,
}

/// One declared input field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// Column name in the stream.
    pub name: String,
    /// Where it is in the JSON object: `["a", "b"]` reads `{"a": {"b": ...}}`. Empty: `[name]`.
    pub path: Vec<String>,
    /// Column type.
    pub ty: ColumnType,
    /// A record without a value (after cleaning and default) is rejected.
    pub required: bool,
    /// Value used when the field is missing, null or blank-as-null.
    pub default: Option<Value>,
    /// String cleaning.
    pub clean: Clean,
    /// Values that do not parse.
    pub on_invalid: OnInvalid,
    /// Dead-letter reason for this field's failures (default `invalid_field` / `missing_field`).
    pub reason: Option<String>,
}

impl FieldSpec {
    /// An optional field of type `ty` read from the key `name`.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        FieldSpec {
            name: name.into(),
            path: Vec::new(),
            ty,
            required: false,
            default: None,
            clean: Clean::default(),
            on_invalid: OnInvalid::default(),
            reason: None,
        }
    }

    fn json_path(&self) -> Vec<String> {
        if self.path.is_empty() {
            vec![self.name.clone()]
        } else {
            self.path.clone()
        }
    }

    /// Whether the column can hold NULL.
    pub fn nullable(&self) -> bool {
        !self.required && self.default.is_none()
    }
}

/// Kafka record metadata that can be a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// The record's timestamp (timestamp).
    Timestamp,
    /// The record key as UTF-8 (string, NULL when absent).
    Key,
    /// The topic (string).
    Topic,
    /// The partition (bigint).
    Partition,
    /// The offset (bigint).
    Offset,
    /// The record value as text (the raw JSON, for taps and audits).
    Value,
}

impl Metadata {
    fn column(self, name: &str) -> Column {
        match self {
            Metadata::Timestamp => Column::new(name, ColumnType::Timestamp),
            Metadata::Key => Column::nullable(name, ColumnType::Str),
            Metadata::Topic | Metadata::Value => Column::new(name, ColumnType::Str),
            Metadata::Partition | Metadata::Offset => Column::new(name, ColumnType::Int),
        }
    }
}

/// A condition every accepted record meets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// A boolean expression over the fields, metadata and event-time columns.
    pub expr: String,
    /// Dead-letter reason of the records that fail it.
    pub reason: String,
}

/// The declared input of a source.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSchema {
    /// Fields, in column order.
    pub fields: Vec<FieldSpec>,
    /// Metadata columns (after the fields), with their names.
    pub metadata: Vec<(Metadata, String)>,
    /// Event time: a timestamp expression over fields and metadata. `None`: the Kafka timestamp.
    pub event_time: Option<String>,
    /// Keep the event time as a column of this name (the last column).
    pub event_time_column: Option<String>,
    /// Conditions, checked in order after the fields.
    pub checks: Vec<Check>,
    /// Larger records are rejected (`too_large`).
    pub max_record_bytes: usize,
    /// Event time may be at most this far (ms) after the Kafka timestamp; `None`: no limit.
    pub max_future_ms: Option<i64>,
}

impl Default for InputSchema {
    fn default() -> Self {
        InputSchema {
            fields: Vec::new(),
            metadata: Vec::new(),
            event_time: None,
            event_time_column: None,
            checks: Vec::new(),
            max_record_bytes: 1 << 20,
            max_future_ms: Some(3_600_000),
        }
    }
}

impl InputSchema {
    /// The columns of the decoded stream: fields, metadata, then the event-time column.
    pub fn schema(&self) -> Schema {
        let mut columns: Vec<Column> = self
            .fields
            .iter()
            .map(|f| Column {
                name: f.name.clone(),
                ty: f.ty,
                nullable: f.nullable(),
            })
            .collect();
        columns.extend(self.metadata.iter().map(|(m, n)| m.column(n)));
        if let Some(n) = &self.event_time_column {
            columns.push(Column::new(n, ColumnType::Timestamp));
        }
        Schema { columns }
    }

    /// The declaration as canonical text: every setting, in a fixed order (for
    /// fingerprints of topologies built in code).
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        for f in &self.fields {
            out.push_str(&format!(
                "field {} path={} type={} required={} default={} trim={} upper={:?} empty_as_null={} on_invalid={} reason={}\n",
                f.name,
                f.json_path().join("."),
                type_word(f.ty),
                f.required,
                f.default.as_ref().map_or("none".to_string(), |v| v.to_json().to_string()),
                f.clean.trim,
                f.clean.upper,
                f.clean.empty_as_null,
                matches!(f.on_invalid, OnInvalid::Null),
                f.reason.as_deref().unwrap_or("-"),
            ));
        }
        for (m, n) in &self.metadata {
            out.push_str(&format!("metadata {m:?} as {n}\n"));
        }
        out.push_str(&format!(
            "event_time {} as {}\n",
            self.event_time.as_deref().unwrap_or("kafka timestamp"),
            self.event_time_column.as_deref().unwrap_or("-")
        ));
        for c in &self.checks {
            out.push_str(&format!("check {} reason {}\n", c.expr, c.reason));
        }
        out.push_str(&format!(
            "max_record_bytes {} max_future {:?}\n",
            self.max_record_bytes, self.max_future_ms
        ));
        out
    }

    /// Checks the declaration and compiles its expressions; lists every problem.
    pub fn compile(&self) -> Result<Decoder, Vec<BuildError>> {
        let mut errors = Vec::new();
        let mut err = |item: String, message: String| errors.push(BuildError { item, message });
        let schema = self.schema();
        let mut seen = std::collections::HashSet::new();
        for c in &schema.columns {
            if !seen.insert(c.name.as_str()) {
                err(
                    "source".into(),
                    format!("column `{}` is declared twice", c.name),
                );
            }
        }
        if self.fields.is_empty() {
            err(
                "source".into(),
                "declare at least one field under `[[source.fields]]`".into(),
            );
        }
        let mut paths = std::collections::HashMap::new();
        for f in &self.fields {
            let item = format!("source field `{}`", f.name);
            if f.name.trim().is_empty() {
                err(item.clone(), "the name is empty".into());
            }
            let path = f.json_path();
            if path.iter().any(|p| p.is_empty()) {
                err(item.clone(), "the path has an empty step".into());
            }
            if let Some(other) = paths.insert(path.clone(), f.name.clone()) {
                err(
                    item.clone(),
                    format!("reads the same JSON path as `{other}`"),
                );
            }
            if let Some(d) = &f.default {
                if !d.fits(f.ty) {
                    err(
                        item.clone(),
                        format!("the default {d:?} is not a {}", type_word(f.ty)),
                    );
                }
            }
            if f.ty != ColumnType::Str && f.clean != Clean::default() {
                err(
                    item.clone(),
                    "cleaning (trim, lower, upper, empty_as_null) applies to strings only".into(),
                );
            }
        }
        // A path that is a prefix of another would need a value to be both an object and a scalar.
        for (p, name) in &paths {
            for (q, other) in &paths {
                if p.len() < q.len() && q.starts_with(p) {
                    err(
                        format!("source field `{name}`"),
                        format!("its path is a prefix of `{other}`'s: a JSON value cannot be both"),
                    );
                }
            }
        }
        if self.max_record_bytes == 0 {
            err("source".into(), "max_record_bytes must be positive".into());
        }
        // The event time reads fields and metadata; checks also see the event-time column.
        let mut base = schema.clone();
        if self.event_time_column.is_some() {
            base.columns.pop();
        }
        let event_time = match &self.event_time {
            None => None,
            Some(text) => match CompiledExpr::compile(text, &base) {
                Ok(e) if e.ty() == ColumnType::Timestamp => Some(e),
                Ok(e) => {
                    err(
                        "source event_time".into(),
                        format!(
                            "`{text}` is a {}, expected a timestamp (use to_timestamp)",
                            type_word(e.ty())
                        ),
                    );
                    None
                }
                Err(es) => {
                    for e in es {
                        err("source event_time".into(), format!("`{text}`: {e}"));
                    }
                    None
                }
            },
        };
        let mut checks = Vec::new();
        for (i, c) in self.checks.iter().enumerate() {
            let item = format!("source check {} (`{}`)", i + 1, c.reason);
            if c.reason.trim().is_empty() {
                err(item.clone(), "the reason is empty".into());
            }
            match CompiledExpr::compile(&c.expr, &schema) {
                Ok(e) if e.ty() == ColumnType::Bool => checks.push((e, c.reason.clone())),
                Ok(e) => err(
                    item,
                    format!(
                        "`{}` is a {}, expected a boolean",
                        c.expr,
                        type_word(e.ty())
                    ),
                ),
                Err(es) => {
                    for e in es {
                        err(item.clone(), format!("`{}`: {e}", c.expr));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Decoder::new(self.clone(), schema, event_time, checks))
    }
}

/// `string`, `bigint`, … as written in topology files.
pub fn type_word(t: ColumnType) -> &'static str {
    match t {
        ColumnType::Bool => "boolean",
        ColumnType::Int => "bigint",
        ColumnType::Float => "double",
        ColumnType::Str => "string",
        ColumnType::Timestamp => "timestamp",
        ColumnType::Date => "date",
    }
}
