//! `bench engine` and `bench summary` run as the real binary on small inputs: they
//! finish, account for every record, and print their numbers (the numbers themselves
//! are reported by hand, never asserted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{bin, repo};

#[test]
fn bench_engine_accounts_for_every_record() {
    let o = Command::new(bin())
        .current_dir(repo())
        .args(["bench", "engine", "--events", "20000", "--users", "500"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("throughput"), "{out}");
    assert!(out.contains("peak RSS"), "{out}");
    let ledger = out
        .lines()
        .find(|l| l.trim_start().starts_with("ledger"))
        .unwrap_or_else(|| panic!("no ledger: {out}"));
    let get = |k: &str| -> u64 {
        ledger
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} missing: {ledger}"))
            .parse()
            .unwrap()
    };
    assert_eq!(get("consumed"), 20_000);
    assert_eq!(
        get("consumed"),
        get("accepted") + get("duplicate") + get("dead_lettered")
    );
    let clean: u64 = out
        .lines()
        .find(|l| l.contains("rows events_clean"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        clean,
        get("accepted"),
        "every accepted event is one events_clean row"
    );
}

#[test]
fn bench_summary_runs_every_day() {
    let o = Command::new(bin())
        .current_dir(repo())
        .args(["bench", "summary", "--rows", "20000", "--days", "3"])
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("20000 rows over 3 days"), "{out}");
    assert!(
        out.contains("seconds per day") && out.contains("rows/s"),
        "{out}"
    );
}
