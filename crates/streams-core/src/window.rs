//! Window assignment (DESIGN §3.4): pure functions of the event time.
//!
//! Windows are aligned to the Unix epoch. A tumbling window of size `d` holding `t`
//! starts at `floor(t / d) * d`; a hopping window (size `d`, advance `a`) starts at every
//! multiple of `a` with `start ≤ t < start + d`. Sessions follow Flink: each event spans
//! `[t, t + gap)` and overlapping spans merge; a session's end is its last event's time.

use serde::{Deserialize, Serialize};

/// How events are grouped in time. All durations are milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowSpec {
    /// Fixed, non-overlapping windows.
    Tumbling {
        /// Window length.
        size: i64,
    },
    /// Fixed windows that start every `advance` and overlap when `advance < size`.
    Hopping {
        /// Window length.
        size: i64,
        /// Distance between window starts.
        advance: i64,
    },
    /// Activity sessions closed by a gap of inactivity.
    Session {
        /// Inactivity gap.
        gap: i64,
    },
}

impl WindowSpec {
    /// How far past the latest event time a window emitted early (at the end of a bounded
    /// input) may reach: the watermark that closes every such window, and every session a
    /// later event could still have merged with, is the latest event time plus this.
    pub fn closing_extent(&self) -> i64 {
        match *self {
            WindowSpec::Tumbling { size } | WindowSpec::Hopping { size, .. } => size,
            WindowSpec::Session { gap } => gap.saturating_mul(2),
        }
    }
}

/// A time window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Window {
    /// Inclusive start, ms.
    pub start: i64,
    /// Exclusive end, ms.
    pub end: i64,
}

/// Why a window specification is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowSpecError {
    /// A size, advance or gap is zero or negative.
    NotPositive(&'static str),
    /// The advance of a hopping window is larger than its size (events would fall between windows).
    AdvanceLargerThanSize {
        /// Window size, ms.
        size: i64,
        /// Advance, ms.
        advance: i64,
    },
}

impl std::fmt::Display for WindowSpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WindowSpecError::NotPositive(what) => write!(f, "window {what} must be positive"),
            WindowSpecError::AdvanceLargerThanSize { size, advance } => write!(
                f,
                "window advance {advance}ms is larger than its size {size}ms (events would fall between windows)"
            ),
        }
    }
}

impl WindowSpec {
    /// Checks sizes; every problem is returned.
    pub fn validate(&self) -> Vec<WindowSpecError> {
        let mut errors = Vec::new();
        match *self {
            WindowSpec::Tumbling { size } => {
                if size <= 0 {
                    errors.push(WindowSpecError::NotPositive("size"));
                }
            }
            WindowSpec::Hopping { size, advance } => {
                if size <= 0 {
                    errors.push(WindowSpecError::NotPositive("size"));
                }
                if advance <= 0 {
                    errors.push(WindowSpecError::NotPositive("advance"));
                }
                if advance > size && size > 0 {
                    errors.push(WindowSpecError::AdvanceLargerThanSize { size, advance });
                }
            }
            WindowSpec::Session { gap } => {
                if gap <= 0 {
                    errors.push(WindowSpecError::NotPositive("gap"));
                }
            }
        }
        errors
    }

    /// The fixed windows holding `t`, in ascending start order (empty for sessions).
    pub fn assign(&self, t: i64) -> impl Iterator<Item = Window> {
        let (first, last, step, size) = match *self {
            WindowSpec::Tumbling { size } => {
                let s = t.div_euclid(size) * size;
                (s, s, size, size)
            }
            WindowSpec::Hopping { size, advance } => {
                let last = t.div_euclid(advance) * advance;
                // smallest multiple of `advance` strictly greater than t - size
                let first = ((t - size).div_euclid(advance) + 1) * advance;
                (first, last, advance, size)
            }
            WindowSpec::Session { .. } => (1, 0, 1, 0),
        };
        let count = if last >= first {
            (last - first) / step + 1
        } else {
            0
        };
        (0..count).map(move |i| {
            let start = first + i * step;
            Window {
                start,
                end: start.saturating_add(size),
            }
        })
    }

