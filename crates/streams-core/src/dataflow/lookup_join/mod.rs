//! `lookup_join`: a left join of each row against a dimension table held in memory
//! (Kafka Streams' stream–GlobalKTable join). The row's key expressions are looked up
//! in the table's key columns; the named columns come along, NULL (or their default)
//! when the key is not in the table. When the table has a key twice, the first row wins.

pub(crate) mod config;
#[cfg(test)]
mod tests;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use rustc_hash::FxHashMap;

use super::filter::compile_expr;
use super::keys::{append_key_bytes, is_keyable};
use super::{Context, Processor, Stream, TopologyBuilder};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::expr::CompiledExpr;
use crate::input::type_word;
use crate::value::{Column, Schema, Value};

/// A dimension table: its rows as one Arrow batch, and where it came from.
#[derive(Debug, Clone)]
pub struct DimTable {
    /// Where it was read from (for messages).
    pub origin: String,
    /// Its columns.
    pub schema: Schema,
    /// Its rows.
    pub data: RecordBatch,
}

/// What a `lookup_join` does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LookupJoinSpec {
    /// Key expressions over the stream's row.
    pub key: Vec<String>,
    /// The table's key columns, one per key expression.
    pub table_key: Vec<String>,
    /// Table columns brought into the row: (table column, output name).
    pub columns: Vec<(String, String)>,
    /// Values for brought columns when the key is not in the table (by output name).
    pub defaults: Vec<(String, Value)>,
}

/// Joins rows with a dimension table.
pub struct LookupJoin {
    origin: String,
    key: Vec<CompiledExpr>,
    index: FxHashMap<Vec<u8>, u32>,
    /// Brought columns (table data) and their defaults.
    brought: Vec<(ArrayRef, Option<ArrayRef>)>,
    schema: arrow::datatypes::SchemaRef,
}

impl LookupJoin {
    /// Checks `spec` against the stream's `input` schema and the table; returns the join
    /// and its output schema (the input's columns, then the brought ones).
    pub fn compile(
        spec: &LookupJoinSpec,
        table: &DimTable,
        input: &Schema,
    ) -> Result<(LookupJoin, Schema), Vec<String>> {
        let mut errors = Vec::new();
        if spec.key.is_empty() {
            errors.push("`key` needs at least one expression".into());
        }
        if spec.key.len() != spec.table_key.len() {
            errors.push(format!(
                "`key` has {} expression(s) but `table_key` {} column(s)",
                spec.key.len(),
                spec.table_key.len()
            ));
        }
        let mut key = Vec::new();
        let mut key_cols = Vec::new();
        for (i, text) in spec.key.iter().enumerate() {
            let expr = match compile_expr("key", text, input) {
                Ok(e) => e,
                Err(es) => {
                    errors.extend(es);
                    continue;
                }
            };
            let Some(col_name) = spec.table_key.get(i) else {
                continue;
            };
            match table.schema.index_of(col_name) {
                None => errors.push(format!(
                    "table_key `{col_name}` is not a column of {} (columns: {})",
                    table.origin,
                    names(&table.schema)
                )),
                Some(c) => {
                    let ct = table.schema.columns[c].ty;
                    if !is_keyable(ct) {
                        errors.push(format!(
                            "table_key `{col_name}` is a double; join keys cannot be floats"
                        ));
                    } else if ct != expr.ty() {
                        errors.push(format!(
                            "key `{text}` is a {} but table_key `{col_name}` is a {}",
                            type_word(expr.ty()),
                            type_word(ct)
                        ));
                    } else {
                        key.push(expr);
                        key_cols.push(c);
                    }
                }
            }
        }
        let mut out = input.columns.clone();
        let mut brought = Vec::new();
        for (col, as_name) in &spec.columns {
            let Some(c) = table.schema.index_of(col) else {
                errors.push(format!(
                    "column `{col}` is not a column of {} (columns: {})",
                    table.origin,
                    names(&table.schema)
                ));
                continue;
            };
            if out.iter().any(|o| o.name == *as_name) {
                errors.push(format!(
                    "column `{as_name}` is already in the row; bring it under another name (`{col} AS other`)"
                ));
                continue;
            }
            let ty = table.schema.columns[c].ty;
            let default = spec
                .defaults
                .iter()
                .find(|(n, _)| n == as_name)
                .map(|(_, v)| v);
            let default = match default {
                None => None,
                Some(v) => match crate::batch::constant_array(v, ty, 1) {
                    Some(a) => Some(a),
                    None => {
                        errors.push(format!(
                            "the default for `{as_name}` ({v:?}) is not a {}",
                            type_word(ty)
                        ));
                        None
                    }
                },
            };
            out.push(Column {
                name: as_name.clone(),
                ty,
                // A miss gives NULL unless there is a default, which replaces every NULL
                // (misses and empty cells alike).
                nullable: default.is_none(),
            });
            brought.push((table.data.column(c).clone(), default));
        }
        for (n, _) in &spec.defaults {
            if !spec.columns.iter().any(|(_, a)| a == n) {
                errors.push(format!("default for `{n}`, which the join does not bring"));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut index = FxHashMap::default();
        let mut k = Vec::new();
        for row in 0..table.data.num_rows() {
            k.clear();
            for &c in &key_cols {
                append_key_bytes(table.data.column(c).as_ref(), row, &mut k);
            }
            index.entry(k.clone()).or_insert(row as u32);
        }
        let schema = Schema { columns: out };
        Ok((
            LookupJoin {
                origin: table.origin.clone(),
                key,
                index,
                brought,
                schema: schema.arrow(),
            },
            schema,
        ))
    }
}

fn names(s: &Schema) -> String {
    s.columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Processor for LookupJoin {
    fn describe(&self) -> String {
        let keys: Vec<&str> = self.key.iter().map(|k| k.text()).collect();
        format!(
            "{} on {} ({} rows)",
            self.origin,
            keys.join(", "),
            self.index.len()
        )
    }

    fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let keys: Vec<ArrayRef> = self
            .key
            .iter()
            .map(|k| k.eval(batch.data()))
            .collect::<Result<_, _>>()?;
        let mut k = Vec::with_capacity(32);
        let idx: UInt32Array = (0..batch.len())
            .map(|row| {
                k.clear();
                for a in &keys {
                    append_key_bytes(a.as_ref(), row, &mut k);
                }
                self.index.get(&k).copied()
            })
            .collect();
        let mut columns = batch.data().columns().to_vec();
        for (data, default) in &self.brought {
            let mut col =
                arrow::compute::take(data.as_ref(), &idx, None).map_err(CoreError::arrow)?;
            if let Some(d) = default {
                if col.null_count() > 0 {
                    let present = arrow::compute::is_not_null(&col).map_err(CoreError::arrow)?;
                    col = arrow::compute::kernels::zip::zip(
                        &present,
                        &col,
                        &arrow::array::Scalar::new(d.clone()),
                    )
                    .map_err(CoreError::arrow)?;
                }
            }
            columns.push(col);
        }
        let data = RecordBatch::try_new(self.schema.clone(), columns).map_err(CoreError::arrow)?;
        ctx.forward(batch.with_data(data).map_err(CoreError::arrow)?);
        Ok(())
    }
}

impl TopologyBuilder {
    /// Left-joins `input` with `table` (see [`LookupJoinSpec`]).
    pub fn lookup_join(
        &mut self,
        name: &str,
        input: &Stream,
        table: &DimTable,
        spec: &LookupJoinSpec,
    ) -> Stream {
        self.add_with(name, "lookup_join", &[input], |schema| {
            LookupJoin::compile(spec, table, schema)
        })
    }
}
