//! Summaries: a batch computation over a table's rows, as a topology declares it
//! (optional dimension join, group-by expressions, measures with the streaming aggregate
//! functions, an optional rank, declared reconciliations). Pure: the summary job reads
//! the rows and writes the result (`streams-summary`). Every run checks its own output:
//! one row per group, ranks 1..n in each partition, and each declared reconciliation
//! (the sum of an output column equals the sum of an input column, summed separately
//! from the input rows as they were read).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};

use super::aggregate::{Accumulator, AggDef, AggSpec};
use super::keys::key_part;
use super::{Context, DimTable, LookupJoin, LookupJoinSpec, NodeCounters, Processor};
use crate::batch::{rows_to_record_batch, Batch, Origin};
use crate::error::CoreError;
use crate::expr::CompiledExpr;
use crate::value::{Column, ColumnType, KeyPart, Row, Schema, Value};

/// A rank column: the row number within each partition, in `order_by` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankSpec {
    /// Output column.
    pub name: String,
    /// Columns of the summary that delimit the ranking (e.g. `country`).
    pub partition_by: Vec<String>,
    /// Columns of the summary with their direction (`true`: descending), first decides.
    pub order_by: Vec<(String, bool)>,
}

/// A declared summary.
#[derive(Debug, Clone)]
pub struct SummarySpec {
    /// Its name (output table).
    pub name: String,
    /// Group-by expressions, each `column` or `expr AS name`.
    pub group_by: Vec<String>,
    /// Measures (aggregate columns).
    pub measures: Vec<AggDef>,
    /// A dimension table joined to the input rows before grouping.
    pub join: Option<(Arc<DimTable>, LookupJoinSpec)>,
    /// An optional rank over the result rows.
    pub rank: Option<RankSpec>,
    /// Reconciliations `(output column, input column)`: the output column's sum must
    /// equal the input column's (after the join), e.g. `daily_revenue` and `revenue`.
    pub reconcile: Vec<(String, String)>,
}

/// One quality check of a summary's output and its outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it holds.
    pub ok: bool,
    /// Details when it does not.
    pub detail: String,
}

/// What a summary run produced.
#[derive(Debug, Clone)]
pub struct SummaryOutput {
    /// One row per group (ranked, if asked).
    pub rows: RecordBatch,
    /// Input rows read (after the join).
    pub input_rows: u64,
    /// The checks of the output against the input.
    pub checks: Vec<Check>,
}

/// A running total of a numeric column: integers exactly, floats as f64.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Total {
    Int(i64),
    Float(f64),
}

impl Total {
    fn zero(ty: ColumnType) -> Total {
        if ty == ColumnType::Int {
            Total::Int(0)
        } else {
            Total::Float(0.0)
        }
    }

    /// Adds the non-null values of `a` (an Int64 or Float64 array).
    fn add(&mut self, a: &dyn arrow::array::Array) {
        use arrow::array::AsArray;
        use arrow::datatypes::{Float64Type, Int64Type};
        match self {
            Total::Int(t) => {
                if let Some(a) = a.as_primitive_opt::<Int64Type>() {
                    *t = a.iter().flatten().fold(*t, i64::wrapping_add);
                }
            }
            Total::Float(t) => {
                if let Some(a) = a.as_primitive_opt::<Float64Type>() {
                    *t += a.iter().flatten().sum::<f64>();
                } else if let Some(a) = a.as_primitive_opt::<Int64Type>() {
                    *t += a.iter().flatten().map(|v| v as f64).sum::<f64>();
                }
            }
        }
    }

    /// Equal: integers exactly, floats within a relative 1e-9 (summation order differs).
    fn agrees(self, other: Total) -> bool {
        let (a, b) = match (self, other) {
            (Total::Int(a), Total::Int(b)) => return a == b,
            (Total::Int(a), Total::Float(b)) | (Total::Float(b), Total::Int(a)) => (a as f64, b),
            (Total::Float(a), Total::Float(b)) => (a, b),
        };
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }
}

