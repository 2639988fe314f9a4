//! Flags shared by several commands: the broker, the topology file, shares.

use std::time::Duration;

use streams_kafka::ClientConfig;

/// Where the broker is and how long to wait for it.
#[derive(Debug, Clone, clap::Args)]
pub struct BrokerArgs {
    /// Kafka bootstrap servers (`host:port[,host:port]`).
    #[arg(
        long,
        default_value = "127.0.0.1:9092",
        env = "STREAMS_BOOTSTRAP_SERVERS"
    )]
    pub bootstrap_servers: String,
    /// Give up on a broker that cannot be reached for this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, env = "STREAMS_CONNECT_TIMEOUT")]
    pub connect_timeout: Duration,
}

impl BrokerArgs {
    /// Client settings for these servers.
    pub fn client(&self) -> ClientConfig {
        ClientConfig::new(&self.bootstrap_servers)
    }
}

/// The topology file flag, shared by every command that reads one.
#[derive(Debug, Clone, clap::Args)]
pub struct TopologyArg {
    /// Topology file: input topics, processors, windows, aggregates, output tables
    /// (relative dimension-table paths are resolved next to it).
    #[arg(
        id = "topology",
        long = "topology",
        default_value = "topology/clickstream.toml",
        env = "STREAMS_TOPOLOGY"
    )]
    pub path: std::path::PathBuf,
}

/// A share between 0 and 1 (`0.02` = 2 %).
pub fn parse_share(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number between 0 and 1"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("`{s}` is not between 0 and 1"))
    }
}
