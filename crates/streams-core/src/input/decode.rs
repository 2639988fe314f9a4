//! JSON records → one Arrow batch. Each record is parsed once (serde_json, borrowing
//! its strings) into one slot per declared field, found through a tree of the fields'
//! paths; the slots are then validated, cleaned and appended to column builders. Checks,
//! event time and the future limit run on the whole batch at once.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, Date32Builder, Float64Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::TimestampMillisecondType;
use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{reason, DeadLetter, FieldSpec, InputSchema, Metadata, OnInvalid};
use crate::expr::{CompiledExpr, EvalError};
use crate::record::SourceRecord;
use crate::value::{format_timestamp, parse_date, parse_timestamp, ColumnType, Schema, Value};

/// The outcome of decoding a slice of records.
#[derive(Debug)]
pub struct Decoded {
    /// The accepted rows, with the columns of [`Decoder::schema`].
    pub batch: RecordBatch,
    /// Event time (ms) of each accepted row.
    pub event_ts: Vec<i64>,
    /// Index in the input slice of each accepted row.
    pub rows: Vec<u32>,
    /// Rejected records: index in the input slice and why, in input order.
    pub dead: Vec<(u32, DeadLetter)>,
}

/// Decodes records of one declared input (see [`InputSchema::compile`]).
#[derive(Debug, Clone)]
pub struct Decoder {
    spec: InputSchema,
    schema: Schema,
    arrow: arrow::datatypes::SchemaRef,
    /// Fields and metadata only: the batch before the event-time column is added.
    base_arrow: arrow::datatypes::SchemaRef,
    paths: PathNode,
    event_time: Option<CompiledExpr>,
    checks: Vec<(CompiledExpr, String)>,
}

/// A level of the JSON object tree: which keys hold fields (leaves) or nested objects.
#[derive(Debug, Clone, Default)]
struct PathNode {
    keys: FxHashMap<Box<str>, Slot>,
}

#[derive(Debug, Clone)]
enum Slot {
    Field(usize),
    Object(PathNode),
}

impl PathNode {
    fn insert(&mut self, path: &[String], field: usize) {
        let Some((head, rest)) = path.split_first() else {
            return;
        };
        if rest.is_empty() {
            self.keys.insert(head.as_str().into(), Slot::Field(field));
            return;
        }
        let slot = self
            .keys
            .entry(head.as_str().into())
            .or_insert_with(|| Slot::Object(PathNode::default()));
        if let Slot::Object(node) = slot {
            node.insert(rest, field);
        }
    }
}

/// A JSON value, remembering only what validation needs.
#[derive(Debug, Default)]
enum Loose<'a> {
    #[default]
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    /// Integers beyond i64 and all non-integers.
    Float(f64),
    Str(Cow<'a, str>),
    Compound,
}

impl Loose<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Loose::Missing => "missing",
            Loose::Null => "null",
            Loose::Bool(_) => "a boolean",
            Loose::Int(_) | Loose::Float(_) => "a number",
            Loose::Str(_) => "a string",
            Loose::Compound => "an array or object",
        }
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Loose::Float(v as f64), Loose::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose::Float(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Compound)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Compound)
    }
}

struct LooseSeed;

impl<'de> DeserializeSeed<'de> for LooseSeed {
    type Value = Loose<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

/// A key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Per record: one slot per field, and the first structural problem (a nested path
/// whose parent is not an object), which becomes that field's `invalid_field`.
struct Slots<'de> {
    values: Vec<Loose<'de>>,
    /// (field index, what the parent was).
    not_object: Option<(usize, &'static str)>,
    duplicate: Option<String>,
}

struct ObjectSeed<'a, 'de> {
    node: &'a PathNode,
    slots: &'a mut Slots<'de>,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl ObjectSeed<'_, '_> {
    /// A nested path's parent was not an object: its first field is invalid (null: missing).
    fn not_object(self, what: &'static str) {
        if what == "null" {
            return;
        }
        if self.slots.not_object.is_none() {
            let first = first_field(self.node);
            self.slots.not_object = Some((first, what));
        }
    }
}

fn first_field(node: &PathNode) -> usize {
    node.keys
        .values()
        .map(|s| match s {
            Slot::Field(i) => *i,
            Slot::Object(n) => first_field(n),
        })
        .min()
        .unwrap_or(0)
}

impl<'de> Visitor<'de> for ObjectSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match self.node.keys.get(key.as_ref()) {
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Some(Slot::Field(i)) => {
                    let v = map.next_value_seed(LooseSeed)?;
                    let slot = &mut self.slots.values[*i];
                    if !matches!(slot, Loose::Missing) && self.slots.duplicate.is_none() {
                        self.slots.duplicate = Some(key.to_string());
                    }
                    *slot = v;
                }
                Some(Slot::Object(node)) => {
                    map.next_value_seed(ObjectSeed {
                        node,
                        slots: &mut *self.slots,
                    })?;
                }
            }
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_object("null");
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.not_object("null");
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_object("a boolean");
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_object("a number");
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_object("a string");
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_object("an array");
        Ok(())
    }
}

