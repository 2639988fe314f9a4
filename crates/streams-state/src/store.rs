//! A state store on a RocksDB column family, with an in-memory write-back buffer that
//! the checkpoint drains into its batch.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rocksdb::{Direction, IteratorMode, DB};
use rustc_hash::FxHashMap;
use streams_core::store::{KeyValueStore, PendingWrites, ScanFn};
use streams_core::CoreError;

/// One store (column family) of the state database.
pub struct RocksStore {
    db: Arc<DB>,
    name: String,
    cf: String,
    path: PathBuf,
    pending: FxHashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Writes taken for checkpoints whose write may not have reached the database yet
    /// (it is written on another thread), oldest first: reads see them until
    /// [`KeyValueStore::committed`]. The same memory the checkpoint writes from.
    in_flight: Vec<PendingWrites>,
}

impl RocksStore {
    pub(crate) fn new(db: Arc<DB>, name: String, cf: String, path: PathBuf) -> Self {
        RocksStore {
            db,
            name,
            cf,
            path,
            pending: FxHashMap::default(),
            in_flight: Vec::new(),
        }
    }

    /// The newest write of `key` in flight, if any.
    fn in_flight(&self, key: &[u8]) -> Option<&Option<Vec<u8>>> {
        self.in_flight.iter().rev().find_map(|w| {
            w.binary_search_by(|(k, _)| k.as_slice().cmp(key))
                .ok()
                .map(|i| &w[i].1)
        })
    }

    fn err(&self, e: impl std::fmt::Display) -> CoreError {
        CoreError::store(&self.name, format!("{} ({})", e, self.path.display()))
    }
}

impl KeyValueStore for RocksStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, CoreError> {
        if let Some(v) = self.pending.get(key).or_else(|| self.in_flight(key)) {
            return Ok(v.clone());
        }
        let cf = self
            .db
            .cf_handle(&self.cf)
            .ok_or_else(|| self.err("column family missing"))?;
        match self.db.get_pinned_cf(cf, key) {
            Ok(v) => Ok(v.map(|v| v.to_vec())),
            Err(e) => Err(self.err(e)),
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.pending.insert(key.to_vec(), Some(value.to_vec()));
    }

    fn delete(&mut self, key: &[u8]) {
        self.pending.insert(key.to_vec(), None);
    }

    fn scan(&mut self, prefix: &[u8], f: &mut ScanFn<'_>) -> Result<(), CoreError> {
        let cf = self
            .db
            .cf_handle(&self.cf)
            .ok_or_else(|| self.err("column family missing"))?;
        // Writes in flight, then pending ones over them.
        let mut overlay: BTreeMap<&[u8], &Option<Vec<u8>>> = self
            .in_flight
            .iter()
            .flat_map(|w| w.iter().map(|(k, v)| (k, v)))
            .chain(&self.pending)
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_slice(), v))
            .collect();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(prefix, Direction::Forward))
        {
            let (k, v) = item.map_err(|e| self.err(e))?;
            if !k.starts_with(prefix) {
                break;
            }
            // Pending keys that sort before this one come first.
            while let Some((pk, pv)) = overlay.first_key_value() {
                if *pk >= &*k {
                    break;
                }
                if let Some(pv) = pv {
                    f(pk, pv)?;
                }
                overlay.pop_first();
            }
            match overlay.remove(&*k) {
                Some(Some(pv)) => f(&k, pv)?,
                Some(None) => {}
                None => f(&k, &v)?,
            }
        }
        for (pk, pv) in overlay {
            if let Some(pv) = pv {
                f(pk, pv)?;
            }
        }
        Ok(())
    }

    fn take_pending(&mut self) -> PendingWrites {
        // Sorted, because RocksDB's memtable inserts a sorted batch far faster (its skip
        // list reuses the previous insert's search path).
        // Reads search them by key too.
        let mut writes: Vec<_> = std::mem::take(&mut self.pending).into_iter().collect();
        writes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let writes = PendingWrites::new(writes);
        // Older writes still in flight (none when every checkpoint is confirmed before
        // the next is taken) are covered by the newer ones.
        self.in_flight.push(writes.clone());
        writes
    }

    fn committed(&mut self) {
        self.in_flight.clear();
    }
}
