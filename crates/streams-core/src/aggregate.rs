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
    Distinct(DistinctSet),
}

/// Beyond this many values a distinct set is a tree; below, a sorted vector (most
/// sessions and windows see a handful of values, and a tree's first node alone takes
/// eleven slots).
const SMALL_DISTINCT: usize = 32;

/// The values of a `count_distinct`: a sorted vector while small, a B-tree once large.
/// Both serialize as the same ordered sequence (what a `BTreeSet` wrote before).
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "Vec<KeyPart>")]
pub enum DistinctSet {
    /// Sorted, without repeats; at most [`SMALL_DISTINCT`] values.
    Small(Vec<KeyPart>),
    /// More values.
    Large(BTreeSet<KeyPart>),
}

impl Default for DistinctSet {
    fn default() -> Self {
        DistinctSet::Small(Vec::new())
    }
}

impl DistinctSet {
    /// Adds `v` (a repeat changes nothing).
    pub fn insert(&mut self, v: KeyPart) {
        match self {
            DistinctSet::Small(vs) => {
                if let Err(pos) = vs.binary_search(&v) {
                    if vs.len() < SMALL_DISTINCT {
                        // Grown one at a time: a small set stays its own size.
                        vs.reserve_exact(1);
                        vs.insert(pos, v);
                    } else {
                        let mut set: BTreeSet<KeyPart> = std::mem::take(vs).into_iter().collect();
                        set.insert(v);
                        *self = DistinctSet::Large(set);
                    }
                }
            }
            DistinctSet::Large(set) => {
                set.insert(v);
            }
        }
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        match self {
            DistinctSet::Small(vs) => vs.len(),
            DistinctSet::Large(set) => set.len(),
        }
    }

    /// Whether no value was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values in order.
    pub fn iter(&self) -> impl Iterator<Item = &KeyPart> + '_ {
        let (small, large) = match self {
            DistinctSet::Small(vs) => (Some(vs.iter()), None),
            DistinctSet::Large(set) => (None, Some(set.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// Adds every value of `other`.
    pub fn extend(&mut self, other: &DistinctSet) {
        for v in other.iter() {
            self.insert(v.clone());
        }
    }
}

impl PartialEq for DistinctSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl From<Vec<KeyPart>> for DistinctSet {
    fn from(mut vs: Vec<KeyPart>) -> Self {
        // Stored sets are ordered already; sorting again costs little and trusts nothing.
        vs.sort_unstable();
        vs.dedup();
        if vs.len() <= SMALL_DISTINCT {
            vs.shrink_to_fit();
            DistinctSet::Small(vs)
        } else {
            DistinctSet::Large(vs.into_iter().collect())
        }
    }
}

impl Serialize for DistinctSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        // The length first (bincode needs it; a chained iterator does not tell it).
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for v in self.iter() {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
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
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b),
            // Accumulators of one spec always share a variant; mixing them is a programming error.
            (a, b) => debug_assert!(false, "cannot merge {a:?} with {b:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode<T: Serialize>(v: &T) -> Vec<u8> {
        bincode::serde::encode_to_vec(v, bincode::config::standard()).unwrap()
    }

    #[test]
    fn distinct_sets_count_like_a_btreeset_and_are_stored_the_same_way() {
        // Small, at the threshold, just past it (the switch to a tree) and large.
        for n in [0usize, 1, 5, SMALL_DISTINCT, SMALL_DISTINCT + 1, 200] {
            let mut set = DistinctSet::default();
            let mut tree = BTreeSet::new();
            // Values arrive out of order, with repeats and mixed kinds.
            for i in 0..n * 3 {
                let v = match i % 3 {
                    0 => KeyPart::Str(format!("p{}", (i * 7919) % n.max(1)).into()),
                    1 => KeyPart::Int(((i * 31) % n.max(1)) as i64),
                    _ => KeyPart::Null,
                };
                set.insert(v.clone());
                tree.insert(v);
            }
            assert_eq!(set.len(), tree.len(), "n {n}");
            assert!(set.iter().eq(tree.iter()), "n {n}");
            assert_eq!(
                matches!(set, DistinctSet::Large(_)),
                tree.len() > SMALL_DISTINCT,
                "n {n}"
            );
            // Byte for byte what a BTreeSet wrote, and read back (also from the tree's bytes).
            let bytes = encode(&set);
            assert_eq!(bytes, encode(&tree), "n {n}");
            let (back, _): (DistinctSet, usize) =
                bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
            assert_eq!(back, set, "n {n}");
            // Merging two halves gives the whole.
            let (mut a, mut b) = (DistinctSet::default(), DistinctSet::default());
            for (i, v) in tree.iter().enumerate() {
                if i % 2 == 0 {
                    a.insert(v.clone())
                } else {
                    b.insert(v.clone())
                }
            }
            a.extend(&b);
            assert_eq!(a, set, "n {n}");
        }
    }

    #[test]
    fn stored_values_out_of_order_or_repeated_are_put_in_order() {
        let vs = vec![KeyPart::Int(3), KeyPart::Int(1), KeyPart::Int(3)];
        let set = DistinctSet::from(vs);
        assert!(set.iter().eq([KeyPart::Int(1), KeyPart::Int(3)].iter()));
    }
}
