//! `streams-app health`: asks a running app's `/status.json` (served on its
//! `--metrics-addr`) whether it is healthy: up, its processing loop alive, and nothing
//! waiting longer than `--max-age` for a checkpoint. Exit 0 when healthy, 1 with the
//! reason otherwise; for container health checks.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::observe::{health, StatusDoc};

/// Arguments of `health`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address the app serves its metrics and status on (its `--metrics-addr`);
    /// `0.0.0.0` is asked on the loopback address.
    #[arg(long, env = "STREAMS_METRICS_ADDR")]
    pub metrics_addr: SocketAddr,
    /// Unhealthy when the status is older than this, or when work has waited this long
    /// for a checkpoint.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, env = "STREAMS_HEALTH_MAX_AGE")]
    pub max_age: Duration,
}

/// Fetches and judges the status.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut addr = args.metrics_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/status.json");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let body = agent
        .get(&url)
        .call()
        .with_context(|| format!("unhealthy: no answer from {url}"))?
        .body_mut()
        .read_to_string()
        .with_context(|| format!("unhealthy: cannot read {url}"))?;
    let doc: StatusDoc = serde_json::from_str(&body)
        .with_context(|| format!("unhealthy: {url} holds no status yet (the app is starting)"))?;
    let now = chrono::Utc::now().timestamp_millis();
    match health(&doc, now, args.max_age.as_millis() as i64) {
        Ok(()) => {
            println!(
                "healthy: app `{}` {}, checkpoint epoch {}, lag {}",
                doc.app_id,
                doc.state,
                doc.epoch,
                doc.lag
                    .map_or_else(|| "unknown".to_string(), |l| l.to_string())
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            eprintln!("error: unhealthy: app `{}`: {reason}", doc.app_id);
            Ok(ExitCode::FAILURE)
        }
    }
}
