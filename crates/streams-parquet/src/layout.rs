//! Paths of the Parquet dataset, and the pure naming rules of published files.

use std::path::{Path, PathBuf};

/// `<output-dir>/<app-id>/<table>`.
pub fn table_dir(output_dir: &Path, app_id: &str, table: &str) -> PathBuf {
    output_dir.join(app_id).join(table)
}

/// `<table-dir>/event_date=YYYY-MM-DD`.
pub fn partition_dir(table_dir: &Path, date: &str) -> PathBuf {
    table_dir.join(format!("event_date={date}"))
}

/// Name of a published file holding epochs `first..=last` of one task.
pub fn part_name(first: u64, last: u64, task: u32) -> String {
    format!("part-{first:020}-{last:020}-{task:04}.parquet")
}

/// Parses [`part_name`]: `(first, last, task)`.
pub fn parse_part_name(name: &str) -> Option<(u64, u64, u32)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let mut it = rest.split('-');
    let first = it.next()?.parse().ok()?;
    let last = it.next()?.parse().ok()?;
    let task = it.next()?.parse().ok()?;
    if it.next().is_some() || first > last {
        return None;
    }
    Some((first, last, task))
}

/// Name of the hidden file a task stages from `first_epoch` on, until it is published.
pub fn staged_name(first_epoch: u64, task: u32) -> String {
    format!(".part-{first_epoch:020}-{task:04}.parquet.inprogress")
}

/// Whether `name` is a file staged by [`staged_name`] (a crash leaves it behind).
pub fn is_staged(name: &str) -> bool {
    name.starts_with(".part-") && name.ends_with(".inprogress")
}

/// Hidden files (names starting with `.` or `_`) are skipped by Spark, pyarrow and DuckDB.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip_and_sort_by_epoch() {
        let a = part_name(5, 9, 0);
        assert_eq!(
            a,
            "part-00000000000000000005-00000000000000000009-0000.parquet"
        );
        assert_eq!(parse_part_name(&a), Some((5, 9, 0)));
        assert!(part_name(10, 10, 0) > a);
        for bad in [
            "part-1-2.parquet",
            "part-9-5-0.parquet",
            "x.parquet",
            "part-1-2-0.parquet.tmp",
            "part-a-2-0.parquet",
        ] {
            assert_eq!(parse_part_name(bad), None, "{bad}");
        }
        assert!(is_hidden(".part-1.tmp") && is_hidden("_SUCCESS") && !is_hidden(&a));
        let staged = staged_name(5, 0);
        assert!(is_hidden(&staged) && is_staged(&staged) && !is_staged(&a));
        assert_eq!(parse_part_name(&staged), None);
    }
}
