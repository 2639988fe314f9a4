//! Aggregate functions: count, sum, min, max, avg, approximate distinct (HyperLogLog) and
//! exact distinct. Accumulators are mergeable (sessions merge) and serializable (they
//! live in the state store between checkpoints).

use std::collections::BTreeSet;

use cardinality_estimator::CardinalityEstimator;
use serde::{Deserialize, Serialize};

use crate::event::{Event, Field};
use crate::value::{ColumnType, KeyPart, Value};

/// HyperLogLog with 2^14 registers: ≈0.8 % standard error, exact for small sets.
pub type Hll = CardinalityEstimator<KeyPart, wyhash::WyHash, 14, 6>;

/// Which function an aggregate column computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggKind {
    /// Number of events.
    Count,
    /// Sum of a numeric field.
    Sum,
    /// Minimum of a field.
    Min,
    /// Maximum of a field.
    Max,
    /// Mean of a numeric field.
    Avg,
    /// Approximate number of distinct values (HyperLogLog).
    ApproxDistinct,
    /// Exact number of distinct values.
    ExactDistinct,
}

impl AggKind {
    /// Parse the name used in topology files.
    pub fn parse(name: &str) -> Option<AggKind> {
        Some(match name {
            "count" => AggKind::Count,
            "sum" => AggKind::Sum,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "avg" => AggKind::Avg,
            "approx_distinct" => AggKind::ApproxDistinct,
            "exact_distinct" => AggKind::ExactDistinct,
            _ => return None,
        })
    }

    /// Whether the function needs an input field.
    pub fn needs_field(self) -> bool {
        !matches!(self, AggKind::Count)
    }
}

/// One aggregate column: `name = kind(field) where filter`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggSpec {
    /// Output column name.
    pub name: String,
    /// The function.
    pub kind: AggKind,
    /// Its input (required for everything but `count`).
    pub field: Option<Field>,
    /// Only events whose fields equal these values are aggregated.
    pub filter: Vec<(Field, KeyPart)>,
}

/// Why an aggregate specification is invalid.
pub fn validate_agg(spec: &AggSpec) -> Vec<String> {
    let mut errors = Vec::new();
    match (spec.kind.needs_field(), spec.field) {
        (true, None) => errors.push(format!("aggregate `{}` needs a `field`", spec.name)),
        (false, Some(_)) => {}
        (true, Some(f)) => match spec.kind {
            AggKind::Sum | AggKind::Avg if !f.is_numeric() => errors.push(format!(
                "aggregate `{}`: cannot {} non-numeric field `{}`",
                spec.name,
                if spec.kind == AggKind::Sum {
                    "sum"
                } else {
                    "average"
                },
                f.name()
            )),
            AggKind::ApproxDistinct | AggKind::ExactDistinct if !f.is_keyable() => {
                errors.push(format!(
                    "aggregate `{}`: cannot count distinct values of float field `{}`",
                    spec.name,
                    f.name()
                ))
            }
            _ => {}
        },
        (false, None) => {}
    }
    errors
}

impl AggSpec {
    /// The output column type.
    pub fn column_type(&self) -> ColumnType {
        match (self.kind, self.field) {
            (AggKind::Count | AggKind::ApproxDistinct | AggKind::ExactDistinct, _) => {
                ColumnType::Int
            }
            (AggKind::Avg, _) => ColumnType::Float,
            (AggKind::Sum, Some(f)) if f.column_type() == ColumnType::Int => ColumnType::Int,
            (AggKind::Sum, _) => ColumnType::Float,
            (AggKind::Min | AggKind::Max, Some(f)) => f.column_type(),
            (AggKind::Min | AggKind::Max, None) => ColumnType::Int,
        }
    }

    /// Whether the output may be null (min/max/avg of nothing).
    pub fn nullable(&self) -> bool {
        matches!(self.kind, AggKind::Min | AggKind::Max | AggKind::Avg)
    }

