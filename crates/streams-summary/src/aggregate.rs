//! The pure part: aggregate, rank, premium summary and the quality checks.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

/// One row of `daily_segment_metrics`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentRow {
    /// Country.
    pub country: String,
    /// Segment.
    pub segment: String,
    /// Sum of revenue.
    pub daily_revenue: f64,
    /// Sum of events.
    pub daily_events: i64,
    /// Sum of purchases.
    pub daily_purchases: i64,
    /// From the segments dimension (missing → false).
    pub is_premium: bool,
    /// Row number by revenue desc, then segment asc, within the country.
    pub revenue_rank_in_country: i64,
}

/// One row of `premium_summary`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PremiumRow {
    /// Country.
    pub country: String,
    /// Premium or not.
    pub is_premium: bool,
    /// Sum of revenue.
    pub total_revenue: f64,
    /// Sum of events.
    pub total_events: i64,
}

/// Totals of the input, for reconciliation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct InputTotals {
    /// Input rows (windows).
    pub rows: u64,
    /// Sum of revenue.
    pub revenue: f64,
    /// Sum of events.
    pub events: i64,
}

/// Sums `(revenue, events, purchases)` per country, then segment.
pub type Acc = HashMap<String, HashMap<String, (f64, i64, i64)>>;

/// Sums per (country, segment) of `(country, segment, events, purchases, revenue)` rows.
/// `totals` sums the input independently of `acc`, so the checks can reconcile the two.
pub fn aggregate<'a>(
    rows: impl Iterator<Item = (&'a str, &'a str, i64, i64, f64)>,
    acc: &mut Acc,
    totals: &mut InputTotals,
) {
    for (country, segment, events, purchases, revenue) in rows {
        totals.rows += 1;
        totals.revenue += revenue;
        totals.events += events;
        // Keys are few (countries × segments): allocate only for a new one.
        let segments = match acc.get_mut(country) {
            Some(m) => m,
            None => acc.entry(country.to_string()).or_default(),
        };
        let e = match segments.get_mut(segment) {
            Some(e) => e,
            None => segments.entry(segment.to_string()).or_insert((0.0, 0, 0)),
        };
        e.0 += revenue;
        e.1 += events;
        e.2 += purchases;
    }
}

/// Ranks segments within each country: revenue desc, then segment asc (a row number, so
/// ties get distinct ranks). Rows come out sorted by country, then rank.
pub fn rank(acc: Acc, premium: &HashMap<String, bool>) -> Vec<SegmentRow> {
    let mut rows: Vec<SegmentRow> = acc
        .into_iter()
        .flat_map(|(country, segments)| {
            segments
                .into_iter()
                .map(move |(segment, sums)| (country.clone(), segment, sums))
        })
        .map(|(country, segment, (rev, ev, pu))| SegmentRow {
            is_premium: premium.get(&segment).copied().unwrap_or(false),
            country,
            segment,
            daily_revenue: rev,
            daily_events: ev,
            daily_purchases: pu,
            revenue_rank_in_country: 0,
        })
        .collect();
    rows.sort_by(|a, b| {
        a.country
            .cmp(&b.country)
            .then(b.daily_revenue.total_cmp(&a.daily_revenue))
            .then(a.segment.cmp(&b.segment))
    });
    let mut current = String::new();
    let mut n = 0;
    for r in &mut rows {
        if r.country != current {
            current = r.country.clone();
            n = 0;
        }
        n += 1;
        r.revenue_rank_in_country = n;
    }
    rows
}

/// Totals per (country, is_premium), sorted.
pub fn premium_summary(rows: &[SegmentRow]) -> Vec<PremiumRow> {
    let mut m: BTreeMap<(String, bool), (f64, i64)> = BTreeMap::new();
    for r in rows {
        let e = m
            .entry((r.country.clone(), r.is_premium))
            .or_insert((0.0, 0));
        e.0 += r.daily_revenue;
        e.1 += r.daily_events;
    }
    m.into_iter()
        .map(
            |((country, is_premium), (total_revenue, total_events))| PremiumRow {
                country,
                is_premium,
                total_revenue,
                total_events,
            },
        )
        .collect()
}

