//! The expression language: the SQL expression subset that Spark, Flink and Arroyo
//! users write in filters, computed columns, keys, aggregate conditions, `HAVING`
//! filters and event time.
//!
//! An expression is parsed ([`sqlparser`]), type-checked against the columns of the
//! stream it reads and compiled once, when the topology is built; evaluation then
//! works on whole Arrow columns ([`CompiledExpr::eval`]), never on expression text.
//!
//! | kind | forms |
//! |---|---|
//! | columns and literals | `country`, `42`, `1.5`, `'text'`, `true`, `NULL`, `TIMESTAMP '2026-01-01T00:00:00Z'`, `DATE '2026-01-01'` |
//! | comparisons | `=`, `!=`/`<>`, `<`, `<=`, `>`, `>=`, `BETWEEN`, `IN (...)`, `LIKE`, `ILIKE`, `IS [NOT] NULL` |
//! | logic | `AND`, `OR`, `NOT` (three-valued, as in SQL) |
//! | arithmetic | `+`, `-`, `*`, `/` (always a float; division by zero gives NULL), `%`, `\|\|` (string concatenation) |
//! | conditionals | `CASE WHEN c THEN r ... ELSE e END`, `CASE x WHEN v THEN r ... END`, `coalesce(a, b, ...)` |
//! | conversions | `CAST(x AS type)`, `TRY_CAST(x AS type)`, `to_timestamp(x)`, `to_date(x)` |
//! | functions | `lower`, `upper`, `trim`, `ltrim`, `rtrim`, `length`, `concat`, `round(x [, digits])`, `abs`, `isfinite` |
//!
//! Types are `boolean`, `bigint` (also `int`, `integer`), `double` (`float`, `real`),
//! `string` (`varchar`, `text`), `timestamp` (milliseconds, UTC) and `date`. Integers
//! widen to doubles where the two meet. As in Spark's default mode, a value that does
//! not convert (`CAST('x' AS bigint)`) becomes NULL rather than failing the stream:
//! `CAST` and `TRY_CAST` behave alike; reject such records with a check
//! (`x IS NOT NULL`) instead.

mod check;
mod eval;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};

use crate::value::{ColumnType, Schema};

pub(crate) use check::Node;

/// A problem in an expression, with its position (1-based line and column) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Line and column in the expression text.
    pub position: Option<(u64, u64)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) if line > 1 => {
                write!(f, "at line {line}, column {col}: {}", self.message)
            }
            Some((_, col)) => write!(f, "at column {col}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Evaluating an expression failed (a broken invariant, not bad data: bad data gives NULL).
#[derive(Debug, thiserror::Error)]
#[error("expression `{text}`: {message}")]
pub struct EvalError {
    /// The expression's text.
    pub text: String,
    /// What went wrong.
    pub message: String,
}

/// A type-checked, compiled expression over the columns of one stream.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Array, BooleanArray, Int64Array, RecordBatch, StringArray};
/// use streams_core::expr::CompiledExpr;
/// use streams_core::{Column, ColumnType, Schema};
///
/// let schema = Schema { columns: vec![
///     Column::new("name", ColumnType::Str),
///     Column::new("age", ColumnType::Int),
/// ] };
/// let adults = CompiledExpr::compile("age >= 18 AND name <> ''", &schema).unwrap();
/// let batch = RecordBatch::try_new(schema.arrow(), vec![
///     Arc::new(StringArray::from(vec!["ann", "bob"])),
///     Arc::new(Int64Array::from(vec![34, 12])),
/// ]).unwrap();
/// let keep = adults.eval_predicate(&batch).unwrap();
/// assert_eq!(keep, BooleanArray::from(vec![true, false]));
/// ```
#[derive(Debug, Clone)]
pub struct CompiledExpr {
    text: Arc<str>,
    node: Node,
}

impl CompiledExpr {
    /// Parses and type-checks `text` against `schema`; every problem found is returned.
    pub fn compile(text: &str, schema: &Schema) -> Result<CompiledExpr, Vec<ExprError>> {
        let node = check::compile(text, schema)?;
        Ok(CompiledExpr {
            text: Arc::from(text),
            node,
        })
    }

    /// The expression's source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The type of the values it computes.
    pub fn ty(&self) -> ColumnType {
        self.node.ty()
    }

    /// Whether it may compute NULL.
    pub fn nullable(&self) -> bool {
        self.node.nullable()
    }

    /// The indexes of the input columns it reads.
    pub fn columns(&self) -> Vec<usize> {
        let mut out = Vec::new();
        self.node.columns(&mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Evaluates it over every row of `batch` (whose columns follow the compile schema).
    pub fn eval(&self, batch: &RecordBatch) -> Result<ArrayRef, EvalError> {
        eval::eval(&self.node, batch)
            .and_then(|v| v.into_array(batch.num_rows()))
            .map_err(|e| EvalError {
                text: self.text.to_string(),
                message: e.to_string(),
            })
    }

    /// Evaluates a boolean expression as a selection: NULL counts as false, as in `WHERE`.
    pub fn eval_predicate(
        &self,
        batch: &RecordBatch,
    ) -> Result<arrow::array::BooleanArray, EvalError> {
        let array = self.eval(batch)?;
        eval::as_selection(&array).map_err(|e| EvalError {
            text: self.text.to_string(),
            message: e.to_string(),
        })
    }
}

impl PartialEq for CompiledExpr {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}
