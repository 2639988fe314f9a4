//! `type = "lookup_join"` in a topology file.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::LookupJoin;
use crate::dataflow::config::{de, join_spec, parse_type, Declared, Inputs, Resolve};

/// `type = "lookup_join"`: left join with a dimension file (CSV or Parquet).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupJoinFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    /// The dimension file (`.csv` with a header row, or `.parquet`), relative to the
    /// topology file.
    table: String,
    /// Key expressions over the row.
    key: Vec<String>,
    /// The table's key columns (default: the key expressions, when they are column names).
    #[serde(default)]
    table_key: Option<Vec<String>>,
    /// Table columns to bring, each `column` or `column AS name`.
    columns: Vec<String>,
    /// Values for brought columns when the key is missing from the table.
    #[serde(default)]
    defaults: BTreeMap<String, serde_json::Value>,
    /// Column types of a CSV table (others are inferred: bigint, double, boolean, string).
    #[serde(default)]
    types: BTreeMap<String, String>,
}

pub(crate) fn parse(
    value: serde_json::Value,
    resolve: &mut dyn Resolve,
    errs: &mut Vec<String>,
) -> Option<Declared> {
    let f: LookupJoinFile = de(value, errs)?;
    let mut types = BTreeMap::new();
    for (c, t) in &f.types {
        match parse_type(t) {
            Some(ty) => {
                types.insert(c.clone(), ty);
            }
            None => errs.push(format!("types: `{c}` has unknown type `{t}`")),
        }
    }
    let spec = join_spec(&f.key, f.table_key.as_ref(), &f.columns, &f.defaults, errs);
    // A table that cannot be read is reported here; the join then checks nothing else.
    let table = match resolve.table(&f.table, &types) {
        Ok(t) => Some(t),
        Err(es) => {
            errs.extend(es);
            None
        }
    };
    Some(Declared::new(
        f.name,
        f.input.to_vec(),
        move |b, name, inputs| {
            b.add_with(name, "lookup_join", inputs, |s| match &table {
                Some(t) => LookupJoin::compile(&spec, t, s),
                None => Err(Vec::new()),
            })
        },
    ))
}
