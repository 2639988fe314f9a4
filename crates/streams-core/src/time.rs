//! Event time and watermarks (DESIGN §3.4).
//!
//! `W = min over the input partitions of (max event_ts seen in that partition) − delay`.
//! A partition that has caught up with its high watermark (the source says so) and has
//! had no record for `idle_timeout` (wall clock, passed in by the caller: operators
//! never read the clock) stops holding `W` back; one with a backlog always holds it, so
//! a broker outage or a stalled fetch never turns its records late. `W` never goes backwards, also across a
//! restart: the checkpoint keeps the last emitted value. In bounded mode, once every
//! partition reached its end offset, `W` becomes `+∞`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The smallest watermark: nothing is known yet.
pub const MIN_WATERMARK: i64 = i64::MIN;
/// The watermark of a finished bounded input: every window is closed.
pub const END_OF_TIME: i64 = i64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PartitionClock {
    max_ts: Option<i64>,
    last_active_wall: i64,
    /// The source reached the partition's end (nothing more to read right now).
    caught_up: bool,
}

impl PartitionClock {
    fn new(max_ts: Option<i64>, wall_now: i64) -> Self {
        PartitionClock {
            max_ts,
            last_active_wall: wall_now,
            caught_up: false,
        }
    }

    fn is_idle(&self, wall_now: i64, idle_timeout: i64) -> bool {
        self.caught_up && wall_now - self.last_active_wall >= idle_timeout
    }
}

/// The part of the watermark state that is checkpointed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkState {
    /// Max event time seen per partition index.
    pub max_ts: BTreeMap<u32, i64>,
    /// The last watermark emitted (the floor after a restart).
    pub emitted: i64,
}

/// Tracks per-partition event time and computes the watermark.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    delay: i64,
    idle_timeout: i64,
    partitions: BTreeMap<u32, PartitionClock>,
    emitted: i64,
    ended: bool,
}

impl WatermarkTracker {
    /// A tracker with the given delay and idle timeout, both in milliseconds.
    pub fn new(delay_ms: i64, idle_timeout_ms: i64) -> Self {
        WatermarkTracker {
            delay: delay_ms,
            idle_timeout: idle_timeout_ms,
            partitions: BTreeMap::new(),
            emitted: MIN_WATERMARK,
            ended: false,
        }
    }

    /// Restores the checkpointed state; every known partition counts as active from `wall_now`.
    pub fn restore(&mut self, state: &WatermarkState, wall_now: i64) {
        self.emitted = state.emitted;
        for (p, ts) in &state.max_ts {
            self.partitions
                .insert(*p, PartitionClock::new(Some(*ts), wall_now));
        }
    }

    /// The state to checkpoint.
    pub fn state(&self) -> WatermarkState {
        WatermarkState {
            max_ts: self
                .partitions
                .iter()
                .filter_map(|(p, c)| c.max_ts.map(|t| (*p, t)))
                .collect(),
            emitted: self.emitted,
        }
    }

    /// Declares an input partition (assigned to this instance): until it shows data or
    /// goes idle, it holds the watermark back.
    pub fn register(&mut self, partition: u32, wall_now: i64) {
        self.partitions
            .entry(partition)
            .or_insert(PartitionClock::new(None, wall_now));
    }

    /// The source reached the end of `partition` (`true`) or found more records there
    /// (`false`). Only a caught-up partition can become idle.
    pub fn set_caught_up(&mut self, partition: u32, caught_up: bool, wall_now: i64) {
        let clock = self
            .partitions
            .entry(partition)
            .or_insert(PartitionClock::new(None, wall_now));
        if caught_up && !clock.caught_up {
            // Idleness counts from the moment it caught up, not from its last record.
            clock.last_active_wall = clock.last_active_wall.max(wall_now);
        }
        clock.caught_up = caught_up;
    }

    /// A record arrived on `partition` (valid or not): the partition is active.
    pub fn touch(&mut self, partition: u32, wall_now: i64) {
        let clock = self
            .partitions
            .entry(partition)
            .or_insert(PartitionClock::new(None, wall_now));
        clock.last_active_wall = clock.last_active_wall.max(wall_now);
    }

    /// Every partition counts as active from `wall_now` (consumption starts or resumes
    /// after a pause such as recovery; time not spent consuming is not idleness).
    pub fn reset_idle(&mut self, wall_now: i64) {
        for c in self.partitions.values_mut() {
            c.last_active_wall = wall_now;
        }
    }

