//! The Parquet sink: the rows of each (table, event date) are appended as whole
//! checkpoint epochs to a hidden staging file ([`staging`]) and fsynced at every
//! delivery; the checkpoint records the staged lengths, so the outbox forgets an epoch as
//! soon as it is staged. A staging file is published as one Parquet file (written
//! hidden, fsynced, renamed) when it reaches its size or age limit, at shutdown, and at
//! the end of a bounded run.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use streams_core::dataflow::aggregate::value_at;
use streams_core::topology::TableInfo;
use streams_core::value::{format_date, format_timestamp};
use streams_core::{Schema, Value};
use streams_runtime::{OutboxBatch, OutboxPayload};

use crate::error::ParquetError;
use crate::layout::{
    is_hidden, is_staged, parse_part_name, parse_partition_path, part_name_with, partition_path,
    staged_name_with, table_dir,
};
use crate::schema::arrow_schema;

mod recovery;
pub mod staging;

pub use recovery::covered;
pub use staging::StagedFile;
use staging::{
    parse_staging_name, plan_recovery, read_frames, staging_name, write_frame, FoundStaging,
    Recovery,
};

/// The format of a file sink's published files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Parquet (Snappy), under `<output-dir>/<app-id>/<table>/`.
    Parquet,
    /// CSV with a header row, under `<output-dir>/<app-id>/csv/<table>/`.
    Csv,
}

impl FileFormat {
    /// The name the sink's staged files are checkpointed under.
    pub fn state_name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
        }
    }

    /// File extension.
    pub fn ext(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
        }
    }

    /// Where a table's files go.
    pub fn table_dir(self, output_dir: &Path, app_id: &str, table: &str) -> PathBuf {
        match self {
            FileFormat::Parquet => table_dir(output_dir, app_id, table),
            FileFormat::Csv => output_dir.join(app_id).join("csv").join(table),
        }
    }
}

/// Settings of the Parquet sink.
#[derive(Debug, Clone)]
pub struct ParquetSinkConfig {
    /// `<output-dir>`: tables go to `<output-dir>/<app-id>/<table>/`.
    pub output_dir: PathBuf,
    /// The app id.
    pub app_id: String,
    /// The task id (part of file names).
    pub task: u32,
    /// Publish a file once its staged rows take about this many bytes.
    pub max_file_bytes: u64,
    /// Publish a file once its first row is this old (wall clock).
    pub max_file_age: Duration,
    /// Parquet or CSV files.
    pub format: FileFormat,
    /// Per table (in the engine's order): whether this sink writes it. Empty: all.
    pub tables: Vec<bool>,
}

/// An open staging file of one (table, partition).
struct Staging {
    first_epoch: u64,
    last_epoch: u64,
    len: u64,
    path: PathBuf,
    dir: PathBuf,
    file: File,
    opened: Instant,
}

/// Writes output tables as Parquet.
pub struct ParquetSink {
    cfg: ParquetSinkConfig,
    tables: Vec<TableInfo>,
    /// Per table: the Arrow schema of its files (the partition columns left out), and
    /// which row columns they hold.
    arrow: Vec<SchemaRef>,
    file_columns: Vec<Vec<usize>>,
    staging: BTreeMap<(usize, String), Staging>,
    published: HashMap<(usize, String), Vec<(u64, u64)>>,
    delivered: Option<u64>,
    /// Files published so far by this sink.
    pub files_published: u64,
}

/// The writer properties of every file the sink publishes.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(64 * 1024)
        .set_created_by("streams-app".into())
        .build()
}

/// Makes a rename in `dir` durable.
pub fn fsync_dir(dir: &Path) -> Result<(), ParquetError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(ParquetError::io("fsync directory", dir))
}

/// Publishes a fully written hidden file: fsync its data, then rename it to `target`
/// in the same directory. Readers see the old state or the whole new file, never a part.
/// The rename is durable once the caller fsyncs the directory ([`fsync_dir`]; one call
/// covers several renames).
pub fn publish_staged(file: File, tmp: &Path, target: &Path) -> Result<(), ParquetError> {
    file.sync_all().map_err(ParquetError::io("fsync", tmp))?;
    drop(file);
    std::fs::rename(tmp, target).map_err(ParquetError::io("publish", target))
}