/// A validated value, ready for its column.
enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Date(i32),
}

enum Builder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
    Timestamp(TimestampMillisecondBuilder),
    Date(Date32Builder),
}

impl Builder {
    fn new(ty: ColumnType, capacity: usize) -> Builder {
        match ty {
            ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Int => Builder::Int(Int64Builder::with_capacity(capacity)),
            ColumnType::Float => Builder::Float(Float64Builder::with_capacity(capacity)),
            ColumnType::Str => Builder::Str(StringBuilder::with_capacity(capacity, capacity * 16)),
            ColumnType::Timestamp => Builder::Timestamp(
                TimestampMillisecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
            ColumnType::Date => Builder::Date(Date32Builder::with_capacity(capacity)),
        }
    }

    fn push(&mut self, c: &Cell<'_>) {
        match (self, c) {
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Builder::Int(b), Cell::Int(v)) => b.append_value(*v),
            (Builder::Float(b), Cell::Float(v)) => b.append_value(*v),
            (Builder::Str(b), Cell::Str(v)) => b.append_value(v),
            (Builder::Timestamp(b), Cell::Int(v)) => b.append_value(*v),
            (Builder::Date(b), Cell::Date(v)) => b.append_value(*v),
            (b, _) => b.push_null(),
        }
    }

    fn push_null(&mut self) {
        match self {
            Builder::Bool(b) => b.append_null(),
            Builder::Int(b) => b.append_null(),
            Builder::Float(b) => b.append_null(),
            Builder::Str(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Builder::Bool(mut b) => Arc::new(b.finish()),
            Builder::Int(mut b) => Arc::new(b.finish()),
            Builder::Float(mut b) => Arc::new(b.finish()),
            Builder::Str(mut b) => Arc::new(b.finish()),
            Builder::Timestamp(mut b) => Arc::new(b.finish()),
            Builder::Date(mut b) => Arc::new(b.finish()),
        }
    }
}

fn cell_of_value(v: &Value) -> Cell<'_> {
    match v {
        Value::Null => Cell::Null,
        Value::Bool(b) => Cell::Bool(*b),
        Value::Int(i) | Value::Timestamp(i) => Cell::Int(*i),
        Value::Float(f) => Cell::Float(*f),
        Value::Str(s) => Cell::Str(Cow::Borrowed(s.as_str())),
        Value::Date(d) => Cell::Date(*d),
    }
}

fn expected(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Bool => "a boolean",
        ColumnType::Int => "an integer",
        ColumnType::Float => "a number",
        ColumnType::Str => "a string",
        ColumnType::Timestamp => "an RFC 3339 string or integer epoch milliseconds",
        ColumnType::Date => "a YYYY-MM-DD string",
    }
}

fn dead_letter(reason: &str, detail: String) -> DeadLetter {
    DeadLetter {
        reason: reason.to_string(),
        detail,
    }
}

impl Decoder {
    pub(super) fn new(
        spec: InputSchema,
        schema: Schema,
        event_time: Option<CompiledExpr>,
        checks: Vec<(CompiledExpr, String)>,
    ) -> Decoder {
        let mut paths = PathNode::default();
        for (i, f) in spec.fields.iter().enumerate() {
            paths.insert(&f.json_path(), i);
        }
        let mut base = schema.clone();
        if spec.event_time_column.is_some() {
            base.columns.pop();
        }
        Decoder {
            arrow: schema.arrow(),
            base_arrow: base.arrow(),
            schema,
            spec,
            paths,
            event_time,
            checks,
        }
    }

