//! Session-window aggregate (Flink semantics): each event spans `[t, t + gap)`, spans
//! that overlap merge (an event may bridge two sessions), a session's end is its last
//! event's time, and it is emitted once the watermark reaches `session_end + gap`.
//! An event whose own span is already closed (`t + gap ≤ W`) is late.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::aggregate::{Acc, AggSpec};
use crate::error::CoreError;
use crate::event::{Event, Field};
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

/// Aggregates events per session and group key.
pub struct SessionAggregate {
    store: String,
    gap: i64,
    group_by: Vec<Field>,
    aggs: Vec<AggSpec>,
    sessions: FxHashMap<GroupKey, Vec<Session>>,
    closing: BTreeSet<(i64, GroupKey, i64)>,
    dirty: FxHashSet<GroupKey>,
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
            sessions: FxHashMap::default(),
            closing: BTreeSet::new(),
            dirty: FxHashSet::default(),
            deletes: Vec::new(),
        }
    }

    fn store_key(&self, key: &GroupKey, start: i64) -> Result<Vec<u8>, CoreError> {
        session_store_key(&self.store, key, start)
    }

    /// Number of open sessions held in memory.
    pub fn open_sessions(&self) -> usize {
        self.sessions.values().map(|v| v.len()).sum()
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

    fn init(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        self.sessions.clear();
        self.closing.clear();
        let store_name = self.store.clone();
        let gap = self.gap;
        let sessions = &mut self.sessions;
        let closing = &mut self.closing;
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
            let span = SessionSpan { start, last };
            closing.insert((span.close_at(gap), key.clone(), start));
            let list = sessions.entry(key).or_default();
            list.push(Session {
                span,
                accs,
                persisted: true,
            });
            list.sort_by_key(|s| s.span.start);
            Ok(())
        })
    }

    fn process(&mut self, event: Event, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let w = ctx.watermark();
        let t = event.event_ts;
        if t.saturating_add(self.gap) <= w {
            ctx.mark_late();
            return Ok(());
        }
        let key = group_key(&event, &self.group_by);
        let list = match self.sessions.get_mut(&key) {
            Some(l) => l,
            None => self.sessions.entry(key.clone()).or_default(),
        };
        let spans: Vec<SessionSpan> = list.iter().map(|s| s.span).collect();
        let (merged, joined) = merge_session(&spans, t, self.gap);
        let mut accs: Vec<Acc> = self.aggs.iter().map(|a| a.new_acc()).collect();
        let mut persisted_same_start = false;
        // Merge the joined sessions in start order, then add the event.
        for &j in &joined {
            let s = &list[j];
            for (acc, other) in accs.iter_mut().zip(&s.accs) {
                acc.merge(other);
            }
            self.closing
                .remove(&(s.span.close_at(self.gap), key.clone(), s.span.start));
            if s.persisted {
                if s.span.start == merged.start {
                    persisted_same_start = true;
                } else {
                    let k = session_store_key(&self.store, &key, s.span.start)?;
                    self.deletes.push(k);
                }
            }
        }
        for &j in joined.iter().rev() {
            list.remove(j);
        }
        for (spec, acc) in self.aggs.iter().zip(accs.iter_mut()) {
            spec.update(acc, &event);
        }
        let pos = list.partition_point(|s| s.span.start < merged.start);
        list.insert(
            pos,
            Session {
                span: merged,
                accs,
                persisted: persisted_same_start,
            },
        );
        self.closing
            .insert((merged.close_at(self.gap), key.clone(), merged.start));
        self.dirty.insert(key);
        Ok(())
    }

    fn punctuate(&mut self, watermark: i64, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        while let Some((close_at, _, _)) = self.closing.first() {
            if *close_at > watermark {
                break;
            }
            let Some((_, key, start)) = self.closing.pop_first() else {
                break;
            };
            let Some(list) = self.sessions.get_mut(&key) else {
                debug_assert!(false, "closing index out of sync");
                continue;
            };
            let Some(pos) = list.iter().position(|s| s.span.start == start) else {
                debug_assert!(false, "closing index out of sync");
                continue;
            };
            let s = list.remove(pos);
            if list.is_empty() {
                self.sessions.remove(&key);
            }
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
                let k = self.store_key(&key, start)?;
                self.deletes.push(k);
            }
        }
        Ok(())
    }

    fn checkpoint(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let deletes = std::mem::take(&mut self.deletes);
        let mut dirty: Vec<GroupKey> = self.dirty.drain().collect();
        dirty.sort();
        let mut puts = Vec::new();
        for key in dirty {
            let Some(list) = self.sessions.get(&key) else {
                continue;
            };
            for s in list {
                puts.push((
                    self.store_key(&key, s.span.start)?,
                    encode(&self.store, &(s.span.last, &s.accs))?,
                ));
            }
        }
        for list in self.sessions.values_mut() {
            for s in list {
                s.persisted = true;
            }
        }
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