impl ParquetSink {
    /// Opens the sink for the given output tables: lists the files already published
    /// and recovers the staging files of the last checkpoint (`committed`): cut back to
    /// their committed length; staging files the checkpoint does not know, and hidden
    /// files of an unfinished publish, are removed (their rows are still in the outbox).
    pub fn open(
        cfg: ParquetSinkConfig,
        tables: &[TableInfo],
        committed: &[StagedFile],
    ) -> Result<Self, ParquetError> {
        let mut published: HashMap<(usize, String), Vec<(u64, u64)>> = HashMap::new();
        let mut found = Vec::new();
        for (t, info) in tables.iter().enumerate() {
            let root = cfg
                .format
                .table_dir(&cfg.output_dir, &cfg.app_id, &info.name);
            for (rel, dir) in partition_dirs(&root, info.partition_by.len())? {
                for f in std::fs::read_dir(&dir)
                    .map_err(ParquetError::io("list", &dir))?
                    .flatten()
                {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    if is_staged(&fname) {
                        std::fs::remove_file(f.path())
                            .map_err(ParquetError::io("remove unfinished file", f.path()))?;
                    } else if let Some((first, last, task)) = parse_part_name(&fname) {
                        if task == cfg.task {
                            published
                                .entry((t, rel.clone()))
                                .or_default()
                                .push((first, last));
                        }
                    } else if let Some((first, task)) = parse_staging_name(&fname) {
                        if task == cfg.task {
                            let len = f
                                .metadata()
                                .map_err(ParquetError::io("inspect", f.path()))?
                                .len();
                            found.push((
                                f.path(),
                                FoundStaging {
                                    table: info.name.clone(),
                                    partition: rel.clone(),
                                    first_epoch: first,
                                    len,
                                },
                            ));
                        }
                    }
                }
            }
        }
        let by_name: HashMap<(String, String), Vec<(u64, u64)>> = published
            .iter()
            .map(|((t, d), r)| ((tables[*t].name.clone(), d.clone()), r.clone()))
            .collect();
        let plan = plan_recovery(
            committed,
            &found.iter().map(|(_, f)| f.clone()).collect::<Vec<_>>(),
            &by_name,
        )
        .map_err(|message| ParquetError::Format {
            path: cfg.output_dir.join(&cfg.app_id),
            message,
        })?;
        let mut staging = BTreeMap::new();
        for action in plan {
            match action {
                Recovery::Delete(f) => {
                    if let Some((path, _)) = found.iter().find(|(_, g)| *g == f) {
                        std::fs::remove_file(path)
                            .map_err(ParquetError::io("remove staged rows", path))?;
                    }
                }
                Recovery::Resume(c) => {
                    let Some(t) = tables.iter().position(|i| i.name == c.table) else {
                        continue;
                    };
                    let Some((path, _)) = found.iter().find(|(_, g)| {
                        g.table == c.table
                            && g.partition == c.partition
                            && g.first_epoch == c.first_epoch
                    }) else {
                        continue;
                    };
                    let file = File::options()
                        .write(true)
                        .open(path)
                        .map_err(ParquetError::io("open staged rows", path))?;
                    file.set_len(c.len)
                        .and_then(|_| file.sync_all())
                        .map_err(ParquetError::io("cut back staged rows", path))?;
                    let file = File::options()
                        .append(true)
                        .open(path)
                        .map_err(ParquetError::io("open staged rows", path))?;
                    staging.insert(
                        (t, c.partition.clone()),
                        Staging {
                            first_epoch: c.first_epoch,
                            last_epoch: c.last_epoch,
                            len: c.len,
                            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
                            path: path.clone(),
                            file,
                            opened: Instant::now(),
                        },
                    );
                }
            }
        }
        let file_columns: Vec<Vec<usize>> = tables
            .iter()
            .map(|t| {
                (0..t.schema.columns.len())
                    .filter(|c| !t.partition_by.contains(c))
                    .collect()
            })
            .collect();
        Ok(ParquetSink {
            arrow: tables
                .iter()
                .zip(&file_columns)
                .map(|(t, cols)| {
                    arrow_schema(&Schema {
                        columns: cols.iter().map(|&c| t.schema.columns[c].clone()).collect(),
                    })
                })
                .collect(),
            file_columns,
            tables: tables.to_vec(),
            cfg,
            staging,
            published,
            delivered: None,
            files_published: 0,
        })
    }

