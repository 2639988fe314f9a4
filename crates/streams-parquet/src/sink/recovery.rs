//! The pure rule of Parquet recovery.

/// Whether `epoch` lies in one of the published ranges `[first, last]`: a published file
/// holds every row its (table, date) had in each epoch of its range.
pub fn covered(ranges: &[(u64, u64)], epoch: u64) -> bool {
    ranges
        .iter()
        .any(|(first, last)| *first <= epoch && epoch <= *last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_table() {
        let ranges = [(5, 9), (12, 12)];
        for (epoch, expected) in [
            (4, false),
            (5, true),
            (9, true),
            (10, false),
            (12, true),
            (13, false),
        ] {
            assert_eq!(covered(&ranges, epoch), expected, "epoch {epoch}");
        }
        assert!(!covered(&[], 1));
    }
}
