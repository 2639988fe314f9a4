//! Aggregate functions over batches: `count`, `sum`, `min`, `max`, `avg`,
//! `approx_distinct` (HyperLogLog), `count_distinct`, `first` and `last`, each with an
//! optional condition (`where`). Inputs and conditions are expressions, evaluated once
//! per batch; accumulators then take one row at a time.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Date32Type, Float64Type, Int64Type, TimestampMillisecondType};
use serde::{Deserialize, Serialize};

use super::filter::{compile_expr, compile_predicate};
use super::keys::{is_keyable, key_part};
use crate::aggregate::{Acc, Ordered};
use crate::batch::Origin;
use crate::error::CoreError;
use crate::expr::CompiledExpr;
use crate::input::type_word;
use crate::value::{Column, ColumnType, KeyPart, Schema, Value};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AggFn {
    /// Rows (`count()`), or non-NULL inputs (`count(x)`).
    Count,
    /// Sum of a number.
    Sum,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Mean of a number.
    Avg,
    /// Approximate number of distinct values (HyperLogLog, ≈0.8 % standard error).
    ApproxDistinct,
    /// Exact number of distinct values.
    CountDistinct,
    /// The value of the earliest row (event time, then partition and offset).
    First,
    /// The value of the latest row.
    Last,
}

impl AggFn {
    /// Parses the name used in topology files.
    pub fn parse(name: &str) -> Option<AggFn> {
        Some(match name {
            "count" => AggFn::Count,
            "sum" => AggFn::Sum,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "avg" | "mean" => AggFn::Avg,
            "approx_distinct" | "approx_count_distinct" => AggFn::ApproxDistinct,
            "count_distinct" | "exact_distinct" => AggFn::CountDistinct,
            "first" => AggFn::First,
            "last" => AggFn::Last,
            _ => return None,
        })
    }

    /// The function's name in topology files.
    pub fn name(self) -> &'static str {
        match self {
            AggFn::Count => "count",
            AggFn::Sum => "sum",
            AggFn::Min => "min",
            AggFn::Max => "max",
            AggFn::Avg => "avg",
            AggFn::ApproxDistinct => "approx_distinct",
            AggFn::CountDistinct => "count_distinct",
            AggFn::First => "first",
            AggFn::Last => "last",
        }
    }

    /// The names [`parse`](Self::parse) accepts, for messages.
    pub const NAMES: &'static str =
        "count, sum, min, max, avg, approx_distinct, count_distinct, first, last";
}

/// One aggregate column as declared: `name = func(expr) WHERE condition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggDef {
    /// Output column.
    pub name: String,
    /// The function.
    pub func: AggFn,
    /// Its input expression (required for all but `count`).
    pub expr: Option<String>,
    /// Only rows where this is true are aggregated.
    pub condition: Option<String>,
}

/// A compiled aggregate column.
#[derive(Debug, Clone)]
pub struct AggSpec {
    name: String,
    func: AggFn,
    input: Option<CompiledExpr>,
    condition: Option<CompiledExpr>,
    ty: ColumnType,
}

/// A first/last accumulator: the value and the (time, origin) that chose it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    /// Event time of the chosen row.
    pub time: i64,
    /// Its origin (ties).
    pub origin: (i32, i64),
    /// Its value.
    pub value: Value,
}

/// An accumulator: the classic ones, or first/last.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Accumulator {
    /// count, sum, min, max, avg, distinct.
    Acc(Acc),
    /// first/last (boxed: most accumulators are counts and sums, and a session or window
    /// holds one per aggregate, so the enum stays two words wide).
    Pick(Option<Box<Pick>>),
}

// Open windows and sessions hold a `Vec<Accumulator>` each: keep the enum small.
const _: () = assert!(std::mem::size_of::<Accumulator>() <= 32);

