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
                ("a".into(), vec![(b"k".to_vec(), Some(b"v".to_vec()))]),
                (
                    "d".into(),
                    vec![(b"e1".to_vec(), Some(10i64.to_be_bytes().to_vec()))],
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
        stores: vec![("d".into(), writes)],
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
