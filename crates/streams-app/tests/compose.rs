//! `compose/` cannot be started here (no Docker engine), so everything that can be
//! checked without it is: the file parses; every variable it uses is set in `.env`;
//! every service that runs `streams-app` uses subcommands, flags and values that the
//! binary's own command-line definition accepts, with the environment the service sets;
//! every variable a service sets is one the app reads; start-up ordering refers to real
//! services and health checks; paths exist in the image; the Dockerfile is multi-stage
//! with `streams-app` as its entrypoint.
//!
//! One test function in this file: it sets process environment variables (clap reads
//! them while parsing), which must not race with other tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn compose_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../compose")
}

fn dotenv() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(compose_dir().join(".env")).unwrap();
    let mut vars = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!(".env line {}: not KEY=VALUE: {line}", n + 1));
        assert!(
            vars.insert(k.to_string(), v.to_string()).is_none(),
            ".env: {k} twice"
        );
    }
    vars
}

/// Compose interpolation of `${VAR}`, `${VAR:-default}` and `${VAR-default}`; every
/// variable must be set in `.env` (all knobs live there).
fn interpolate(text: &str, env: &BTreeMap<String, String>, used: &mut BTreeSet<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}').expect("unclosed ${") + i;
        let expr = &rest[i + 2..end];
        let (name, default) = match expr.split_once(":-").or_else(|| expr.split_once('-')) {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        assert!(
            env.contains_key(name),
            "compose uses ${{{name}}} but compose/.env does not set it"
        );
        used.insert(name.to_string());
        let value = env
            .get(name)
            .cloned()
            .or(default.map(String::from))
            .unwrap();
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn as_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// `environment:` as a map (compose allows a map or a list of `K=V`).
fn environment(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        None => BTreeMap::new(),
        Some(Value::Mapping(m)) => m.iter().map(|(k, v)| (as_str(k), as_str(v))).collect(),
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|e| {
                let e = as_str(e);
                let (k, v) = e.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect(),
        Some(other) => panic!("environment: {other:?}"),
    }
}

/// Every environment variable an argument of this (sub)command reads.
fn env_names(cmd: &clap::Command) -> BTreeSet<String> {
    cmd.get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect()
}

/// The subcommand that `args` selects, walking nested subcommands.
fn selected<'a>(root: &'a clap::Command, args: &[String]) -> (&'a clap::Command, Vec<String>) {
    let mut cmd = root;
    let mut path = Vec::new();
    for a in args {
        match cmd.find_subcommand(a) {
            Some(s) => {
                cmd = s;
                path.push(a.clone());
            }
            None => break,
        }
    }
    (cmd, path)
}

/// Parses `args` (after the entrypoint) as the binary would inside the container of
/// service `name`, whose environment is `service_env`; panics with clap's message.
fn parses(
    name: &str,
    readable: &BTreeSet<String>,
    service_env: &BTreeMap<String, String>,
    args: &[String],
) {
    let before: Vec<(String, Option<String>)> = readable
        .iter()
        .map(|k| (k.clone(), std::env::var(k).ok()))
        .collect();
    for k in readable {
        std::env::remove_var(k);
    }
    for (k, v) in service_env {
        std::env::set_var(k, v);
    }
    let mut argv = vec!["streams-app".to_string()];
    argv.extend(args.iter().cloned());
    let parsed = streams_app::command().try_get_matches_from(&argv);
    for (k, v) in before {
        match v {
            Some(v) => std::env::set_var(&k, v),
            None => std::env::remove_var(&k),
        }
    }
    if let Err(e) = parsed {
        panic!("{name}: `{}` is rejected: {}", argv.join(" "), e.render());
    }
}

