//! Output record identity: the headers every output record carries, and the pure
//! recovery rule that decides which outbox records a sink must skip.

use std::collections::HashSet;

/// Header: the app id that wrote the record.
pub const APP_ID: &str = "streams-app-id";
/// Header: the task that produced it.
pub const TASK: &str = "streams-task";
/// Header: the checkpoint (outbox epoch) that holds it.
pub const EPOCH: &str = "streams-epoch";
/// Header: its sequence number in that checkpoint's table.
pub const SEQ: &str = "streams-seq";
/// Header: the output table.
pub const TABLE: &str = "streams-table";
/// Header on the updates of still-open windows (`emit = "update"`): value `update`.
/// Final rows carry no such header.
pub const EMIT: &str = "streams-emit";
/// Header of dead letters: the reason code.
pub const DLQ_REASON: &str = "streams-dlq-reason";
/// Header of dead letters: what exactly was wrong.
pub const DLQ_DETAIL: &str = "streams-dlq-detail";
/// Header of dead letters: source topic.
pub const DLQ_TOPIC: &str = "streams-dlq-topic";
/// Header of dead letters: source partition.
pub const DLQ_PARTITION: &str = "streams-dlq-partition";
/// Header of dead letters: source offset.
pub const DLQ_OFFSET: &str = "streams-dlq-offset";
/// Header of a truncated dead letter: the original value's size in bytes.
pub const DLQ_ORIGINAL_SIZE: &str = "streams-dlq-original-size";
/// Header of a truncated dead letter: SHA-256 of the original value (lowercase hex).
pub const DLQ_ORIGINAL_SHA256: &str = "streams-dlq-original-sha256";

/// The identity of one output record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    /// Task.
    pub task: u32,
    /// Epoch.
    pub epoch: u64,
    /// Sequence number within (epoch, table).
    pub seq: u64,
}

/// Parses the identity headers of a record written by `app_id` (others are ignored).
pub fn parse_identity(app_id: &str, headers: &[(&str, &[u8])]) -> Option<RecordId> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    };
    if get(APP_ID)? != app_id {
        return None;
    }
    Some(RecordId {
        task: get(TASK)?.parse().ok()?,
        epoch: get(EPOCH)?.parse().ok()?,
        seq: get(SEQ)?.parse().ok()?,
    })
}

/// Which of `wanted` identities must still be written, given the identities found in
/// the topic's tail. Pure: the sink's recovery is this plus I/O.
pub fn still_missing(wanted: &[RecordId], present: &HashSet<RecordId>) -> Vec<RecordId> {
    wanted
        .iter()
        .filter(|id| !present.contains(id))
        .copied()
        .collect()
}

/// The epoch-marker record of a transaction: written in the same transaction as the
/// epoch's outputs, so a `read_committed` reader of the epochs topic learns which epochs
/// are committed without reading any output topic.
pub fn epoch_marker(app_id: &str, task: u32, epoch: u64) -> (Vec<u8>, Vec<u8>) {
    let key = format!("{app_id}/task-{task}").into_bytes();
    (key, epoch.to_string().into_bytes())
}

/// The newest committed epoch of `task` among marker records `(key, value)` read from
/// the epochs topic (in any order); `None` when none is `task`'s. Pure: the sink's
/// transactional recovery is this plus I/O.
pub fn last_committed_epoch(
    app_id: &str,
    task: u32,
    markers: &[(Option<Vec<u8>>, Vec<u8>)],
) -> Option<u64> {
    let (want, _) = epoch_marker(app_id, task, 0);
    markers
        .iter()
        .filter(|(k, _)| k.as_deref() == Some(want.as_slice()))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
        .max()
}

