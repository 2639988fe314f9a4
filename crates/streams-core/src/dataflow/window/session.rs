//! Session windows (Flink semantics): each row spans `[t, t + gap)`, spans that overlap
//! merge (a row may bridge two sessions), a session's end is its last row's time, and it
//! is emitted once the watermark reaches `session_end + gap`. A row whose own span is
//! already closed (`t + gap ≤ W`) is late.
//!
//! Rows of one batch carry the watermarks they entered with: before a row joins its
//! key's sessions, the sessions of that key that its watermark has closed are emitted,
//! exactly as if every row had been followed by a punctuation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{Hash, Hasher};

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use super::fixed::{decode, encode, from_ordered_i64, ordered_i64};
use super::{Common, Emit, GroupKey};
use crate::batch::Batch;
use crate::dataflow::aggregate::Accumulator;
use crate::dataflow::{Context, Processor};
use crate::error::CoreError;
use crate::store::{StoreKind, StoreSpec};
use crate::value::{KeyPart, Row};
use crate::window::{merge_session, SessionSpan};

struct Session {
    span: SessionSpan,
    accs: Vec<Accumulator>,
    persisted: bool,
}

/// The sessions of one group key. Keys are interned to small ids so that the closing
/// index compares integers.
struct KeySessions {
    key: GroupKey,
    sessions: Vec<Session>,
    dirty: bool,
}

/// Aggregates rows per session and group key.
pub struct Sessions {
    c: Common,
    gap: i64,
    /// Key ids by the hash of their key; the key itself is kept once, in its slot.
    ids: HashTable<u32>,
    slots: Vec<Option<KeySessions>>,
    free: Vec<u32>,
    /// Timers: (close_at, key id, session start) as a min-heap. Every open session has an
    /// entry with its start and a `close_at` no later than its own, so none closes unseen;
    /// a session that only grew later keeps its entry, which is pushed again at its real
    /// time when it comes due (one entry per session, not one per row). Entries of
    /// sessions that merged, moved their start or were emitted are skipped when popped.
    closing: BinaryHeap<Reverse<(i64, u32, i64)>>,
    open: usize,
    dirty: Vec<u32>,
    deletes: Vec<Vec<u8>>,
}

/// Closed sessions emitted per output batch (a multiple of the outbox's 4,096 rows per
/// entry, so the entries are the same as for one batch).
pub(crate) const EMIT_CHUNK: usize = 16_384;

fn session_store_key(store: &str, key: &GroupKey, start: i64) -> Result<Vec<u8>, CoreError> {
    let kb = encode(store, key)?;
    let mut k = Vec::with_capacity(4 + kb.len() + 8);
    k.extend((kb.len() as u32).to_be_bytes());
    k.extend(kb);
    k.extend(ordered_i64(start));
    Ok(k)
}

impl KeySessions {
    /// Adds `s` in start order.
    fn insert(&mut self, s: Session) {
        if self.sessions.capacity() == 0 {
            // Most keys hold one session at a time (a `Vec` would reserve four).
            self.sessions.reserve_exact(1);
        }
        let pos = self
            .sessions
            .partition_point(|o| o.span.start < s.span.start);
        self.sessions.insert(pos, s);
    }
}

fn key_hash(key: &[KeyPart]) -> u64 {
    let mut h = FxHasher::default();
    key.hash(&mut h);
    h.finish()
}

fn slot_key(slots: &[Option<KeySessions>], id: u32) -> Option<&[KeyPart]> {
    slots
        .get(id as usize)
        .and_then(|s| s.as_ref())
        .map(|ks| &*ks.key)
}

impl Sessions {
    pub(super) fn new(c: Common, gap: i64) -> Self {
        Sessions {
            c,
            gap,
            ids: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            closing: BinaryHeap::new(),
            open: 0,
            dirty: Vec::new(),
            deletes: Vec::new(),
        }
    }

    /// Number of open sessions held in memory.
    pub fn open_sessions(&self) -> usize {
        self.open
    }

