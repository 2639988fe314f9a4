//! State store interface. Processors read and write stores through this trait; the
//! runtime flushes every store's pending writes into the checkpoint batch. The RocksDB
//! implementation lives in `streams-state`; [`MemoryStore`] is the reference model.

use std::collections::BTreeMap;

use crate::error::CoreError;

/// What a store holds; the state backend tunes each kind (dedup stores get point-lookup
/// options and expiry by watermark).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// Plain key-value state.
    KeyValue,
    /// Window aggregates keyed by window and group key.
    Window,
    /// Dedup entries whose value is the big-endian expiry time (see [`dedup_expiry`]).
    Dedup,
}

/// A store declared by a processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    /// Store name, unique in the topology.
    pub name: String,
    /// Store kind.
    pub kind: StoreKind,
}

impl StoreSpec {
    /// A store spec.
    pub fn new(name: impl Into<String>, kind: StoreKind) -> Self {
        StoreSpec {
            name: name.into(),
            kind,
        }
    }
}

/// Callback for [`KeyValueStore::scan`].
pub type ScanFn<'a> = dyn FnMut(&[u8], &[u8]) -> Result<(), CoreError> + 'a;

/// A key-value store with write-back semantics: writes are visible to reads at once and
/// become durable only when the runtime commits the next checkpoint.
pub trait KeyValueStore: Send {
    /// The store's name.
    fn name(&self) -> &str;
    /// Reads a key (pending writes first, then committed state).
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, CoreError>;
    /// Writes a key (pending until the next checkpoint).
    fn put(&mut self, key: &[u8], value: &[u8]);
    /// Deletes a key (pending until the next checkpoint).
    fn delete(&mut self, key: &[u8]);
    /// Visits every live entry whose key starts with `prefix`, in key order.
    fn scan(&mut self, prefix: &[u8], f: &mut ScanFn<'_>) -> Result<(), CoreError>;
    /// Hands the pending writes to the checkpoint. Reads still see them (a store that
    /// reads from a database keeps them in flight) until [`committed`](Self::committed).
    fn take_pending(&mut self) -> PendingWrites;
    /// The writes taken last are in the database now: a store may forget them.
    fn committed(&mut self) {}
}

/// Writes buffered since the last checkpoint, sorted by key: `None` deletes the key.
/// Shared: the checkpoint writes them while the store that took them still reads them
/// (one copy in memory, however many keys a checkpoint touches).
pub type PendingWrites = std::sync::Arc<Vec<(Vec<u8>, Option<Vec<u8>>)>>;

/// A store seen through a key prefix: the state of one task in a store shared by the
/// tasks of a processor (`docs/parallelism.md`). Keys are written and read with the
/// prefix; `scan` shows them without it.
pub struct PrefixedStore {
    inner: Box<dyn KeyValueStore>,
    prefix: Vec<u8>,
    key: Vec<u8>,
}

impl PrefixedStore {
    /// `inner` seen through `prefix` (an empty prefix is `inner` itself).
    pub fn new(inner: Box<dyn KeyValueStore>, prefix: Vec<u8>) -> Self {
        PrefixedStore {
            inner,
            key: prefix.clone(),
            prefix,
        }
    }

    fn full(&mut self, key: &[u8]) -> &[u8] {
        self.key.truncate(self.prefix.len());
        self.key.extend_from_slice(key);
        &self.key
    }
}

impl KeyValueStore for PrefixedStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, CoreError> {
        self.full(key);
        self.inner.get(&self.key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.full(key);
        self.inner.put(&self.key, value)
    }

    fn delete(&mut self, key: &[u8]) {
        self.full(key);
        self.inner.delete(&self.key)
    }

    fn scan(&mut self, prefix: &[u8], f: &mut ScanFn<'_>) -> Result<(), CoreError> {
        let n = self.prefix.len();
        let mut full = self.prefix.clone();
        full.extend_from_slice(prefix);
        self.inner.scan(&full, &mut |k, v| f(&k[n..], v))
    }

    /// Pending writes with their prefixed keys, as the shared store holds them.
    fn take_pending(&mut self) -> PendingWrites {
        self.inner.take_pending()
    }