    /// The end of the latest window an event at `t` can belong to (for sessions, `t + gap`).
    pub fn latest_end(&self, t: i64) -> i64 {
        match *self {
            WindowSpec::Tumbling { size } => (t.div_euclid(size) * size).saturating_add(size),
            WindowSpec::Hopping { size, advance } => {
                (t.div_euclid(advance) * advance).saturating_add(size)
            }
            WindowSpec::Session { gap } => t.saturating_add(gap),
        }
    }

    /// A record is late for this window kind when every window it belongs to is already
    /// closed by the watermark `w` (a window `[s, e)` closes when `w ≥ e`).
    pub fn is_late(&self, t: i64, w: i64) -> bool {
        self.latest_end(t) <= w
    }
}

/// The time span of a session: events from `start` to `last` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionSpan {
    /// Time of the first event.
    pub start: i64,
    /// Time of the last event (`session_end`).
    pub last: i64,
}

impl SessionSpan {
    /// Whether an event at `t` overlaps this session: `[t, t+gap)` meets `[start, last+gap)`.
    pub fn overlaps(&self, t: i64, gap: i64) -> bool {
        self.start < t.saturating_add(gap) && t < self.last.saturating_add(gap)
    }

    /// The watermark at which this session closes: `last + gap`.
    pub fn close_at(&self, gap: i64) -> i64 {
        self.last.saturating_add(gap)
    }
}

