//! Opening the database and writing checkpoints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use rocksdb::compaction_filter::Decision;
use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, ColumnFamilyDescriptor, IteratorMode, Options,
    WriteBatch, WriteBufferManager, WriteOptions, DB,
};
use streams_core::store::{dedup_expiry, PendingWrites, StoreKind, StoreSpec};

use crate::error::StateError;
use crate::store::RocksStore;

/// Column family of the checkpoint record.
pub const META_CF: &str = "meta";
/// Column family of the outbox.
pub const OUTBOX_CF: &str = "outbox";
const STORE_CF_PREFIX: &str = "store.";

/// Memory limits of the state backend: RocksDB's block cache and write buffers are the
/// only memory that grows with state, and both are capped here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateConfig {
    /// Shared LRU block cache, bytes.
    pub block_cache_bytes: usize,
    /// Size of one memtable, bytes.
    pub write_buffer_bytes: usize,
    /// Total memtable memory across column families, bytes.
    pub total_write_buffer_bytes: usize,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            block_cache_bytes: 64 << 20,
            write_buffer_bytes: 32 << 20,
            total_write_buffer_bytes: 128 << 20,
        }
    }
}

/// A raw key and value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Everything one checkpoint writes, applied as one atomic, synced batch.
#[derive(Debug, Default)]
pub struct CheckpointWrites {
    /// Pending writes per store name.
    pub stores: Vec<(String, PendingWrites)>,
    /// Key-value pairs of the `meta` column family.
    pub meta: Vec<(Vec<u8>, Vec<u8>)>,
    /// New outbox entries.
    pub outbox: Vec<(Vec<u8>, Vec<u8>)>,
    /// Delete outbox keys in `[.., end)` (entries known delivered).
    pub outbox_delete_before: Option<Vec<u8>>,
}

/// The open state database of one app.
#[derive(Clone)]
pub struct StateDb {
    db: Arc<DB>,
    path: PathBuf,
    dedup_floor: Arc<AtomicI64>,
    /// The block cache every column family's tables share.
    cache: Cache,
    /// The cap on all memtables together.
    wbm: WriteBufferManager,
}

fn store_cf(name: &str) -> String {
    format!("{STORE_CF_PREFIX}{name}")
}

