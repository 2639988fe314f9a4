//! `map`: computes columns (`set`), removes some (`drop`) and renames others (`rename`),
//! in that order. A `set` column that exists is replaced in place; a new one is appended.

pub(crate) mod config;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};

use super::filter::compile_expr;
use super::{Context, Processor, Stream, TopologyBuilder};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::expr::CompiledExpr;
use crate::value::{Column, Schema};

/// What a `map` does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapSpec {
    /// Columns computed from expressions over the input row: (name, expression).
    pub set: Vec<(String, String)>,
    /// Columns removed.
    pub drop: Vec<String>,
    /// Columns renamed: (from, to).
    pub rename: Vec<(String, String)>,
    /// The columns kept, in this order (empty: all).
    pub select: Vec<String>,
}

enum Source {
    Input(usize),
    Computed(usize),
}

/// Computes, drops and renames columns.
pub struct Map {
    exprs: Vec<CompiledExpr>,
    columns: Vec<Source>,
    schema: arrow::datatypes::SchemaRef,
    spec: MapSpec,
}

impl Map {
    /// Checks `spec` against `input`; returns the map and its output schema.
    pub fn compile(spec: &MapSpec, input: &Schema) -> Result<(Map, Schema), Vec<String>> {
        let mut errors = Vec::new();
        let mut exprs = Vec::new();
        let mut out: Vec<(Column, Source)> = input
            .columns
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, c)| (c, Source::Input(i)))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for (name, text) in &spec.set {
            if !seen.insert(name.as_str()) {
                errors.push(format!("set: column `{name}` is set twice"));
                continue;
            }
            match compile_expr(&format!("set `{name}` ="), text, input) {
                Ok(e) => {
                    let col = Column {
                        name: name.clone(),
                        ty: e.ty(),
                        nullable: e.nullable(),
                    };
                    let src = Source::Computed(exprs.len());
                    exprs.push(e);
                    match out.iter_mut().find(|(c, _)| c.name == *name) {
                        Some(slot) => *slot = (col, src),
                        None => out.push((col, src)),
                    }
                }
                Err(es) => errors.extend(es),
            }
        }
        for d in &spec.drop {
            match out.iter().position(|(c, _)| c.name == *d) {
                Some(i) => {
                    out.remove(i);
                }
                None => errors.push(format!("drop: there is no column `{d}`")),
            }
        }
        for (from, to) in &spec.rename {
            if out.iter().any(|(c, _)| c.name == *to) {
                errors.push(format!("rename `{from}` to `{to}`: `{to}` exists already"));
                continue;
            }
            match out.iter_mut().find(|(c, _)| c.name == *from) {
                Some((c, _)) => c.name = to.clone(),
                None => errors.push(format!("rename: there is no column `{from}`")),
            }
        }
        if !spec.select.is_empty() {
            let mut picked = Vec::with_capacity(spec.select.len());
            for name in &spec.select {
                match out.iter().position(|(c, _)| c.name == *name) {
                    Some(i) => picked.push(i),
                    None => errors.push(format!("select: there is no column `{name}`")),
                }
            }
            let mut slots: Vec<Option<(Column, Source)>> = out.into_iter().map(Some).collect();
            out = picked.into_iter().filter_map(|i| slots[i].take()).collect();
        }
        if out.is_empty() {
            errors.push("the map leaves no column".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (cols, columns): (Vec<Column>, Vec<Source>) = out.into_iter().unzip();
        let schema = Schema { columns: cols };
        Ok((
            Map {
                exprs,
                columns,
                schema: schema.arrow(),
                spec: spec.clone(),
            },
            schema,
        ))
    }
}

impl Processor for Map {
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, e) in &self.spec.set {
            parts.push(format!("{n} = {e}"));
        }
        if !self.spec.drop.is_empty() {
            parts.push(format!("drop {}", self.spec.drop.join(", ")));
        }
        for (f, t) in &self.spec.rename {
            parts.push(format!("{f} AS {t}"));
        }
        if !self.spec.select.is_empty() {
            parts.push(format!("select {}", self.spec.select.join(", ")));
        }
        parts.join("; ")
    }

    fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let computed: Vec<ArrayRef> = self
            .exprs
            .iter()
            .map(|e| e.eval(batch.data()))
            .collect::<Result<_, _>>()?;
        let columns: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|s| match s {
                Source::Input(i) => batch.data().column(*i).clone(),
                Source::Computed(i) => computed[*i].clone(),
            })
            .collect();
        let data =
            RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(CoreError::arrow)?;
        ctx.forward(batch.with_data(data).map_err(CoreError::arrow)?);
        Ok(())
    }
}

impl TopologyBuilder {
    /// Computes, drops and renames columns of `input`.
    pub fn map(&mut self, name: &str, input: &Stream, spec: &MapSpec) -> Stream {
        self.add_with(name, "map", &[input], |schema| Map::compile(spec, schema))
    }
}
