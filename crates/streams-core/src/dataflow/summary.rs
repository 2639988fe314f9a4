//! Summaries: a batch computation over a table's rows, as a topology declares it
//! (optional dimension join, group-by expressions, measures with the streaming aggregate
//! functions, an optional rank). Pure: the summary job reads the rows and writes the
//! result (`streams-summary`).

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
}

/// A compiled summary: input schema → output rows.
pub struct Summary {
    join: Option<LookupJoin>,
    group: Vec<CompiledExpr>,
    group_types: Vec<ColumnType>,
    measures: Vec<AggSpec>,
    rank: Option<(Vec<usize>, Vec<(usize, bool)>)>,
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
                schema: schema.clone(),
            },
            schema,
        ))
    }

    /// Runs the summary over the input batches: one row per group, in group order (then
    /// ranked, if asked).
    pub fn run(&mut self, input: Vec<RecordBatch>) -> Result<RecordBatch, CoreError> {
        let mut groups: BTreeMap<Vec<KeyPart>, Vec<Accumulator>> = BTreeMap::new();
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
        rows_to_record_batch(&self.schema, &rows).map_err(CoreError::arrow)
    }
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
