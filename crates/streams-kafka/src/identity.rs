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

#[cfg(test)]
mod tests {
    use super::*;

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
