//! The live view against Apache Kafka (a KRaft node started by the test, as in
//! `broker_e2e`): `--metrics-addr` on the real binary during bounded runs of the
//! reference topology.
//!
//! - `/metrics` agrees with the ledger the run logs, with the DLQ topic (dead letters
//!   per reason), with every output topic and Parquet table (rows emitted per table and
//!   sink), and lag reaches 0 at the end; a second run over more input continues the
//!   ledger counters from the checkpoint (restored across restarts).
//! - `/status.json` holds the same ledger and every processor of the topology, and
//!   `streams-app health` reads it.
//! - The status page in headless Chromium (`chromium`, installed by
//!   `scripts/setup.sh --tests`): the rendered graph shows every processor, with the
//!   rows of `/status.json` on its boxes and edges; the screenshot is kept in
//!   `<target>/tmp/test-artifacts/status-page.png`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use streams_testkit::KafkaBroker;

fn get(url: &str) -> String {
    ureq::get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .body_mut()
        .read_to_string()
        .unwrap()
}

/// Samples of an OpenMetrics text: `name{labels}` -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The value of one sample; 0 when absent (a counter never incremented).
fn value(m: &BTreeMap<String, f64>, name: &str, app: &str, labels: &[(&str, &str)]) -> u64 {
    let mut key = format!("{name}{{app_id=\"{app}\"");
    for (k, v) in labels {
        key.push_str(&format!(",{k}=\"{v}\""));
    }
    key.push('}');
    m.get(&key).copied().unwrap_or(0.0) as u64
}

/// Every sample of a family, as (labels text, value).
fn family<'a>(m: &'a BTreeMap<String, f64>, name: &str) -> Vec<(&'a str, f64)> {
    m.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(name)
                .filter(|rest| rest.starts_with('{'))
                .map(|rest| (rest, *v))
        })
        .collect()
}

/// The processors `describe` lists for a topology file.
fn processors(topology: &Path) -> Vec<String> {
    let o = run_cmd(&["describe", "--topology", topology.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("processor "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 5, "{names:?}");
    names
}

/// A bounded run with the live view on a free port, lingering for `linger`: returns
/// the process and the address it serves on.
fn start_run(args: &[&str], linger: &str) -> (Proc, String) {
    let mut a: Vec<&str> = args.to_vec();
    a.extend([
        "--until",
        "end",
        "--metrics-addr",
        "127.0.0.1:0",
        "--metrics-linger",
        linger,
    ]);
    let mut p = Proc::spawn(&a, "info");
    p.wait_stderr("serving /metrics", Duration::from_secs(60));
    let log = p.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("serving /metrics"))
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|t| t.strip_prefix("addr="))
        .unwrap()
        .to_string();
    (p, addr)
}