    /// A fresh accumulator.
    pub fn new_acc(&self) -> Acc {
        match self.kind {
            AggKind::Count => Acc::Count(0),
            AggKind::Sum if self.column_type() == ColumnType::Int => Acc::SumInt(0),
            AggKind::Sum => Acc::Sum(0.0),
            AggKind::Min => Acc::Min(None),
            AggKind::Max => Acc::Max(None),
            AggKind::Avg => Acc::Avg { sum: 0.0, n: 0 },
            AggKind::ApproxDistinct => Acc::Hll(Box::default()),
            AggKind::ExactDistinct => Acc::Distinct(BTreeSet::new()),
        }
    }

    fn passes(&self, e: &Event) -> bool {
        self.filter.iter().all(|(f, v)| e.field_equals(*f, v))
    }

    /// Adds one event.
    pub fn update(&self, acc: &mut Acc, e: &Event) {
        if !self.passes(e) {
            return;
        }
        let field = self.field.unwrap_or(Field::EventTs);
        match acc {
            Acc::Count(n) => *n += 1,
            Acc::Sum(s) => *s += e.number(field).unwrap_or(0.0),
            Acc::SumInt(s) => {
                if let KeyPart::Int(i) = e.key_part(field) {
                    *s = s.wrapping_add(i)
                }
            }
            Acc::Min(m) => merge_extreme(m, ordered(e, field), std::cmp::Ordering::Less),
            Acc::Max(m) => merge_extreme(m, ordered(e, field), std::cmp::Ordering::Greater),
            Acc::Avg { sum, n } => {
                if let Some(x) = e.number(field) {
                    *sum += x;
                    *n += 1;
                }
            }
            Acc::Hll(h) => h.insert(&e.key_part(field)),
            Acc::Distinct(set) => {
                set.insert(e.key_part(field));
            }
        }
    }

    /// The final value of an accumulator.
    pub fn finish(&self, acc: &Acc) -> Value {
        let ty = self.column_type();
        match acc {
            Acc::Count(n) => Value::Int(*n),
            Acc::Sum(s) => Value::Float(*s),
            Acc::SumInt(s) => Value::Int(*s),
            Acc::Min(m) | Acc::Max(m) => m.map_or(Value::Null, |o| o.to_value(ty)),
            Acc::Avg { sum, n } => {
                if *n == 0 {
                    Value::Null
                } else {
                    Value::Float(*sum / *n as f64)
                }
            }
            Acc::Hll(h) => Value::Int(h.estimate() as i64),
            Acc::Distinct(set) => Value::Int(set.len() as i64),
        }
    }
}

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

    fn to_value(self, ty: ColumnType) -> Value {
        match (self, ty) {
            (Ordered::Int(i), ColumnType::Timestamp) => Value::Timestamp(i),
            (Ordered::Int(i), ColumnType::Float) => Value::Float(i as f64),
            (Ordered::Int(i), _) => Value::Int(i),
            (Ordered::Float(f), _) => Value::Float(f),
        }
    }
}

