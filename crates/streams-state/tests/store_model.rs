//! The RocksDB store against the in-memory model: random puts, deletes, gets, scans,
//! checkpoints and crashes (reopen from disk, dropping uncommitted writes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use streams_core::store::{KeyValueStore, MemoryStore, StoreKind, StoreSpec};
use streams_state::{CheckpointWrites, StateConfig, StateDb};

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    Get(u8),
    Scan(u8),
    Commit,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..24, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0u8..24).prop_map(Op::Delete),
        3 => (0u8..24).prop_map(Op::Get),
        1 => (0u8..3).prop_map(Op::Scan),
        1 => Just(Op::Commit),
        1 => Just(Op::Crash),
    ]
}

fn key(k: u8) -> Vec<u8> {
    // Keys share prefixes so scans have something to do: "a/0".."c/7".
    format!("{}/{}", (b'a' + k % 3) as char, k / 3).into_bytes()
}

fn prefix(p: u8) -> Vec<u8> {
    format!("{}/", (b'a' + p) as char).into_bytes()
}

fn config() -> StateConfig {
    StateConfig {
        block_cache_bytes: 1 << 20,
        write_buffer_bytes: 64 << 10,
        total_write_buffer_bytes: 1 << 20,
    }
}

fn scan_all(s: &mut dyn KeyValueStore, p: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    s.scan(p, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Ok(())
    })
    .unwrap();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn rocks_store_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
        let dir = tempfile::tempdir().unwrap();
        let specs = [StoreSpec::new("kv", StoreKind::KeyValue)];
        let mut db = StateDb::open(dir.path(), &specs, &config()).unwrap();
        let mut store = db.store("kv").unwrap();
        let mut model = MemoryStore::new("kv");
        for op in ops {
            match op {
                Op::Put(k, v) => { store.put(&key(k), &[v]); model.put(&key(k), &[v]); }
                Op::Delete(k) => { store.delete(&key(k)); model.delete(&key(k)); }
                Op::Get(k) => prop_assert_eq!(store.get(&key(k)).unwrap(), model.get(&key(k)).unwrap()),
                Op::Scan(p) => prop_assert_eq!(scan_all(&mut store, &prefix(p)), scan_all(&mut model, &prefix(p))),
                Op::Commit => {
                    let writes = CheckpointWrites {
                        stores: vec![("kv".into(), store.take_pending())],
                        ..Default::default()
                    };
                    db.commit(writes).unwrap();
                    model.commit();
                }
                Op::Crash => {
                    drop(store);
                    drop(db);
                    db = StateDb::open(dir.path(), &specs, &config()).unwrap();
                    store = db.store("kv").unwrap();
                    model.crash();
                }
            }
        }
        prop_assert_eq!(scan_all(&mut store, b""), scan_all(&mut model, b""));
    }
}