/// Waits until `/status.json` says the bounded run finished; returns it.
fn wait_finished(addr: &str, p: &mut Proc) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let doc: Value = serde_json::from_str(&get(&format!("http://{addr}/status.json")))
            .unwrap_or(Value::Null);
        if doc["state"] == "finished" {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "not finished after 180 s:\n{}",
            p.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Setup {
    _broker: KafkaBroker,
    _dir: tempfile::TempDir,
    bs: String,
    input_topic: String,
    app: String,
    prefix: String,
    topo: PathBuf,
    state: PathBuf,
    data: PathBuf,
}

fn setup(tag: &str) -> Setup {
    let broker = KafkaBroker::start();
    let bs = broker.bootstrap().to_string();
    let run_id: u32 = rand::random();
    let input_topic = format!("{tag}-{run_id}-clickstream");
    create_topic(&bs, &input_topic, 3, &[]);
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{tag}{run_id}-");
    let topo = topology_with_prefix(dir.path(), &input_topic, &prefix, 2048);
    Setup {
        bs,
        input_topic,
        app: format!("{tag}{run_id}"),
        prefix,
        topo,
        state: dir.path().join("state"),
        data: dir.path().join("data"),
        _dir: dir,
        _broker: broker,
    }
}

impl Setup {
    fn args(&self) -> Vec<&str> {
        broker_run_args(
            &self.app,
            &self.bs,
            self.state.to_str().unwrap(),
            self.data.to_str().unwrap(),
            self.topo.to_str().unwrap(),
        )
    }
}

#[test]
fn metrics_agree_with_the_ledger_the_dlq_and_every_output_across_restarts() {
    let s = setup("lv");
    let records = input(4_000, 3, 11);
    produce(&s.bs, &s.input_topic, &records[..3_000]);
    let app = s.app.as_str();

    let (mut p, addr) = start_run(&s.args(), "60s");
    // Served while it runs (the counters exist from the start).
    let early = get(&format!("http://{addr}/metrics"));
    assert!(early.contains("streams_records_consumed_total"), "{early}");
    let doc = wait_finished(&addr, &mut p);
    let m = samples(&get(&format!("http://{addr}/metrics")));
    let first = ledger(&p.stderr());
    assert_eq!(first["consumed"], 3_000);
    for (metric, key) in [
        ("streams_records_consumed_total", "consumed"),
        ("streams_records_accepted_total", "accepted"),
        ("streams_records_duplicate_total", "duplicate"),
    ] {
        assert_eq!(value(&m, metric, app, &[]), first[key], "{metric}");
        assert_eq!(
            doc["ledger"][key].as_u64(),
            Some(first[key]),
            "status {key}"
        );
    }
    assert_eq!(doc["ledger_balanced"], true);

    // Dead letters per reason = the DLQ topic's records per reason header.
    let dlq = read_topic(&s.bs, &format!("{app}-dlq"));
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for r in &dlq {
        *reasons
            .entry(r.2["streams-dlq-reason"].clone())
            .or_default() += 1;
    }
    assert!(
        reasons.len() >= 2,
        "the input has several kinds of bad records: {reasons:?}"
    );
    for (reason, n) in &reasons {
        assert_eq!(
            value(
                &m,
                "streams_records_dead_lettered_total",
                app,
                &[("reason", reason)]
            ),
            *n,
            "dead letters {reason}"
        );
        assert_eq!(first[&format!("dlq.{reason}")], *n);
    }
    assert_eq!(
        value(
            &m,
            "streams_rows_emitted_total",
            app,
            &[("table", "dlq"), ("sink", "kafka")]
        ),
        dlq.len() as u64
    );

    // Rows emitted per table = records in its topic, and rows in its Parquet table.
    for table in TABLES {
        let topic_rows = read_topic(&s.bs, &format!("{}{table}", s.prefix)).len() as u64;
        assert!(topic_rows > 0, "{table} is empty");
        assert_eq!(
            value(
                &m,
                "streams_rows_emitted_total",
                app,
                &[("table", table), ("sink", "kafka")]
            ),
            topic_rows,
            "{table} to kafka"
        );
        let parquet = value(
            &m,
            "streams_rows_emitted_total",
            app,
            &[("table", table), ("sink", "parquet")],
        );
        if parquet > 0 {
            assert_eq!(
                parquet,
                parquet_rows(&s.data, app, table).len() as u64,
                "{table} to parquet"
            );
        }
    }
    assert!(
        family(&m, "streams_rows_emitted_total")
            .iter()
            .any(|(l, _)| l.contains("sink=\"parquet\"")),
        "some table goes to Parquet"
    );

    // Lag 0 on every partition at the end; the gauges a dashboard needs are there.
    let lag = family(&m, "streams_consumer_lag_records");
    assert_eq!(lag.len(), 3, "{lag:?}");
    assert!(lag.iter().all(|(_, v)| *v == 0.0), "{lag:?}");
    assert_eq!(doc["lag"], 0);
    let consumed_here: f64 = family(&m, "streams_partition_records_consumed_total")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(consumed_here, 3_000.0);
    for gauge in [
        "streams_checkpoint_duration_seconds_count",
        "streams_checkpoint_size_bytes_sum",
        "streams_state_size_bytes",
        "streams_process_resident_memory_bytes",
        "streams_checkpoint_epoch",
    ] {
        assert!(value(&m, gauge, app, &[]) > 0, "{gauge} is 0 or missing");
    }
    assert!(m
        .keys()
        .any(|k| k.starts_with("streams_watermark_delay_seconds")));
    assert!(m
        .keys()
        .any(|k| k.starts_with("streams_rocksdb_block_cache_usage_bytes")));
    assert!(m.keys().any(|k| k.starts_with("streams_outbox_entries")));
    assert!(m.keys().any(|k| k.starts_with("streams_idle_partitions")));

    // The status document: every processor of the topology is a node of its graph.
    let names: Vec<&str> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    for proc in processors(&s.topo) {
        assert!(names.contains(&proc.as_str()), "{proc} not in {names:?}");
    }

    // The health check of compose reads the same document.
    let o = run_cmd(&["health", "--metrics-addr", &addr]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("healthy: app"));
    assert!(p.sigterm_and_wait(Duration::from_secs(30)).success());
    // Nothing listens any more: unhealthy, one line, non-zero.
    let o = run_cmd(&["health", "--metrics-addr", &addr]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: unhealthy: no answer from"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // A restart over more input: the ledger counters continue from the checkpoint, the
    // per-process ones start again.
    produce(&s.bs, &s.input_topic, &records[3_000..]);
    let (mut p, addr) = start_run(&s.args(), "60s");
    wait_finished(&addr, &mut p);
    let m = samples(&get(&format!("http://{addr}/metrics")));
    let second = ledger(&p.stderr());
    assert_eq!(second["consumed"], 4_000);
    assert_eq!(value(&m, "streams_records_consumed_total", app, &[]), 4_000);
    assert_eq!(
        value(&m, "streams_records_accepted_total", app, &[]),
        second["accepted"]
    );
    let consumed_here: f64 = family(&m, "streams_partition_records_consumed_total")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(consumed_here, 1_000.0);
    assert!(p.sigterm_and_wait(Duration::from_secs(30)).success());
}

/// Attribute `name` of the first tag in `tag_text`.
fn attr<'a>(tag_text: &'a str, name: &str) -> Option<&'a str> {
    let start = tag_text.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag_text[start..].find('"')?;
    Some(&tag_text[start..start + len])
}

