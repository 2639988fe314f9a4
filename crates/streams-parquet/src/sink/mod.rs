//! The Parquet sink: one open (hidden) file per (table, event date), rows appended as
//! whole checkpoint epochs, published by fsync + rename when it reaches its size or age
//! limit, at shutdown, and at the end of a bounded run.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use streams_core::topology::TableInfo;
use streams_core::value::format_date;
use streams_core::{Row, Value};
use streams_runtime::{OutboxBatch, OutboxPayload};

use crate::error::ParquetError;
use crate::layout::{is_staged, parse_part_name, part_name, partition_dir, staged_name, table_dir};
use crate::schema::{arrow_schema, to_record_batch};

mod recovery;

pub use recovery::covered;

/// Settings of the Parquet sink.
#[derive(Debug, Clone)]
pub struct ParquetSinkConfig {
    /// `<output-dir>`: tables go to `<output-dir>/<app-id>/<table>/`.
    pub output_dir: PathBuf,
    /// The app id.
    pub app_id: String,
    /// The task id (part of file names).
    pub task: u32,
    /// Publish a file once it holds about this many bytes.
    pub max_file_bytes: u64,
    /// Publish a file once its first row is this old (wall clock).
    pub max_file_age: Duration,
}

struct OpenFile {
    first_epoch: u64,
    last_epoch: u64,
    tmp: PathBuf,
    dir: PathBuf,
    writer: ArrowWriter<File>,
    opened: Instant,
}

/// Writes output tables as Parquet.
pub struct ParquetSink {
    cfg: ParquetSinkConfig,
    tables: Vec<TableInfo>,
    arrow: Vec<SchemaRef>,
    date_col: Vec<Option<usize>>,
    open: BTreeMap<(usize, i32), OpenFile>,
    published: HashMap<(usize, i32), Vec<(u64, u64)>>,
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
    /// (what recovery must not write again) and removes staged files a crash left behind.
    pub fn open(cfg: ParquetSinkConfig, tables: &[TableInfo]) -> Result<Self, ParquetError> {
        let mut published: HashMap<(usize, i32), Vec<(u64, u64)>> = HashMap::new();
        for (t, info) in tables.iter().enumerate() {
            let dir = table_dir(&cfg.output_dir, &cfg.app_id, &info.name);
            let Ok(parts) = std::fs::read_dir(&dir) else {
                continue;
            };
            for part in parts.flatten() {
                let name = part.file_name().to_string_lossy().into_owned();
                let Some(date) = name
                    .strip_prefix("event_date=")
                    .and_then(streams_core::value::parse_date)
                else {
                    continue;
                };
                let pdir = part.path();
                for f in std::fs::read_dir(&pdir)
                    .map_err(ParquetError::io("list", &pdir))?
                    .flatten()
                {
                    let fname = f.file_name().to_string_lossy().into_owned();
                    if is_staged(&fname) {
                        std::fs::remove_file(f.path())
                            .map_err(ParquetError::io("remove staged file", f.path()))?;
                        continue;
                    }
                    if let Some((first, last, task)) = parse_part_name(&fname) {
                        if task == cfg.task {
                            published.entry((t, date)).or_default().push((first, last));
                        }
                    }
                }
            }
        }
        Ok(ParquetSink {
            arrow: tables.iter().map(|t| arrow_schema(&t.schema)).collect(),
            date_col: tables
                .iter()
                .map(|t| t.schema.index_of("event_date"))
                .collect(),
            tables: tables.to_vec(),
            cfg,
            open: BTreeMap::new(),
            published,
            delivered: None,
            files_published: 0,
        })
    }

