//! `bench engine` and `bench summary` run as the real binary on small inputs: they
//! finish, account for every record, and print their numbers (the numbers themselves
//! are reported by hand, never asserted).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::{app_cmd, ledger, repo};

#[test]
fn bench_engine_accounts_for_every_record() {
    let o = app_cmd("warn")
        .current_dir(repo())
        .args(["bench", "engine", "--events", "20000", "--users", "500"])
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("throughput"), "{out}");
    assert!(out.contains("peak RSS"), "{out}");
    // `ledger` also asserts consumed = accepted + duplicate + dead_lettered.
    let l = ledger(&out);
    assert_eq!(l["consumed"], 20_000);
    let clean: u64 = out
        .lines()
        .find(|l| l.contains("rows events_clean"))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        clean, l["accepted"],
        "every accepted event is one events_clean row"
    );
}

/// The memory benchmark's mode: the input generated while processing, every user's
/// session open at the end of input (the input spans 2 s of event time, the gap is 30 s).
#[test]
fn bench_engine_with_input_generated_on_the_fly() {
    let o = app_cmd("warn")
        .current_dir(repo())
        .args([
            "bench",
            "engine",
            "--events",
            "20000",
            "--users",
            "300",
            "--rate",
            "10000",
            "--stream-input",
        ])
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let l = ledger(&out);
    assert_eq!(l["consumed"], 20_000);
    assert!(out.contains("RSS at end of input"), "{out}");
    assert!(out.contains("the engine's own"), "{out}");
    let number = |starts: &str, table: &str| -> u64 {
        out.lines()
            .find(|l| l.trim_start().starts_with(starts) && l.contains(table))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("no `{starts} {table}` in {out}"))
            .parse()
            .unwrap()
    };
    // Every session was still open when the input ended: the end of input emitted them
    // all.
    let sessions = number("rows", "user_sessions");
    assert!(sessions > 250, "{out}");
    assert_eq!(number("open at end", "user_sessions"), sessions, "{out}");
}

#[test]
fn bench_summary_runs_every_day() {
    let o = app_cmd("warn")
        .current_dir(repo())
        .args(["bench", "summary", "--rows", "20000", "--days", "3"])
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    // The benchmark fails when any day's summary fails one of its own checks.
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("20000 rows over 3 days"), "{out}");
    assert!(
        out.contains("seconds per day") && out.contains("rows/s"),
        "{out}"
    );
}
