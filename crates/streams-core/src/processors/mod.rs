//! The processors a topology is made of: stateless transformations, dedup, the
//! stream-table join, windowed aggregates (fixed windows and sessions) and the event sink.

pub mod dedup;
pub mod enrich;
pub mod events_sink;
pub mod session_aggregate;
pub mod stateless;
pub mod window_aggregate;

#[cfg(test)]
pub(crate) mod test_harness;
