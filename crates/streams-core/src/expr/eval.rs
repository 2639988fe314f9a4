//! Evaluation of a checked [`Node`] over a whole batch with Arrow's compute kernels.
//! Constants stay one-element scalars until an operation needs a full column.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Datum, Float64Array, Int64Array, RecordBatch, Scalar,
    StringArray, UInt32Array,
};
use arrow::compute::kernels::{boolean, cmp, comparison, numeric, zip};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{Float64Type, Int64Type};
use arrow::error::ArrowError;

use super::check::{ArithOp, CmpOp, Func, Lit, Node};
use crate::value::ColumnType;

/// A computed column, or a constant that stands for every row.
pub(crate) enum Val {
    Array(ArrayRef),
    Scalar(Scalar<ArrayRef>),
}

impl Val {
    fn is_scalar(&self) -> bool {
        matches!(self, Val::Scalar(_))
    }

    fn datum(&self) -> &dyn Datum {
        match self {
            Val::Array(a) => a,
            Val::Scalar(s) => s,
        }
    }

    pub(crate) fn into_array(self, len: usize) -> Result<ArrayRef, ArrowError> {
        match self {
            Val::Array(a) => Ok(a),
            Val::Scalar(s) => repeat(s.into_inner().as_ref(), len),
        }
    }

    /// Wraps a kernel's output: a scalar when every input was one.
    fn from_kernel(a: ArrayRef, scalar: bool) -> Val {
        if scalar && a.len() == 1 {
            Val::Scalar(Scalar::new(a))
        } else {
            Val::Array(a)
        }
    }
}

fn repeat(one: &dyn Array, len: usize) -> Result<ArrayRef, ArrowError> {
    arrow::compute::take(one, &UInt32Array::from(vec![0u32; len]), None)
}

fn lit_array(l: &Lit) -> ArrayRef {
    match l {
        Lit::Null(t) => arrow::array::new_null_array(&t.arrow_type(), 1),
        Lit::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        Lit::Int(i) => Arc::new(Int64Array::from(vec![*i])),
        Lit::Float(f) => Arc::new(Float64Array::from(vec![*f])),
        Lit::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        Lit::Timestamp(ms) => {
            Arc::new(arrow::array::TimestampMillisecondArray::from(vec![*ms]).with_timezone("UTC"))
        }
        Lit::Date(d) => Arc::new(arrow::array::Date32Array::from(vec![*d])),
    }
}

/// NULL counts as false (SQL's `WHERE`).
pub(crate) fn as_selection(a: &ArrayRef) -> Result<BooleanArray, ArrowError> {
    let b = a.as_boolean_opt().ok_or_else(|| {
        ArrowError::InvalidArgumentError(format!("expected booleans, found {}", a.data_type()))
    })?;
    Ok(if b.null_count() == 0 {
        b.clone()
    } else {
        arrow::compute::prep_null_mask_filter(b)
    })
}

fn safe_cast() -> CastOptions<'static> {
    CastOptions {
        safe: true,
        ..Default::default()
    }
}