impl StateDb {
    /// Opens (or creates) the database at `path` with a column family per store.
    pub fn open(path: &Path, stores: &[StoreSpec], cfg: &StateConfig) -> Result<Self, StateError> {
        std::fs::create_dir_all(path).map_err(|source| StateError::CreateDir {
            path: path.to_path_buf(),
            source,
        })?;
        // Memtables are capped on their own (flushed beyond the total), not charged to the
        // block cache: charged to it, full memtables left it no room and every read fetched
        // its index and filter blocks from disk again (`tests/cache_budget.rs`).
        let cache = Cache::new_lru_cache(cfg.block_cache_bytes);
        let wbm = WriteBufferManager::new_write_buffer_manager(cfg.total_write_buffer_bytes, false);
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        db_opts.set_write_buffer_manager(&wbm);
        db_opts.set_max_background_jobs(2);
        db_opts.set_keep_log_file_num(3);

        let table_opts = |bloom: bool| {
            let mut t = BlockBasedOptions::default();
            t.set_block_cache(&cache);
            t.set_cache_index_and_filter_blocks(true);
            // Index and filters in partitions of a few KiB, cached as they are used: one
            // filter for a large file would be megabytes, larger than a shard of the cache.
            t.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
            t.set_pin_top_level_index_and_filter(true);
            t.set_pin_l0_filter_and_index_blocks_in_cache(true);
            if bloom {
                t.set_bloom_filter(10.0, false);
                t.set_partition_filters(true);
            }
            t
        };
        let cf_opts = |kind: Option<StoreKind>, floor: &Arc<AtomicI64>| {
            let mut o = Options::default();
            o.set_write_buffer_size(cfg.write_buffer_bytes);
            o.set_max_write_buffer_number(3);
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            o.set_block_based_table_factory(&table_opts(kind == Some(StoreKind::Dedup)));
            if kind == Some(StoreKind::Dedup) {
                o.set_memtable_whole_key_filtering(true);
                o.set_memtable_prefix_bloom_ratio(0.1);
                let floor = floor.clone();
                // Garbage-collects expired dedup entries. Lookups check expiry themselves,
                // so this only frees space; it never changes a decision. The floor is the
                // last *committed* watermark, which a restart can only raise.
                o.set_compaction_filter("dedup-expiry", move |_lvl: u32, _k: &[u8], v: &[u8]| {
                    match dedup_expiry(v) {
                        Some(exp) if exp <= floor.load(Ordering::Relaxed) => Decision::Remove,
                        _ => Decision::Keep,
                    }
                });
            }
            o
        };

        let dedup_floor = Arc::new(AtomicI64::new(i64::MIN));
        let mut names: Vec<(String, Option<StoreKind>)> =
            vec![(META_CF.into(), None), (OUTBOX_CF.into(), None)];
        for s in stores {
            names.push((store_cf(&s.name), Some(s.kind)));
        }
        // Column families of stores this topology no longer has must still be opened.
        if let Ok(existing) = DB::list_cf(&db_opts, path) {
            for cf in existing {
                if cf != "default" && !names.iter().any(|(n, _)| *n == cf) {
                    names.push((cf, None));
                }
            }
        }
        let descriptors: Vec<ColumnFamilyDescriptor> = names
            .iter()
            .map(|(n, k)| ColumnFamilyDescriptor::new(n, cf_opts(*k, &dedup_floor)))
            .collect();
        let db = DB::open_cf_descriptors(&db_opts, path, descriptors).map_err(|source| {
            StateError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(StateDb {
            db: Arc::new(db),
            path: path.to_path_buf(),
            dedup_floor,
            cache,
            wbm,
        })
    }

    /// The state directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle on the store called `name`, with an empty write-back buffer.
    pub fn store(&self, name: &str) -> Result<RocksStore, StateError> {
        let cf = store_cf(name);
        if self.db.cf_handle(&cf).is_none() {
            return Err(StateError::MissingColumnFamily {
                path: self.path.clone(),
                cf,
            });
        }
        Ok(RocksStore::new(
            self.db.clone(),
            name.to_string(),
            cf,
            self.path.clone(),
        ))
    }

    fn cf(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StateError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StateError::MissingColumnFamily {
                path: self.path.clone(),
                cf: name.to_string(),
            })
    }

    /// Reads a key of the `meta` column family.
    pub fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.db
            .get_cf(self.cf(META_CF)?, key)
            .map_err(|source| self.io("read checkpoint", source))
    }

    /// Every outbox entry, in key order.
    pub fn outbox(&self) -> Result<Vec<KeyValue>, StateError> {
        let mut all = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(OUTBOX_CF)?, IteratorMode::Start)
        {
            let (k, v) = item.map_err(|source| self.io("read outbox", source))?;
            all.push((k.to_vec(), v.to_vec()));
        }
        Ok(all)
    }

    fn io(&self, op: &'static str, source: rocksdb::Error) -> StateError {
        StateError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }

    /// Writes one checkpoint atomically and durably (synced WAL).
    pub fn commit(&self, writes: CheckpointWrites) -> Result<(), StateError> {
        self.writer().commit(writes)
    }

    /// A handle that writes checkpoints from another thread (the delivery thread writes
    /// a checkpoint while the engine goes on with the next records).
    pub fn writer(&self) -> StateWriter {
        StateWriter { db: self.clone() }
    }

    /// Sets the committed watermark below which dedup entries may be garbage-collected.
    pub fn set_dedup_floor(&self, watermark: i64) {
        self.dedup_floor.store(watermark, Ordering::Relaxed);
    }

    /// Compacts every column family now (tests and maintenance).
    pub fn compact_all(&self) -> Result<(), StateError> {
        for cf in DB::list_cf(&Options::default(), &self.path)
            .map_err(|source| self.io("list column families", source))?
        {
            if let Some(h) = self.db.cf_handle(&cf) {
                self.db.compact_range_cf(h, None::<&[u8]>, None::<&[u8]>);
            }
        }
        Ok(())
    }

    /// Bytes held in the block cache.
    pub fn block_cache_usage(&self) -> u64 {
        self.cache.get_usage() as u64
    }

    /// Bytes in the memtables of every column family.
    pub fn memtable_bytes(&self) -> u64 {
        self.wbm.get_usage() as u64
    }
}