    /// Stages the rows of `batches` (dead letters are not Parquet's), durably: every
    /// touched staging file is fsynced before this returns. Rows of epochs a published or
    /// staged file already holds for their (table, date) are skipped.
    pub fn deliver(&mut self, batches: &[OutboxBatch]) -> Result<(), ParquetError> {
        // Each entry's file columns (of the file's types); its rows grouped by (table,
        // partition, epoch) as (entry, row) so each epoch lands whole in one file.
        let mut data: Vec<Vec<Vec<ArrayRef>>> = self.tables.iter().map(|_| Vec::new()).collect();
        let mut groups: BTreeMap<(usize, String, u64), Vec<(usize, usize)>> = BTreeMap::new();
        for b in batches {
            self.delivered = self.delivered.max(Some(b.epoch));
            let OutboxPayload::Rows(rows) = &b.payload else {
                continue;
            };
            let t = b.table as usize;
            if t >= self.tables.len() || !self.writes(t) {
                continue;
            }
            let info = &self.tables[t];
            let columns = rows
                .columns(&info.schema)
                .and_then(|c| {
                    let file = file_columns(&c, &self.file_columns[t], &self.arrow[t])?;
                    Ok((c, file))
                })
                .map_err(|e| {
                    ParquetError::format(
                        self.cfg.format.table_dir(
                            &self.cfg.output_dir,
                            &self.cfg.app_id,
                            &info.name,
                        ),
                        e,
                    )
                });
            let (columns, file) = columns?;
            let e = data[t].len();
            // Only the partition columns become values; rows of one partition come in
            // runs, and a run shares its path (built once, not per row).
            let by: Vec<Option<&ArrayRef>> = info
                .partition_by
                .iter()
                .map(|&c| columns.columns().get(c))
                .collect();
            let mut last: Option<(Vec<Value>, (usize, String, u64))> = None;
            let value = |a: &Option<&ArrayRef>, r: usize| {
                a.map_or(Value::Null, |a| value_at(a.as_ref(), r))
            };
            for r in 0..columns.num_rows() {
                let key = match last {
                    Some((ref v, ref key)) if by.iter().zip(v).all(|(a, v)| value(a, r) == *v) => {
                        key
                    }
                    _ => {
                        let values: Vec<Value> = by.iter().map(|a| value(a, r)).collect();
                        let parts: Vec<(&str, Option<String>)> = info
                            .partition_by
                            .iter()
                            .zip(&values)
                            .map(|(&c, v)| {
                                let name = info.schema.columns[c].name.as_str();
                                (name, partition_value(v))
                            })
                            .collect();
                        &last
                            .insert((values, (t, partition_path(&parts), b.epoch)))
                            .1
                    }
                };
                match groups.get_mut(key) {
                    Some(g) => g.push((e, r)),
                    None => {
                        groups.insert(key.clone(), vec![(e, r)]);
                    }
                }
            }
            data[t].push(file);
        }
        let mut touched = Vec::new();
        let mut new_dirs = Vec::new();
        for ((t, part, epoch), rows) in groups {
            let key = (t, part);
            let published = self.published.get(&key).is_some_and(|r| covered(r, epoch));
            let staged = self
                .staging
                .get(&key)
                .is_some_and(|s| epoch <= s.last_epoch);
            if published || staged {
                continue;
            }
            if !self.staging.contains_key(&key) {
                let root = self.cfg.format.table_dir(
                    &self.cfg.output_dir,
                    &self.cfg.app_id,
                    &self.tables[t].name,
                );
                let dir = if key.1.is_empty() {
                    root
                } else {
                    root.join(&key.1)
                };
                std::fs::create_dir_all(&dir)
                    .map_err(ParquetError::io("create directory", &dir))?;
                let path = dir.join(staging_name(epoch, self.cfg.task));
                let file = File::create(&path).map_err(ParquetError::io("create", &path))?;
                new_dirs.push(dir.clone());
                self.staging.insert(
                    key.clone(),
                    Staging {
                        first_epoch: epoch,
                        last_epoch: epoch,
                        len: 0,
                        path,
                        dir,
                        file,
                        opened: Instant::now(),
                    },
                );
            }
            let batch = gather(&data[t], &self.arrow[t], &rows);
            let Some(s) = self.staging.get_mut(&key) else {
                continue;
            };
            let batch = batch.map_err(|e| ParquetError::format(&s.path, e))?;
            let mut out = std::io::BufWriter::new(&s.file);
            s.len += write_frame(&mut out, epoch, &batch, &s.path)?;
            out.flush()
                .map_err(ParquetError::io("append staged rows to", &s.path))?;
            s.last_epoch = epoch;
            touched.push(key);
        }
        touched.dedup();
        for k in touched {
            if let Some(s) = self.staging.get(&k) {
                s.file
                    .sync_data()
                    .map_err(ParquetError::io("fsync", &s.path))?;
            }
        }
        new_dirs.dedup();
        for d in new_dirs {
            fsync_dir(&d)?;
        }
        Ok(())
    }

