//! Property test: windows, watermarks, dedup and sessions of the reference topology
//! against the brute-force model in `common::oracle`, on random out-of-order input with
//! random partition counts and disorder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_brute_force_model(
        seed in any::<u64>(),
        n in 20usize..400,
        partitions in 1i32..5,
        disorder_ms in prop_oneof![Just(0i64), 0i64..5_000, 5_000i64..120_000],
        commit_every in 1usize..100,
    ) {
        let inputs = random_inputs_with(seed, n, partitions, disorder_ms);
        let got = actual(&mut run_uninterrupted(&inputs, partitions, commit_every));
        let want = oracle(&inputs, partitions);
        assert_same(&got, &want, &format!("seed {seed}, n {n}, partitions {partitions}, disorder {disorder_ms}"));
    }
}