    /// An event with time `event_ts` arrived on `partition`.
    pub fn observe(&mut self, partition: u32, event_ts: i64, wall_now: i64) {
        self.touch(partition, wall_now);
        if let Some(clock) = self.partitions.get_mut(&partition) {
            clock.max_ts = Some(clock.max_ts.map_or(event_ts, |m| m.max(event_ts)));
        }
    }

    /// Bounded mode: every partition reached its end; the watermark becomes `+∞` and every
    /// open window is emitted. What is checkpointed is a watermark that keeps those windows
    /// closed for a run that continues later: the latest event time plus `closing_extent`
    /// (see `WindowSpec::closing_extent`), so a record that belongs to an emitted window is
    /// late then, never the start of a second result for the same window.
    pub fn end_of_input(&mut self, closing_extent: i64) {
        if let Some(max) = self.partitions.values().filter_map(|c| c.max_ts).max() {
            self.emitted = self.emitted.max(max.saturating_add(closing_extent));
        }
        self.ended = true;
    }

    /// Whether [`end_of_input`](Self::end_of_input) was called.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The last emitted watermark, without advancing.
    pub fn current(&self) -> i64 {
        if self.ended {
            END_OF_TIME
        } else {
            self.emitted
        }
    }

    /// Per partition index: its max event time and whether it is idle at `wall_now`
    /// (it then no longer holds the watermark back).
    pub fn partition_clocks(&self, wall_now: i64) -> Vec<(u32, Option<i64>, bool)> {
        self.partitions
            .iter()
            .map(|(p, c)| (*p, c.max_ts, c.is_idle(wall_now, self.idle_timeout)))
            .collect()
    }

    /// Computes the watermark at wall-clock time `wall_now`, never below the last one.
    pub fn advance(&mut self, wall_now: i64) -> i64 {
        if self.ended {
            return END_OF_TIME;
        }
        let computed = compute_watermark(
            self.partitions
                .values()
                .map(|c| (c.max_ts, c.is_idle(wall_now, self.idle_timeout))),
            self.delay,
        );
        self.emitted = self.emitted.max(computed);
        self.emitted
    }
}