impl AggSpec {
    /// Checks `def` against the rows it reads.
    pub fn compile(def: &AggDef, input: &Schema) -> Result<AggSpec, Vec<String>> {
        let what = format!("aggregate `{}`", def.name);
        let mut errors = Vec::new();
        let expr = match (&def.expr, def.func) {
            (None, AggFn::Count) => None,
            (None, f) => {
                errors.push(format!(
                    "{what}: {} needs an input expression (`expr`)",
                    f.name()
                ));
                None
            }
            (Some(text), _) => match compile_expr(&format!("{what}: expr"), text, input) {
                Ok(e) => Some(e),
                Err(es) => {
                    errors.extend(es);
                    None
                }
            },
        };
        let condition = match &def.condition {
            None => None,
            Some(text) => match compile_predicate(&format!("{what}: where"), text, input) {
                Ok(e) => Some(e),
                Err(es) => {
                    errors.extend(es);
                    None
                }
            },
        };
        let in_ty = expr.as_ref().map(CompiledExpr::ty);
        let ty = match (def.func, in_ty) {
            (AggFn::Count | AggFn::ApproxDistinct | AggFn::CountDistinct, _) => ColumnType::Int,
            (AggFn::Avg, _) => ColumnType::Float,
            (_, Some(t)) => t,
            (_, None) => ColumnType::Int,
        };
        if let Some(t) = in_ty {
            let numeric = matches!(t, ColumnType::Int | ColumnType::Float);
            match def.func {
                AggFn::Sum | AggFn::Avg if !numeric => errors.push(format!(
                    "{what}: {} needs a number, `{}` is a {}",
                    if def.func == AggFn::Sum { "sum" } else { "avg" },
                    def.expr.as_deref().unwrap_or_default(),
                    type_word(t)
                )),
                AggFn::ApproxDistinct | AggFn::CountDistinct if !is_keyable(t) => {
                    errors.push(format!(
                        "{what}: distinct counts cannot take doubles (`{}`)",
                        def.expr.as_deref().unwrap_or_default()
                    ))
                }
                AggFn::Min | AggFn::Max if t == ColumnType::Str => errors.push(format!(
                    "{what}: min and max take numbers, timestamps and dates, `{}` is a string",
                    def.expr.as_deref().unwrap_or_default()
                )),
                _ => {}
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(AggSpec {
            name: def.name.clone(),
            func: def.func,
            input: expr,
            condition,
            ty,
        })
    }

    /// The output column.
    pub fn column(&self) -> Column {
        Column {
            name: self.name.clone(),
            ty: self.ty,
            nullable: !matches!(
                self.func,
                AggFn::Count | AggFn::ApproxDistinct | AggFn::CountDistinct
            ) && !(self.func == AggFn::Sum),
        }
    }

    /// A fresh accumulator.
    pub fn new_acc(&self) -> Accumulator {
        Accumulator::Acc(match self.func {
            AggFn::Count => Acc::Count(0),
            AggFn::Sum if self.ty == ColumnType::Int => Acc::SumInt(0),
            AggFn::Sum => Acc::Sum(0.0),
            AggFn::Min => Acc::Min(None),
            AggFn::Max => Acc::Max(None),
            AggFn::Avg => Acc::Avg { sum: 0.0, n: 0 },
            AggFn::ApproxDistinct => Acc::Hll(Box::default()),
            AggFn::CountDistinct => Acc::Distinct(Default::default()),
            AggFn::First | AggFn::Last => return Accumulator::Pick(None),
        })
    }

    /// The input columns its expression and condition read.
    pub fn columns(&self) -> Vec<usize> {
        self.input
            .iter()
            .chain(&self.condition)
            .flat_map(CompiledExpr::columns)
            .collect()
    }

    /// Evaluates this aggregate's input and condition over a batch.
    pub fn prepare(&self, data: &RecordBatch) -> Result<Prepared, CoreError> {
        let input = match &self.input {
            Some(e) => Some(e.eval(data)?),
            None => None,
        };
        let condition = match &self.condition {
            Some(c) => Some(c.eval_predicate(data)?),
            None => None,
        };
        Ok(Prepared { input, condition })
    }

    /// Adds row `row` of a prepared batch.
    pub fn update(
        &self,
        acc: &mut Accumulator,
        p: &Prepared,
        row: usize,
        time: i64,
        origin: Origin,
    ) {
        if let Some(c) = &p.condition {
            if !c.value(row) {
                return;
            }
        }
        let Some(input) = &p.input else {
            if let Accumulator::Acc(Acc::Count(n)) = acc {
                *n += 1;
            }
            return;
        };
        let a = input.as_ref();
        if a.is_null(row) {
            return;
        }
        match acc {
            Accumulator::Acc(acc) => match acc {
                Acc::Count(n) => *n += 1,
                Acc::Sum(s) => *s += number(a, row).unwrap_or(0.0),
                Acc::SumInt(s) => *s = s.wrapping_add(a.as_primitive::<Int64Type>().value(row)),
                Acc::Min(m) => extreme(m, ordered(a, row), std::cmp::Ordering::Less),
                Acc::Max(m) => extreme(m, ordered(a, row), std::cmp::Ordering::Greater),
                Acc::Avg { sum, n } => {
                    if let Some(x) = number(a, row) {
                        *sum += x;
                        *n += 1;
                    }
                }
                Acc::Hll(h) => h.insert(&key_part(a, row)),
                Acc::Distinct(set) => {
                    set.insert(key_part(a, row));
                }
            },
            Accumulator::Pick(slot) => {
                let cand = (time, (origin.partition, origin.offset));
                let better = match slot {
                    None => true,
                    Some(cur) => {
                        let here = (cur.time, cur.origin);
                        if self.func == AggFn::First {
                            cand < here
                        } else {
                            cand > here
                        }
                    }
                };
                if better {
                    *slot = Some(Box::new(Pick {
                        time,
                        origin: cand.1,
                        value: value_at(a, row),
                    }));
                }
            }
        }
    }

    /// Merges two accumulators of this spec (sessions merging).
    pub fn merge(&self, into: &mut Accumulator, other: &Accumulator) {
        match (into, other) {
            (Accumulator::Acc(a), Accumulator::Acc(b)) => a.merge(b),
            (Accumulator::Pick(a), Accumulator::Pick(b)) => {
                if let Some(b) = b {
                    let take = match a {
                        None => true,
                        Some(cur) => {
                            let (x, y) = ((b.time, b.origin), (cur.time, cur.origin));
                            if self.func == AggFn::First {
                                x < y
                            } else {
                                x > y
                            }
                        }
                    };
                    if take {
                        *a = Some(b.clone());
                    }
                }
            }
            (a, b) => debug_assert!(false, "cannot merge {a:?} with {b:?}"),
        }
    }

    /// The final value.
    pub fn finish(&self, acc: &Accumulator) -> Value {
        match acc {
            Accumulator::Pick(p) => p.as_ref().map_or(Value::Null, |p| p.value.clone()),
            Accumulator::Acc(acc) => match acc {
                Acc::Count(n) => Value::Int(*n),
                Acc::Sum(s) => Value::Float(*s),
                Acc::SumInt(s) => Value::Int(*s),
                Acc::Min(m) | Acc::Max(m) => m.map_or(Value::Null, |o| ordered_value(o, self.ty)),
                Acc::Avg { sum, n } => {
                    if *n == 0 {
                        Value::Null
                    } else {
                        Value::Float(*sum / *n as f64)
                    }
                }
                Acc::Hll(h) => Value::Int(h.estimate() as i64),
                Acc::Distinct(set) => Value::Int(set.len() as i64),
            },
        }
    }
}

/// An aggregate's input and condition evaluated over one batch.
pub struct Prepared {
    input: Option<ArrayRef>,
    condition: Option<BooleanArray>,
}

fn number(a: &dyn Array, row: usize) -> Option<f64> {
    match a.data_type() {
        DataType::Float64 => Some(a.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => Some(a.as_primitive::<Int64Type>().value(row) as f64),
        _ => None,
    }
}

fn ordered(a: &dyn Array, row: usize) -> Option<Ordered> {
    match a.data_type() {
        DataType::Float64 => Some(Ordered::Float(a.as_primitive::<Float64Type>().value(row))),
        _ => match key_part(a, row) {
            KeyPart::Int(i) => Some(Ordered::Int(i)),
            KeyPart::Bool(b) => Some(Ordered::Int(b as i64)),
            _ => None,
        },
    }
}

fn ordered_value(o: Ordered, ty: ColumnType) -> Value {
    match (o, ty) {
        (Ordered::Int(i), ColumnType::Timestamp) => Value::Timestamp(i),
        (Ordered::Int(i), ColumnType::Date) => Value::Date(i as i32),
        (Ordered::Int(i), ColumnType::Bool) => Value::Bool(i != 0),
        (Ordered::Int(i), ColumnType::Float) => Value::Float(i as f64),
        (Ordered::Int(i), _) => Value::Int(i),
        (Ordered::Float(f), _) => Value::Float(f),
    }
}

fn extreme(slot: &mut Option<Ordered>, x: Option<Ordered>, keep_if: std::cmp::Ordering) {
    if let Some(x) = x {
        match slot {
            Some(cur) if x.total_cmp(cur) != keep_if => {}
            _ => *slot = Some(x),
        }
    }
}

/// The value at `row` (not NULL) as a [`Value`].
pub fn value_at(a: &dyn Array, row: usize) -> Value {
    if a.is_null(row) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Boolean => Value::Bool(a.as_boolean().value(row)),
        DataType::Int64 => Value::Int(a.as_primitive::<Int64Type>().value(row)),
        DataType::Float64 => Value::Float(a.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => Value::Str(a.as_string::<i32>().value(row).into()),
        DataType::Timestamp(..) => {
            Value::Timestamp(a.as_primitive::<TimestampMillisecondType>().value(row))
        }
        DataType::Date32 => Value::Date(a.as_primitive::<Date32Type>().value(row)),
        _ => Value::Null,
    }
}