/// What `streams-app status` reads of a state directory without taking it over: the
/// `meta` entries, the outbox's size and the files' size on disk.
#[derive(Debug, Clone, Default)]
pub struct StateSnapshot {
    /// Every entry of the `meta` column family.
    pub meta: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Outbox entries (checkpointed, not yet forgotten).
    pub outbox_entries: u64,
    /// Their bytes.
    pub outbox_bytes: u64,
    /// Bytes of every file in the state directory.
    pub size_on_disk: u64,
}

/// Reads a state directory without taking it over: as a RocksDB secondary instance (the
/// supported way to read while the primary, the running app, writes and compacts; it
/// takes no lock and keeps every file it read open), from a scratch directory of its
/// own. What it sees is the state as of the open, WAL included.
pub fn read_snapshot(path: &Path) -> Result<StateSnapshot, StateError> {
    let mut opts = Options::default();
    opts.set_max_open_files(-1);
    let open_err = |source| StateError::Open {
        path: path.to_path_buf(),
        source,
    };
    let cfs = DB::list_cf(&opts, path).map_err(open_err)?;
    let scratch = tempfile::tempdir().map_err(|source| StateError::CreateDir {
        path: std::env::temp_dir(),
        source,
    })?;
    let db = DB::open_cf_as_secondary(&opts, path, scratch.path(), &cfs).map_err(open_err)?;
    let io = |op: &'static str| {
        move |source| StateError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    };
    let mut snap = StateSnapshot::default();
    if let Some(cf) = db.cf_handle(META_CF) {
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            let (k, v) = item.map_err(io("read meta"))?;
            snap.meta.insert(k.to_vec(), v.to_vec());
        }
    }
    if let Some(cf) = db.cf_handle(OUTBOX_CF) {
        for item in db.iterator_cf(cf, IteratorMode::Start) {
            let (_, v) = item.map_err(io("read outbox"))?;
            snap.outbox_entries += 1;
            snap.outbox_bytes += v.len() as u64;
        }
    }
    snap.size_on_disk = size_on_disk(path);
    Ok(snap)
}

/// Bytes of the files in a state directory (0 when it cannot be read).
pub fn size_on_disk(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Writes checkpoints into an open state database, from any thread.
pub struct StateWriter {
    db: StateDb,
}

impl StateWriter {
    /// Writes one checkpoint atomically and durably (synced WAL).
    pub fn commit(&self, writes: CheckpointWrites) -> Result<(), StateError> {
        // Sized up front: growing a batch of tens of MiB by doubling copies it many times.
        let bytes: usize = writes
            .stores
            .iter()
            .flat_map(|(_, w)| w.iter())
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len) + 16)
            .chain(
                writes
                    .meta
                    .iter()
                    .chain(&writes.outbox)
                    .map(|(k, v)| k.len() + v.len() + 16),
            )
            .sum();
        let mut batch = WriteBatch::with_capacity_bytes(bytes + 1024);
        for (store, pending) in &writes.stores {
            let cf = self.db.cf(&store_cf(store))?;
            for (k, v) in pending.iter() {
                match v {
                    Some(v) => batch.put_cf(cf, k, v),
                    None => batch.delete_cf(cf, k),
                }
            }
        }
        let meta = self.db.cf(META_CF)?;
        for (k, v) in &writes.meta {
            batch.put_cf(meta, k, v);
        }
        let outbox = self.db.cf(OUTBOX_CF)?;
        if let Some(end) = &writes.outbox_delete_before {
            batch.delete_range_cf(outbox, [].as_slice(), end.as_slice());
        }
        for (k, v) in &writes.outbox {
            batch.put_cf(outbox, k, v);
        }
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        self.db
            .db
            .write_opt(batch, &opts)
            .map_err(|source| self.db.io("write checkpoint", source))
    }
}