/// The pure watermark rule over `(max event time, is idle)` per partition.
///
/// Active partitions hold `W` back (one that has shown no data holds it at the minimum);
/// idle ones do not. When every partition is idle, the furthest partition sets `W`, so a
/// quiet stream still closes its windows.
pub fn compute_watermark(partitions: impl Iterator<Item = (Option<i64>, bool)>, delay: i64) -> i64 {
    let mut min_active: Option<Option<i64>> = None;
    let mut max_all: Option<i64> = None;
    for (max_ts, idle) in partitions {
        if let Some(t) = max_ts {
            max_all = Some(max_all.map_or(t, |m| m.max(t)));
        }
        if !idle {
            min_active = Some(match (min_active, max_ts) {
                (None, m) => m,
                (Some(None), _) | (Some(_), None) => None,
                (Some(Some(a)), Some(b)) => Some(a.min(b)),
            });
        }
    }
    let base = match min_active {
        Some(m) => m,
        None => max_all,
    };
    base.map_or(MIN_WATERMARK, |t| t.saturating_sub(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_rule_table() {
        // (partitions as (max_ts, idle), delay, expected)
        let cases: Vec<(Vec<(Option<i64>, bool)>, i64, i64)> = vec![
            (vec![], 10, MIN_WATERMARK),
            (vec![(None, false)], 10, MIN_WATERMARK),
            (vec![(Some(100), false)], 10, 90),
            (vec![(Some(100), false), (Some(50), false)], 10, 40),
            (vec![(Some(100), false), (None, false)], 10, MIN_WATERMARK),
            (vec![(Some(100), false), (None, true)], 10, 90),
            (vec![(Some(100), false), (Some(20), true)], 10, 90),
            (vec![(Some(100), true), (Some(20), true)], 10, 90),
            (vec![(None, true), (None, true)], 10, MIN_WATERMARK),
            (vec![(Some(i64::MIN + 5), false)], 10, i64::MIN),
        ];
        for (i, (parts, delay, expected)) in cases.into_iter().enumerate() {
            assert_eq!(
                compute_watermark(parts.into_iter(), delay),
                expected,
                "case {i}"
            );
        }
    }

    #[test]
    fn tracker_is_monotone_and_respects_idleness() {
        let mut t = WatermarkTracker::new(10, 1_000);
        t.register(0, 0);
        t.register(1, 0);
        t.set_caught_up(0, true, 0);
        t.set_caught_up(1, true, 0);
        t.observe(0, 500, 0);
        assert_eq!(t.advance(0), MIN_WATERMARK, "partition 1 has no data yet");
        t.observe(1, 300, 10);
        assert_eq!(t.advance(10), 290);
        // partition 1 goes quiet; after the idle timeout, partition 0 alone sets W
        t.observe(0, 800, 900);
        assert_eq!(t.advance(900), 290);
        assert_eq!(t.advance(1_010), 790);
        // partition 1 wakes up with old data: W does not go back
        t.observe(1, 310, 1_020);
        assert_eq!(t.advance(1_020), 790);
        t.end_of_input(60);
        assert_eq!(t.advance(1_030), END_OF_TIME);
        // what a checkpoint keeps: the latest event time plus the closing extent
        assert_eq!(t.state().emitted, 860);
    }

    #[test]
    fn a_partition_with_a_backlog_never_goes_idle() {
        // (caught up?, wall clock of the advance, expected W): partition 1 saw 300 at
        // wall 0 and then nothing; partition 0 keeps going.
        let cases: Vec<(bool, i64, i64)> = vec![
            (false, 500, 290),
            (false, 60_000, 290), // a broker outage: still behind, still holds W
            (true, 60_000, 290),  // caught up just now: idleness counts from here
            (true, 60_999, 290),
            (true, 61_000, 1_990), // caught up and quiet for the idle timeout
        ];
        let mut t = WatermarkTracker::new(10, 1_000);
        t.register(0, 0);
        t.register(1, 0);
        t.observe(1, 300, 0);
        for (caught_up, wall, expected) in cases {
            t.observe(0, 2_000, wall);
            t.set_caught_up(1, caught_up, wall.min(60_000));
            assert_eq!(
                t.advance(wall),
                expected,
                "caught up {caught_up}, wall {wall}"
            );
        }
    }

    #[test]
    fn restore_keeps_floor_and_maxima() {
        let mut t = WatermarkTracker::new(10, 1_000);
        t.observe(0, 500, 0);
        t.observe(1, 700, 0);
        assert_eq!(t.advance(0), 490);
        let state = t.state();
        let mut r = WatermarkTracker::new(10, 1_000);
        r.restore(&state, 50_000);
        assert_eq!(r.current(), 490);
        assert_eq!(r.advance(50_000), 490);
        r.observe(0, 900, 50_001);
        assert_eq!(r.advance(50_001), 690);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The tracker against a brute-force recomputation from the full history.
        #[test]
        fn tracker_matches_brute_force(
            events in proptest::collection::vec((0u32..4, -1_000i64..100_000, 0i64..200), 1..200),
            delay in 0i64..5_000,
            idle in 1i64..2_000,
        ) {
            let mut t = WatermarkTracker::new(delay, idle);
            for p in 0..4 {
                t.register(p, 0);
                t.set_caught_up(p, true, 0);
            }
            let mut wall = 0i64;
            let mut history: Vec<(u32, i64, i64)> = Vec::new();
            let mut emitted = MIN_WATERMARK;
            for (p, ts, dt) in events {
                wall += dt;
                t.observe(p, ts, wall);
                history.push((p, ts, wall));
                let got = t.advance(wall);
                let parts: Vec<(Option<i64>, bool)> = (0..4)
                    .map(|q| {
                        let mine: Vec<&(u32, i64, i64)> = history.iter().filter(|h| h.0 == q).collect();
                        let max = mine.iter().map(|h| h.1).max();
                        let last_active = mine.iter().map(|h| h.2).max().unwrap_or(0);
                        (max, wall - last_active >= idle)
                    })
                    .collect();
                let active: Vec<Option<i64>> = parts.iter().filter(|p| !p.1).map(|p| p.0).collect();
                let base = if active.is_empty() {
                    parts.iter().filter_map(|p| p.0).max()
                } else if active.iter().any(|m| m.is_none()) {
                    None
                } else {
                    active.iter().flatten().min().copied()
                };
                emitted = emitted.max(base.map_or(MIN_WATERMARK, |b| b - delay));
                prop_assert_eq!(got, emitted);
            }
        }
    }
}