fn ordered(e: &Event, field: Field) -> Option<Ordered> {
    match field.column_type() {
        ColumnType::Float => e.number(field).map(Ordered::Float),
        _ => match e.key_part(field) {
            KeyPart::Int(i) => Some(Ordered::Int(i)),
            KeyPart::Bool(b) => Some(Ordered::Int(b as i64)),
            _ => None,
        },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::test_support::event;

    fn spec(kind: AggKind, field: Option<Field>) -> AggSpec {
        AggSpec {
            name: "x".into(),
            kind,
            field,
            filter: vec![],
        }
    }

    fn run(spec: &AggSpec, events: &[Event]) -> Value {
        let mut acc = spec.new_acc();
        for e in events {
            spec.update(&mut acc, e);
        }
        spec.finish(&acc)
    }

    fn purchase(id: &str, user: i64, ts: i64, amount: f64) -> Event {
        let mut e = event(id, user, ts);
        e.event_type = "purchase".into();
        e.amount = amount;
        e
    }

    #[test]
    fn every_function_table() {
        let events = vec![
            purchase("a", 1, 100, 10.0),
            event("b", 2, 50),
            purchase("c", 1, 300, 2.5),
        ];
        let cases = [
            (spec(AggKind::Count, None), Value::Int(3)),
            (spec(AggKind::Sum, Some(Field::Amount)), Value::Float(12.5)),
            (spec(AggKind::Sum, Some(Field::UserId)), Value::Int(4)),
            (
                spec(AggKind::Min, Some(Field::EventTs)),
                Value::Timestamp(50),
            ),
            (
                spec(AggKind::Max, Some(Field::EventTs)),
                Value::Timestamp(300),
            ),
            (spec(AggKind::Max, Some(Field::Amount)), Value::Float(10.0)),
            (
                spec(AggKind::Avg, Some(Field::Amount)),
                Value::Float(12.5 / 3.0),
            ),
            (
                spec(AggKind::ApproxDistinct, Some(Field::UserId)),
                Value::Int(2),
            ),
            (
                spec(AggKind::ExactDistinct, Some(Field::UserId)),
                Value::Int(2),
            ),
        ];
        for (s, expected) in cases {
            assert_eq!(run(&s, &events), expected, "{:?}", s.kind);
        }
        assert_eq!(
            run(&spec(AggKind::Avg, Some(Field::Amount)), &[]),
            Value::Null
        );
        assert_eq!(
            run(&spec(AggKind::Max, Some(Field::EventTs)), &[]),
            Value::Null
        );
    }

    #[test]
    fn filters_restrict_the_input() {
        let mut s = spec(AggKind::Sum, Some(Field::Amount));
        s.filter = vec![(Field::EventType, KeyPart::Str("purchase".into()))];
        let mut viewed = event("v", 3, 10);
        viewed.amount = 99.0;
        let events = vec![purchase("a", 1, 100, 10.0), viewed];
        assert_eq!(run(&s, &events), Value::Float(10.0));
    }

    #[test]
    fn merge_equals_single_pass() {
        let events: Vec<Event> = (0..500)
            .map(|i| purchase(&format!("e{i}"), i % 37, i * 7 % 1000, (i % 13) as f64))
            .collect();
        for kind in [
            AggKind::Count,
            AggKind::Sum,
            AggKind::Min,
            AggKind::Max,
            AggKind::Avg,
            AggKind::ApproxDistinct,
            AggKind::ExactDistinct,
        ] {
            let field = match kind {
                AggKind::Count => None,
                AggKind::ApproxDistinct | AggKind::ExactDistinct => Some(Field::UserId),
                _ => Some(Field::Amount),
            };
            let s = spec(kind, field);
            let whole = run(&s, &events);
            let (a, b) = events.split_at(200);
            let mut left = s.new_acc();
            a.iter().for_each(|e| s.update(&mut left, e));
            let mut right = s.new_acc();
            b.iter().for_each(|e| s.update(&mut right, e));
            left.merge(&right);
            match (s.finish(&left), whole) {
                (Value::Float(x), Value::Float(y)) => assert!((x - y).abs() < 1e-9, "{kind:?}"),
                (x, y) => assert_eq!(x, y, "{kind:?}"),
            }
        }
    }

    #[test]
    fn hll_is_within_two_percent_and_survives_serialization() {
        let s = spec(AggKind::ApproxDistinct, Some(Field::UserId));
        let mut acc = s.new_acc();
        for u in 0..100_000 {
            s.update(&mut acc, &event("x", u, 0));
            s.update(&mut acc, &event("x", u, 0));
        }
        let bytes =
            bincode::serde::encode_to_vec(&acc, bincode::config::standard()).expect("encode");
        let (back, _): (Acc, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).expect("decode");
        let Value::Int(n) = s.finish(&back) else {
            panic!("not an int")
        };
        let err = (n as f64 - 100_000.0).abs() / 100_000.0;
        assert!(err <= 0.02, "estimate {n} is {:.2}% off", err * 100.0);
        assert_eq!(s.finish(&back), s.finish(&acc));
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(validate_agg(&spec(AggKind::Sum, None))[0].contains("needs a `field`"));
        assert!(validate_agg(&spec(AggKind::Sum, Some(Field::Country)))[0].contains("non-numeric"));
        assert!(
            validate_agg(&spec(AggKind::ExactDistinct, Some(Field::Amount)))[0].contains("float")
        );
        assert!(validate_agg(&spec(AggKind::Count, None)).is_empty());
    }
}