pub(crate) fn eval(node: &Node, batch: &RecordBatch) -> Result<Val, ArrowError> {
    let len = batch.num_rows();
    Ok(match node {
        Node::Column { index, .. } => Val::Array(batch.column(*index).clone()),
        Node::Literal(l) => Val::Scalar(Scalar::new(lit_array(l))),
        Node::Cmp { op, left, right } => {
            let (l, r) = (eval(left, batch)?, eval(right, batch)?);
            let f = match op {
                CmpOp::Eq => cmp::eq,
                CmpOp::NotEq => cmp::neq,
                CmpOp::Lt => cmp::lt,
                CmpOp::LtEq => cmp::lt_eq,
                CmpOp::Gt => cmp::gt,
                CmpOp::GtEq => cmp::gt_eq,
            };
            Val::from_kernel(
                Arc::new(f(l.datum(), r.datum())?),
                l.is_scalar() && r.is_scalar(),
            )
        }
        Node::And(a, b) | Node::Or(a, b) => {
            let (a, b) = (eval(a, batch)?, eval(b, batch)?);
            let scalar = a.is_scalar() && b.is_scalar();
            let n = if scalar { 1 } else { len };
            let (a, b) = (a.into_array(n)?, b.into_array(n)?);
            let (a, b) = (a.as_boolean(), b.as_boolean());
            let out = if matches!(node, Node::And(..)) {
                boolean::and_kleene(a, b)?
            } else {
                boolean::or_kleene(a, b)?
            };
            Val::from_kernel(Arc::new(out), scalar)
        }
        Node::Not(e) => map_array(eval(e, batch)?, |a| {
            Ok(Arc::new(boolean::not(a.as_boolean())?))
        })?,
        Node::IsNull { expr, negated } => {
            let negated = *negated;
            map_array(eval(expr, batch)?, move |a| {
                Ok(Arc::new(if negated {
                    boolean::is_not_null(a)?
                } else {
                    boolean::is_null(a)?
                }))
            })?
        }
        Node::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => {
            let (x, p) = (eval(expr, batch)?, eval(pattern, batch)?);
            let f = match (negated, case_insensitive) {
                (false, false) => comparison::like,
                (true, false) => comparison::nlike,
                (false, true) => comparison::ilike,
                (true, true) => comparison::nilike,
            };
            Val::from_kernel(
                Arc::new(f(x.datum(), p.datum())?),
                x.is_scalar() && p.is_scalar(),
            )
        }
        Node::InList {
            expr,
            list,
            negated,
        } => {
            let x = eval(expr, batch)?;
            let mut acc: Option<BooleanArray> = None;
            for item in list {
                let v = eval(item, batch)?;
                let eq = cmp::eq(x.datum(), v.datum())?;
                let eq = if eq.len() == len || len == 1 {
                    eq
                } else {
                    repeat(&eq, len)?.as_boolean().clone()
                };
                acc = Some(match acc {
                    None => eq,
                    Some(a) => boolean::or_kleene(&a, &eq)?,
                });
            }
            let acc = acc.unwrap_or_else(|| BooleanArray::from(vec![false; len]));
            let out = if *negated { boolean::not(&acc)? } else { acc };
            Val::Array(Arc::new(out))
        }
        Node::Case {
            branches,
            otherwise,
            ..
        } => {
            let mut result = eval(otherwise, batch)?.into_array(len)?;
            // First match wins: fold from the last branch back to the first.
            for (cond, value) in branches.iter().rev() {
                let mask = as_selection(&eval(cond, batch)?.into_array(len)?)?;
                let v = eval(value, batch)?;
                result = zip::zip(&mask, v.datum(), &result)?;
            }
            Val::Array(result)
        }
        Node::Arith {
            op,
            left,
            right,
            ty,
        } => {
            let (l, r) = (eval(left, batch)?, eval(right, batch)?);
            let scalar = l.is_scalar() && r.is_scalar();
            let out = match op {
                ArithOp::Add => numeric::add_wrapping(l.datum(), r.datum())?,
                ArithOp::Sub => numeric::sub_wrapping(l.datum(), r.datum())?,
                ArithOp::Mul => numeric::mul_wrapping(l.datum(), r.datum())?,
                ArithOp::Div | ArithOp::Rem => {
                    // Division by zero gives NULL (Spark's default), never an error or infinity.
                    let n = if scalar { 1 } else { len };
                    let r = r.into_array(n)?;
                    let zero: ArrayRef = match ty {
                        ColumnType::Int => Arc::new(Int64Array::from(vec![0])),
                        _ => Arc::new(Float64Array::from(vec![0.0])),
                    };
                    let is_zero = cmp::eq(&r, &Scalar::new(zero))?;
                    let r = arrow::compute::nullif(&r, &is_zero)?;
                    if *op == ArithOp::Div {
                        numeric::div(l.datum(), &r)?
                    } else {
                        numeric::rem(l.datum(), &r)?
                    }
                }
            };
            Val::from_kernel(out, scalar)
        }
        Node::Neg(e) => map_array(eval(e, batch)?, |a| numeric::neg_wrapping(a))?,
        Node::Cast { expr, to } => {
            let to = to.arrow_type();
            map_array(eval(expr, batch)?, move |a| {
                cast_with_options(a, &to, &safe_cast())
            })?
        }
        Node::Call { func, args, .. } => call(*func, args, batch)?,
    })
}

/// Applies a one-column kernel, keeping constants constant.
fn map_array(
    v: Val,
    f: impl FnOnce(&dyn Array) -> Result<ArrayRef, ArrowError>,
) -> Result<Val, ArrowError> {
    Ok(match v {
        Val::Array(a) => Val::Array(f(a.as_ref())?),
        Val::Scalar(s) => Val::Scalar(Scalar::new(f(s.into_inner().as_ref())?)),
    })
}

