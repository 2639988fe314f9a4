//! A real Apache Kafka broker for tests: one KRaft node (broker + controller) started
//! from the jars `scripts/install-kafka.sh` fetched from Maven Central, on free
//! 127.0.0.1 ports, with its data in a temporary directory. Stopped (SIGTERM, then
//! SIGKILL) when the handle drops; a watchdog also stops it if the test process dies
//! without unwinding (a SIGKILL from the test runner's timeout).
//!
//! `STREAMS_TEST_BOOTSTRAP=host:port` points the tests at any other broker instead.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running broker (or the one named by `STREAMS_TEST_BOOTSTRAP`).
pub struct KafkaBroker {
    child: Option<Child>,
    bootstrap: String,
    controller_port: u16,
    internal_port: u16,
    /// Behind a proxy: the port the broker really listens on (`bootstrap` is the proxy).
    behind_proxy: Option<u16>,
    /// The SASL_PLAINTEXT (SCRAM) port, if asked for.
    sasl_port: Option<u16>,
    dir: Option<tempfile::TempDir>,
    extra: Vec<(String, String)>,
}

/// Settings for [`KafkaBroker::start_with`].
#[derive(Debug, Clone, Default)]
pub struct BrokerOptions {
    /// Extra `server.properties` lines (`key`, `value`), e.g. a SASL listener.
    pub properties: Vec<(String, String)>,
    /// Extra arguments of the storage `format` step (e.g. `--add-scram ...`).
    pub format_args: Vec<String>,
    /// Advertise this port to clients instead of the one the broker listens on (a proxy
    /// in front of it sees every client connection); brokers and controllers talk on an
    /// internal listener of their own.
    pub advertised_port: Option<u16>,
    /// Also listen with SASL_PLAINTEXT + SCRAM-SHA-256 for this `(user, password)`,
    /// created when the storage is formatted ([`KafkaBroker::sasl_bootstrap`]).
    pub scram_user: Option<(String, String)>,
}