/// The opening tags in `html` that start with `prefix` (e.g. `<g class="node`).
fn tags<'a>(html: &'a str, prefix: &str) -> Vec<&'a str> {
    html.match_indices(prefix)
        .filter_map(|(i, _)| html[i..].find('>').map(|end| &html[i..i + end]))
        .collect()
}

fn chromium() -> String {
    let bin = std::env::var("STREAMS_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let ok = Command::new(&bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{bin}` cannot run: install Chromium (`bash scripts/setup.sh --tests` does, from Debian's `chromium` package) or set STREAMS_TEST_CHROMIUM"
    );
    bin
}

fn headless(bin: &str, profile: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        "--virtual-time-budget=5000",
        "--window-size=1500,1100",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

#[test]
fn the_status_page_in_chromium_shows_every_processor_with_the_numbers_of_status_json() {
    let bin = chromium();
    let s = setup("page");
    produce(&s.bs, &s.input_topic, &input(3_000, 3, 12));
    let (mut p, addr) = start_run(&s.args(), "300s");
    let doc = wait_finished(&addr, &mut p);
    // Nothing changes once a bounded run finished: the page and the document agree.
    let again: Value = serde_json::from_str(&get(&format!("http://{addr}/status.json"))).unwrap();
    assert_eq!(doc["nodes"], again["nodes"]);
    let url = format!("http://{addr}/");
    let profile = tempfile::tempdir().unwrap();

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    let o = headless(&bin, profile.path())
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 20_000,
        "screenshot {} is {size} bytes",
        shot.display()
    );
    eprintln!("status page screenshot: {}", shot.display());

    let o = headless(&bin, profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = String::from_utf8_lossy(&o.stdout).to_string();
    std::fs::write(artifacts.join("status-page.html"), &html).unwrap();

    // The header shows the app, and the page rendered the document of the finished run.
    assert!(
        html.contains(&format!("data-epoch=\"{}\"", doc["epoch"])),
        "epoch"
    );
    let nodes = tags(&html, "<g class=\"node");
    let rendered: BTreeMap<&str, (&str, u64, u64)> = nodes
        .iter()
        .map(|t| {
            (
                attr(t, "data-id").unwrap(),
                (
                    attr(t, "data-name").unwrap(),
                    attr(t, "data-rows-in").unwrap().parse().unwrap(),
                    attr(t, "data-rows-out").unwrap().parse().unwrap(),
                ),
            )
        })
        .collect();
    let want: BTreeMap<&str, (&str, u64, u64)> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap(),
                (
                    n["name"].as_str().unwrap(),
                    n["rows_in"].as_u64().unwrap(),
                    n["rows_out"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    assert_eq!(
        rendered, want,
        "the graph's boxes carry the document's rows"
    );
    let shown: Vec<&str> = rendered.values().map(|v| v.0).collect();
    for proc in processors(&s.topo) {
        assert!(
            shown.contains(&proc.as_str()),
            "{proc} not drawn: {shown:?}"
        );
    }
    let edges: Vec<(&str, &str, u64)> = tags(&html, "<text class=\"edge-label")
        .iter()
        .map(|t| {
            (
                attr(t, "data-from").unwrap(),
                attr(t, "data-to").unwrap(),
                attr(t, "data-rows").unwrap().parse().unwrap(),
            )
        })
        .collect();
    let want: Vec<(&str, &str, u64)> = doc["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap(),
                e["to"].as_str().unwrap(),
                e["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(edges, want, "every edge drawn with its rows");
    // The ledger table shows the document's counts, as the page formats them.
    let commas = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    for key in ["consumed", "accepted", "dead_lettered"] {
        let n = commas(doc["ledger"][key].as_u64().unwrap());
        assert!(
            html.contains(&format!("<td class=\"n\">{n}</td>")),
            "ledger {key} = {n} not shown"
        );
    }
    assert!(p.sigterm_and_wait(Duration::from_secs(30)).success());
}