    /// The columns of decoded batches.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The declaration this decoder was compiled from.
    pub fn spec(&self) -> &InputSchema {
        &self.spec
    }

    /// Decodes `records`. Errors only on a broken invariant; bad data is a dead letter.
    pub fn decode(&self, records: &[SourceRecord]) -> Result<Decoded, EvalError> {
        let fields = &self.spec.fields;
        let mut builders: Vec<Builder> = self
            .schema
            .columns
            .iter()
            .take(fields.len())
            .map(|c| Builder::new(c.ty, records.len()))
            .collect();
        let mut dead = Vec::new();
        let mut rows: Vec<u32> = Vec::with_capacity(records.len());
        let mut cells: Vec<Cell<'_>> = Vec::with_capacity(fields.len());
        for (i, rec) in records.iter().enumerate() {
            cells.clear();
            match self.record(&rec.value, &mut cells) {
                Ok(()) => {
                    for (b, c) in builders.iter_mut().zip(&cells) {
                        b.push(c);
                    }
                    rows.push(i as u32);
                }
                Err(d) => dead.push((i as u32, d)),
            }
        }
        let mut columns: Vec<ArrayRef> = builders.into_iter().map(Builder::finish).collect();
        let kafka_ts: Vec<i64> = rows
            .iter()
            .map(|&i| records[i as usize].timestamp)
            .collect();
        for (m, _) in &self.spec.metadata {
            columns.push(metadata_column(*m, records, &rows, &kafka_ts));
        }
        let has_time_col = self.spec.event_time_column.is_some();
        let base = RecordBatch::try_new(self.base_arrow.clone(), columns)
            .map_err(|e| invariant(format!("decoded columns do not form a batch: {e}")))?;

        // Event time for every row, then the checks (which may read it), then the future limit.
        // A row's first failing step decides its reason; rows without one are kept.
        let mut reasons: Vec<Option<DeadLetter>> = (0..rows.len()).map(|_| None).collect();
        let event_ts: Vec<i64> = match &self.event_time {
            None => kafka_ts.clone(),
            Some(e) => {
                let a = e.eval(&base)?;
                let ts = a.as_primitive::<TimestampMillisecondType>();
                (0..ts.len())
                    .map(|r| {
                        if ts.is_null(r) {
                            reasons[r] = Some(dead_letter(
                                reason::INVALID_EVENT_TIME,
                                format!("event time `{}` is NULL", e.text()),
                            ));
                            0
                        } else {
                            ts.value(r)
                        }
                    })
                    .collect()
            }
        };
        let batch = if has_time_col {
            let mut cols = base.columns().to_vec();
            cols.push(Arc::new(
                arrow::array::TimestampMillisecondArray::from(event_ts.clone())
                    .with_timezone("UTC"),
            ));
            RecordBatch::try_new(self.arrow.clone(), cols)
                .map_err(|e| invariant(format!("event-time column: {e}")))?
        } else {
            base
        };
        for (check, why) in &self.checks {
            let ok = check.eval(&batch)?;
            let ok = ok.as_boolean();
            for (r, slot) in reasons.iter_mut().enumerate() {
                if slot.is_none() && !(ok.is_valid(r) && ok.value(r)) {
                    *slot = Some(dead_letter(why, check_detail(check, &batch, r)));
                }
            }
        }
        if let Some(max) = self.spec.max_future_ms {
            for (r, slot) in reasons.iter_mut().enumerate() {
                if slot.is_none() && event_ts[r] > kafka_ts[r].saturating_add(max) {
                    *slot = Some(dead_letter(
                        reason::FUTURE_TIMESTAMP,
                        format!(
                            "event time {} is more than {max} ms after the record timestamp {}",
                            format_timestamp(event_ts[r]),
                            format_timestamp(kafka_ts[r])
                        ),
                    ));
                }
            }
        }
        if reasons.iter().all(Option::is_none) {
            return Ok(Decoded {
                batch,
                event_ts,
                rows,
                dead,
            });
        }
        let alive: Vec<bool> = reasons.iter().map(Option::is_none).collect();
        for (r, d) in reasons.into_iter().enumerate() {
            if let Some(d) = d {
                dead.push((rows[r], d));
            }
        }
        dead.sort_by_key(|(i, _)| *i);
        let batch = arrow::compute::filter_record_batch(&batch, &BooleanArray::from(alive.clone()))
            .map_err(|e| invariant(format!("filtering rejected rows: {e}")))?;
        Ok(Decoded {
            batch,
            event_ts: keep_alive(event_ts, &alive),
            rows: keep_alive(rows, &alive),
            dead,
        })
    }