    /// Publishes the files that reached their size or age limit.
    pub fn roll(&mut self) -> Result<(), ParquetError> {
        let due: Vec<(usize, String)> = self
            .staging
            .iter()
            .filter(|(_, s)| {
                s.opened.elapsed() >= self.cfg.max_file_age || s.len >= self.cfg.max_file_bytes
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.publish(k)?;
        }
        Ok(())
    }

    /// Publishes every staging file (shutdown, end of a bounded run).
    pub fn publish_all(&mut self) -> Result<(), ParquetError> {
        let keys: Vec<(usize, String)> = self.staging.keys().cloned().collect();
        for k in keys {
            self.publish(k)?;
        }
        Ok(())
    }

    /// Rewrites a staging file as one Parquet file: written hidden, fsynced, renamed;
    /// then the staging file is removed (recovery removes it if a crash comes first).
    fn publish(&mut self, key: (usize, String)) -> Result<(), ParquetError> {
        let Some(s) = self.staging.remove(&key) else {
            return Ok(());
        };
        let ext = self.cfg.format.ext();
        let tmp = s
            .dir
            .join(staged_name_with(s.first_epoch, self.cfg.task, ext));
        let file = File::create(&tmp).map_err(ParquetError::io("create", &tmp))?;
        let mut input = std::io::BufReader::new(
            File::open(&s.path).map_err(ParquetError::io("open staged rows", &s.path))?,
        );
        let file = match self.cfg.format {
            FileFormat::Parquet => {
                let mut writer = ArrowWriter::try_new(
                    file,
                    self.arrow[key.0].clone(),
                    Some(writer_properties()),
                )
                .map_err(|e| ParquetError::format(&tmp, e))?;
                read_frames(&mut input, &s.path, |_, batch| {
                    writer
                        .write(&batch)
                        .map_err(|e| ParquetError::format(&tmp, e))
                })?;
                writer
                    .into_inner()
                    .map_err(|e| ParquetError::format(&tmp, e))?
            }
            FileFormat::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(std::io::BufWriter::new(file));
                // A staging file always holds at least one epoch's frame, so the header
                // (written with the first batch) is always there.
                read_frames(&mut input, &s.path, |_, batch| {
                    writer
                        .write(&batch)
                        .map_err(|e| ParquetError::format(&tmp, e))
                })?;
                writer
                    .into_inner()
                    .into_inner()
                    .map_err(|e| ParquetError::io("write", &tmp)(e.into_error()))?
            }
        };
        let target = s.dir.join(part_name_with(
            s.first_epoch,
            s.last_epoch,
            self.cfg.task,
            ext,
        ));
        publish_staged(file, &tmp, &target)?;
        fsync_dir(&s.dir)?;
        std::fs::remove_file(&s.path).map_err(ParquetError::io("remove staged rows", &s.path))?;
        self.published
            .entry(key)
            .or_default()
            .push((s.first_epoch, s.last_epoch));
        self.files_published += 1;
        tracing::debug!(file = %target.display(), "published parquet file");
        Ok(())
    }

    fn writes(&self, table: usize) -> bool {
        self.cfg.tables.is_empty() || self.cfg.tables.get(table).copied().unwrap_or(false)
    }

    /// Every epoch up to this one is durable here (staged or published): the outbox may
    /// forget it once the checkpoint records [`staged`](Self::staged).
    pub fn durable_through(&self) -> Option<u64> {
        self.delivered
    }

    /// The staging files with their lengths, for the checkpoint.
    pub fn staged(&self) -> Vec<StagedFile> {
        self.staging
            .iter()
            .map(|((t, part), s)| StagedFile {
                table: self.tables[*t].name.clone(),
                partition: part.clone(),
                first_epoch: s.first_epoch,
                last_epoch: s.last_epoch,
                len: s.len,
            })
            .collect()
    }
}

