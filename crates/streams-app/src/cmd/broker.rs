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
    /// A librdkafka setting for every Kafka client of the command (repeatable; the
    /// variable takes several separated by `;`): TLS (`security.protocol=SSL`,
    /// `ssl.ca.location=...`), SASL (`sasl.mechanism=SCRAM-SHA-256`, `sasl.username=...`),
    /// timeouts. Applied after --kafka-config-file.
    #[arg(long = "kafka-config", value_name = "KEY=VALUE", value_parser = parse_setting, value_delimiter = ';', env = "STREAMS_KAFKA_CONFIG")]
    pub kafka_config: Vec<(String, String)>,
    /// A file of librdkafka settings: `key=value` lines, `#` comments (the Java
    /// clients' `client.properties` layout).
    #[arg(long, value_name = "FILE", env = "STREAMS_KAFKA_CONFIG_FILE")]
    pub kafka_config_file: Option<std::path::PathBuf>,
}

impl BrokerArgs {
    /// Client settings: these servers, the settings file, then the single settings.
    pub fn client(&self) -> anyhow::Result<ClientConfig> {
        let mut c = ClientConfig::new(&self.bootstrap_servers);
        if let Some(path) = &self.kafka_config_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read --kafka-config-file {}: {e}", path.display())
            })?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                    continue;
                }
                let kv = parse_setting(line)
                    .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), n + 1))?;
                c.extra.push(kv);
            }
        }
        c.extra.extend(self.kafka_config.iter().cloned());
        Ok(c)
    }
}

/// `key=value` (a librdkafka setting).
pub fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "`{s}` is not a librdkafka setting like security.protocol=SSL"
        )),
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
