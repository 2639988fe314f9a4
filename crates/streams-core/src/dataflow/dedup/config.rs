//! `type = "dedup"` in a topology file.

use serde::Deserialize;

use super::Dedup;
use crate::dataflow::config::{de, duration_ms, Declared, Inputs, Resolve};

/// `type = "dedup"`: the first row per key wins within the retention.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    /// The key expression.
    key: String,
    /// How long (event time) a key is remembered, e.g. `1h`.
    retention: String,
}

pub(crate) fn parse(
    value: serde_json::Value,
    _: &mut dyn Resolve,
    errs: &mut Vec<String>,
) -> Option<Declared> {
    let f: DedupFile = de(value, errs)?;
    let retention_ms = duration_ms(&f.retention, "retention", errs);
    let key = f.key;
    Some(Declared::new(
        f.name,
        f.input.to_vec(),
        move |b, name, inputs| {
            b.add_with(name, "dedup", inputs, |s| {
                Ok((Dedup::compile(name, &key, retention_ms, s)?, s.clone()))
            })
        },
    ))
}
