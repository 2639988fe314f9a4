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
        "describe",
        "validate",
        "status",
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

#[test]
fn describe_prints_the_graph_and_validate_accepts_the_reference() {
    let topology = common::repo().join("topology/clickstream.toml");
    let t = topology.display().to_string();
    let out = run(&["describe".into(), "--topology".into(), t.clone()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "source source: event_id string, user_id bigint,",
        "processor dedup (dedup: key event_id, retention 3600000 ms) <- source",
        "store dedup (Dedup)",
        "processor users (lookup_join: ",
        "processor enriched (map: event_date = to_date(event_ts); select ",
        "processor user_sessions (window_aggregate: session gap 30000 ms by user_id) <- enriched",
        "sink events_clean <- enriched (key: event_id)",
        "sink geo_device <- geo_device (key: country, device)",
        "table events_clean -> topic events_clean",
    ] {
        assert!(text.contains(want), "`{want}` missing from:\n{text}");
    }
    let out = run(&["validate".into(), "--topology".into(), t]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid (6 sinks"));
}

#[test]
fn validate_reports_every_problem_at_once_naming_file_and_item() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.csv"), "user_id,name\n1,ann\n").unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"
name = "broken"
[source]
topics = ["in"]
fields = [{ name = "user_id", type = "bigint" }, { name = "city", type = "string" }]

[[processors]]
name = "misspelled"
type = "filter"
input = "source"
where = "cty = 'oslo'"

[[processors]]
name = "typed"
type = "filter"
input = "source"
where = "city + 1 > 2"

[[processors]]
name = "function"
type = "map"
input = "source"
set = ["shout(city) AS loud"]

[[processors]]
name = "join"
type = "lookup_join"
input = "source"
table = "users.csv"
key = ["user_id"]
columns = ["segment"]

[[processors]]
name = "sizeless"
type = "window_aggregate"
input = "source"
window = { type = "tumbling" }
aggregates = [{ name = "n", fn = "count" }]

[[sinks]]
name = "out"
input = "source"
"#,
    )
    .unwrap();
    let p = path.display().to_string();
    let out = run(&["validate".into(), "--topology".into(), p.clone()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for (item, msg) in [
        (
            "processor `misspelled`",
            "unknown column `cty` (did you mean `city`?)",
        ),
        ("processor `typed`", "`+` needs a number, found string"),
        ("processor `function`", "unknown function `shout`"),
        ("processor `join`", "column `segment` is not a column of"),
        ("processor `sizeless`", "a tumbling window needs a `size`"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&p) && l.contains(item) && l.contains(msg)),
            "no line with {item} / {msg}:\n{err}"
        );
    }
    assert!(err.contains("5 problem(s) found"), "{err}");
}