/// Where `scripts/install-kafka.sh` keeps the broker (`STREAMS_KAFKA_HOME` overrides).
pub fn kafka_home() -> PathBuf {
    if let Ok(p) = std::env::var("STREAMS_KAFKA_HOME") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/streams-app/kafka")
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

impl KafkaBroker {
    /// Starts a broker (or uses `STREAMS_TEST_BOOTSTRAP`). Panics with the broker's log
    /// if it does not come up: a test cannot run without it.
    pub fn start() -> KafkaBroker {
        Self::start_with(BrokerOptions::default())
    }

    /// Whether the tests run against an external broker (`STREAMS_TEST_BOOTSTRAP`).
    pub fn external() -> Option<String> {
        std::env::var("STREAMS_TEST_BOOTSTRAP")
            .ok()
            .filter(|s| !s.is_empty())
    }

    /// Starts a broker with extra settings.
    pub fn start_with(opts: BrokerOptions) -> KafkaBroker {
        if let Some(b) = Self::external() {
            return KafkaBroker {
                child: None,
                bootstrap: b,
                controller_port: 0,
                internal_port: 0,
                behind_proxy: None,
                sasl_port: None,
                dir: None,
                extra: opts.properties,
            };
        }
        let dir = tempfile::Builder::new()
            .prefix("kafka-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a broker directory: {e}"));
        let (port, controller_port, internal_port) = (free_port(), free_port(), free_port());
        let mut broker = KafkaBroker {
            child: None,
            bootstrap: format!("127.0.0.1:{}", opts.advertised_port.unwrap_or(port)),
            controller_port,
            internal_port,
            behind_proxy: opts.advertised_port.map(|_| port),
            sasl_port: opts.scram_user.as_ref().map(|_| free_port()),
            dir: Some(dir),
            extra: opts.properties.clone(),
        };
        broker.write_properties();
        let mut format_args = opts.format_args.clone();
        if let Some((user, password)) = &opts.scram_user {
            format_args.push("--add-scram".into());
            format_args.push(format!("SCRAM-SHA-256=[name={user},password={password}]"));
        }
        broker.format(&format_args);
        broker.launch();
        broker
    }

    /// `host:port` to bootstrap from.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// `host:port` of the SASL_PLAINTEXT (SCRAM-SHA-256) listener, if asked for.
    pub fn sasl_bootstrap(&self) -> Option<String> {
        self.sasl_port.map(|p| format!("127.0.0.1:{p}"))
    }

    /// The broker's data and log directory (`None` for an external broker).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    fn dir_path(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default()
    }

    /// The process id of the broker's JVM (to pause it with SIGSTOP in a test).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The port the broker listens on for clients (behind a proxy: not the advertised one).
    pub fn listen_port(&self) -> u16 {
        self.behind_proxy.unwrap_or_else(|| {
            self.bootstrap
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0)
        })
    }

    fn write_properties(&self) {
        let d = self.dir_path();
        let port = self.listen_port();
        let advertised = self
            .bootstrap
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let (cport, iport) = (self.controller_port, self.internal_port);
        let mut props: Vec<(String, String)> = [
            ("process.roles", "broker,controller".to_string()),
            ("node.id", "1".to_string()),
            (
                "controller.quorum.bootstrap.servers",
                format!("127.0.0.1:{cport}"),
            ),
            (
                "listeners",
                format!("PLAINTEXT://127.0.0.1:{port},INTERNAL://127.0.0.1:{iport},CONTROLLER://127.0.0.1:{cport}"),
            ),
            (
                "advertised.listeners",
                format!("PLAINTEXT://127.0.0.1:{advertised},INTERNAL://127.0.0.1:{iport},CONTROLLER://127.0.0.1:{cport}"),
            ),
            ("inter.broker.listener.name", "INTERNAL".to_string()),
            ("controller.listener.names", "CONTROLLER".to_string()),
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT".to_string(),
            ),
            ("log.dirs", d.join("data").display().to_string()),
            ("num.partitions", "1".to_string()),
            ("offsets.topic.replication.factor", "1".to_string()),
            ("offsets.topic.num.partitions", "4".to_string()),
            ("transaction.state.log.replication.factor", "1".to_string()),
            ("transaction.state.log.min.isr", "1".to_string()),
            ("transaction.state.log.num.partitions", "4".to_string()),
            (
                "share.coordinator.state.topic.replication.factor",
                "1".to_string(),
            ),
            ("share.coordinator.state.topic.min.isr", "1".to_string()),
            ("group.initial.rebalance.delay.ms", "0".to_string()),
            ("auto.create.topics.enable", "false".to_string()),
            // Test records carry event times months in the past: time-based retention
            // would delete them as soon as the broker (re)starts.
            ("log.retention.ms", "-1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(sp) = self.sasl_port {
            for (k, v) in props.iter_mut() {
                match k.as_str() {
                    "listeners" | "advertised.listeners" => {
                        v.push_str(&format!(",SASL_PLAINTEXT://127.0.0.1:{sp}"))
                    }
                    "listener.security.protocol.map" => {
                        v.push_str(",SASL_PLAINTEXT:SASL_PLAINTEXT")
                    }
                    _ => {}
                }
            }
            props.push(("sasl.enabled.mechanisms".into(), "SCRAM-SHA-256".into()));
            props.push((
                "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config".into(),
                "org.apache.kafka.common.security.scram.ScramLoginModule required;".into(),
            ));
        }
        for (k, v) in &self.extra {
            match props.iter_mut().find(|(pk, _)| pk == k) {
                Some(p) => p.1 = v.clone(),
                None => props.push((k.clone(), v.clone())),
            }
        }
        let mut f = std::fs::File::create(d.join("server.properties"))
            .unwrap_or_else(|e| panic!("cannot write server.properties: {e}"));
        for (k, v) in props {
            let _ = writeln!(f, "{k}={v}");
        }
    }

    fn java(&self) -> Command {
        let home = kafka_home();
        let libs = home.join("libs");
        assert!(
            libs.is_dir(),
            "Apache Kafka is not installed at {}: run scripts/install-kafka.sh (or set STREAMS_TEST_BOOTSTRAP)",
            home.display()
        );
        let d = self.dir_path();
        let mut c = Command::new("java");
        c.args([
            "-Xms512m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-Djava.awt.headless=true",
        ])
        .arg(format!("-Dkafka.logs.dir={}", d.join("logs").display()))
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            home.join("log4j2.properties").display()
        ))
        .arg("-cp")
        .arg(format!("{}/*", libs.display()));
        c
    }

    fn format(&self, extra: &[String]) {
        let d = self.dir_path();
        let out = self
            .java()
            .args(["kafka.tools.StorageTool", "format", "--standalone"])
            .args(["-t", "c3RyZWFtcy1hcHAtdGVzdA"])
            .arg("-c")
            .arg(d.join("server.properties"))
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("cannot run java: {e}"));
        assert!(
            out.status.success(),
            "formatting the broker's storage failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir_path().join("logs/server.log")).unwrap_or_default()
    }

    fn launch(&mut self) {
        let d = self.dir_path();
        let mut java = self.java();
        java.arg("kafka.Kafka")
            .arg(d.join("server.properties"))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(d.join("stderr.log"))
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            );
        let child = java
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the broker: {e}"));
        watchdog(child.id());
        self.child = Some(child);
        self.wait_started();
    }

    fn wait_started(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if self.log().contains("Kafka Server started") {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "the broker exited ({status}) before it started:\n{}\n{}",
                    tail(&self.log()),
                    std::fs::read_to_string(self.dir_path().join("stderr.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the broker did not start within 90 s:\n{}",
                tail(&self.log())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the broker (SIGTERM, waiting for a clean shutdown) and starts it again on
    /// the same ports and data: a broker restart in the middle of a test.
    pub fn restart(&mut self) {
        assert!(self.child.is_some(), "cannot restart an external broker");
        self.stop();
        // The log of the first start must not satisfy the wait for the second.
        let log = self.dir_path().join("logs/server.log");
        let _ = std::fs::rename(&log, self.dir_path().join("logs/server.log.before-restart"));
        self.launch();
    }

    /// Pauses (SIGSTOP) or resumes (SIGCONT) the broker process: a broker that stops
    /// answering without closing its connections.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .status();
        }
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for KafkaBroker {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            // Tests do not need a clean shutdown: SIGKILL is immediate.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Stops the broker `pid` once this test process is gone, even if it was SIGKILLed.
fn watchdog(pid: u32) {
    let me = std::process::id();
    let script = format!(
        "while kill -0 {me} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; kill -9 {pid} 2>/dev/null; exit 0"
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
