//! `type = "filter"` in a topology file.

use serde::Deserialize;

use super::Filter;
use crate::dataflow::config::{de, Declared, Inputs, Resolve};

/// `type = "filter"`: keeps rows where `where` is true.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    /// A boolean expression.
    #[serde(rename = "where")]
    condition: String,
}

pub(crate) fn parse(
    value: serde_json::Value,
    _: &mut dyn Resolve,
    errs: &mut Vec<String>,
) -> Option<Declared> {
    let f: FilterFile = de(value, errs)?;
    let condition = f.condition;
    Some(Declared::new(
        f.name,
        f.input.to_vec(),
        move |b, name, inputs| {
            b.add_with(name, "filter", inputs, |s| {
                Ok((Filter::compile(&condition, s)?, s.clone()))
            })
        },
    ))
}