    fn intern(&mut self, key: &[KeyPart]) -> u32 {
        let hash = key_hash(key);
        let slots = &self.slots;
        if let Some(&id) = self.ids.find(hash, |&id| slot_key(slots, id) == Some(key)) {
            return id;
        }
        let slot = KeySessions {
            key: key.into(),
            sessions: Vec::new(),
            dirty: false,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(slot);
                id
            }
            None => {
                self.slots.push(Some(slot));
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.ids
            .insert_unique(hash, id, |&id| slot_key(slots, id).map_or(0, key_hash));
        id
    }

    fn release_if_empty(&mut self, id: u32) {
        let empty =
            matches!(&self.slots[id as usize], Some(ks) if ks.sessions.is_empty() && !ks.dirty);
        if empty {
            if let Some(ks) = self.slots[id as usize].take() {
                if let Ok(entry) = self.ids.find_entry(key_hash(&ks.key), |&other| other == id) {
                    entry.remove();
                }
                self.free.push(id);
            }
        }
    }

    fn mark_dirty(&mut self, id: u32) {
        if let Some(ks) = self.slots[id as usize].as_mut() {
            if !ks.dirty {
                ks.dirty = true;
                self.dirty.push(id);
            }
        }
    }

    fn result(&self, key: &GroupKey, s: &Session) -> (i64, Row) {
        (
            s.span.last,
            self.c.row(s.span.start, s.span.last, key, &s.accs),
        )
    }

    /// Removes the sessions of key `id` that watermark `w` has closed, as result rows.
    fn close_key(
        &mut self,
        id: u32,
        w: i64,
        out: &mut Vec<(i64, (i64, GroupKey, i64), Row)>,
    ) -> Result<(), CoreError> {
        let gap = self.gap;
        let Some(ks) = self.slots[id as usize].as_mut() else {
            return Ok(());
        };
        let mut i = 0;
        while i < ks.sessions.len() {
            if ks.sessions[i].span.close_at(gap) <= w {
                let s = ks.sessions.remove(i);
                let (t, row) = (
                    s.span.last,
                    self.c.row(s.span.start, s.span.last, &ks.key, &s.accs),
                );
                out.push((t, (s.span.close_at(gap), ks.key.clone(), s.span.start), row));
                if s.persisted {
                    self.deletes
                        .push(session_store_key(&self.c.store, &ks.key, s.span.start)?);
                }
                self.open -= 1;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    fn emit_sorted(
        &mut self,
        mut closed: Vec<(i64, (i64, GroupKey, i64), Row)>,
        w: i64,
        ctx: &mut Context<'_>,
    ) -> Result<(), CoreError> {
        // Emission order does not depend on key ids (which differ after a restart).
        closed.sort_by(|a, b| a.1.cmp(&b.1));
        let rows = closed.into_iter().map(|(t, _, r)| (t, r)).collect();
        self.c.emit(rows, false, w, ctx)
    }
}

impl Processor for Sessions {
    fn closing_extent(&self) -> i64 {
        self.gap.saturating_mul(2)
    }

    fn stores(&self) -> Vec<StoreSpec> {
        vec![StoreSpec::new(self.c.store.clone(), StoreKind::Window)]
    }

    fn describe(&self) -> String {
        format!("session gap {} ms{}", self.gap, self.c.describe_tail())
    }

    fn key_hashes(&self, batch: &Batch) -> Result<Option<Vec<u64>>, CoreError> {
        self.c.key_hashes(batch)
    }

    fn columns_read(&self) -> Option<&[usize]> {
        Some(&self.c.read)
    }

    fn init(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        self.ids.clear();
        self.slots.clear();
        self.free.clear();
        self.closing.clear();
        self.open = 0;
        self.dirty.clear();
        let store = self.c.store.clone();
        let mut loaded: Vec<(GroupKey, Session)> = Vec::new();
        ctx.store(&store)?.scan(b"", &mut |k, v| {
            let corrupt = || CoreError::corrupt(&store, "session key malformed");
            let len = k
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(corrupt)? as usize;
            let key: GroupKey = decode(&store, k.get(4..4 + len).ok_or_else(corrupt)?)?;
            let start =
                from_ordered_i64(k.get(4 + len..).ok_or_else(corrupt)?).ok_or_else(corrupt)?;
            let (last, accs): (i64, Vec<Accumulator>) = decode(&store, v)?;
            loaded.push((
                key,
                Session {
                    span: SessionSpan { start, last },
                    accs,
                    persisted: true,
                },
            ));
            Ok(())
        })?;
        for (key, session) in loaded {
            let id = self.intern(&key);
            self.closing.push(Reverse((
                session.span.close_at(self.gap),
                id,
                session.span.start,
            )));
            self.open += 1;
            if let Some(ks) = self.slots[id as usize].as_mut() {
                ks.insert(session);
            }
        }
        Ok(())
    }

    fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let (keys, prepared) = self.c.prepare(&batch)?;
        let gap = self.gap;
        let mut late = 0;
        let mut closed = Vec::new();
        let mut key = Vec::with_capacity(keys.len());
        for row in 0..batch.len() {
            let t = batch.time()[row];
            let w = batch.watermark()[row];
            if t.saturating_add(gap) <= w {
                late += 1;
                continue;
            }
            let origin = batch.origin()[row];
            Common::key_into(&keys, row, &mut key);
            let id = self.intern(&key);
            self.close_key(id, w, &mut closed)?;
            let Some(ks) = self.slots[id as usize].as_mut() else {
                debug_assert!(false, "interned key without a slot");
                continue;
            };
            let mut joined = ks
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.span.overlaps(t, gap))
                .map(|(i, _)| i);
            let first = joined.next();
            let second = joined.next();
            drop(joined);
            match (first, second) {
                // The common case: the row extends one session; update it in place.
                (Some(j), None) => {
                    let s = &mut ks.sessions[j];
                    let old = s.span;
                    s.span.start = old.start.min(t);
                    s.span.last = old.last.max(t);
                    for ((spec, acc), p) in self.c.aggs.iter().zip(s.accs.iter_mut()).zip(&prepared)
                    {
                        spec.update(acc, p, row, t, origin);
                    }
                    if s.span.start != old.start {
                        if s.persisted {
                            self.deletes.push(session_store_key(
                                &self.c.store,
                                &ks.key,
                                old.start,
                            )?);
                            s.persisted = false;
                        }
                        // Timers are found by start; a later end keeps its timer.
                        self.closing
                            .push(Reverse((s.span.close_at(gap), id, s.span.start)));
                    }
                }
                // A new session, or one that bridges several: merge them in start order.
                _ => {
                    let spans: Vec<SessionSpan> = ks.sessions.iter().map(|s| s.span).collect();
                    let (merged, joined) = merge_session(&spans, t, gap);
                    let mut accs: Vec<Accumulator> =
                        self.c.aggs.iter().map(|a| a.new_acc()).collect();
                    let mut persisted_same_start = false;
                    // A joined session that starts where the merged one does has a timer.
                    let mut timed = false;
                    for &j in &joined {
                        let s = &ks.sessions[j];
                        timed |= s.span.start == merged.start;
                        for ((spec, acc), other) in
                            self.c.aggs.iter().zip(accs.iter_mut()).zip(&s.accs)
                        {
                            spec.merge(acc, other);
                        }
                        if s.persisted {
                            if s.span.start == merged.start {
                                persisted_same_start = true;
                            } else {
                                self.deletes.push(session_store_key(
                                    &self.c.store,
                                    &ks.key,
                                    s.span.start,
                                )?);
                            }
                        }
                    }
                    for &j in joined.iter().rev() {
                        ks.sessions.remove(j);
                    }
                    for ((spec, acc), p) in self.c.aggs.iter().zip(accs.iter_mut()).zip(&prepared) {
                        spec.update(acc, p, row, t, origin);
                    }
                    ks.insert(Session {
                        span: merged,
                        accs,
                        persisted: persisted_same_start,
                    });
                    if !timed {
                        self.closing
                            .push(Reverse((merged.close_at(gap), id, merged.start)));
                    }
                    self.open = self.open + 1 - joined.len();
                }
            }
            self.mark_dirty(id);
        }
        ctx.count_late(late);
        let w = ctx.watermark();
        self.emit_sorted(closed, w, ctx)
    }

    fn punctuate(&mut self, watermark: i64, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        // The sessions the watermark closed, as (close_at, key id, start): found first,
        // then emitted in order a chunk at a time, so that a million sessions closing at
        // once (the end of input, an idle source) never exist as rows all together.
        let mut due = Vec::new();
        while let Some(&Reverse((close_at, id, start))) = self.closing.peek() {
            if close_at > watermark {
                break;
            }
            self.closing.pop();
            let gap = self.gap;
            // Stale entries (the session merged, moved its start or was emitted) are skipped.
            let Some(ks) = self.slots.get_mut(id as usize).and_then(|s| s.as_mut()) else {
                continue;
            };
            let Some(pos) = ks.sessions.iter().position(|s| s.span.start == start) else {
                continue;
            };
            let close_at = ks.sessions[pos].span.close_at(gap);
            if close_at > watermark {
                // It grew since this timer was set: wait for its real end.
                self.closing.push(Reverse((close_at, id, start)));
                continue;
            }
            due.push((close_at, id, start));
        }
        // Emission order does not depend on key ids (which differ after a restart); a
        // session with two entries due appears twice, next to itself.
        let slots = &self.slots;
        let key = |id: u32| slots[id as usize].as_ref().map(|ks| &ks.key);
        due.sort_unstable_by(|a, b| (a.0, key(a.1), a.2).cmp(&(b.0, key(b.1), b.2)));
        due.dedup();
        for chunk in due.chunks(EMIT_CHUNK) {
            let mut rows = Vec::with_capacity(chunk.len());
            for &(_, id, start) in chunk {
                let Some(ks) = self.slots[id as usize].as_mut() else {
                    continue;
                };
                let Some(pos) = ks.sessions.iter().position(|s| s.span.start == start) else {
                    continue;
                };
                self.open -= 1;
                let s = ks.sessions.remove(pos);
                rows.push((
                    s.span.last,
                    self.c.row(s.span.start, s.span.last, &ks.key, &s.accs),
                ));
                if s.persisted {
                    self.deletes
                        .push(session_store_key(&self.c.store, &ks.key, start)?);
                }
            }
            self.c.emit(rows, false, watermark, ctx)?;
        }
        for &(_, id, _) in &due {
            self.release_if_empty(id);
        }
        Ok(())
    }

    fn checkpoint(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let deletes = std::mem::take(&mut self.deletes);
        let dirty = std::mem::take(&mut self.dirty);
        let mut puts = Vec::new();
        let mut updates = Vec::new();
        for &id in &dirty {
            let Some(ks) = self.slots[id as usize].as_mut() else {
                continue;
            };
            ks.dirty = false;
            for s in ks.sessions.iter_mut() {
                puts.push((
                    session_store_key(&self.c.store, &ks.key, s.span.start)?,
                    encode(&self.c.store, &(s.span.last, &s.accs))?,
                ));
                s.persisted = true;
            }
        }
        if self.c.emit == Emit::Update {
            for &id in &dirty {
                if let Some(ks) = self.slots[id as usize].as_ref() {
                    for s in &ks.sessions {
                        let (t, row) = self.result(&ks.key, s);
                        updates.push(((ks.key.clone(), s.span.start), t, row));
                    }
                }
            }
            updates.sort_by(|a, b| a.0.cmp(&b.0));
            let w = ctx.watermark();
            let rows = updates.into_iter().map(|(_, t, r)| (t, r)).collect();
            self.c.emit(rows, true, w, ctx)?;
        }
        for id in dirty {
            self.release_if_empty(id);
        }
        puts.sort_by(|a, b| a.0.cmp(&b.0));
        super::write_back(ctx, &self.c.store, deletes, puts)
    }
}
