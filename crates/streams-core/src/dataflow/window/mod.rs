//! `window_aggregate`: event-time windows (tumbling, hopping, session) per group key,
//! with aggregate columns, an optional `having` filter over the result rows, and
//! emission that is final by default (once, when the watermark passes the window's
//! end, Kafka Streams' `suppress(untilWindowCloses)`) or also `update` (the changed
//! windows at every checkpoint, for console taps and dashboards).
//!
//! Lateness is decided per row with the watermark the row entered with (DESIGN §3.4): a
//! row all of whose windows are closed is left out and counted `late`.
//!
//! Open windows live in memory and are written to the processor's window store at each
//! checkpoint (Kafka Streams' record cache); a restart reloads them.

pub(crate) mod config;

mod fixed;
mod session;
#[cfg(test)]
mod tests;

use arrow::array::ArrayRef;

use super::aggregate::{AggDef, AggSpec, Prepared};
use super::filter::{compile_expr, compile_predicate};
use super::keys::{is_keyable, key_part};
use super::{Context, Stream, TopologyBuilder};
use crate::batch::{rows_to_record_batch, Batch};
use crate::error::CoreError;
use crate::expr::CompiledExpr;
use crate::input::type_word;
use crate::value::{Column, ColumnType, KeyPart, Row, Schema};
use crate::window::WindowSpec;

pub use fixed::FixedWindows;
pub use session::Sessions;

/// A group key: one part per `group_by` expression.
pub type GroupKey = Box<[KeyPart]>;

/// When results leave the aggregate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Emit {
    /// Once per window, when the watermark passes its end.
    #[default]
    Final,
    /// Also the windows that changed, at every checkpoint (updates are not final:
    /// Parquet and CSV sinks skip them).
    Update,
}

/// What a `window_aggregate` computes.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAggregateSpec {
    /// The windows.
    pub window: WindowSpec,
    /// Group-by expressions, each `expr` (a column) or `expr AS name`.
    pub group_by: Vec<String>,
    /// Aggregate columns.
    pub aggregates: Vec<AggDef>,
    /// A condition on the result rows (SQL's `HAVING`), over the output columns.
    pub having: Option<String>,
    /// When results are emitted.
    pub emit: Emit,
}

/// Splits `expr AS name` (the alias must be a plain name); a bare column names itself.
pub fn split_alias(item: &str) -> (String, Option<String>) {
    let lower = item.to_ascii_lowercase();
    if let Some(i) = lower.rfind(" as ") {
        let name = item[i + 4..].trim();
        let plain = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if plain {
            return (item[..i].trim().to_string(), Some(name.to_string()));
        }
    }
    (item.trim().to_string(), None)
}

/// Compiles group-by items (`column` or `expr AS name`) against `input`: the
/// expressions and their output columns; problems are added to `errors`.
pub(crate) fn compile_group_by(
    items: &[String],
    input: &Schema,
    errors: &mut Vec<String>,
) -> (Vec<CompiledExpr>, Vec<Column>) {
    let mut exprs = Vec::new();
    let mut columns = Vec::new();
    for item in items {
        let (text, alias) = split_alias(item);
        let e = match compile_expr("group_by", &text, input) {
            Ok(e) => e,
            Err(es) => {
                errors.extend(es);
                continue;
            }
        };
        let name = match alias {
            Some(a) => a,
            None if input.index_of(&text).is_some() => text.clone(),
            None => {
                errors.push(format!(
                    "group_by `{text}` is an expression: name it (`{text} AS name`)"
                ));
                continue;
            }
        };
        if !is_keyable(e.ty()) {
            errors.push(format!(
                "group_by `{text}` is a {}; groups cannot be floats",
                type_word(e.ty())
            ));
            continue;
        }
        columns.push(Column {
            name,
            ty: e.ty(),
            nullable: e.nullable(),
        });
        exprs.push(e);
    }
    (exprs, columns)
}

