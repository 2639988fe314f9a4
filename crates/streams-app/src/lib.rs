//! `streams-app`: a Kafka Streams-style stateful stream processor for click and
//! transaction events. The binary's `main` is [`main`]; the command-line definition is
//! public ([`command`]) so that tests can check configuration files (such as
//! `compose/docker-compose.yml`) against the flags and environment variables the app
//! really accepts.
//!
//! Data flow: `source` (Kafka) → `engine` (decode, dedup, enrich, windows; RocksDB
//! state) → `checkpoint` (state + offsets + outbox in one write) → `outbox` → sinks
//! (Kafka topics, DLQ, Parquet). Each subcommand lives in `cmd/`; the processing loop
//! in `runner.rs`; the synthetic input in `synth.rs`.

mod cli;
mod cmd;
mod observe;
mod runner;
mod synth;

pub use cli::{command, main};