    fn committed(&mut self) {
        self.inner.committed()
    }
}

/// Encodes a dedup entry: the watermark at or past which it expires.
pub fn dedup_value(expires_at: i64) -> [u8; 8] {
    expires_at.to_be_bytes()
}

/// Decodes a dedup entry written by [`dedup_value`].
pub fn dedup_expiry(value: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = value.get(..8)?.try_into().ok()?;
    Some(i64::from_be_bytes(bytes))
}

/// An in-memory store with the same write-back semantics: the model the RocksDB store is
/// tested against, and the store used by processor unit tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    name: String,
    committed: BTreeMap<Vec<u8>, Vec<u8>>,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new(name: impl Into<String>) -> Self {
        MemoryStore {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Makes pending writes durable.
    pub fn commit(&mut self) {
        let pending = self.take_pending();
        self.apply(pending);
    }

    /// Applies writes taken with [`KeyValueStore::take_pending`] to the committed state.
    pub fn apply(&mut self, writes: PendingWrites) {
        for (k, v) in writes.iter() {
            match v {
                Some(v) => self.committed.insert(k.clone(), v.clone()),
                None => self.committed.remove(k),
            };
        }
    }

    /// Forgets pending writes, as a crash would.
    pub fn crash(&mut self) {
        self.pending.clear();
    }

    /// The committed contents.
    pub fn committed(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.committed
    }

    /// Live contents (committed overlaid with pending).
    pub fn live(&self) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut all = self.committed.clone();
        for (k, v) in &self.pending {
            match v {
                Some(v) => all.insert(k.clone(), v.clone()),
                None => all.remove(k),
            };
        }
        all
    }
}

impl KeyValueStore for MemoryStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, CoreError> {
        if let Some(v) = self.pending.get(key) {
            return Ok(v.clone());
        }
        Ok(self.committed.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) {
        self.pending.insert(key.to_vec(), Some(value.to_vec()));
    }

    fn delete(&mut self, key: &[u8]) {
        self.pending.insert(key.to_vec(), None);
    }

    fn scan(&mut self, prefix: &[u8], f: &mut ScanFn<'_>) -> Result<(), CoreError> {
        for (k, v) in self.live().range(prefix.to_vec()..) {
            if !k.starts_with(prefix) {
                break;
            }
            f(k, v)?;
        }
        Ok(())
    }

    fn take_pending(&mut self) -> PendingWrites {
        std::sync::Arc::new(std::mem::take(&mut self.pending).into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_back_then_commit_or_crash() {
        let mut s = MemoryStore::new("s");
        s.put(b"a", b"1");
        assert_eq!(s.get(b"a").unwrap(), Some(b"1".to_vec()));
        s.commit();
        s.delete(b"a");
        s.put(b"b", b"2");
        assert_eq!(s.get(b"a").unwrap(), None);
        s.crash();
        assert_eq!(s.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(s.get(b"b").unwrap(), None);
    }

    #[test]
    fn a_prefixed_store_sees_only_its_prefix() {
        let mut shared = MemoryStore::new("s");
        shared.put(b"b/k", b"3");
        shared.put(b"b/l", b"4");
        shared.commit();
        let mut a = PrefixedStore::new(Box::new(shared), b"a/".to_vec());
        a.put(b"k", b"1");
        a.put(b"l", b"2");
        assert_eq!(a.get(b"k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(a.get(b"m").unwrap(), None);
        let mut seen = Vec::new();
        a.scan(b"", &mut |k, v| {
            seen.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![
                (b"k".to_vec(), b"1".to_vec()),
                (b"l".to_vec(), b"2".to_vec())
            ]
        );
        a.delete(b"k");
        let pending = a.take_pending();
        assert_eq!(
            *pending,
            vec![
                (b"a/k".to_vec(), None),
                (b"a/l".to_vec(), Some(b"2".to_vec()))
            ]
        );
    }

    #[test]
    fn dedup_values_round_trip() {
        assert_eq!(dedup_expiry(&dedup_value(-5)), Some(-5));
        assert_eq!(dedup_expiry(&dedup_value(i64::MAX)), Some(i64::MAX));
        assert_eq!(dedup_expiry(b"abc"), None);
    }
}
