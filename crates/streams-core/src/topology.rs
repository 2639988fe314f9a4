//! What the runtime sees of a built topology: its tables, and the problems a build
//! reports ([`BuildError`]).

use crate::value::Schema;

/// One problem found while building a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    /// The processor (or store) the problem is about.
    pub item: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Items are processor names, or a described part of the topology ("source field `x`").
        if self.item.contains(['`', ' ']) {
            write!(f, "{}: {}", self.item, self.message)
        } else {
            write!(f, "processor `{}`: {}", self.item, self.message)
        }
    }
}

/// An output table: rows emitted by one processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// Table name (the emitting processor's name).
    pub name: String,
    /// Row schema.
    pub schema: Schema,
    /// Columns whose values, joined by `|`, form the record key.
    pub key_columns: Vec<usize>,
    /// Columns that partition file outputs (Parquet): they become `name=value`
    /// directories, in this order, and are not stored inside the files.
    pub partition_by: Vec<usize>,
}
