//! Session-window aggregate (Flink semantics): each event spans `[t, t + gap)`, spans
//! that overlap merge (an event may bridge two sessions), a session's end is its last
//! event's time, and it is emitted once the watermark reaches `session_end + gap`.
//! An event whose own span is already closed (`t + gap ≤ W`) is late.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use crate::aggregate::{Acc, AggSpec};
use crate::error::CoreError;
use crate::event::{EventRef, Field};
use crate::processor::{Context, Processor};
use crate::processors::window_aggregate::{
    agg_columns, decode, encode, from_ordered_i64, group_columns, group_key, ordered_i64,
    validate_common, GroupKey,
};
use crate::store::{StoreKind, StoreSpec};
use crate::value::{date_of, Column, ColumnType, Row, Schema, Value};
use crate::window::{merge_session, SessionSpan};

struct Session {
    span: SessionSpan,
    accs: Vec<Acc>,
    persisted: bool,
}

/// The sessions of one group key. Keys are interned to small ids so that the closing
/// index compares integers and the hot path allocates nothing.
struct KeySessions {
    key: GroupKey,
    sessions: Vec<Session>,
    dirty: bool,
}

/// Aggregates events per session and group key.
pub struct SessionAggregate {
    store: String,
    gap: i64,
    group_by: Vec<Field>,
    aggs: Vec<AggSpec>,
    ids: FxHashMap<GroupKey, u32>,
    slots: Vec<Option<KeySessions>>,
    free: Vec<u32>,
    /// (close_at, key id, session start) of every open session, as a min-heap with lazy
    /// deletion: when a session grows or merges, its old entry stays and is skipped when
    /// popped (the session no longer has that start and close time).
    closing: BinaryHeap<Reverse<(i64, u32, i64)>>,
    open: usize,
    dirty: Vec<u32>,
    deletes: Vec<Vec<u8>>,
}