/// Writes a window store's changes of one checkpoint: deletions, then puts.
pub(crate) fn write_back(
    ctx: &mut Context<'_>,
    store: &str,
    deletes: Vec<Vec<u8>>,
    puts: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<(), CoreError> {
    let store = ctx.store(store)?;
    for k in deletes {
        store.delete(&k);
    }
    for (k, v) in puts {
        store.put(&k, &v);
    }
    Ok(())
}

/// The parts both window kinds share: group keys, aggregates, output rows.
pub(crate) struct Common {
    pub(crate) store: String,
    group: Vec<CompiledExpr>,
    group_types: Vec<ColumnType>,
    pub(crate) aggs: Vec<AggSpec>,
    /// The input columns the group keys and aggregates read, sorted (all a window reads:
    /// `having` reads the result rows).
    read: Vec<usize>,
    having: Option<CompiledExpr>,
    schema: Schema,
    pub(crate) emit: Emit,
    seq: i64,
}

impl Common {
    fn compile(
        store: &str,
        spec: &WindowAggregateSpec,
        bounds: [&str; 2],
        input: &Schema,
    ) -> Result<(Common, Schema), Vec<String>> {
        let mut errors: Vec<String> = spec
            .window
            .validate()
            .iter()
            .map(|e| e.to_string())
            .collect();
        let mut columns = vec![
            Column::new(bounds[0], ColumnType::Timestamp),
            Column::new(bounds[1], ColumnType::Timestamp),
        ];
        let (group, group_columns) = compile_group_by(&spec.group_by, input, &mut errors);
        let group_types: Vec<ColumnType> = group_columns.iter().map(|c| c.ty).collect();
        columns.extend(group_columns);
        if spec.aggregates.is_empty() {
            errors.push("`aggregates` is empty: declare at least one".into());
        }
        let mut aggs = Vec::new();
        for def in &spec.aggregates {
            match AggSpec::compile(def, input) {
                Ok(a) => {
                    columns.push(a.column());
                    aggs.push(a);
                }
                Err(es) => errors.extend(es),
            }
        }
        columns.push(Column::new("event_date", ColumnType::Date));
        let mut seen = std::collections::HashSet::new();
        for c in &columns {
            if !seen.insert(c.name.as_str()) {
                errors.push(format!("column `{}` is defined twice", c.name));
            }
        }
        let schema = Schema { columns };
        let having = match &spec.having {
            None => None,
            Some(text) => match compile_predicate("having", text, &schema) {
                Ok(h) => Some(h),
                Err(es) => {
                    errors.extend(es);
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut read: Vec<usize> = group.iter().flat_map(CompiledExpr::columns).collect();
        read.extend(aggs.iter().flat_map(AggSpec::columns));
        read.sort_unstable();
        read.dedup();
        Ok((
            Common {
                store: store.to_string(),
                group,
                group_types,
                aggs,
                read,
                having,
                schema: schema.clone(),
                emit: spec.emit,
                seq: 0,
            },
            schema,
        ))
    }

    /// `; having …; emit update` for `describe`.
    fn describe_tail(&self) -> String {
        let mut out = String::new();
        let groups: Vec<&str> = self.group.iter().map(CompiledExpr::text).collect();
        if !groups.is_empty() {
            out.push_str(&format!(" by {}", groups.join(", ")));
        }
        if let Some(h) = &self.having {
            out.push_str(&format!("; having {}", h.text()));
        }
        if self.emit == Emit::Update {
            out.push_str("; emit update");
        }
        out
    }

    /// Group-key columns and aggregate inputs of a batch.
    fn prepare(&self, batch: &Batch) -> Result<(Vec<ArrayRef>, Vec<Prepared>), CoreError> {
        let keys = self
            .group
            .iter()
            .map(|g| g.eval(batch.data()))
            .collect::<Result<_, _>>()?;
        let prepared = self
            .aggs
            .iter()
            .map(|a| a.prepare(batch.data()))
            .collect::<Result<_, _>>()?;
        Ok((keys, prepared))
    }

    /// Per row, the hash of its group key ([`super::keys::key_hash`]).
    fn key_hashes(&self, batch: &Batch) -> Result<Option<Vec<u64>>, CoreError> {
        let keys: Vec<ArrayRef> = self
            .group
            .iter()
            .map(|g| g.eval(batch.data()))
            .collect::<Result<_, _>>()?;
        let mut buf = Vec::new();
        Ok(Some(
            (0..batch.len())
                .map(|row| super::keys::key_hash(&keys, row, &mut buf))
                .collect(),
        ))
    }

    /// The group key of `row`, into `buf` (reused across rows: looking a key up
    /// allocates nothing; only a new key is boxed).
    fn key_into(keys: &[ArrayRef], row: usize, buf: &mut Vec<KeyPart>) {
        buf.clear();
        buf.extend(keys.iter().map(|a| key_part(a.as_ref(), row)));
    }

    /// A result row: bounds, group values, aggregates, event date of the start.
    fn row(
        &self,
        start: i64,
        end: i64,
        key: &GroupKey,
        accs: &[super::aggregate::Accumulator],
    ) -> Row {
        let mut row: Row = Vec::with_capacity(3 + key.len() + accs.len());
        row.push(crate::value::Value::Timestamp(start));
        row.push(crate::value::Value::Timestamp(end));
        for (part, ty) in key.iter().zip(&self.group_types) {
            row.push(part.to_value(*ty));
        }
        for (spec, acc) in self.aggs.iter().zip(accs) {
            row.push(spec.finish(acc));
        }
        row.push(crate::value::Value::Date(crate::value::date_of(start)));
        row
    }

    /// Sends result rows (with their event times) downstream, after `having`.
    fn emit(
        &mut self,
        rows: Vec<(i64, Row)>,
        update: bool,
        watermark: i64,
        ctx: &mut Context<'_>,
    ) -> Result<(), CoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let (times, rows): (Vec<i64>, Vec<Row>) = rows.into_iter().unzip();
        let data = rows_to_record_batch(&self.schema, &rows).map_err(CoreError::arrow)?;
        let n = data.num_rows() as i64;
        let mut batch =
            Batch::computed(data, times, watermark, self.seq).map_err(CoreError::arrow)?;
        self.seq += n;
        if update {
            batch = batch.into_update();
        }
        if let Some(h) = &self.having {
            let keep = h.eval_predicate(batch.data())?;
            batch = batch.filter(&keep).map_err(CoreError::arrow)?;
        }
        ctx.forward(batch);
        Ok(())
    }
}

impl TopologyBuilder {
    /// Aggregates `input` over event-time windows (see [`WindowAggregateSpec`]); its
    /// state lives in a window store named after the processor.
    pub fn window_aggregate(
        &mut self,
        name: &str,
        input: &Stream,
        spec: &WindowAggregateSpec,
    ) -> Stream {
        self.window_aggregate_of(name, &[input], spec)
    }

    /// [`window_aggregate`](Self::window_aggregate) over the rows of several streams
    /// with the same columns.
    pub fn window_aggregate_of(
        &mut self,
        name: &str,
        inputs: &[&Stream],
        spec: &WindowAggregateSpec,
    ) -> Stream {
        self.add_with(name, "window_aggregate", inputs, |schema| {
            match spec.window {
                WindowSpec::Session { gap } => {
                    let (c, s) =
                        Common::compile(name, spec, ["session_start", "session_end"], schema)?;
                    Ok((
                        Box::new(Sessions::new(c, gap)) as Box<dyn super::Processor>,
                        s,
                    ))
                }
                w => {
                    let (c, s) =
                        Common::compile(name, spec, ["window_start", "window_end"], schema)?;
                    Ok((
                        Box::new(FixedWindows::new(c, w)) as Box<dyn super::Processor>,
                        s,
                    ))
                }
            }
        })
    }
}