    /// Appends the rows of `batches` (dead letters are not Parquet's). Rows of epochs a
    /// published file already holds for their (table, date) are skipped.
    pub fn deliver(&mut self, batches: &[OutboxBatch]) -> Result<(), ParquetError> {
        // Group by (table, date, epoch) so each epoch lands whole in one file.
        let mut groups: BTreeMap<(usize, i32, u64), Vec<&Row>> = BTreeMap::new();
        for b in batches {
            self.delivered = self.delivered.max(Some(b.epoch));
            let OutboxPayload::Rows(rows) = &b.payload else {
                continue;
            };
            let t = b.table as usize;
            if t >= self.tables.len() {
                continue;
            }
            for row in rows {
                let date = match self.date_col[t].and_then(|c| row.get(c)) {
                    Some(Value::Date(d)) => *d,
                    _ => 0,
                };
                groups.entry((t, date, b.epoch)).or_default().push(row);
            }
        }
        for ((t, date, epoch), rows) in groups {
            let done = self
                .published
                .get(&(t, date))
                .is_some_and(|r| covered(r, epoch));
            if done {
                continue;
            }
            self.append(t, date, epoch, &rows)?;
        }
        Ok(())
    }

    fn append(
        &mut self,
        t: usize,
        date: i32,
        epoch: u64,
        rows: &[&Row],
    ) -> Result<(), ParquetError> {
        let f = match self.open.entry((t, date)) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let dir = partition_dir(
                    &table_dir(&self.cfg.output_dir, &self.cfg.app_id, &self.tables[t].name),
                    &format_date(date),
                );
                std::fs::create_dir_all(&dir)
                    .map_err(ParquetError::io("create directory", &dir))?;
                let tmp = dir.join(staged_name(epoch, self.cfg.task));
                let file = File::create(&tmp).map_err(ParquetError::io("create", &tmp))?;
                let writer =
                    ArrowWriter::try_new(file, self.arrow[t].clone(), Some(writer_properties()))
                        .map_err(|e| ParquetError::format(&tmp, e))?;
                e.insert(OpenFile {
                    first_epoch: epoch,
                    last_epoch: epoch,
                    tmp,
                    dir,
                    writer,
                    opened: Instant::now(),
                })
            }
        };
        let batch = to_record_batch(&self.tables[t].schema, &self.arrow[t], rows)
            .map_err(|e| ParquetError::format(&f.tmp, e))?;
        f.writer
            .write(&batch)
            .map_err(|e| ParquetError::format(&f.tmp, e))?;
        f.last_epoch = f.last_epoch.max(epoch);
        Ok(())
    }

    /// Publishes the files that reached their size or age limit.
    pub fn roll(&mut self) -> Result<(), ParquetError> {
        let due: Vec<(usize, i32)> = self
            .open
            .iter()
            .filter(|(_, f)| {
                f.opened.elapsed() >= self.cfg.max_file_age
                    || f.writer.bytes_written() as u64 + f.writer.in_progress_size() as u64
                        >= self.cfg.max_file_bytes
            })
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            self.publish(k)?;
        }
        Ok(())
    }

    /// Publishes every open file (shutdown, end of a bounded run).
    pub fn publish_all(&mut self) -> Result<(), ParquetError> {
        let keys: Vec<(usize, i32)> = self.open.keys().copied().collect();
        for k in keys {
            self.publish(k)?;
        }
        Ok(())
    }

    fn publish(&mut self, key: (usize, i32)) -> Result<(), ParquetError> {
        let Some(f) = self.open.remove(&key) else {
            return Ok(());
        };
        let file = f
            .writer
            .into_inner()
            .map_err(|e| ParquetError::format(&f.tmp, e))?;
        let target = f
            .dir
            .join(part_name(f.first_epoch, f.last_epoch, self.cfg.task));
        publish_staged(file, &f.tmp, &target)?;
        fsync_dir(&f.dir)?;
        self.published
            .entry(key)
            .or_default()
            .push((f.first_epoch, f.last_epoch));
        self.files_published += 1;
        tracing::debug!(file = %target.display(), "published parquet file");
        Ok(())
    }

    /// Every epoch up to this one is fully published (the outbox may forget it).
    pub fn durable_through(&self) -> Option<u64> {
        match self.open.values().map(|f| f.first_epoch).min() {
            Some(first) => first.checked_sub(1),
            None => self.delivered,
        }
    }
}

#[cfg(test)]
mod tests;