impl SessionAggregate {
    /// Sessions separated by `gap_ms` of inactivity, per `group_by` key.
    pub fn new(
        store: impl Into<String>,
        gap_ms: i64,
        group_by: Vec<Field>,
        aggs: Vec<AggSpec>,
    ) -> Self {
        SessionAggregate {
            store: store.into(),
            gap: gap_ms,
            group_by,
            aggs,
            ids: FxHashMap::default(),
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

    fn intern(&mut self, key: GroupKey) -> u32 {
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let slot = KeySessions {
            key: key.clone(),
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
        self.ids.insert(key, id);
        id
    }

    fn release_if_empty(&mut self, id: u32) {
        let empty =
            matches!(&self.slots[id as usize], Some(ks) if ks.sessions.is_empty() && !ks.dirty);
        if empty {
            if let Some(ks) = self.slots[id as usize].take() {
                self.ids.remove(&ks.key);
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
}

fn session_store_key(store: &str, key: &GroupKey, start: i64) -> Result<Vec<u8>, CoreError> {
    let kb = encode(store, key)?;
    let mut k = Vec::with_capacity(4 + kb.len() + 8);
    k.extend((kb.len() as u32).to_be_bytes());
    k.extend(kb);
    k.extend(ordered_i64(start));
    Ok(k)
}

impl Processor for SessionAggregate {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.gap <= 0 {
            errors.push("session gap must be positive".into());
        }
        errors.extend(validate_common(&self.group_by, &self.aggs));
        errors
    }

    fn stores(&self) -> Vec<StoreSpec> {
        vec![StoreSpec::new(self.store.clone(), StoreKind::Window)]
    }

    fn output_schema(&self) -> Option<Schema> {
        let mut columns = vec![
            Column::new("session_start", ColumnType::Timestamp),
            Column::new("session_end", ColumnType::Timestamp),
        ];
        columns.extend(group_columns(&self.group_by));
        columns.extend(agg_columns(&self.aggs));
        columns.push(Column::new("event_date", ColumnType::Date));
        Some(Schema { columns })
    }

    fn output_key_columns(&self) -> Vec<usize> {
        (2..2 + self.group_by.len()).collect()
    }

    fn init(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        self.ids.clear();
        self.slots.clear();
        self.free.clear();
        self.closing.clear();
        self.open = 0;
        self.dirty.clear();
        let store_name = self.store.clone();
        let mut loaded: Vec<(GroupKey, Session)> = Vec::new();
        ctx.store(&self.store)?.scan(b"", &mut |k, v| {
            let corrupt = || CoreError::corrupt(&store_name, "session key malformed");
            let len = k
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(corrupt)? as usize;
            let key: GroupKey = decode(&store_name, k.get(4..4 + len).ok_or_else(corrupt)?)?;
            let start =
                from_ordered_i64(k.get(4 + len..).ok_or_else(corrupt)?).ok_or_else(corrupt)?;
            let (last, accs): (i64, Vec<Acc>) = decode(&store_name, v)?;
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
            let id = self.intern(key);
            self.closing.push(Reverse((
                session.span.close_at(self.gap),
                id,
                session.span.start,
            )));
            self.open += 1;
            if let Some(ks) = self.slots[id as usize].as_mut() {
                let pos = ks
                    .sessions
                    .partition_point(|s| s.span.start < session.span.start);
                ks.sessions.insert(pos, session);
            }
        }
        Ok(())
    }

    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let w = ctx.watermark();
        let t = event.event_ts;
        let gap = self.gap;
        if t.saturating_add(gap) <= w {
            ctx.mark_late();
            return Ok(());
        }
        let id = self.intern(group_key(&event, &self.group_by));
        let Some(ks) = self.slots[id as usize].as_mut() else {
            debug_assert!(false, "interned key without a slot");
            return Ok(());
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
            // The common case: the event extends one session; update it in place.
            (Some(j), None) => {
                let s = &mut ks.sessions[j];
                let old = s.span;
                s.span.start = old.start.min(t);
                s.span.last = old.last.max(t);
                for (spec, acc) in self.aggs.iter().zip(s.accs.iter_mut()) {
                    spec.update(acc, &event);
                }
                if s.span.start != old.start && s.persisted {
                    self.deletes
                        .push(session_store_key(&self.store, &ks.key, old.start)?);
                    s.persisted = false;
                }
                if s.span != old {
                    self.closing
                        .push(Reverse((s.span.close_at(gap), id, s.span.start)));
                }
            }
            // A new session, or one that bridges several: merge them in start order.
            _ => {
                let spans: Vec<SessionSpan> = ks.sessions.iter().map(|s| s.span).collect();
                let (merged, joined) = merge_session(&spans, t, gap);
                let mut accs: Vec<Acc> = self.aggs.iter().map(|a| a.new_acc()).collect();
                let mut persisted_same_start = false;
                for &j in &joined {
                    let s = &ks.sessions[j];
                    for (acc, other) in accs.iter_mut().zip(&s.accs) {
                        acc.merge(other);
                    }
                    if s.persisted {
                        if s.span.start == merged.start {
                            persisted_same_start = true;
                        } else {
                            self.deletes.push(session_store_key(
                                &self.store,
                                &ks.key,
                                s.span.start,
                            )?);
                        }
                    }
                }
                for &j in joined.iter().rev() {
                    ks.sessions.remove(j);
                }
                for (spec, acc) in self.aggs.iter().zip(accs.iter_mut()) {
                    spec.update(acc, &event);
                }
                let pos = ks.sessions.partition_point(|s| s.span.start < merged.start);
                ks.sessions.insert(
                    pos,
                    Session {
                        span: merged,
                        accs,
                        persisted: persisted_same_start,
                    },
                );
                self.closing
                    .push(Reverse((merged.close_at(gap), id, merged.start)));
                self.open = self.open + 1 - joined.len();
            }
        }
        self.mark_dirty(id);
        Ok(())
    }

    fn punctuate(&mut self, watermark: i64, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let mut closed: Vec<(i64, GroupKey, Session)> = Vec::new();
        let mut touched = Vec::new();
        while let Some(&Reverse((close_at, id, start))) = self.closing.peek() {
            if close_at > watermark {
                break;
            }
            self.closing.pop();
            let gap = self.gap;
            // Stale entries (the session grew, merged or was emitted) are skipped.
            let Some(ks) = self.slots.get_mut(id as usize).and_then(|s| s.as_mut()) else {
                continue;
            };
            let Some(pos) = ks
                .sessions
                .iter()
                .position(|s| s.span.start == start && s.span.close_at(gap) == close_at)
            else {
                continue;
            };
            self.open -= 1;
            let s = ks.sessions.remove(pos);
            closed.push((close_at, ks.key.clone(), s));
            touched.push(id);
        }
        // Emission order does not depend on key ids (which differ after a restart).
        closed.sort_by(|a, b| (a.0, &a.1, a.2.span.start).cmp(&(b.0, &b.1, b.2.span.start)));
        for (_, key, s) in closed {
            let mut row: Row = Vec::with_capacity(3 + key.len() + self.aggs.len());
            row.push(Value::Timestamp(s.span.start));
            row.push(Value::Timestamp(s.span.last));
            for (part, f) in key.iter().zip(&self.group_by) {
                row.push(part.to_value(f.column_type()));
            }
            for (spec, acc) in self.aggs.iter().zip(&s.accs) {
                row.push(spec.finish(acc));
            }
            row.push(Value::Date(date_of(s.span.start)));
            ctx.emit(row);
            if s.persisted {
                self.deletes
                    .push(session_store_key(&self.store, &key, s.span.start)?);
            }
        }
        for id in touched {
            self.release_if_empty(id);
        }
        Ok(())
    }

    fn checkpoint(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let deletes = std::mem::take(&mut self.deletes);
        let dirty = std::mem::take(&mut self.dirty);
        let mut puts = Vec::new();
        for &id in &dirty {
            let Some(ks) = self.slots[id as usize].as_mut() else {
                continue;
            };
            ks.dirty = false;
            for s in ks.sessions.iter_mut() {
                puts.push((
                    session_store_key(&self.store, &ks.key, s.span.start)?,
                    encode(&self.store, &(s.span.last, &s.accs))?,
                ));
                s.persisted = true;
            }
        }
        for id in dirty {
            self.release_if_empty(id);
        }
        puts.sort_by(|a, b| a.0.cmp(&b.0));
        let store = ctx.store(&self.store)?;
        for k in deletes {
            store.delete(&k);
        }
        for (k, v) in puts {
            store.put(&k, &v);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::AggKind;
    use crate::event::test_support::event;
    use crate::event::Event;
    use crate::processors::test_harness::Harness;

    fn agg() -> SessionAggregate {
        SessionAggregate::new(
            "s",
            30,
            vec![Field::UserId],
            vec![
                AggSpec {
                    name: "events".into(),
                    kind: AggKind::Count,
                    field: None,
                    filter: vec![],
                },
                AggSpec {
                    name: "distinct_pages".into(),
                    kind: AggKind::ExactDistinct,
                    field: Some(Field::Page),
                    filter: vec![],
                },
            ],
        )
    }

    fn ev(user: i64, ts: i64, page: &str) -> Event {
        let mut e = event("e", user, ts);
        e.page = page.into();
        e
    }

    /// (start, end, user, events, distinct pages)
    fn rows(out: &[Row]) -> Vec<(i64, i64, i64, i64, i64)> {
        out.iter()
            .map(|r| match (&r[0], &r[1], &r[2], &r[3], &r[4]) {
                (
                    Value::Timestamp(s),
                    Value::Timestamp(e),
                    Value::Int(u),
                    Value::Int(n),
                    Value::Int(d),
                ) => (*s, *e, *u, *n, *d),
                other => panic!("unexpected row {other:?}"),
            })
            .collect()
    }

    #[test]
    fn bridging_event_merges_two_sessions() {
        let mut h = Harness::new(agg());
        h.process(ev(1, 0, "/a"));
        h.process(ev(1, 50, "/b")); // separate: 50 >= 0 + 30
        h.process(ev(2, 10, "/a"));
        h.commit(); // persist both sessions of user 1
        h.process(ev(1, 25, "/a")); // bridges [0,30) and [50,80): [25,55) meets both
        let out = h.punctuate(40);
        assert_eq!(rows(&out.emitted), vec![(10, 10, 2, 1, 1)]);
        h.commit();
        h.crash_with(agg());
        let out = h.punctuate(80);
        assert_eq!(rows(&out.emitted), vec![(0, 50, 1, 3, 2)]);
        assert_eq!(h.counters.late, 0);
        h.process(ev(1, 49, "/z")); // 49 + 30 <= 80: late
        assert_eq!(h.counters.late, 1);
        h.commit();
        h.crash_with(agg());
        assert!(
            h.punctuate(10_000).emitted.is_empty(),
            "emitted sessions are gone from the store"
        );
    }
}