#[test]
fn compose_file_matches_the_binary() {
    let env = dotenv();
    let raw = std::fs::read_to_string(compose_dir().join("docker-compose.yml")).unwrap();
    // Comments are not interpolated by compose; drop them first.
    let no_comments: String = raw
        .lines()
        .map(|l| {
            if l.trim_start().starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut used = BTreeSet::new();
    let text = interpolate(&no_comments, &env, &mut used);
    let mut doc: Value = serde_yaml_ng::from_str(&text).expect("docker-compose.yml parses");
    doc.apply_merge().unwrap();
    let unused: Vec<&String> = env.keys().filter(|k| !used.contains(*k)).collect();
    assert!(
        unused.is_empty(),
        ".env sets variables compose never uses: {unused:?}"
    );

    let services = doc
        .get("services")
        .and_then(Value::as_mapping)
        .expect("services");
    let names: BTreeSet<String> = services.keys().map(as_str).collect();
    for want in [
        "kafka",
        "topic-init",
        "producer",
        "app",
        "daily-summary",
        "kafka-ui",
        "prometheus",
    ] {
        assert!(names.contains(want), "service {want} missing");
    }
    let volumes: BTreeSet<String> = doc
        .get("volumes")
        .and_then(Value::as_mapping)
        .map(|m| m.keys().map(as_str).collect())
        .unwrap_or_default();

    // The Dockerfile: multi-stage, `streams-app` is the entrypoint, topology copied to /app.
    let dockerfile = std::fs::read_to_string(compose_dir().join("Dockerfile")).unwrap();
    let froms = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(froms >= 2, "Dockerfile is not multi-stage");
    assert!(dockerfile.contains("ENTRYPOINT [\"streams-app\"]"));
    assert!(dockerfile.contains("WORKDIR /app") && dockerfile.contains("COPY topology ./topology"));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");

    let root = streams_app::command();
    let mut ours = Vec::new();
    for (name, svc) in services {
        let name = as_str(name);
        // depends_on: real services; `service_healthy` only on services with a health check.
        if let Some(deps) = svc.get("depends_on").and_then(Value::as_mapping) {
            for (dep, cond) in deps {
                let dep = as_str(dep);
                let dep_svc = services
                    .get(dep.as_str())
                    .unwrap_or_else(|| panic!("{name} depends on unknown service {dep}"));
                let cond = cond.get("condition").map(as_str).unwrap_or_default();
                assert!(
                    [
                        "service_started",
                        "service_healthy",
                        "service_completed_successfully"
                    ]
                    .contains(&cond.as_str()),
                    "{name}: condition {cond}"
                );
                if cond == "service_healthy" {
                    assert!(
                        dep_svc.get("healthcheck").is_some(),
                        "{dep} has no healthcheck"
                    );
                }
            }
        }
        for v in svc
            .get("volumes")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let v = as_str(v);
            let source = v.split(':').next().unwrap();
            if source.starts_with('.') || source.starts_with('/') {
                assert!(
                    compose_dir().join(source).exists(),
                    "{name}: bind mount {source} does not exist in the repository"
                );
            } else {
                assert!(
                    volumes.contains(source),
                    "{name}: volume {source} not declared"
                );
            }
        }
        let image = svc.get("image").map(as_str).unwrap_or_default();
        if svc.get("build").is_none() && image != "streams-app:local" {
            continue;
        }
        ours.push(name.clone());
        // An init process as PID 1 forwards SIGTERM to the app's handlers.
        assert_eq!(svc.get("init"), Some(&Value::Bool(true)), "{name}: no init");
        assert!(
            svc.get("user").is_some(),
            "{name}: bind mounts would be root-owned"
        );
        let command: Vec<String> = svc
            .get("command")
            .and_then(Value::as_sequence)
            .unwrap_or_else(|| panic!("{name}: command must be a list"))
            .iter()
            .map(as_str)
            .collect();
        let service_env = environment(svc);
        let (sub, path) = selected(&root, &command);
        assert!(
            !path.is_empty(),
            "{name}: {command:?} is not a streams-app subcommand"
        );
        let readable = env_names(sub);
        for key in service_env.keys() {
            assert!(
                readable.contains(key) || key == "RUST_LOG",
                "{name}: sets {key}, which `streams-app {}` does not read",
                path.join(" ")
            );
        }
        // Parse exactly as the binary would inside the container: the service's
        // environment set, the command after the `streams-app` entrypoint.
        parses(&name, &readable, &service_env, &command);
        // A health check that runs the binary runs a real subcommand with real flags.
        let check: Vec<String> = svc
            .get("healthcheck")
            .and_then(|h| h.get("test"))
            .and_then(Value::as_sequence)
            .map(|t| t.iter().map(as_str).collect())
            .unwrap_or_default();
        if check.len() >= 2 && check[0] == "CMD" && check[1] == "streams-app" {
            let (sub, _) = selected(&root, &check[2..]);
            parses(&name, &env_names(sub), &service_env, &check[2..]);
        }
        // Paths the service reads relative to WORKDIR /app exist in the image (copied
        // from the repository).
        for (k, v) in &service_env {
            if ["STREAMS_TOPOLOGY", "STREAMS_SEGMENTS", "STREAMS_DIMS_DIR"].contains(&k.as_str()) {
                assert!(repo.join(v).exists(), "{name}: {k}={v} is not in the image");
            }
        }
    }
    assert_eq!(
        ours,
        ["topic-init", "producer", "app", "daily-summary"].map(String::from)
    );

    // The app service is the issue's `run --app-id clickstream`, with its state and output
    // on volumes; Kafka is a single KRaft node with replication-1 internal topics.
    let app = &services["app"];
    let cmd: Vec<String> = app["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(as_str)
        .collect();
    assert_eq!(cmd, ["run", "--app-id", "clickstream"]);
    let app_volumes: Vec<String> = app["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(as_str)
        .collect();
    assert!(app_volumes.iter().any(|v| v.ends_with(":/app/checkpoints")));
    assert!(app_volumes.iter().any(|v| v.ends_with(":/app/data")));
    let kafka = environment(&services["kafka"]);
    assert!(as_str(&services["kafka"]["image"]).starts_with("apache/kafka:"));
    assert_eq!(kafka["KAFKA_PROCESS_ROLES"], "broker,controller");
    assert_eq!(kafka["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"], "1");
    assert_eq!(kafka["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"], "1");
    assert!(as_str(&services["kafka-ui"]["image"]).starts_with("kafbat/kafka-ui"));
    // Everything inside the compose network reaches Kafka on its internal listener.
    for s in ["topic-init", "producer", "app"] {
        assert_eq!(
            environment(&services[s])["STREAMS_BOOTSTRAP_SERVERS"],
            "kafka:9092"
        );
    }
    assert!(kafka["KAFKA_ADVERTISED_LISTENERS"].contains("INTERNAL://kafka:9092"));

    // The app serves its metrics and status page; its health check asks them.
    let app_env = environment(app);
    let metrics_addr: std::net::SocketAddr = app_env["STREAMS_METRICS_ADDR"].parse().unwrap();
    let check: Vec<String> = app["healthcheck"]["test"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(as_str)
        .collect();
    assert_eq!(check[..3], ["CMD", "streams-app", "health"]);
    let published: Vec<String> = app["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(as_str)
        .collect();
    assert!(
        published
            .iter()
            .any(|p| p.starts_with("127.0.0.1:")
                && p.ends_with(&format!(":{}", metrics_addr.port()))),
        "the status page is published on the host's loopback: {published:?}"
    );
    // Prometheus scrapes the app's metrics port, with its config from compose/.
    let prom = &services["prometheus"];
    assert!(as_str(&prom["image"]).starts_with("prom/prometheus:"));
    let mounts: Vec<String> = prom["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(as_str)
        .collect();
    let config_mount = mounts
        .iter()
        .find(|m| m.contains(":/etc/prometheus/prometheus.yml"))
        .expect("prometheus.yml is mounted");
    let config_file = compose_dir().join(config_mount.split(':').next().unwrap());
    let config: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&config_file).unwrap()).unwrap();
    let jobs = config["scrape_configs"].as_sequence().unwrap();
    let job = jobs
        .iter()
        .find(|j| as_str(&j["job_name"]) == "streams-app")
        .expect("a streams-app scrape job");
    assert_eq!(as_str(&job["metrics_path"]), "/metrics");
    let targets: Vec<String> = job["static_configs"][0]["targets"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(as_str)
        .collect();
    assert_eq!(targets, [format!("app:{}", metrics_addr.port())]);
    let prom_cmd: Vec<String> = prom["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(as_str)
        .collect();
    assert!(prom_cmd.contains(&"--config.file=/etc/prometheus/prometheus.yml".to_string()));
}