    /// Parses and validates one record into `cells` (one per field).
    fn record<'a>(&'a self, value: &'a [u8], cells: &mut Vec<Cell<'a>>) -> Result<(), DeadLetter> {
        let max = self.spec.max_record_bytes;
        if value.len() > max {
            return Err(dead_letter(
                reason::TOO_LARGE,
                format!("record is {} bytes, the limit is {max}", value.len()),
            ));
        }
        // serde would also read an object from other JSON; only objects are records.
        if value.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(dead_letter(
                reason::MALFORMED_JSON,
                "not a JSON object".into(),
            ));
        }
        let fields = &self.spec.fields;
        let mut slots = Slots {
            values: (0..fields.len()).map(|_| Loose::Missing).collect(),
            not_object: None,
            duplicate: None,
        };
        let mut de = serde_json::Deserializer::from_slice(value);
        let parsed = ObjectSeed {
            node: &self.paths,
            slots: &mut slots,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if let Err(e) = parsed {
            let mut detail = e.to_string();
            detail.truncate(200);
            return Err(dead_letter(reason::MALFORMED_JSON, detail));
        }
        if let Some(key) = slots.duplicate {
            return Err(dead_letter(
                reason::MALFORMED_JSON,
                format!("key `{key}` appears twice"),
            ));
        }
        for (i, (f, v)) in fields.iter().zip(slots.values).enumerate() {
            if let Some((at, what)) = slots.not_object {
                if at == i {
                    return Err(dead_letter(
                        f.reason.as_deref().unwrap_or(reason::INVALID_FIELD),
                        format!("the object holding `{}` is {what}", f.json_path().join(".")),
                    ));
                }
            }
            cells.push(field_cell(f, v)?);
        }
        Ok(())
    }
}

fn keep_alive<T>(v: Vec<T>, alive: &[bool]) -> Vec<T> {
    v.into_iter()
        .zip(alive)
        .filter_map(|(x, a)| a.then_some(x))
        .collect()
}

fn invariant(message: String) -> EvalError {
    EvalError {
        text: "decode".into(),
        message,
    }
}