/// One quality check and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Whether it holds.
    pub ok: bool,
    /// Details when it does not.
    pub detail: String,
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// The checks of DESIGN §6: revenue and events reconcile with the input (both tables),
/// no duplicate keys, ranks are 1..n per country.
pub fn check(input: &InputTotals, rows: &[SegmentRow], premium: &[PremiumRow]) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut push = |name: &str, ok: bool, detail: String| {
        checks.push(Check {
            name: name.into(),
            ok,
            detail: if ok { String::new() } else { detail },
        })
    };
    let outputs = [
        (
            "segment",
            rows.iter().map(|r| r.daily_revenue).sum::<f64>(),
            rows.iter().map(|r| r.daily_events).sum::<i64>(),
        ),
        (
            "premium",
            premium.iter().map(|r| r.total_revenue).sum::<f64>(),
            premium.iter().map(|r| r.total_events).sum::<i64>(),
        ),
    ];
    for (table, rev, ev) in outputs {
        push(
            &format!("{table} revenue = input revenue"),
            close(rev, input.revenue),
            format!("{rev} vs {}", input.revenue),
        );
        push(
            &format!("{table} events = input events"),
            ev == input.events,
            format!("{ev} vs {}", input.events),
        );
    }
    let mut keys: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.country.as_str(), r.segment.as_str()))
        .collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    push(
        "no duplicate (country, segment)",
        keys.len() == n,
        format!("{} duplicates", n - keys.len()),
    );
    let mut by_country: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for r in rows {
        by_country
            .entry(&r.country)
            .or_default()
            .push(r.revenue_rank_in_country);
    }
    let bad: Vec<&str> = by_country
        .iter()
        .filter(|(_, ranks)| {
            let mut r = (*ranks).clone();
            r.sort();
            r != (1..=r.len() as i64).collect::<Vec<_>>()
        })
        .map(|(c, _)| *c)
        .collect();
    push(
        "ranks are 1..n per country",
        bad.is_empty(),
        format!("countries {}", bad.join(", ")),
    );
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(rows: &[(&str, &str, i64, i64, f64)]) -> (Acc, InputTotals) {
        let mut a = HashMap::new();
        let mut t = InputTotals::default();
        aggregate(rows.iter().copied(), &mut a, &mut t);
        (a, t)
    }

    #[test]
    fn ranking_table_with_ties_and_unknown_segments() {
        let premium: HashMap<String, bool> = [("premium".to_string(), true)].into();
        let (a, t) = acc(&[
            ("US", "standard", 10, 1, 5.0),
            ("US", "premium", 3, 1, 20.0),
            ("US", "basic", 4, 0, 5.0), // ties with standard: basic < standard
            ("US", "standard", 2, 1, 15.0),
            ("DE", "unknown", 1, 0, 0.0),
        ]);
        let rows = rank(a, &premium);
        let got: Vec<(&str, &str, f64, i64, bool, i64)> = rows
            .iter()
            .map(|r| {
                (
                    r.country.as_str(),
                    r.segment.as_str(),
                    r.daily_revenue,
                    r.daily_events,
                    r.is_premium,
                    r.revenue_rank_in_country,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("DE", "unknown", 0.0, 1, false, 1),
                ("US", "premium", 20.0, 3, true, 1),
                ("US", "standard", 20.0, 12, false, 2),
                ("US", "basic", 5.0, 4, false, 3),
            ]
        );
        let p = premium_summary(&rows);
        assert_eq!(p.len(), 3);
        assert_eq!(
            (
                p[2].country.as_str(),
                p[2].is_premium,
                p[2].total_revenue,
                p[2].total_events
            ),
            ("US", true, 20.0, 3)
        );
        assert!(check(&t, &rows, &p).iter().all(|c| c.ok));
    }

    #[test]
    fn checks_catch_a_broken_output() {
        let (a, t) = acc(&[("US", "a", 1, 0, 1.0), ("US", "b", 1, 0, 2.0)]);
        let mut rows = rank(a, &HashMap::new());
        rows[1].revenue_rank_in_country = 1;
        rows.push(rows[0].clone());
        let p = premium_summary(&rows);
        let failed: Vec<String> = check(&t, &rows, &p)
            .into_iter()
            .filter(|c| !c.ok)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            failed,
            vec![
                "segment revenue = input revenue",
                "segment events = input events",
                "premium revenue = input revenue",
                "premium events = input events",
                "no duplicate (country, segment)",
                "ranks are 1..n per country"
            ]
        );
    }
}
