//! `dedup`: the first row with a key wins; later rows with the same key are dropped and
//! counted as `duplicate`, until the watermark passes the first row's event time plus
//! the retention. Entries live in a dedup store; the decision reads the stored expiry,
//! so an entry that compaction has not removed yet still behaves as expired.

pub(crate) mod config;
#[cfg(test)]
mod tests;

use arrow::array::BooleanArray;

use super::filter::compile_expr;
use super::keys::{append_key_bytes, is_keyable};
use super::{Context, Processor, Stream, TopologyBuilder};
use crate::batch::Batch;
use crate::error::CoreError;
use crate::expr::CompiledExpr;
use crate::store::{dedup_expiry, dedup_value, StoreKind, StoreSpec};
use crate::value::Schema;

/// Drops repeated rows.
pub struct Dedup {
    store: String,
    key: CompiledExpr,
    retention: i64,
}

/// Whether a stored entry expiring at `expires_at` still marks a duplicate at watermark `w`.
pub fn is_live(expires_at: i64, w: i64) -> bool {
    w < expires_at
}

impl Dedup {
    /// Dedup on the expression `key` over rows of `schema`, entries kept for
    /// `retention_ms` of event time in store `store`.
    pub fn compile(
        store: &str,
        key: &str,
        retention_ms: i64,
        schema: &Schema,
    ) -> Result<Dedup, Vec<String>> {
        let mut errors = Vec::new();
        if retention_ms <= 0 {
            errors.push("retention must be positive".to_string());
        }
        let key = match compile_expr("key", key, schema) {
            Ok(k) if is_keyable(k.ty()) => Some(k),
            Ok(k) => {
                errors.push(format!(
                    "key `{}` is a double; dedup keys cannot be floats",
                    k.text()
                ));
                None
            }
            Err(es) => {
                errors.extend(es);
                None
            }
        };
        match key {
            Some(key) if errors.is_empty() => Ok(Dedup {
                store: store.to_string(),
                key,
                retention: retention_ms,
            }),
            _ => Err(errors),
        }
    }
}

impl Processor for Dedup {
    fn stores(&self) -> Vec<StoreSpec> {
        vec![StoreSpec::new(self.store.clone(), StoreKind::Dedup)]
    }

    fn describe(&self) -> String {
        format!("key {}, retention {} ms", self.key.text(), self.retention)
    }

    fn process(&mut self, batch: Batch, ctx: &mut Context<'_>) -> Result<(), CoreError> {
        let keys = self.key.eval(batch.data())?;
        let store = ctx.store(&self.store)?;
        let mut keep = Vec::with_capacity(batch.len());
        let mut key = Vec::with_capacity(64);
        for row in 0..batch.len() {
            let w = batch.watermark()[row];
            key.clear();
            append_key_bytes(keys.as_ref(), row, &mut key);
            if let Some(v) = store.get(&key)? {
                match dedup_expiry(&v) {
                    Some(exp) if is_live(exp, w) => {
                        keep.push(false);
                        continue;
                    }
                    Some(_) => {}
                    None => return Err(CoreError::corrupt(&self.store, "dedup entry too short")),
                }
            }
            let expires_at = batch.time()[row].saturating_add(self.retention);
            if is_live(expires_at, w) {
                store.put(&key, &dedup_value(expires_at));
            }
            keep.push(true);
        }
        let kept = keep.iter().filter(|k| **k).count();
        ctx.count_duplicate((batch.len() - kept) as u64);
        if kept == batch.len() {
            ctx.forward(batch);
        } else if kept > 0 {
            ctx.forward(
                batch
                    .filter(&BooleanArray::from(keep))
                    .map_err(CoreError::arrow)?,
            );
        }
        Ok(())
    }
}

impl TopologyBuilder {
    /// Drops rows of `input` whose `key` was seen within `retention_ms` of event time.
    /// The store is named after the processor.
    pub fn dedup(&mut self, name: &str, input: &Stream, key: &str, retention_ms: i64) -> Stream {
        self.add_with(name, "dedup", &[input], |schema| {
            Ok((
                Dedup::compile(name, key, retention_ms, schema)?,
                schema.clone(),
            ))
        })
    }
}