/// Validates, cleans and defaults one field's value.
fn field_cell<'a>(f: &'a FieldSpec, v: Loose<'a>) -> Result<Cell<'a>, DeadLetter> {
    let invalid = |v: &Loose<'_>| {
        dead_letter(
            f.reason.as_deref().unwrap_or(reason::INVALID_FIELD),
            format!(
                "`{}` is {}, expected {}{}",
                f.name,
                v.type_name(),
                expected(f.ty),
                if f.required { "" } else { " or null" }
            ),
        )
    };
    let unparseable = |v: &Loose<'_>| -> Result<Cell<'a>, DeadLetter> {
        match f.on_invalid {
            OnInvalid::Null => Ok(Cell::Null),
            OnInvalid::DeadLetter => {
                let shown = match v {
                    Loose::Str(s) => format!("`{}`", s.chars().take(64).collect::<String>()),
                    Loose::Float(x) => x.to_string(),
                    other => other.type_name().to_string(),
                };
                Err(dead_letter(
                    f.reason.as_deref().unwrap_or(reason::INVALID_FIELD),
                    format!("`{}` is {shown}, expected {}", f.name, expected(f.ty)),
                ))
            }
        }
    };
    let cell = match (v, f.ty) {
        (Loose::Str(s), ColumnType::Str) => clean(s, f).map_or(Cell::Null, Cell::Str),
        (v, ty) => match (&v, ty) {
            (Loose::Missing | Loose::Null, _) => Cell::Null,
            (Loose::Bool(b), ColumnType::Bool) => Cell::Bool(*b),
            (Loose::Int(i), ColumnType::Int) => Cell::Int(*i),
            (Loose::Int(i), ColumnType::Float) => Cell::Float(*i as f64),
            (Loose::Float(x), ColumnType::Float) => Cell::Float(*x),
            (Loose::Int(ms), ColumnType::Timestamp) => Cell::Int(*ms),
            (Loose::Str(s), ColumnType::Timestamp) => match parse_timestamp(s) {
                Some(ms) => Cell::Int(ms),
                None => unparseable(&v)?,
            },
            (Loose::Float(_), ColumnType::Timestamp) => unparseable(&v)?,
            (Loose::Str(s), ColumnType::Date) => match parse_date(s.trim()) {
                Some(d) => Cell::Date(d),
                None => unparseable(&v)?,
            },
            _ => return Err(invalid(&v)),
        },
    };
    let cell = match (cell, &f.default) {
        (Cell::Null, Some(d)) => cell_of_value(d),
        (c, _) => c,
    };
    if f.required && matches!(cell, Cell::Null) {
        return Err(dead_letter(
            f.reason.as_deref().unwrap_or(reason::MISSING_FIELD),
            format!(
                "`{}` is missing, null or empty, expected {}",
                f.name,
                expected(f.ty)
            ),
        ));
    }
    Ok(cell)
}

/// Trim, change case, blank → NULL; borrows when nothing changes.
fn clean<'a>(s: Cow<'a, str>, f: &FieldSpec) -> Option<Cow<'a, str>> {
    let c = f.clean;
    if c.empty_as_null && s.trim().is_empty() {
        return None;
    }
    let s = if c.trim && s.trim().len() != s.len() {
        match s {
            Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
            Cow::Owned(o) => Cow::Owned(o.trim().to_string()),
        }
    } else {
        s
    };
    Some(match c.upper {
        None => s,
        Some(true) if !s.chars().any(char::is_lowercase) => s,
        Some(false) if !s.chars().any(char::is_uppercase) => s,
        Some(true) => Cow::Owned(s.to_uppercase()),
        Some(false) => Cow::Owned(s.to_lowercase()),
    })
}

fn metadata_column(
    m: Metadata,
    records: &[SourceRecord],
    rows: &[u32],
    kafka_ts: &[i64],
) -> ArrayRef {
    let recs = rows.iter().map(|&i| &records[i as usize]);
    match m {
        Metadata::Timestamp => Arc::new(
            arrow::array::TimestampMillisecondArray::from(kafka_ts.to_vec()).with_timezone("UTC"),
        ),
        Metadata::Key => Arc::new(
            recs.map(|r| r.key.as_deref().map(String::from_utf8_lossy))
                .collect::<arrow::array::StringArray>(),
        ),
        Metadata::Topic => Arc::new(
            recs.map(|r| Some(r.topic.as_ref()))
                .collect::<arrow::array::StringArray>(),
        ),
        Metadata::Value => Arc::new(
            recs.map(|r| Some(String::from_utf8_lossy(&r.value)))
                .collect::<arrow::array::StringArray>(),
        ),
        Metadata::Partition => Arc::new(
            recs.map(|r| Some(r.partition as i64))
                .collect::<arrow::array::Int64Array>(),
        ),
        Metadata::Offset => Arc::new(
            recs.map(|r| Some(r.offset))
                .collect::<arrow::array::Int64Array>(),
        ),
    }
}

/// "check `amount >= 0` failed: amount = -5".
fn check_detail(check: &CompiledExpr, batch: &RecordBatch, row: usize) -> String {
    let schema = batch.schema();
    let values: Vec<String> = check
        .columns()
        .into_iter()
        .map(|c| {
            let col = batch.column(c);
            let v = if col.is_null(row) {
                "NULL".to_string()
            } else {
                arrow::util::display::array_value_to_string(col, row).unwrap_or_default()
            };
            format!("{} = {v}", schema.field(c).name())
        })
        .collect();
    format!("check `{}` failed: {}", check.text(), values.join(", "))
}
