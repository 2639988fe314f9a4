//! The command line as a user meets it: every subcommand's `--help` is complete, a wrong
//! flag is a one-line usage error (exit 2), and an unreachable broker is a one-line
//! error (exit 1) for every command that talks to Kafka.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/common/mod.rs"]
mod common;

/// Every runnable subcommand path (`["topics", "create"]`, ...), with its definition.
fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        out.push((path, cmd.clone()));
        return;
    }
    for s in subs {
        let mut p = path.clone();
        p.push(s.get_name().to_string());
        leaves(s, p, out);
    }
}

fn all_leaves() -> Vec<(Vec<String>, clap::Command)> {
    let mut out = Vec::new();
    let mut root = streams_app::command();
    root.build();
    leaves(&root, Vec::new(), &mut out);
    out
}

fn run(args: &[String]) -> std::process::Output {
    common::app_cmd("off").args(args).output().unwrap()
}

#[test]
fn every_subcommand_is_documented_and_its_help_lists_every_flag() {
    let leaves = all_leaves();
    let names: Vec<String> = leaves.iter().map(|(p, _)| p.join(" ")).collect();
    for want in [
        "run",
        "replay",
        "reset-state",
        "daily-summary",
        "produce",
        "topics create",
        "topics list",
        "demo",
        "bench engine",
        "bench summary",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "{want} missing from {names:?}"
        );
    }
    for (path, cmd) in &leaves {
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert!(
            !about.trim().is_empty(),
            "`{}` has no description",
            path.join(" ")
        );
        let mut args = path.clone();
        args.push("--help".into());
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let help = String::from_utf8(o.stdout).unwrap();
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let text = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(
                text.trim().len() > 10,
                "`{}`: flag {id} has no real help text",
                path.join(" ")
            );
            let long = a.get_long().expect("every flag has a long name");
            assert!(
                help.contains(&format!("--{long}")),
                "`{} --help` does not show --{long}",
                path.join(" ")
            );
            if let Some(env) = a.get_env() {
                assert!(
                    help.contains(&*env.to_string_lossy()),
                    "`{} --help` does not show the variable of --{long}",
                    path.join(" ")
                );
            }
        }
    }
}

#[test]
fn every_flag_of_a_kafka_command_reads_an_environment_variable() {
    for (path, cmd) in all_leaves() {
        if path[0] == "bench" {
            continue;
        }
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert!(
                a.get_env().is_some(),
                "`{}`: --{} has no environment variable",
                path.join(" "),
                a.get_long().unwrap_or(id)
            );
        }
    }
}

#[test]
fn a_wrong_flag_is_a_one_line_usage_error() {
    for (path, _) in all_leaves() {
        let mut args = path.clone();
        args.push("--no-such-flag".into());
        let o = run(&args);
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(
            err.starts_with("error: ") && err.contains("--no-such-flag"),
            "{err}"
        );
    }
    // A bad value names the flag and what is wrong with it.
    for (args, needle) in [
        (vec!["produce", "--rate", "fast"], "--rate"),
        (vec!["produce", "--duplicates", "1.5"], "between 0 and 1"),
        (
            vec!["topics", "create", "--partitions", "0"],
            "--partitions",
        ),
        (
            vec!["daily-summary", "--app-id", "a", "--daily-at", "25:00"],
            "time of day",
        ),
        (vec!["run"], "--app-id"),
        (vec!["nonsense"], "nonsense"),
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let o = run(&args);
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn an_unreachable_broker_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = dir.path().join("data");
    let topology = common::topology();
    let dims = common::repo().join("topology/dims");
    let (state, out, topology, dims) = (
        state.to_str().unwrap(),
        out.to_str().unwrap(),
        topology.to_str().unwrap(),
        dims.to_str().unwrap(),
    );
    let broker = [
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--connect-timeout",
        "2s",
    ];
    let app = |cmd: &'static str| -> Vec<&str> {
        let mut args = vec![cmd, "--app-id", "a", "--state-dir", state];
        if cmd != "reset-state" {
            args.extend(["--output-dir", out]);
        }
        args.extend(["--topology", topology]);
        args
    };
    let cases: Vec<Vec<&str>> = vec![
        app("run"),
        app("replay"),
        app("reset-state"),
        vec!["produce", "--count", "10", "--dims-dir", dims],
        vec!["topics", "create", "--topology", topology],
        vec!["topics", "list"],
    ];
    for mut args in cases {
        args.extend(broker);
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let o = run(&args);
        let err = String::from_utf8(o.stderr).unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(
            err.starts_with("error: ") && err.contains("cannot reach Kafka at 127.0.0.1:1"),
            "{args:?}: {err}"
        );
    }
}
