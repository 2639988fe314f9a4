//! While the memtables are full, a dedup look-up of an absent key is answered by a
//! cached bloom filter, not by reading the filter block from disk again.
//!
//! When the memtables were charged to the block cache, their charge alone filled it,
//! every filter block was dropped as soon as it was read, and each look-up read (and
//! checksummed) a whole filter from the SST file: `bench engine` with a million open
//! sessions fell to 13,000 events/s, four fifths of the time in those reads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rocksdb::perf::{set_perf_stats, PerfContext, PerfMetric, PerfStatsLevel};
use streams_core::store::{KeyValueStore, StoreKind, StoreSpec};
use streams_state::{CheckpointWrites, StateConfig, StateDb};

fn commit(db: &StateDb, store: &str, kvs: Vec<(Vec<u8>, Vec<u8>)>) {
    db.commit(CheckpointWrites {
        stores: vec![(
            store.to_string(),
            std::sync::Arc::new(kvs.into_iter().map(|(k, v)| (k, Some(v))).collect()),
        )],
        ..CheckpointWrites::default()
    })
    .unwrap();
}

#[test]
fn dedup_filters_stay_cached_while_the_memtables_are_full() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = StateConfig {
        block_cache_bytes: 512 << 10,
        write_buffer_bytes: 4 << 20,
        total_write_buffer_bytes: 16 << 20,
    };
    let stores = [
        StoreSpec::new("dedup", StoreKind::Dedup),
        StoreSpec::new("sessions", StoreKind::Window),
    ];
    let db = StateDb::open(dir.path(), &stores, &cfg).unwrap();
    // 100,000 even ids in SST files (filters of ~120 KiB in all: the cache holds them).
    for c in 0..10 {
        let ids = (0..10_000)
            .map(|i| {
                (
                    format!("id-{:08}", 2 * (c * 10_000 + i)).into_bytes(),
                    vec![0x7f; 8],
                )
            })
            .collect::<Vec<_>>();
        commit(&db, "dedup", ids);
    }
    db.compact_all().unwrap();
    // Then other state fills the memtables past the size of the block cache.
    for c in 0..6 {
        let rows = (0..1_000)
            .map(|i| (format!("s-{c}-{i:06}").into_bytes(), vec![c as u8; 400]))
            .collect::<Vec<_>>();
        commit(&db, "sessions", rows);
    }
    let memtables = db.memtable_bytes();
    assert!(
        memtables > cfg.block_cache_bytes as u64,
        "the memtables hold {memtables} bytes, less than the block cache"
    );
    let mut store = db.store("dedup").unwrap();
    // Odd ids are absent, inside the files' key ranges (so the filters are consulted).
    let absent: Vec<String> = (0..1_000)
        .map(|i| format!("id-{:08}", 2 * i * 97 + 1))
        .collect();
    // The first pass may read the filter (and index) partitions; the second must find
    // them cached.
    for key in &absent {
        assert!(store.get(key.as_bytes()).unwrap().is_none());
    }
    set_perf_stats(PerfStatsLevel::EnableCount);
    let mut ctx = PerfContext::default();
    ctx.reset();
    for key in &absent {
        assert!(store.get(key.as_bytes()).unwrap().is_none());
    }
    let reads = ctx.metric(PerfMetric::BlockReadCount);
    set_perf_stats(PerfStatsLevel::Disable);
    // A present id is still found (the filter is the right one).
    assert!(store.get(b"id-00054320").unwrap().is_some());
    assert!(db.block_cache_usage() > 0, "the shared cache holds nothing");
    // Without the cached filter every look-up reads it (1,000+).
    let n = absent.len();
    assert!(
        reads < 10,
        "{reads} blocks read from disk for {n} look-ups of absent keys: the filter is not kept in the cache"
    );
}
