//! `type = "map"` in a topology file.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Map, MapSpec};
use crate::dataflow::config::{de, Declared, Inputs, Resolve};
use crate::dataflow::window::split_alias;

/// `type = "map"`: `set` computes columns, `drop` removes, `rename` renames, `select`
/// keeps and orders (applied in that order).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    /// Computed columns, each `expr AS name` (an existing name is replaced in place).
    #[serde(default)]
    set: Vec<String>,
    /// Columns to remove.
    #[serde(default)]
    drop: Vec<String>,
    /// Columns to rename: `{ old = "new" }`.
    #[serde(default)]
    rename: BTreeMap<String, String>,
    /// The columns to keep, in this order.
    #[serde(default)]
    select: Vec<String>,
}

pub(crate) fn parse(
    value: serde_json::Value,
    _: &mut dyn Resolve,
    errs: &mut Vec<String>,
) -> Option<Declared> {
    let f: MapFile = de(value, errs)?;
    let mut set = Vec::new();
    for s in &f.set {
        match split_alias(s) {
            (expr, Some(name)) => set.push((name, expr)),
            (expr, None) => errs.push(format!("set `{expr}`: name the column (`{expr} AS name`)")),
        }
    }
    let spec = MapSpec {
        set,
        drop: f.drop,
        rename: f.rename.into_iter().collect(),
        select: f.select,
    };
    Some(Declared::new(
        f.name,
        f.input.to_vec(),
        move |b, name, inputs| b.add_with(name, "map", inputs, |s| Map::compile(&spec, s)),
    ))
}
