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

/// A partition directory `name=value/...` (Hive's layout, which Spark, pyarrow, pandas
/// and DuckDB read): values are percent-escaped where a path would break (`/`, `=`, `%`,
/// `:`, control characters…); NULL is `__HIVE_DEFAULT_PARTITION__`.
pub fn partition_path(parts: &[(&str, Option<String>)]) -> String {
    parts
        .iter()
        .map(|(name, value)| match value {
            Some(v) => format!("{name}={}", escape_partition_value(v)),
            None => format!("{name}=__HIVE_DEFAULT_PARTITION__"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Escapes a partition value as Hive does (the characters it escapes, as `%XX`).
pub fn escape_partition_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        let special = c.is_control()
            || matches!(
                c,
                '"' | '#'
                    | '%'
                    | '\''
                    | '*'
                    | '/'
                    | ':'
                    | '='
                    | '?'
                    | '\\'
                    | '\u{7f}'
                    | '{'
                    | '['
                    | ']'
                    | '^'
            );
        if special {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out.is_empty() {
        // An empty directory name is not a path; Hive writes empty strings as NULL.
        return "__HIVE_DEFAULT_PARTITION__".into();
    }
    out
}

/// Reads `name=value` directory names back (the inverse of [`partition_path`]).
pub fn parse_partition_path(rel: &str) -> Option<Vec<(String, Option<String>)>> {
    if rel.is_empty() {
        return Some(Vec::new());
    }
    rel.split('/')
        .map(|seg| {
            let (name, value) = seg.split_once('=')?;
            if name.is_empty() {
                return None;
            }
            if value == "__HIVE_DEFAULT_PARTITION__" {
                return Some((name.to_string(), None));
            }
            Some((name.to_string(), Some(unescape(value)?)))
        })
        .collect()
}

fn unescape(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = v.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Name of a published file holding epochs `first..=last` of one task.
pub fn part_name(first: u64, last: u64, task: u32) -> String {
    part_name_with(first, last, task, "parquet")
}

/// [`part_name`] with another extension (`csv`).
pub fn part_name_with(first: u64, last: u64, task: u32, ext: &str) -> String {
    format!("part-{first:020}-{last:020}-{task:04}.{ext}")
}

/// Parses [`part_name`] (any of the sink's extensions): `(first, last, task)`.
pub fn parse_part_name(name: &str) -> Option<(u64, u64, u32)> {
    let rest = name.strip_prefix("part-")?;
    let rest = rest
        .strip_suffix(".parquet")
        .or_else(|| rest.strip_suffix(".csv"))?;
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
    staged_name_with(first_epoch, task, "parquet")
}

/// [`staged_name`] with another extension (`csv`).
pub fn staged_name_with(first_epoch: u64, task: u32, ext: &str) -> String {
    format!(".part-{first_epoch:020}-{task:04}.{ext}.inprogress")
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
    fn partition_paths_round_trip_and_escape_like_hive() {
        let cases: &[(&[(&str, Option<&str>)], &str)] = &[
            (
                &[("event_date", Some("2026-01-01"))],
                "event_date=2026-01-01",
            ),
            (
                &[("country", Some("US")), ("event_date", Some("2026-01-01"))],
                "country=US/event_date=2026-01-01",
            ),
            (&[("page", Some("/home"))], "page=%2Fhome"),
            (&[("k", Some("a=b:c%"))], "k=a%3Db%3Ac%25"),
            (&[("k", None)], "k=__HIVE_DEFAULT_PARTITION__"),
            (&[], ""),
        ];
        for (parts, want) in cases {
            let owned: Vec<(&str, Option<String>)> = parts
                .iter()
                .map(|(n, v)| (*n, v.map(str::to_string)))
                .collect();
            let path = partition_path(&owned);
            assert_eq!(&path, want);
            let back = parse_partition_path(&path).unwrap();
            let expect: Vec<(String, Option<String>)> = parts
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
                .collect();
            assert_eq!(back, expect);
        }
        assert_eq!(
            partition_path(&[("k", Some(String::new()))]),
            "k=__HIVE_DEFAULT_PARTITION__"
        );
        assert_eq!(parse_partition_path("noequals"), None);
        assert_eq!(parse_partition_path("k=%G1"), None);
    }

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
