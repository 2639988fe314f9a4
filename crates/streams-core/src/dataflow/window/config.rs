//! `type = "window_aggregate"` in a topology file.

use serde::Deserialize;

use super::{Emit, WindowAggregateSpec};
use crate::dataflow::config::{
    agg_defs, de, duration_ms, AggregateFile, Declared, Inputs, Resolve,
};
use crate::window::WindowSpec;

/// `window = { type = "tumbling", size = "60s" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    /// `tumbling`, `hopping` or `session`.
    #[serde(rename = "type")]
    kind: String,
    /// Window size (tumbling, hopping).
    #[serde(default)]
    size: Option<String>,
    /// Hop (hopping).
    #[serde(default)]
    advance: Option<String>,
    /// Inactivity gap (session).
    #[serde(default)]
    gap: Option<String>,
}

/// `type = "window_aggregate"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowAggFile {
    name: String,
    #[serde(rename = "type")]
    _kind: String,
    input: Inputs,
    /// The windows.
    window: WindowFile,
    /// Group-by expressions, each `column` or `expr AS name`.
    #[serde(default)]
    group_by: Vec<String>,
    /// Aggregate columns.
    aggregates: Vec<AggregateFile>,
    /// A condition on the result rows (SQL `HAVING`).
    #[serde(default)]
    having: Option<String>,
    /// `final` (default: once per window when it closes) or `update` (also changed
    /// windows at every checkpoint).
    #[serde(default)]
    emit: Option<String>,
}

fn window_spec(w: &WindowFile, errs: &mut Vec<String>) -> Option<WindowSpec> {
    let need = |v: &Option<String>, what: &str, errs: &mut Vec<String>| match v {
        Some(s) => Some(duration_ms(s, &format!("window {what}"), errs)),
        None => {
            errs.push(format!("a {} window needs a `{what}`", w.kind));
            None
        }
    };
    let unused = |v: &Option<String>, what: &str, errs: &mut Vec<String>| {
        if v.is_some() {
            errs.push(format!("a {} window has no `{what}`", w.kind));
        }
    };
    match w.kind.as_str() {
        "tumbling" => {
            unused(&w.advance, "advance", errs);
            unused(&w.gap, "gap", errs);
            Some(WindowSpec::Tumbling {
                size: need(&w.size, "size", errs)?,
            })
        }
        "hopping" | "sliding" => {
            unused(&w.gap, "gap", errs);
            let size = need(&w.size, "size", errs);
            let advance = need(&w.advance, "advance", errs);
            Some(WindowSpec::Hopping {
                size: size?,
                advance: advance?,
            })
        }
        "session" => {
            unused(&w.size, "size", errs);
            unused(&w.advance, "advance", errs);
            Some(WindowSpec::Session {
                gap: need(&w.gap, "gap", errs)?,
            })
        }
        other => {
            errs.push(format!(
                "unknown window type `{other}` (tumbling, hopping, session)"
            ));
            None
        }
    }
}

pub(crate) fn parse(
    value: serde_json::Value,
    _: &mut dyn Resolve,
    errs: &mut Vec<String>,
) -> Option<Declared> {
    let f: WindowAggFile = de(value, errs)?;
    let window = window_spec(&f.window, errs);
    let aggregates = agg_defs(&f.aggregates, "aggregate", errs);
    let emit = match f.emit.as_deref() {
        None | Some("final") => Emit::Final,
        Some("update") => Emit::Update,
        Some(other) => {
            errs.push(format!("emit is `final` or `update`, not `{other}`"));
            Emit::Final
        }
    };
    let spec = WindowAggregateSpec {
        window: window?,
        group_by: f.group_by,
        aggregates,
        having: f.having,
        emit,
    };
    Some(Declared::new(
        f.name,
        f.input.to_vec(),
        move |b, name, inputs| b.window_aggregate_of(name, inputs, &spec),
    ))
}