impl std::fmt::Display for Total {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Total::Int(v) => write!(f, "{v}"),
            Total::Float(v) => write!(f, "{v}"),
        }
    }
}

/// A compiled summary: input schema → output rows.
pub struct Summary {
    join: Option<LookupJoin>,
    group: Vec<CompiledExpr>,
    group_types: Vec<ColumnType>,
    measures: Vec<AggSpec>,
    rank: Option<(Vec<usize>, Vec<(usize, bool)>)>,
    /// `(output column index, input column index, input type, input name)` each.
    reconcile: Vec<(usize, usize, ColumnType, String)>,
    schema: Schema,
}

impl Summary {
    /// Checks `spec` against the input table's columns (partition columns included);
    /// returns the summary and its output schema, or every problem.
    pub fn compile(spec: &SummarySpec, input: &Schema) -> Result<(Summary, Schema), Vec<String>> {
        let mut errors = Vec::new();
        let (join, rows_schema) = match &spec.join {
            None => (None, input.clone()),
            Some((table, j)) => match LookupJoin::compile(j, table, input) {
                Ok((p, s)) => (Some(p), s),
                Err(es) => return Err(es.into_iter().map(|e| format!("join: {e}")).collect()),
            },
        };
        let (group, mut columns) =
            super::window::compile_group_by(&spec.group_by, &rows_schema, &mut errors);
        let group_types: Vec<ColumnType> = columns.iter().map(|c| c.ty).collect();
        let mut measures = Vec::new();
        if spec.measures.is_empty() {
            errors.push("`measures` is empty: declare at least one".into());
        }
        for m in &spec.measures {
            match AggSpec::compile(m, &rows_schema) {
                Ok(a) => {
                    columns.push(a.column());
                    measures.push(a);
                }
                Err(es) => errors.extend(es),
            }
        }
        let mut schema = Schema { columns };
        let rank = match &spec.rank {
            None => None,
            Some(r) => {
                let mut part = Vec::new();
                for p in &r.partition_by {
                    match schema.index_of(p) {
                        Some(i) => part.push(i),
                        None => errors.push(format!(
                            "rank: partition_by `{p}` is not a column of the summary"
                        )),
                    }
                }
                let mut order = Vec::new();
                for (o, desc) in &r.order_by {
                    match schema.index_of(o) {
                        Some(i) => order.push((i, *desc)),
                        None => errors.push(format!(
                            "rank: order_by `{o}` is not a column of the summary"
                        )),
                    }
                }
                schema.columns.push(Column::new(&r.name, ColumnType::Int));
                Some((part, order))
            }
        };
        let numeric = |t: ColumnType| matches!(t, ColumnType::Int | ColumnType::Float);
        let mut reconcile = Vec::new();
        for (out, inp) in &spec.reconcile {
            let o = schema
                .index_of(out)
                .filter(|&i| numeric(schema.columns[i].ty));
            let i = rows_schema
                .index_of(inp)
                .filter(|&i| numeric(rows_schema.columns[i].ty));
            if o.is_none() {
                errors.push(format!(
                    "reconcile: `{out}` is not a numeric column of the summary"
                ));
            }
            if i.is_none() {
                errors.push(format!(
                    "reconcile: `{inp}` is not a numeric column of the input"
                ));
            }
            if let (Some(o), Some(i)) = (o, i) {
                reconcile.push((o, i, rows_schema.columns[i].ty, inp.clone()));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for c in &schema.columns {
            if !seen.insert(c.name.clone()) {
                errors.push(format!("column `{}` is defined twice", c.name));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok((
            Summary {
                join,
                group,
                group_types,
                measures,
                rank,
                reconcile,
                schema: schema.clone(),
            },
            schema,
        ))
    }

    /// Runs the summary over the input batches: one row per group, in group order (then
    /// ranked, if asked), and checks the result against the input.
    pub fn run(&mut self, input: Vec<RecordBatch>) -> Result<SummaryOutput, CoreError> {
        let mut groups: BTreeMap<Vec<KeyPart>, Vec<Accumulator>> = BTreeMap::new();
        let mut input_totals: Vec<Total> =
            self.reconcile.iter().map(|r| Total::zero(r.2)).collect();
        let mut input_rows = 0u64;
        for data in input {
            let n = data.num_rows();
            let mut batch = Batch::new(
                data,
                vec![0; n],
                vec![i64::MIN; n],
                vec![
                    Origin {
                        partition: 0,
                        offset: 0
                    };
                    n
                ],
            )
            .map_err(CoreError::arrow)?;
            if let Some(j) = &mut self.join {
                let mut out = Vec::new();
                let mut counters = NodeCounters::default();
                let mut ctx = Context::new("join", &mut [], &mut out, &mut counters, i64::MIN);
                j.process(batch, &mut ctx)?;
                batch = match out.pop() {
                    Some(b) => b,
                    None => continue,
                };
            }
            input_rows += batch.len() as u64;
            for (t, &(_, i, ..)) in input_totals.iter_mut().zip(&self.reconcile) {
                t.add(batch.data().column(i).as_ref());
            }
            let keys: Vec<ArrayRef> = self
                .group
                .iter()
                .map(|g| g.eval(batch.data()))
                .collect::<Result<_, _>>()?;
            let prepared = self
                .measures
                .iter()
                .map(|m| m.prepare(batch.data()))
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..batch.len() {
                let key: Vec<KeyPart> = keys.iter().map(|a| key_part(a.as_ref(), row)).collect();
                let accs = groups
                    .entry(key)
                    .or_insert_with(|| self.measures.iter().map(|m| m.new_acc()).collect());
                for ((m, acc), p) in self.measures.iter().zip(accs.iter_mut()).zip(&prepared) {
                    m.update(
                        acc,
                        p,
                        row,
                        0,
                        Origin {
                            partition: 0,
                            offset: row as i64,
                        },
                    );
                }
            }
        }
        let mut rows: Vec<Row> = groups
            .into_iter()
            .map(|(key, accs)| {
                let mut row: Row = key
                    .iter()
                    .zip(&self.group_types)
                    .map(|(k, t)| k.to_value(*t))
                    .collect();
                row.extend(self.measures.iter().zip(&accs).map(|(m, a)| m.finish(a)));
                row
            })
            .collect();
        if let Some((part, order)) = &self.rank {
            rank(&mut rows, part, order);
        }
        let checks = self.check(&rows, &input_totals);
        Ok(SummaryOutput {
            rows: rows_to_record_batch(&self.schema, &rows).map_err(CoreError::arrow)?,
            input_rows,
            checks,
        })
    }

    /// The checks of the output rows, worked out from the rows themselves.
    fn check(&self, rows: &[Row], input_totals: &[Total]) -> Vec<Check> {
        let mut checks = Vec::new();
        let mut push = |name: String, ok: bool, detail: String| {
            checks.push(Check {
                name,
                ok,
                detail: if ok { String::new() } else { detail },
            })
        };
        for ((o, _, _, input_name), input) in self.reconcile.iter().zip(input_totals) {
            let o = *o;
            let ty = self.schema.columns[o].ty;
            let mut total = Total::zero(ty);
            for r in rows {
                match (&mut total, &r[o]) {
                    (Total::Int(t), Value::Int(v)) => *t = t.wrapping_add(*v),
                    (Total::Float(t), Value::Float(v)) => *t += v,
                    (Total::Float(t), Value::Int(v)) => *t += *v as f64,
                    _ => {}
                }
            }
            push(
                format!(
                    "sum({}) = sum({}) of the input",
                    self.schema.columns[o].name, input_name
                ),
                total.agrees(*input),
                format!("{total} vs {input}"),
            );
        }
        let groups = self.group.len();
        let mut keys: Vec<&[Value]> = rows.iter().map(|r| &r[..groups]).collect();
        keys.sort_by(|a, b| cmp_rows(a, b));
        let n = keys.len();
        keys.dedup_by(|a, b| cmp_rows(a, b).is_eq());
        push(
            "one row per group".into(),
            keys.len() == n,
            format!("{} duplicate groups", n - keys.len()),
        );
        if let Some((part, _)) = &self.rank {
            // (partition values, rank) sorted: each partition's ranks must read 1, 2, ...
            let r = self.schema.columns.len() - 1;
            let mut ranked: Vec<(Vec<Value>, Value)> = rows
                .iter()
                .map(|row| {
                    (
                        part.iter().map(|&p| row[p].clone()).collect(),
                        row[r].clone(),
                    )
                })
                .collect();
            ranked.sort_by(|a, b| cmp_rows(&a.0, &b.0).then(cmp_values(&a.1, &b.1)));
            let mut bad = 0;
            for (i, (p, n)) in ranked.iter().enumerate() {
                let first = i == 0 || cmp_rows(&ranked[i - 1].0, p).is_ne();
                let want = if first {
                    Value::Int(1)
                } else {
                    match &ranked[i - 1].1 {
                        Value::Int(prev) => Value::Int(prev + 1),
                        _ => Value::Null,
                    }
                };
                if *n != want {
                    bad += 1;
                }
            }
            push(
                format!("{} is 1..n in each partition", self.schema.columns[r].name),
                bad == 0,
                format!("{bad} rows break the 1..n order"),
            );
        }
        checks
    }
}

fn cmp_rows(a: &[Value], b: &[Value]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| cmp_values(x, y))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

fn cmp_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Float(x), Value::Float(y)) => x.total_cmp(y),
        (Value::Int(x), Value::Int(y)) | (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        (Value::Date(x), Value::Date(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Appends a row number within each partition, in order (ties keep group order).
fn rank(rows: &mut [Row], part: &[usize], order: &[(usize, bool)]) {
    rows.sort_by(|a, b| {
        for &p in part {
            let o = cmp_values(&a[p], &b[p]);
            if o.is_ne() {
                return o;
            }
        }
        for &(c, desc) in order {
            let o = cmp_values(&a[c], &b[c]);
            if o.is_ne() {
                return if desc { o.reverse() } else { o };
            }
        }
        std::cmp::Ordering::Equal
    });
    let mut n = 0i64;
    for i in 0..rows.len() {
        let same = i > 0
            && part
                .iter()
                .all(|&p| cmp_values(&rows[i][p], &rows[i - 1][p]).is_eq());
        n = if same { n + 1 } else { 1 };
        rows[i].push(Value::Int(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::aggregate::AggFn;

    fn input() -> (Schema, RecordBatch) {
        let schema = Schema {
            columns: vec![
                Column::new("country", ColumnType::Str),
                Column::new("segment", ColumnType::Str),
                Column::new("events", ColumnType::Int),
                Column::new("revenue", ColumnType::Float),
            ],
        };
        let s = |x: &str| Value::Str(x.into());
        let rows: Vec<Row> = [
            ("US", "a", 3, 1.5),
            ("US", "b", 2, 4.0),
            ("US", "a", 1, 0.25),
            ("DE", "a", 7, 2.0),
        ]
        .iter()
        .map(|&(c, g, e, r)| vec![s(c), s(g), Value::Int(e), Value::Float(r)])
        .collect();
        let batch = rows_to_record_batch(&schema, &rows).unwrap();
        (schema, batch)
    }

    fn spec(reconcile: &[(&str, &str)]) -> SummarySpec {
        let sum = |name: &str, expr: &str| AggDef {
            name: name.into(),
            func: AggFn::Sum,
            expr: Some(expr.into()),
            condition: None,
        };
        SummarySpec {
            name: "s".into(),
            group_by: vec!["country".into(), "segment".into()],
            measures: vec![sum("ev", "events"), sum("rev", "revenue")],
            join: None,
            rank: Some(RankSpec {
                name: "rank".into(),
                partition_by: vec!["country".into()],
                order_by: vec![("rev".into(), true)],
            }),
            reconcile: reconcile
                .iter()
                .map(|(o, i)| (o.to_string(), i.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_run_groups_ranks_and_passes_its_checks() {
        let (schema, batch) = input();
        let (mut s, out_schema) =
            Summary::compile(&spec(&[("ev", "events"), ("rev", "revenue")]), &schema).unwrap();
        let out = s.run(vec![batch.clone(), batch.slice(0, 1)]).unwrap();
        assert_eq!(out.input_rows, 5);
        let rows = crate::batch::record_batch_rows(&out.rows);
        let s_ = |x: &str| Value::Str(x.into());
        assert_eq!(
            out_schema
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["country", "segment", "ev", "rev", "rank"]
        );
        assert_eq!(
            rows,
            vec![
                vec![
                    s_("DE"),
                    s_("a"),
                    Value::Int(7),
                    Value::Float(2.0),
                    Value::Int(1)
                ],
                vec![
                    s_("US"),
                    s_("b"),
                    Value::Int(2),
                    Value::Float(4.0),
                    Value::Int(1)
                ],
                vec![
                    s_("US"),
                    s_("a"),
                    Value::Int(7),
                    Value::Float(3.25),
                    Value::Int(2)
                ],
            ]
        );
        let names: Vec<(&str, bool)> = out.checks.iter().map(|c| (c.name.as_str(), c.ok)).collect();
        assert_eq!(
            names,
            [
                ("sum(ev) = sum(events) of the input", true),
                ("sum(rev) = sum(revenue) of the input", true),
                ("one row per group", true),
                ("rank is 1..n in each partition", true),
            ]
        );
    }

    /// Each check catches the output it is there for: rows that do not add up to the
    /// input, a group twice, a rank out of order.
    #[test]
    fn checks_catch_broken_outputs() {
        let (schema, batch) = input();
        let (mut s, _) =
            Summary::compile(&spec(&[("ev", "events"), ("rev", "revenue")]), &schema).unwrap();
        let out = s.run(vec![batch]).unwrap();
        let good = crate::batch::record_batch_rows(&out.rows);
        let totals = [Total::Int(13), Total::Float(7.75)];
        let failed = |rows: &[Row]| -> Vec<String> {
            s.check(rows, &totals)
                .into_iter()
                .filter(|c| !c.ok)
                .map(|c| c.name)
                .collect()
        };
        assert!(failed(&good).is_empty());
        type Breakage = fn(&mut Vec<Row>);
        let table: [(&str, Breakage, &[&str]); 4] = [
            (
                "a row lost",
                |r| {
                    r.remove(0);
                },
                &[
                    "sum(ev) = sum(events) of the input",
                    "sum(rev) = sum(revenue) of the input",
                ],
            ),
            (
                "a value changed",
                |r| r[1][3] = Value::Float(4.5),
                &["sum(rev) = sum(revenue) of the input"],
            ),
            (
                "a group twice (its sums split)",
                |r| {
                    let mut extra = r[2].clone();
                    extra[2] = Value::Int(1);
                    r[2][2] = Value::Int(3);
                    extra[3] = Value::Float(0.0);
                    extra[4] = Value::Int(3);
                    r.push(extra);
                },
                &["one row per group"],
            ),
            (
                "ranks not 1..n",
                |r| r[2][4] = Value::Int(3),
                &["rank is 1..n in each partition"],
            ),
        ];
        for (what, breakage, want) in table {
            let mut rows = good.clone();
            breakage(&mut rows);
            assert_eq!(failed(&rows), want.to_vec(), "{what}");
        }
    }

    #[test]
    fn reconciliations_name_missing_or_non_numeric_columns() {
        let (schema, _) = input();
        let errs = Summary::compile(&spec(&[("country", "events"), ("rev", "nope")]), &schema)
            .err()
            .unwrap();
        assert_eq!(
            errs,
            [
                "reconcile: `country` is not a numeric column of the summary",
                "reconcile: `nope` is not a numeric column of the input",
            ]
        );
    }
}
