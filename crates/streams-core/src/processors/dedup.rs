//! Dedup by a key field (DESIGN §3.2, step 4): the first occurrence wins, later ones are
//! counted as `duplicate`. Entries live in a dedup store and expire once the watermark
//! passes `event_ts + retention`; the decision reads the stored expiry, so an entry that
//! compaction has not removed yet still behaves as expired.

use crate::error::CoreError;
use crate::event::{EventRef, Field};
use crate::processor::{Context, Processor};
use crate::store::{dedup_expiry, dedup_value, StoreKind, StoreSpec};

/// Drops repeated events.
pub struct Dedup {
    store: String,
    key: Field,
    retention: i64,
}

impl Dedup {
    /// Dedup on `key` with entries kept for `retention_ms` of event time, in store `store`.
    pub fn new(store: impl Into<String>, key: Field, retention_ms: i64) -> Self {
        Dedup {
            store: store.into(),
            key,
            retention: retention_ms,
        }
    }
}

/// Whether a stored entry expiring at `expires_at` still marks a duplicate at watermark `w`.
pub fn is_live(expires_at: i64, w: i64) -> bool {
    w < expires_at
}

impl Processor for Dedup {
    fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.retention <= 0 {
            errors.push("dedup retention must be positive".into());
        }
        if !self.key.is_keyable() {
            errors.push(format!("cannot dedup on float field `{}`", self.key.name()));
        }
        errors
    }

    fn stores(&self) -> Vec<StoreSpec> {
        vec![StoreSpec::new(self.store.clone(), StoreKind::Dedup)]
    }

    fn process(&mut self, event: EventRef, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let w = ctx.watermark();
        let key = match self.key {
            Field::EventId => event.event_id.as_bytes().to_vec(),
            other => event.key_part(other).to_key_string().into_bytes(),
        };
        let store = ctx.store(&self.store)?;
        if let Some(v) = store.get(&key)? {
            match dedup_expiry(&v) {
                Some(exp) if is_live(exp, w) => {
                    ctx.mark_duplicate();
                    return Ok(());
                }
                Some(_) => {}
                None => return Err(CoreError::corrupt(&self.store, "dedup entry too short")),
            }
        }
        let expires_at = event.event_ts.saturating_add(self.retention);
        if is_live(expires_at, w) {
            store.put(&key, &dedup_value(expires_at));
        }
        ctx.forward(event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_support::event;
    use crate::processors::test_harness::Harness;

    #[test]
    fn first_wins_and_entries_expire_by_watermark() {
        let mut h = Harness::new(Dedup::new("dedup", Field::EventId, 100));
        // (event id, ts, watermark before, forwarded?)
        let cases = [
            ("a", 10, i64::MIN, true),
            ("a", 10, i64::MIN, false),
            ("b", 20, 50, true),
            ("a", 15, 109, false), // a expires at 110
            ("a", 15, 110, true),  // expired: accepted again, new expiry 115
            ("a", 15, 114, false),
            ("c", 0, 200, true), // already expired on arrival: not stored
            ("c", 0, 200, true),
        ];
        for (i, (id, ts, w, forwarded)) in cases.into_iter().enumerate() {
            h.watermark = w;
            let out = h.process(event(id, 1, ts));
            assert_eq!(out.forwarded.len() == 1, forwarded, "case {i}");
            assert_eq!(out.duplicate, !forwarded, "case {i}");
        }
    }

    #[test]
    fn dedup_survives_commit_and_drops_uncommitted_on_crash() {
        let mut h = Harness::new(Dedup::new("dedup", Field::EventId, 1_000));
        assert_eq!(h.process(event("x", 1, 0)).forwarded.len(), 1);
        h.commit();
        assert_eq!(h.process(event("y", 1, 0)).forwarded.len(), 1);
        h.crash();
        assert!(h.process(event("x", 1, 0)).duplicate);
        assert!(!h.process(event("y", 1, 0)).duplicate);
    }
}
