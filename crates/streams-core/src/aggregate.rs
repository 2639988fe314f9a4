//! Accumulator states of the aggregate functions (see [`crate::dataflow::aggregate`]):
//! mergeable (sessions merge) and serializable (they live in the state store between
//! checkpoints).

use std::collections::BTreeSet;

use cardinality_estimator::CardinalityEstimator;
use serde::{Deserialize, Serialize};

use crate::value::KeyPart;

/// HyperLogLog with 2^14 registers: ≈0.8 % standard error, exact for small sets.
pub type Hll = CardinalityEstimator<KeyPart, wyhash::WyHash, 14, 6>;

/// A value comparable for min/max: ints/timestamps exactly, floats by total order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Ordered {
    /// Integer-like (ints, timestamps, bools as 0/1).
    Int(i64),
    /// Float.
    Float(f64),
}

impl Ordered {
    /// Total order: ints exactly, floats by IEEE total order, mixed as floats.
    pub fn total_cmp(&self, other: &Ordered) -> std::cmp::Ordering {
        match (self, other) {
            (Ordered::Int(a), Ordered::Int(b)) => a.cmp(b),
            (Ordered::Float(a), Ordered::Float(b)) => a.total_cmp(b),
            (Ordered::Int(a), Ordered::Float(b)) => (*a as f64).total_cmp(b),
            (Ordered::Float(a), Ordered::Int(b)) => a.total_cmp(&(*b as f64)),
        }
    }
}

fn merge_extreme(slot: &mut Option<Ordered>, x: Option<Ordered>, keep_if: std::cmp::Ordering) {
    if let Some(x) = x {
        match slot {
            Some(cur) if x.total_cmp(cur) != keep_if => {}
            _ => *slot = Some(x),
        }
    }
}

/// An accumulator's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Acc {
    /// Count.
    Count(i64),
    /// Float sum.
    Sum(f64),
    /// Integer sum.
    SumInt(i64),
    /// Minimum so far.
    Min(Option<Ordered>),
    /// Maximum so far.
    Max(Option<Ordered>),
    /// Sum and count for the mean.
    Avg {
        /// Sum of inputs.
        sum: f64,
        /// Number of inputs.
        n: i64,
    },
    /// HyperLogLog sketch.
    Hll(Box<Hll>),
    /// Exact distinct set.
    Distinct(BTreeSet<KeyPart>),
}

impl Acc {
    /// Merges `other` into `self` (both from the same [`AggSpec`]); used when sessions merge.
    pub fn merge(&mut self, other: &Acc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a), Acc::Sum(b)) => *a += b,
            (Acc::SumInt(a), Acc::SumInt(b)) => *a = a.wrapping_add(*b),
            (Acc::Min(a), Acc::Min(b)) => merge_extreme(a, *b, std::cmp::Ordering::Less),
            (Acc::Max(a), Acc::Max(b)) => merge_extreme(a, *b, std::cmp::Ordering::Greater),
            (Acc::Avg { sum, n }, Acc::Avg { sum: s2, n: n2 }) => {
                *sum += s2;
                *n += n2;
            }
            (Acc::Hll(a), Acc::Hll(b)) => a.merge(b),
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b.iter().cloned()),
            // Accumulators of one spec always share a variant; mixing them is a programming error.
            (a, b) => debug_assert!(false, "cannot merge {a:?} with {b:?}"),
        }
    }
}