/// Which of the sorted, disjoint `sessions` an event at `t` joins, and the merged span.
/// The event may bridge several sessions; all of them merge into the returned span.
pub fn merge_session(sessions: &[SessionSpan], t: i64, gap: i64) -> (SessionSpan, Vec<usize>) {
    let mut merged = SessionSpan { start: t, last: t };
    let mut joined = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        if s.overlaps(t, gap) {
            merged.start = merged.start.min(s.start);
            merged.last = merged.last.max(s.last);
            joined.push(i);
        }
    }
    (merged, joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(spec: WindowSpec, t: i64) -> Vec<i64> {
        spec.assign(t).map(|w| w.start).collect()
    }

    #[test]
    fn tumbling_assignment_table() {
        let spec = WindowSpec::Tumbling { size: 60 };
        for (t, expected) in [(0, 0), (59, 0), (60, 60), (61, 60), (-1, -60), (-60, -60)] {
            assert_eq!(starts(spec, t), vec![expected], "t={t}");
            assert_eq!(spec.latest_end(t), expected + 60);
        }
    }

    #[test]
    fn hopping_assignment_table() {
        let spec = WindowSpec::Hopping {
            size: 60,
            advance: 30,
        };
        let cases: [(i64, Vec<i64>); 6] = [
            (0, vec![-30, 0]),
            (29, vec![-30, 0]),
            (30, vec![0, 30]),
            (59, vec![0, 30]),
            (60, vec![30, 60]),
            (-1, vec![-60, -30]),
        ];
        for (t, expected) in cases {
            assert_eq!(starts(spec, t), expected, "t={t}");
        }
        let odd = WindowSpec::Hopping {
            size: 50,
            advance: 20,
        };
        // starts at multiples of 20 with start <= 45 < start + 50: 0, 20, 40
        assert_eq!(starts(odd, 45), vec![0, 20, 40]);
        assert_eq!(odd.latest_end(45), 90);
    }

    #[test]
    fn lateness_table() {
        let t = WindowSpec::Tumbling { size: 60 };
        assert!(!t.is_late(59, 59));
        assert!(t.is_late(59, 60));
        let h = WindowSpec::Hopping {
            size: 60,
            advance: 30,
        };
        // t=40 lies in [0,60) and [30,90): late only once W >= 90
        assert!(!h.is_late(40, 60));
        assert!(h.is_late(40, 90));
        let s = WindowSpec::Session { gap: 30 };
        assert!(!s.is_late(100, 129));
        assert!(s.is_late(100, 130));
    }

    #[test]
    fn validation_reports_every_problem() {
        assert!(WindowSpec::Tumbling { size: 1 }.validate().is_empty());
        assert_eq!(
            WindowSpec::Hopping {
                size: 30,
                advance: 60
            }
            .validate(),
            vec![WindowSpecError::AdvanceLargerThanSize {
                size: 30,
                advance: 60
            }]
        );
        assert_eq!(
            WindowSpec::Hopping {
                size: 0,
                advance: -1
            }
            .validate()
            .len(),
            2
        );
        assert_eq!(WindowSpec::Session { gap: 0 }.validate().len(), 1);
    }

    #[test]
    fn sessions_merge_when_an_event_bridges_them() {
        let gap = 30;
        let sessions = [
            SessionSpan { start: 0, last: 10 },
            SessionSpan {
                start: 60,
                last: 70,
            },
        ];
        // 35 overlaps [0, 40) and [60 - ... : [35, 65) meets [60, 100)
        let (merged, joined) = merge_session(&sessions, 35, gap);
        assert_eq!(merged, SessionSpan { start: 0, last: 70 });
        assert_eq!(joined, vec![0, 1]);
        // 45 is 35 after the first session's last event: only the second
        let (merged, joined) = merge_session(&sessions, 45, gap);
        assert_eq!(
            merged,
            SessionSpan {
                start: 45,
                last: 70
            }
        );
        assert_eq!(joined, vec![1]);
        // 200 is alone
        let (merged, joined) = merge_session(&sessions, 200, gap);
        assert_eq!(
            merged,
            SessionSpan {
                start: 200,
                last: 200
            }
        );
        assert!(joined.is_empty());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    fn spec() -> impl Strategy<Value = WindowSpec> {
        prop_oneof![
            (1i64..500).prop_map(|size| WindowSpec::Tumbling { size }),
            (1i64..500, 1i64..500)
                .prop_filter("advance <= size", |(s, a)| a <= s)
                .prop_map(|(size, advance)| WindowSpec::Hopping { size, advance }),
        ]
    }

    proptest! {
        #[test]
        fn assignment_matches_brute_force(spec in spec(), t in -5_000i64..5_000, w in -6_000i64..6_000) {
            let (size, advance) = match spec {
                WindowSpec::Tumbling { size } => (size, size),
                WindowSpec::Hopping { size, advance } => (size, advance),
                WindowSpec::Session { .. } => unreachable!(),
            };
            // every multiple of `advance` in a generous range, filtered by the definition
            let brute: Vec<i64> = ((t - size) / advance - 2..=t / advance + 2)
                .map(|k| k * advance)
                .filter(|s| *s <= t && t < s + size)
                .collect();
            let got: Vec<i64> = spec.assign(t).map(|w| w.start).collect();
            prop_assert_eq!(&got, &brute);
            prop_assert!(spec.assign(t).all(|w| w.end == w.start + size));
            prop_assert_eq!(spec.is_late(t, w), brute.iter().all(|s| s + size <= w));
        }

        #[test]
        fn session_merge_matches_brute_force(times in proptest::collection::vec(0i64..1_000, 1..40), gap in 1i64..100) {
            // Build sessions incrementally with merge_session; compare with a sort-and-sweep.
            let mut sessions: Vec<SessionSpan> = Vec::new();
            for &t in &times {
                let (merged, joined) = merge_session(&sessions, t, gap);
                for &j in joined.iter().rev() {
                    sessions.remove(j);
                }
                sessions.push(merged);
                sessions.sort();
            }
            let mut sorted = times.clone();
            sorted.sort();
            let mut sweep: Vec<SessionSpan> = Vec::new();
            for t in sorted {
                match sweep.last_mut() {
                    Some(s) if t < s.last + gap => s.last = s.last.max(t),
                    _ => sweep.push(SessionSpan { start: t, last: t }),
                }
            }
            prop_assert_eq!(sessions, sweep);
        }
    }
}