/// A dead letter's value cut to at most `limit` bytes. Returns the bytes to send and, when
/// it was cut, the original size and SHA-256 (hex) for the headers: an oversized record
/// still reaches the DLQ (never a stall) and can be matched with its source.
pub fn truncate_dead_letter(value: &[u8], limit: usize) -> (&[u8], Option<(usize, String)>) {
    if value.len() <= limit {
        return (value, None);
    }
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(value);
    let hex = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    (&value[..limit], Some((value.len(), hex)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_committed_epoch_table() {
        let m = |task: u32, epoch: u64| {
            let (k, v) = epoch_marker("app", task, epoch);
            (Some(k), v)
        };
        let other_app = {
            let (k, v) = epoch_marker("app2", 0, 99);
            (Some(k), v)
        };
        let cases: Vec<(&str, Vec<(Option<Vec<u8>>, Vec<u8>)>, Option<u64>)> = vec![
            ("nothing written yet", vec![], None),
            ("one marker", vec![m(0, 7)], Some(7)),
            (
                "newest wins, any order",
                vec![m(0, 9), m(0, 7), m(0, 8)],
                Some(9),
            ),
            ("other tasks ignored", vec![m(1, 50), m(0, 3)], Some(3)),
            ("only other tasks", vec![m(1, 50)], None),
            (
                "another app with a prefix of ours",
                vec![other_app, m(0, 4)],
                Some(4),
            ),
            (
                "garbage value ignored",
                vec![(m(0, 1).0, b"x".to_vec()), m(0, 2)],
                Some(2),
            ),
            ("no key ignored", vec![(None, b"5".to_vec())], None),
        ];
        for (name, markers, want) in cases {
            assert_eq!(last_committed_epoch("app", 0, &markers), want, "{name}");
        }
    }

    #[test]
    fn dead_letters_over_the_limit_are_cut_with_size_and_hash() {
        let small = b"{oops".to_vec();
        assert_eq!(truncate_dead_letter(&small, 5), (&small[..], None));
        let big = vec![b'x'; 10];
        let (cut, meta) = truncate_dead_letter(&big, 4);
        assert_eq!(cut, b"xxxx");
        let (size, sha) = meta.unwrap();
        assert_eq!(size, 10);
        // sha256("xxxxxxxxxx"), as `printf xxxxxxxxxx | sha256sum` prints it
        assert_eq!(
            sha,
            "fc11d6f28e59d3cc33c0b14ceb644bf0902ebd63d61218dffe9e7dac7c254542"
        );
    }

    #[test]
    fn identity_headers_table() {
        let ok: Vec<(&str, &[u8])> =
            vec![(APP_ID, b"app"), (TASK, b"0"), (EPOCH, b"12"), (SEQ, b"7")];
        assert_eq!(
            parse_identity("app", &ok),
            Some(RecordId {
                task: 0,
                epoch: 12,
                seq: 7
            })
        );
        assert_eq!(parse_identity("other", &ok), None, "another app's record");
        let missing: Vec<(&str, &[u8])> = vec![(APP_ID, b"app"), (TASK, b"0"), (EPOCH, b"12")];
        assert_eq!(parse_identity("app", &missing), None);
        let garbage: Vec<(&str, &[u8])> =
            vec![(APP_ID, b"app"), (TASK, b"0"), (EPOCH, b"x"), (SEQ, b"7")];
        assert_eq!(parse_identity("app", &garbage), None);
    }

    #[test]
    fn recovery_skips_exactly_what_is_present() {
        let id = |epoch, seq| RecordId {
            task: 0,
            epoch,
            seq,
        };
        let wanted = [id(5, 0), id(5, 1), id(5, 2), id(6, 0)];
        let cases: Vec<(Vec<RecordId>, Vec<RecordId>)> = vec![
            (vec![], wanted.to_vec()),
            (vec![id(5, 0), id(5, 1)], vec![id(5, 2), id(6, 0)]),
            (wanted.to_vec(), vec![]),
            (vec![id(4, 0), id(5, 9)], wanted.to_vec()),
        ];
        for (present, expected) in cases {
            let present: HashSet<RecordId> = present.into_iter().collect();
            assert_eq!(still_missing(&wanted, &present), expected);
        }
    }
}