fn strings(a: &dyn Array, f: impl Fn(&str) -> String) -> ArrayRef {
    let s = a.as_string::<i32>();
    Arc::new(s.iter().map(|v| v.map(&f)).collect::<StringArray>())
}

fn call(func: Func, args: &[Node], batch: &RecordBatch) -> Result<Val, ArrowError> {
    let len = batch.num_rows();
    let mut vals = Vec::with_capacity(args.len());
    for a in args {
        vals.push(eval(a, batch)?);
    }
    let all_scalar = vals.iter().all(Val::is_scalar);
    let n = if all_scalar { 1 } else { len };
    let mut it = vals.into_iter();
    let mut first = || {
        it.next()
            .ok_or_else(|| ArrowError::InvalidArgumentError("missing argument".into()))
    };
    Ok(match func {
        Func::Coalesce => {
            let mut result = first()?.into_array(n)?;
            for v in it {
                if result.null_count() == 0 {
                    break;
                }
                let present = boolean::is_not_null(&result)?;
                result = zip::zip(&present, &result, v.datum())?;
            }
            Val::from_kernel(result, all_scalar)
        }
        Func::Lower => map_array(first()?, |a| Ok(strings(a, str::to_lowercase)))?,
        Func::Upper => map_array(first()?, |a| Ok(strings(a, str::to_uppercase)))?,
        Func::Trim => map_array(first()?, |a| Ok(strings(a, |s| s.trim().to_string())))?,
        Func::Ltrim => map_array(first()?, |a| Ok(strings(a, |s| s.trim_start().to_string())))?,
        Func::Rtrim => map_array(first()?, |a| Ok(strings(a, |s| s.trim_end().to_string())))?,
        Func::Length => map_array(first()?, |a| {
            let s = a.as_string::<i32>();
            Ok(Arc::new(
                s.iter()
                    .map(|v| v.map(|s| s.chars().count() as i64))
                    .collect::<Int64Array>(),
            ))
        })?,
        Func::Concat => {
            let mut acc = first()?.into_array(n)?;
            for v in it {
                let v = v.into_array(n)?;
                acc = Arc::new(
                    arrow::compute::kernels::concat_elements::concat_elements_utf8(
                        acc.as_string::<i32>(),
                        v.as_string::<i32>(),
                    )?,
                );
            }
            Val::from_kernel(acc, all_scalar)
        }
        Func::Round => {
            let x = first()?;
            let digits = match args.get(1) {
                Some(Node::Literal(Lit::Int(d))) => *d as i32,
                _ => 0,
            };
            map_array(x, move |a| round(a, digits))?
        }
        Func::Abs => map_array(first()?, |a| {
            Ok(match a.data_type() {
                arrow::datatypes::DataType::Int64 => Arc::new(
                    a.as_primitive::<Int64Type>()
                        .unary::<_, Int64Type>(|v| v.wrapping_abs()),
                ) as ArrayRef,
                _ => Arc::new(
                    a.as_primitive::<Float64Type>()
                        .unary::<_, Float64Type>(f64::abs),
                ),
            })
        })?,
        Func::IsFinite => map_array(first()?, |a| {
            Ok(Arc::new(
                a.as_primitive::<Float64Type>()
                    .iter()
                    .map(|v| v.map(f64::is_finite))
                    .collect::<BooleanArray>(),
            ))
        })?,
        Func::ToTimestamp | Func::ToDate => {
            // The checker compiles these into casts.
            return Err(ArrowError::InvalidArgumentError(
                "to_timestamp/to_date reached evaluation uncompiled".into(),
            ));
        }
    })
}

/// Rounds half away from zero to `digits` decimal places (negative: tens, hundreds, …).
fn round(a: &dyn Array, digits: i32) -> Result<ArrayRef, ArrowError> {
    Ok(match a.data_type() {
        arrow::datatypes::DataType::Int64 => {
            if digits >= 0 {
                return Ok(Arc::new(a.as_primitive::<Int64Type>().clone()));
            }
            let f = 10i64.pow(digits.unsigned_abs());
            Arc::new(
                a.as_primitive::<Int64Type>()
                    .unary::<_, Int64Type>(move |v| {
                        let q = v / f;
                        let r = v % f;
                        let q = if r.abs() * 2 >= f { q + r.signum() } else { q };
                        q.wrapping_mul(f)
                    }),
            )
        }
        _ => {
            let f = 10f64.powi(digits);
            Arc::new(
                a.as_primitive::<Float64Type>()
                    .unary::<_, Float64Type>(move |v| (v * f).round() / f),
            )
        }
    })
}
