//! The per-commit ledger: `consumed = accepted + duplicate + dead_lettered`, and `late`
//! per aggregate (DESIGN §3.1).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counts since the app's state was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Records read from the input.
    pub consumed: u64,
    /// Records that passed validation and dedup.
    pub accepted: u64,
    /// Records dropped as duplicates.
    pub duplicate: u64,
    /// Records sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Dead letters per reason.
    pub dead_letter_reasons: BTreeMap<String, u64>,
    /// Late records per aggregate.
    pub late: BTreeMap<String, u64>,
    /// Rows each filter left out (by processor).
    pub filtered: BTreeMap<String, u64>,
    /// Input records the broker deleted (retention) before the app read them, skipped
    /// with `--allow-input-loss`. Not part of `consumed`.
    pub lost: u64,
}

impl Ledger {
    /// Whether every consumed record is accounted for exactly once.
    pub fn is_balanced(&self) -> bool {
        self.consumed == self.accepted + self.duplicate + self.dead_lettered
            && self.dead_lettered == self.dead_letter_reasons.values().sum::<u64>()
    }
}

impl std::fmt::Display for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "consumed={} accepted={} duplicate={} dead_lettered={} lost={}",
            self.consumed, self.accepted, self.duplicate, self.dead_lettered, self.lost
        )?;
        for (r, n) in &self.dead_letter_reasons {
            write!(f, " dlq.{r}={n}")?;
        }
        for (a, n) in &self.late {
            write!(f, " late.{a}={n}")?;
        }
        for (a, n) in &self.filtered {
            write!(f, " filtered.{a}={n}")?;
        }
        Ok(())
    }
}