/// The columns `columns` of `data` as the arrays of a file of `arrow`: a column of
/// another Arrow type is cast (a value that does not fit becomes NULL), once per entry.
fn file_columns(
    data: &RecordBatch,
    columns: &[usize],
    arrow: &SchemaRef,
) -> Result<Vec<ArrayRef>, ArrowError> {
    arrow
        .fields()
        .iter()
        .zip(columns)
        .map(|(field, &c)| {
            let a = data.columns().get(c).ok_or_else(|| {
                ArrowError::SchemaError(format!("an output batch has no column {c}"))
            })?;
            // Rare: the engine computes the sink's own types.
            if a.data_type() == field.data_type() {
                Ok(a.clone())
            } else {
                arrow::compute::cast(a, field.data_type())
            }
        })
        .collect()
}

/// The rows `at` ((entry, row) pairs) of the entries' file columns `data`, as one batch
/// of `arrow`.
fn gather(
    data: &[Vec<ArrayRef>],
    arrow: &SchemaRef,
    at: &[(usize, usize)],
) -> Result<RecordBatch, ArrowError> {
    let columns = (0..arrow.fields().len())
        .map(|c| {
            let arrays: Vec<&dyn Array> = data.iter().map(|d| d[c].as_ref()).collect();
            arrow::compute::interleave(&arrays, at)
        })
        .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
    RecordBatch::try_new_with_options(
        arrow.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(at.len())),
    )
}

/// A value as a partition directory name: dates `YYYY-MM-DD`, timestamps RFC 3339,
/// numbers and strings as written; NULL has none.
fn partition_value(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => s.to_string(),
        Value::Timestamp(t) => format_timestamp(*t),
        Value::Date(d) => format_date(*d),
    })
}

/// The partition directories under a table (`depth` levels of `name=value`), with their
/// paths relative to it; the table directory itself when it is not partitioned. A
/// missing table directory has none; hidden entries are skipped.
fn partition_dirs(root: &Path, depth: usize) -> Result<Vec<(String, PathBuf)>, ParquetError> {
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let mut level = vec![(String::new(), root.to_path_buf())];
    for _ in 0..depth {
        let mut next = Vec::new();
        for (rel, dir) in level {
            for e in std::fs::read_dir(&dir)
                .map_err(ParquetError::io("list", &dir))?
                .flatten()
            {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_hidden(&name) || !e.path().is_dir() || !name.contains('=') {
                    continue;
                }
                let rel = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if parse_partition_path(&rel).is_some() {
                    next.push((rel, e.path()));
                }
            }
        }
        level = next;
    }
    Ok(level)
}

#[cfg(test)]
mod tests;

/// The file sink in the delivery coordinator: its staged files (with their lengths) are
/// checkpointed under `parquet` or `csv`; it holds an epoch durably once staged.
impl streams_runtime::Sink for ParquetSink {
    fn name(&self) -> &str {
        self.cfg.format.state_name()
    }

    fn deliver(
        &mut self,
        _tables: &[TableInfo],
        batches: &[OutboxBatch],
        _recover: bool,
    ) -> Result<(), streams_runtime::SinkError> {
        // Idempotent by epoch: what a staged or published file covers is skipped.
        ParquetSink::deliver(self, batches).map_err(streams_runtime::SinkError::fatal)
    }

    fn takes(&self, _tables: &[TableInfo], b: &OutboxBatch) -> bool {
        matches!(b.payload, OutboxPayload::Rows(_)) && self.writes(b.table as usize)
    }

    fn roll(&mut self) -> Result<(), streams_runtime::SinkError> {
        ParquetSink::roll(self).map_err(streams_runtime::SinkError::fatal)
    }

    fn publish_all(&mut self) -> Result<(), streams_runtime::SinkError> {
        ParquetSink::publish_all(self).map_err(streams_runtime::SinkError::fatal)
    }

    fn durable_through(&self, delivered: u64) -> Option<u64> {
        ParquetSink::durable_through(self).map(|d| d.min(delivered))
    }

    fn checkpoint_state(&self) -> Option<Vec<u8>> {
        // A Vec of plain structs: serialising it cannot fail.
        Some(serde_json::to_vec(&self.staged()).unwrap_or_default())
    }
}
