//! Windowed aggregate over tumbling or hopping windows (DESIGN §3.3–3.4).
//!
//! Open windows live in memory (they are few: windows close as the watermark passes) and
//! are written to the window store at each checkpoint; a restart reloads them. A window
//! `[s, e)` is emitted exactly once, when the watermark reaches `e`, in (start, key) order.
//! A record all of whose windows are closed is counted `late` and left out.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::aggregate::{validate_agg, Acc, AggSpec};
use crate::error::CoreError;
use crate::event::{Event, EventRef, Field};
use crate::processor::{Context, Processor};
use crate::store::{StoreKind, StoreSpec};
use crate::value::{date_of, Column, ColumnType, KeyPart, Row, Schema, Value};
use crate::window::WindowSpec;

/// A group key: one part per `group_by` field.
pub type GroupKey = Box<[KeyPart]>;

/// The group key of an event.
pub fn group_key(e: &Event, fields: &[Field]) -> GroupKey {
    fields.iter().map(|f| e.key_part(*f)).collect()
}

pub(crate) fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

pub(crate) fn encode<T: serde::Serialize>(store: &str, v: &T) -> Result<Vec<u8>, CoreError> {
    bincode::serde::encode_to_vec(v, bincode_config()).map_err(|e| CoreError::store(store, e))
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    store: &str,
    b: &[u8],
) -> Result<T, CoreError> {
    bincode::serde::decode_from_slice(b, bincode_config())
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

pub(crate) fn group_columns(group_by: &[Field]) -> Vec<Column> {
    group_by
        .iter()
        .map(|f| Column {
            name: f.name().into(),
            ty: f.column_type(),
            nullable: f.nullable(),
        })
        .collect()
}

pub(crate) fn agg_columns(aggs: &[AggSpec]) -> Vec<Column> {
    aggs.iter()
        .map(|a| Column {
            name: a.name.clone(),
            ty: a.column_type(),
            nullable: a.nullable(),
        })
        .collect()
}

pub(crate) fn validate_common(group_by: &[Field], aggs: &[AggSpec]) -> Vec<String> {
    let mut errors = Vec::new();
    for f in group_by {
        if !f.is_keyable() {
            errors.push(format!("cannot group by float field `{}`", f.name()));
        }
    }
    if aggs.is_empty() {
        errors.push("an aggregate needs at least one field".into());
    }
    let mut names: Vec<&str> = group_by.iter().map(|f| f.name()).collect();
    for a in aggs {
        errors.extend(validate_agg(a));
        if names.contains(&a.name.as_str()) {
            errors.push(format!("column `{}` is defined twice", a.name));
        }
        names.push(&a.name);
    }
    errors
}

struct Slot {
    accs: Vec<Acc>,
    dirty: bool,
    persisted: bool,
}

/// Aggregates events per (window, group key) for tumbling and hopping windows.
pub struct WindowAggregate {
    store: String,
    window: WindowSpec,
    size: i64,
    group_by: Vec<Field>,
    aggs: Vec<AggSpec>,
    open: BTreeMap<i64, FxHashMap<GroupKey, Slot>>,
    dirty: Vec<(i64, GroupKey)>,
    deletes: Vec<Vec<u8>>,
}

impl WindowAggregate {
    /// An aggregate over `window` (tumbling or hopping) keyed by `group_by`.
    pub fn new(
        store: impl Into<String>,
        window: WindowSpec,
        group_by: Vec<Field>,
        aggs: Vec<AggSpec>,
    ) -> Self {
        let size = match window {
            WindowSpec::Tumbling { size } | WindowSpec::Hopping { size, .. } => size,
            WindowSpec::Session { .. } => 0,
        };
        WindowAggregate {
            store: store.into(),
            window,
            size,
            group_by,
            aggs,
            open: BTreeMap::new(),
            dirty: Vec::new(),
            deletes: Vec::new(),
        }
    }

    fn store_key(start: i64, key: &GroupKey, store: &str) -> Result<Vec<u8>, CoreError> {
        let mut k = ordered_i64(start).to_vec();
        k.extend(encode(store, key)?);
        Ok(k)
    }

    /// Number of open (window, key) entries held in memory.
    pub fn open_entries(&self) -> usize {
        self.open.values().map(|m| m.len()).sum()
    }
}

impl Processor for WindowAggregate {
    fn validate(&self) -> Vec<String> {
        let mut errors: Vec<String> = self
            .window
            .validate()
            .iter()
            .map(|e| e.to_string())
            .collect();
        if matches!(self.window, WindowSpec::Session { .. }) {
            errors.push("session windows use the session aggregate".into());
        }
        errors.extend(validate_common(&self.group_by, &self.aggs));
        errors
    }

    fn stores(&self) -> Vec<StoreSpec> {
        vec![StoreSpec::new(self.store.clone(), StoreKind::Window)]
    }

    fn output_schema(&self) -> Option<Schema> {
        let mut columns = vec![
            Column::new("window_start", ColumnType::Timestamp),
            Column::new("window_end", ColumnType::Timestamp),
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
        self.open.clear();
        let store_name = self.store.clone();
        let open = &mut self.open;
        ctx.store(&self.store)?.scan(b"", &mut |k, v| {
            let start = from_ordered_i64(k)
                .ok_or_else(|| CoreError::corrupt(&store_name, "window key too short"))?;
            let key: GroupKey = decode(&store_name, &k[8..])?;
            let accs: Vec<Acc> = decode(&store_name, v)?;
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

    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let w = ctx.watermark();
        let t = event.event_ts;
        if self.window.is_late(t, w) {
            ctx.mark_late();
            return Ok(());
        }
        let key = group_key(&event, &self.group_by);
        for win in self.window.assign(t) {
            if win.end <= w {
                continue; // this one already closed; a later one is still open
            }
            let slots = self.open.entry(win.start).or_default();
            let slot = match slots.get_mut(&key) {
                Some(s) => s,
                None => slots.entry(key.clone()).or_insert_with(|| Slot {
                    accs: self.aggs.iter().map(|a| a.new_acc()).collect(),
                    dirty: false,
                    persisted: false,
                }),
            };
            for (spec, acc) in self.aggs.iter().zip(slot.accs.iter_mut()) {
                spec.update(acc, &event);
            }
            if !slot.dirty {
                slot.dirty = true;
                self.dirty.push((win.start, key.clone()));
            }
        }
        Ok(())
    }

    fn punctuate(&mut self, watermark: i64, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        while let Some(entry) = self.open.first_entry() {
            let start = *entry.key();
            let end = start.saturating_add(self.size);
            if end > watermark {
                break;
            }
            let mut slots: Vec<(GroupKey, Slot)> = entry.remove().into_iter().collect();
            slots.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, slot) in slots {
                let mut row: Row = Vec::with_capacity(3 + key.len() + self.aggs.len());
                row.push(Value::Timestamp(start));
                row.push(Value::Timestamp(end));
                for (part, f) in key.iter().zip(&self.group_by) {
                    row.push(part.to_value(f.column_type()));
                }
                for (spec, acc) in self.aggs.iter().zip(&slot.accs) {
                    row.push(spec.finish(acc));
                }
                row.push(Value::Date(date_of(start)));
                ctx.emit(row);
                if slot.persisted {
                    self.deletes
                        .push(Self::store_key(start, &key, &self.store)?);
                }
            }
        }
        Ok(())
    }

    fn checkpoint(&mut self, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let store = ctx.store(&self.store)?;
        for k in self.deletes.drain(..) {
            store.delete(&k);
        }
        for (start, key) in self.dirty.drain(..) {
            let Some(slot) = self.open.get_mut(&start).and_then(|m| m.get_mut(&key)) else {
                continue; // emitted since it was dirtied
            };
            let k = Self::store_key(start, &key, &self.store)?;
            store.put(&k, &encode(&self.store, &slot.accs)?);
            slot.dirty = false;
            slot.persisted = true;
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

    fn agg() -> WindowAggregate {
        WindowAggregate::new(
            "w",
            WindowSpec::Hopping {
                size: 60,
                advance: 30,
            },
            vec![Field::Country],
            vec![AggSpec {
                name: "events".into(),
                kind: AggKind::Count,
                field: None,
                filter: vec![],
            }],
        )
    }

    fn ev(country: &str, ts: i64) -> Event {
        let mut e = event("e", 1, ts);
        e.country = country.into();
        e
    }

    #[test]
    fn ordered_i64_preserves_order() {
        let vals = [i64::MIN, -60_000, -1, 0, 1, 60_000, i64::MAX];
        for w in vals.windows(2) {
            assert!(ordered_i64(w[0]) < ordered_i64(w[1]));
            assert_eq!(from_ordered_i64(&ordered_i64(w[0])), Some(w[0]));
        }
    }

    #[test]
    fn hopping_windows_emit_once_in_order_and_count_late() {
        let mut h = Harness::new(agg());
        h.process(ev("US", 10)); // [-30,30) [0,60)
        h.process(ev("DE", 40)); // [0,60) [30,90)
        let out = h.punctuate(30);
        assert_eq!(out.emitted.len(), 1);
        assert_eq!(out.emitted[0][0], Value::Timestamp(-30));
        assert_eq!(out.emitted[0][3], Value::Int(1));
        // t=20 is in [-30,30) (closed) and [0,60) (open): counted in [0,60) only, not late
        h.process(ev("US", 20));
        assert_eq!(h.counters.late, 0);
        let out = h.punctuate(60);
        let rows: Vec<(Value, Value)> = out
            .emitted
            .iter()
            .map(|r| (r[2].clone(), r[3].clone()))
            .collect();
        assert_eq!(
            rows,
            vec![
                (Value::Str("DE".into()), Value::Int(1)),
                (Value::Str("US".into()), Value::Int(2)),
            ]
        );
        // t=25 belongs only to closed windows: late
        h.process(ev("US", 25));
        assert_eq!(h.counters.late, 1);
        assert!(h.punctuate(60).emitted.is_empty(), "nothing twice");
        let out = h.punctuate(90);
        assert_eq!(out.emitted.len(), 1);
    }

    #[test]
    fn restart_from_checkpoint_loses_only_uncommitted_updates() {
        let mut h = Harness::new(agg());
        h.process(ev("US", 10));
        h.commit();
        h.process(ev("US", 11)); // not committed
        h.crash_with(agg());
        let out = h.punctuate(1_000);
        let counts: Vec<Value> = out.emitted.iter().map(|r| r[3].clone()).collect();
        assert_eq!(counts, vec![Value::Int(1), Value::Int(1)]);
        // emitted windows are deleted from the store at the next checkpoint
        h.commit();
        h.crash_with(agg());
        assert!(h.punctuate(2_000).emitted.is_empty());
    }
}
