//! Tumbling and hopping windows. A window `[s, e)` is emitted once, when the watermark
//! reaches `e`, in (start, key) order.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use super::{Common, Emit, GroupKey};
use crate::batch::Batch;
use crate::dataflow::aggregate::Accumulator;
use crate::dataflow::{Context, Processor};
use crate::error::CoreError;
use crate::store::{StoreKind, StoreSpec};
use crate::value::Row;
use crate::window::WindowSpec;

pub(crate) fn encode<T: serde::Serialize>(store: &str, v: &T) -> Result<Vec<u8>, CoreError> {
    bincode::serde::encode_to_vec(v, bincode::config::standard())
        .map_err(|e| CoreError::store(store, e))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    store: &str,
    b: &[u8],
) -> Result<T, CoreError> {
    bincode::serde::decode_from_slice(b, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| CoreError::corrupt(store, e))
}

/// Order-preserving encoding of an i64 (big-endian with the sign bit flipped).
pub fn ordered_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`ordered_i64`].
pub fn from_ordered_i64(b: &[u8]) -> Option<i64> {
    let bytes: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

struct Slot {
    accs: Vec<Accumulator>,
    dirty: bool,
    persisted: bool,
}

/// Aggregates rows per (window, group key) for tumbling and hopping windows.
pub struct FixedWindows {
    c: Common,
    window: WindowSpec,
    size: i64,
    open: BTreeMap<i64, FxHashMap<GroupKey, Slot>>,
    dirty: Vec<(i64, GroupKey)>,
    deletes: Vec<Vec<u8>>,
}

impl FixedWindows {
    pub(super) fn new(c: Common, window: WindowSpec) -> Self {
        let size = match window {
            WindowSpec::Tumbling { size } | WindowSpec::Hopping { size, .. } => size,
            WindowSpec::Session { .. } => 0,
        };
        FixedWindows {
            c,
            window,
            size,
            open: BTreeMap::new(),
            dirty: Vec::new(),
            deletes: Vec::new(),
        }
    }

    fn store_key(&self, start: i64, key: &GroupKey) -> Result<Vec<u8>, CoreError> {
        let mut k = ordered_i64(start).to_vec();
        k.extend(encode(&self.c.store, key)?);
        Ok(k)
    }

    /// Number of open (window, key) entries held in memory.
    pub fn open_entries(&self) -> usize {
        self.open.values().map(|m| m.len()).sum()
    }

    fn result(&self, start: i64, key: &GroupKey, accs: &[Accumulator]) -> (i64, Row) {
        let end = start.saturating_add(self.size);
        // A result's event time is its window's last instant (as in Flink).
        (end - 1, self.c.row(start, end, key, accs))
    }
}

impl Processor for FixedWindows {
    fn closing_extent(&self) -> i64 {
        self.window.closing_extent()
    }

    fn stores(&self) -> Vec<StoreSpec> {
        vec![StoreSpec::new(self.c.store.clone(), StoreKind::Window)]
    }

    fn describe(&self) -> String {
        let w = match self.window {
            WindowSpec::Tumbling { size } => format!("tumbling {size} ms"),
            WindowSpec::Hopping { size, advance } => {
                format!("hopping {size} ms every {advance} ms")
            }
            WindowSpec::Session { gap } => format!("session gap {gap} ms"),
        };
        format!("{w}{}", self.c.describe_tail())
    }

    fn key_hashes(&self, batch: &Batch) -> Result<Option<Vec<u64>>, CoreError> {
        self.c.key_hashes(batch)
    }

    fn columns_read(&self) -> Option<&[usize]> {
        Some(&self.c.read)
    }

    fn init(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        self.open.clear();
        let store = self.c.store.clone();
        let open = &mut self.open;
        ctx.store(&store)?.scan(b"", &mut |k, v| {
            let start = from_ordered_i64(k)
                .ok_or_else(|| CoreError::corrupt(&store, "window key too short"))?;
            let key: GroupKey = decode(&store, &k[8..])?;
            let accs: Vec<Accumulator> = decode(&store, v)?;
            open.entry(start).or_default().insert(
                key,
                Slot {
                    accs,
                    dirty: false,
                    persisted: true,
                },
            );
            Ok(())
        })
    }

    fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let (keys, prepared) = self.c.prepare(&batch)?;
        let mut late = 0;
        let mut key = Vec::with_capacity(keys.len());
        for row in 0..batch.len() {
            let t = batch.time()[row];
            let w = batch.watermark()[row];
            if self.window.is_late(t, w) {
                late += 1;
                continue;
            }
            let origin = batch.origin()[row];
            Common::key_into(&keys, row, &mut key);
            for win in self.window.assign(t) {
                if win.end <= w {
                    continue; // this one already closed; a later one is still open
                }
                let slots = self.open.entry(win.start).or_default();
                let update = |slot: &mut Slot| {
                    for ((spec, acc), p) in
                        self.c.aggs.iter().zip(slot.accs.iter_mut()).zip(&prepared)
                    {
                        spec.update(acc, p, row, t, origin);
                    }
                    !std::mem::replace(&mut slot.dirty, true)
                };
                let newly_dirty = match slots.get_mut(key.as_slice()) {
                    Some(slot) => update(slot),
                    None => {
                        let mut slot = Slot {
                            accs: self.c.aggs.iter().map(|a| a.new_acc()).collect(),
                            dirty: false,
                            persisted: false,
                        };
                        let newly_dirty = update(&mut slot);
                        slots.insert(key.as_slice().into(), slot);
                        newly_dirty
                    }
                };
                if newly_dirty {
                    self.dirty.push((win.start, key.as_slice().into()));
                }
            }
        }
        ctx.count_late(late);
        Ok(())
    }

    fn punctuate(&mut self, watermark: i64, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let mut rows = Vec::new();
        while let Some(entry) = self.open.first_entry() {
            let start = *entry.key();
            if start.saturating_add(self.size) > watermark {
                break;
            }
            let mut slots: Vec<(GroupKey, Slot)> = entry.remove().into_iter().collect();
            slots.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, slot) in slots {
                rows.push(self.result(start, &key, &slot.accs));
                if slot.persisted {
                    let k = self.store_key(start, &key)?;
                    self.deletes.push(k);
                }
            }
        }
        self.c.emit(rows, false, watermark, ctx)
    }

    fn checkpoint(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let mut dirty = std::mem::take(&mut self.dirty);
        if self.c.emit == Emit::Update {
            dirty.sort();
            let rows: Vec<(i64, Row)> = dirty
                .iter()
                .filter_map(|(start, key)| {
                    let slot = self.open.get(start)?.get(key)?;
                    Some(self.result(*start, key, &slot.accs))
                })
                .collect();
            let w = ctx.watermark();
            self.c.emit(rows, true, w, ctx)?;
        }
        let mut puts = Vec::new();
        for (start, key) in dirty {
            let k = self.store_key(start, &key)?;
            let store = self.c.store.clone();
            let Some(slot) = self.open.get_mut(&start).and_then(|m| m.get_mut(&key)) else {
                continue; // emitted since it was dirtied
            };
            puts.push((k, encode(&store, &slot.accs)?));
            slot.dirty = false;
            slot.persisted = true;
        }
        let deletes = std::mem::take(&mut self.deletes);
        super::write_back(ctx, &self.c.store, deletes, puts)
    }
}
