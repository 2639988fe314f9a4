//! `filter`: keeps the rows for which a boolean expression is true (NULL is false, as in
//! SQL's `WHERE`) and counts the others as `filtered`.

pub(crate) mod config;
#[cfg(test)]
mod tests;

use super::{Context, Processor, Stream, TopologyBuilder};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::expr::CompiledExpr;
use crate::value::{ColumnType, Schema};

/// Keeps the rows matching a predicate.
pub struct Filter {
    predicate: CompiledExpr,
}

/// Compiles `text` against `schema`, as messages that name the option (`what`).
pub fn compile_expr(what: &str, text: &str, schema: &Schema) -> Result<CompiledExpr, Vec<String>> {
    CompiledExpr::compile(text, schema).map_err(|errs| {
        errs.into_iter()
            .map(|e| format!("{what} `{text}`: {e}"))
            .collect()
    })
}

/// [`compile_expr`] for an expression that must be a boolean.
pub fn compile_predicate(
    what: &str,
    text: &str,
    schema: &Schema,
) -> Result<CompiledExpr, Vec<String>> {
    let e = compile_expr(what, text, schema)?;
    if e.ty() != ColumnType::Bool {
        return Err(vec![format!(
            "{what} `{text}` is a {}, expected a boolean",
            crate::input::type_word(e.ty())
        )]);
    }
    Ok(e)
}

impl Filter {
    /// A filter on `predicate` over rows of `schema`.
    pub fn compile(predicate: &str, schema: &Schema) -> Result<Filter, Vec<String>> {
        Ok(Filter {
            predicate: compile_predicate("where", predicate, schema)?,
        })
    }
}

impl Processor for Filter {
    fn describe(&self) -> String {
        format!("where {}", self.predicate.text())
    }

    fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let keep = self.predicate.eval_predicate(batch.data())?;
        let kept = keep.true_count();
        ctx.count_filtered((batch.len() - kept) as u64);
        if kept == batch.len() {
            ctx.forward(batch);
        } else if kept > 0 {
            ctx.forward(batch.filter(&keep).map_err(CoreError::arrow)?);
        }
        Ok(())
    }
}

impl TopologyBuilder {
    /// Keeps the rows of `input` for which `predicate` (an SQL expression) is true.
    pub fn filter(&mut self, name: &str, input: &Stream, predicate: &str) -> Stream {
        self.add_with(name, "filter", &[input], |schema| {
            Ok((Filter::compile(predicate, schema)?, schema.clone()))
        })
    }
}
