//! A real broker for end-to-end tests: `STREAMS_TEST_BOOTSTRAP` if set (any Kafka),
//! otherwise a Tansu process on a free loopback port with in-memory storage, stopped
//! when the handle drops.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    child: Option<Child>,
    pub bootstrap: String,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Where `scripts/install-tansu.sh` puts the binary (or `STREAMS_TANSU_BIN`).
pub fn tansu_bin() -> PathBuf {
    if let Ok(p) = std::env::var("STREAMS_TANSU_BIN") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/streams-app/tansu/bin/tansu")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

pub fn start() -> Broker {
    if let Ok(b) = std::env::var("STREAMS_TEST_BOOTSTRAP") {
        return Broker {
            child: None,
            bootstrap: b,
        };
    }
    let bin = tansu_bin();
    assert!(
        bin.exists(),
        "Tansu is not installed at {}: run scripts/install-tansu.sh (or set STREAMS_TEST_BOOTSTRAP)",
        bin.display()
    );
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(&bin)
        .args([
            "broker",
            "--storage-engine",
            "memory://tansu/",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot start tansu");
    let bootstrap = format!("127.0.0.1:{port}");
    let broker = Broker {
        child: Some(child),
        bootstrap,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cfg = streams_kafka::ClientConfig::new(&broker.bootstrap);
        if streams_kafka::admin::list_topics(&cfg, Duration::from_secs(2)).is_ok() {
            return broker;
        }
        assert!(
            Instant::now() < deadline,
            "tansu did not come up on {}",
            broker.bootstrap
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
