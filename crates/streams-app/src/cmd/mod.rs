//! One module per subcommand.

pub mod bench_e2e;
pub mod bench_engine;
pub mod bench_kstreams;
pub mod bench_summary;
pub mod broker;
pub mod daily_summary;
pub mod demo;
pub mod health;
pub mod produce;
pub mod replay;
pub mod reset_state;
pub mod run;
pub mod status;
pub mod topics;
pub mod topology;

/// How a command prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Tables and lines for people.
    Human,
    /// One JSON document.
    Json,
}

/// A table in the style every command prints.
pub fn table() -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    t
}

/// Logs go to stderr; `RUST_LOG` overrides the default level. librdkafka's own log
/// (connection retries and the like, which the app handles and reports itself) is off
/// unless `RUST_LOG` names it, e.g. `RUST_LOG=info,librdkafka=debug`.
pub fn init_tracing(default_level: &str) {
    let env = std::env::var("RUST_LOG").unwrap_or_else(|_| default_level.into());
    let directives = if env.contains("rdkafka") {
        env
    } else {
        format!("{env},librdkafka=off,rdkafka=off")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,librdkafka=off,rdkafka=off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Peak resident set size of this process in bytes (Linux `VmHWM`), if known.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// Resident set size of this process now, in bytes (Linux `VmRSS`), if known.
pub fn current_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
