//! The declarative topology file (`topology/clickstream.toml`).
//!
//! Every problem in a file is reported at once, each naming the file and the item:
//! syntax, unknown processor types, unknown fields, unknown event fields in `group_by`
//! or aggregates, bad durations and window sizes, missing inputs, missing dimension
//! files. See `topology/clickstream.toml` for a commented example of every setting.

mod dims;
mod spec;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use streams_core::clickstream::DecodeConfig;
use streams_core::processors::dedup::Dedup;
use streams_core::processors::enrich::{DimTables, Enrich};
use streams_core::processors::events_sink::EventsSink;
use streams_core::processors::session_aggregate::SessionAggregate;
use streams_core::processors::window_aggregate::WindowAggregate;
use streams_core::topology::{Topology, TopologyBuilder};
use streams_core::window::WindowSpec;

pub use dims::load_dims;
pub use spec::{AggregateSpecFile, ProcessorFile, TopologyFile, WindowFile};

use crate::error::RuntimeError;
use spec::ProcessorSpec;

/// The name of the source node that processors read from.
pub const SOURCE: &str = "source";

/// A loaded, checked topology file: everything needed to build a [`Topology`] any number
/// of times (once per engine start).
#[derive(Debug, Clone)]
pub struct TopologyDef {
    /// The file it came from.
    pub path: PathBuf,
    /// Topology name.
    pub name: String,
    /// Input topics.
    pub source_topics: Vec<String>,
    /// Decoder limits.
    pub decode: DecodeConfig,
    /// Watermark delay, ms.
    pub watermark_delay_ms: i64,
    /// Idle partition timeout, ms (wall clock).
    pub idle_timeout_ms: i64,
    /// Checkpoint interval, ms (wall clock).
    pub commit_interval_ms: i64,
    /// Checkpoint after this many records even if the interval has not passed.
    pub max_records_per_commit: u64,
    /// Output topic per table name.
    pub topics: BTreeMap<String, String>,
    /// Stable hash of the processing semantics: state written under another fingerprint
    /// is refused.
    pub fingerprint: String,
    processors: Vec<ProcessorSpec>,
    dims: Arc<DimTables>,
}

impl TopologyDef {
    /// Builds a fresh topology (processors with empty in-memory state).
    pub fn build(&self) -> Result<Topology, RuntimeError> {
        let mut b = TopologyBuilder::new(SOURCE);
        for p in &self.processors {
            add_processor(&mut b, p, &self.dims);
        }
        b.build().map_err(|errs| {
            RuntimeError::Topology(
                errs.iter()
                    .map(|e| format!("{}: {e}", self.path.display()))
                    .collect(),
            )
        })
    }

    /// The dimension tables.
    pub fn dims(&self) -> &Arc<DimTables> {
        &self.dims
    }

    /// The largest [`WindowSpec::closing_extent`] of the windowed aggregates (0 without).
    pub fn closing_extent_ms(&self) -> i64 {
        self.processors
            .iter()
            .filter_map(|p| match &p.kind {
                spec::Kind::Window { window, .. } => Some(window.closing_extent()),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }

    /// Names of the windowed aggregates (each has a `late` count in the ledger).
    pub fn aggregate_names(&self) -> Vec<String> {
        self.processors
            .iter()
            .filter(|p| matches!(p.kind, spec::Kind::Window { .. }))
            .map(|p| p.name.clone())
            .collect()
    }
}

fn add_processor(b: &mut TopologyBuilder, p: &ProcessorSpec, dims: &Arc<DimTables>) {
    let inputs: Vec<&str> = p.inputs.iter().map(String::as_str).collect();
    match &p.kind {
        spec::Kind::Dedup { key, retention_ms } => {
            b.add(
                &p.name,
                &inputs,
                Dedup::new(format!("{}.dedup", p.name), *key, *retention_ms),
            );
        }
        spec::Kind::Enrich => {
            b.add(&p.name, &inputs, Enrich::new(dims.clone()));
        }
        spec::Kind::Filter { conditions } => {
            let conditions = conditions.clone();
            b.add(
                &p.name,
                &inputs,
                streams_core::processors::stateless::Filter::new(move |e: &streams_core::Event| {
                    conditions.iter().all(|(f, v)| e.field_equals(*f, v))
                }),
            );
        }
        spec::Kind::Sink { fields } => {
            b.add(&p.name, &inputs, EventsSink::new(fields.clone()));
        }
        spec::Kind::Window {
            window,
            group_by,
            aggs,
        } => match window {
            WindowSpec::Session { gap } => {
                b.add(
                    &p.name,
                    &inputs,
                    SessionAggregate::new(
                        format!("{}.sessions", p.name),
                        *gap,
                        group_by.clone(),
                        aggs.clone(),
                    ),
                );
            }
            _ => {
                b.add(
                    &p.name,
                    &inputs,
                    WindowAggregate::new(
                        format!("{}.windows", p.name),
                        *window,
                        group_by.clone(),
                        aggs.clone(),
                    ),
                );
            }
        },
    }
}

/// Loads and checks a topology file. Paths inside it (dimension files) are relative to
/// the file's directory. Returns every problem at once.
pub fn load_topology(path: &Path) -> Result<TopologyDef, RuntimeError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        RuntimeError::Topology(vec![format!(
            "{}: cannot read topology file: {e}",
            path.display()
        )])
    })?;
    parse_topology(path, &text)
}

/// Parses topology text as if read from `path`.
pub fn parse_topology(path: &Path, text: &str) -> Result<TopologyDef, RuntimeError> {
    let file_name = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut errors: Vec<String> = Vec::new();
    let parsed = spec::parse(text, &mut errors);
    let Some(parsed) = parsed else {
        return Err(RuntimeError::Topology(
            errors
                .into_iter()
                .map(|e| format!("{file_name}: {e}"))
                .collect(),
        ));
    };

    let mut dims = DimTables::default();
    let mut dims_errors = Vec::new();
    for p in &parsed.processors {
        if let spec::Kind::Enrich = p.kind {
            if let Some(files) = &p.dim_files {
                dims = load_dims(
                    &base.join(&files.0),
                    &base.join(&files.1),
                    &base.join(&files.2),
                    &mut dims_errors,
                );
            }
        }
    }
    let mut all: Vec<String> = errors
        .into_iter()
        .map(|e| format!("{file_name}: {e}"))
        .collect();
    all.extend(dims_errors.into_iter().map(|e| format!("{file_name}: {e}")));

    let def = TopologyDef {
        path: path.to_path_buf(),
        name: parsed.name,
        source_topics: parsed.source_topics,
        decode: parsed.decode,
        watermark_delay_ms: parsed.watermark_delay_ms,
        idle_timeout_ms: parsed.idle_timeout_ms,
        commit_interval_ms: parsed.commit_interval_ms,
        max_records_per_commit: parsed.max_records_per_commit,
        topics: parsed.topics,
        fingerprint: parsed.fingerprint,
        processors: parsed.processors,
        dims: Arc::new(dims),
    };
    // Graph-level problems (dangling inputs, window sizes, ...) come from the builder;
    // inputs naming processors that failed to parse are not reported twice.
    if let Err(RuntimeError::Topology(build_errors)) = def.build() {
        for e in build_errors {
            let blames_broken = parsed
                .broken
                .iter()
                .any(|b| e.contains(&format!("input `{b}`")));
            if !blames_broken && !all.contains(&e) {
                all.push(e);
            }
        }
    }
    if all.is_empty() {
        Ok(def)
    } else {
        Err(RuntimeError::Topology(all))
    }
}

#[cfg(test)]
mod tests;