#[derive(Debug, Clone)]
enum Step {
    Op(Op),
    /// A checkpoint is taken; its write is still to come (the delivery thread's).
    Take,
    /// The write taken last reaches the database, from another thread.
    Write,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => op().prop_map(Step::Op),
        1 => Just(Step::Take),
        1 => Just(Step::Write),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    /// Checkpoints written on another thread while the store is used: the writes in
    /// flight stay readable (gets and scans) until the write is confirmed, and a crash
    /// before the write loses exactly them.
    #[test]
    fn rocks_store_with_writes_in_flight_matches_model(
        steps in proptest::collection::vec(step(), 1..160),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let specs = [StoreSpec::new("kv", StoreKind::KeyValue)];
        let mut db = StateDb::open(dir.path(), &specs, &config()).unwrap();
        let mut store = db.store("kv").unwrap();
        // What reads must see, and what the database holds.
        let mut model = MemoryStore::new("kv");
        let mut durable = MemoryStore::new("kv");
        let mut in_flight: Option<(CheckpointWrites, streams_core::store::PendingWrites)> = None;
        for s in steps {
            let write = |db: &StateDb, store: &mut streams_state::RocksStore, durable: &mut MemoryStore,
                         (writes, model_writes): (CheckpointWrites, streams_core::store::PendingWrites)| {
                let writer = db.writer();
                std::thread::spawn(move || writer.commit(writes)).join().unwrap().unwrap();
                store.committed();
                durable.apply(model_writes);
            };
            match s {
                Step::Take if in_flight.is_none() => {
                    let writes = CheckpointWrites {
                        stores: vec![("kv".into(), store.take_pending())],
                        ..Default::default()
                    };
                    let taken = model.take_pending();
                    model.apply(taken.clone());
                    in_flight = Some((writes, taken));
                }
                Step::Take => {}
                Step::Write | Step::Op(Op::Commit) => {
                    if let Some(f) = in_flight.take() {
                        write(&db, &mut store, &mut durable, f);
                    }
                    if matches!(s, Step::Op(Op::Commit)) {
                        let writes = CheckpointWrites {
                            stores: vec![("kv".into(), store.take_pending())],
                            ..Default::default()
                        };
                        db.commit(writes).unwrap();
                        store.committed();
                        let taken = model.take_pending();
                        model.apply(taken.clone());
                        durable.apply(taken);
                    }
                }
                Step::Op(Op::Put(k, v)) => { store.put(&key(k), &[v]); model.put(&key(k), &[v]); }
                Step::Op(Op::Delete(k)) => { store.delete(&key(k)); model.delete(&key(k)); }
                Step::Op(Op::Get(k)) => prop_assert_eq!(store.get(&key(k)).unwrap(), model.get(&key(k)).unwrap()),
                Step::Op(Op::Scan(p)) => prop_assert_eq!(scan_all(&mut store, &prefix(p)), scan_all(&mut model, &prefix(p))),
                Step::Op(Op::Crash) => {
                    in_flight = None;
                    drop(store);
                    drop(db);
                    db = StateDb::open(dir.path(), &specs, &config()).unwrap();
                    store = db.store("kv").unwrap();
                    model = durable.clone();
                }
            }
        }
        prop_assert_eq!(scan_all(&mut store, b""), scan_all(&mut model, b""));
    }
}

#[test]
fn checkpoint_batch_is_atomic_across_stores_meta_and_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let specs = [
        StoreSpec::new("a", StoreKind::KeyValue),
        StoreSpec::new("d", StoreKind::Dedup),
    ];
    {
        let db = StateDb::open(dir.path(), &specs, &config()).unwrap();
        db.commit(CheckpointWrites {
            stores: vec![
                (
                    "a".into(),
                    vec![(b"k".to_vec(), Some(b"v".to_vec()))].into(),
                ),
                (
                    "d".into(),
                    vec![(b"e1".to_vec(), Some(10i64.to_be_bytes().to_vec()))].into(),
                ),
            ],
            meta: vec![(b"checkpoint".to_vec(), b"1".to_vec())],
            outbox: vec![
                (b"\x00\x01".to_vec(), b"rows".to_vec()),
                (b"\x00\x02".to_vec(), b"more".to_vec()),
            ],
            outbox_delete_before: None,
        })
        .unwrap();
        db.commit(CheckpointWrites {
            outbox_delete_before: Some(b"\x00\x02".to_vec()),
            ..Default::default()
        })
        .unwrap();
    }
    let db = StateDb::open(dir.path(), &specs, &config()).unwrap();
    assert_eq!(db.get_meta(b"checkpoint").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        db.store("a").unwrap().get(b"k").unwrap(),
        Some(b"v".to_vec())
    );
    assert_eq!(
        db.outbox().unwrap(),
        vec![(b"\x00\x02".to_vec(), b"more".to_vec())]
    );
}

#[test]
fn expired_dedup_entries_are_collected_only_below_the_committed_floor() {
    let dir = tempfile::tempdir().unwrap();
    let specs = [StoreSpec::new("d", StoreKind::Dedup)];
    let db = StateDb::open(dir.path(), &specs, &config()).unwrap();
    let writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = (0..100i64)
        .map(|i| {
            (
                format!("e{i:03}").into_bytes(),
                Some(i.to_be_bytes().to_vec()),
            )
        })
        .collect();
    db.commit(CheckpointWrites {
        stores: vec![("d".into(), writes.into())],
        ..Default::default()
    })
    .unwrap();
    db.set_dedup_floor(49);
    db.compact_all().unwrap();
    let mut store = db.store("d").unwrap();
    let left = scan_all(&mut store, b"");
    assert_eq!(left.len(), 50, "entries expiring at or before 49 are gone");
    assert_eq!(left[0].0, b"e050".to_vec());
}
