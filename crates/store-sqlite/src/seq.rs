//! Sequence numbers keyed by organisation (migration 8).
//!
//! A user's or an event's `seq` (its table's rowid) is `org_id << 40 | n`,
//! so an organisation's rows are one contiguous range of the table's own
//! B-tree, in insertion order. Listing them needs no `(org_id, seq)` index
//! beside the table, and every create writes one B-tree fewer.

use directory::DirectoryError;

/// Bits of a seq below its organisation's id: 2^40 rows per organisation.
const ORG_SHIFT: u32 = 40;

/// Organisation ids whose range fits in a positive `i64`.
const KEYABLE_ORGS: std::ops::Range<i64> = 0..(1 << 22);

/// The seqs `[first, end)` of an organisation's rows; empty for an id that
/// can hold no rows (see [`range_for_insert`]).
pub fn range(org_id: i64) -> (i64, i64) {
    if KEYABLE_ORGS.contains(&org_id) {
        let first = org_id << ORG_SHIFT;
        (first, first + (1 << ORG_SHIFT))
    } else {
        (i64::MAX, i64::MAX)
    }
}

/// [`range`] for a new row, which must get a seq in it.
pub fn range_for_insert(org_id: i64) -> Result<(i64, i64), DirectoryError> {
    if KEYABLE_ORGS.contains(&org_id) {
        Ok(range(org_id))
    } else {
        Err(DirectoryError::Store(format!("organisation id {org_id} is outside the range Roster can key rows by")))
    }
}

/// The SQL of the seq for a new row of `table` in the organisation whose
/// range is bound at `?1` and `?2`: one seek to the end of that range.
macro_rules! next_seq_sql {
    ($table:literal) => {
        concat!("(SELECT coalesce(max(seq) + 1, ?1) FROM ", $table, " WHERE seq >= ?1 AND seq < ?2)")
    };
}
pub(crate) use next_seq_sql;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisations_get_disjoint_ranges() {
        let (a0, a1) = range(1);
        let (b0, b1) = range(2);
        assert!(a0 < a1 && a1 <= b0 && b0 < b1);
        assert_eq!(range(0).0, 0);
        let (last0, last1) = range(KEYABLE_ORGS.end - 1);
        assert!(last0 < last1 && last1 > 0, "the last range does not overflow");
    }

    #[test]
    fn an_unkeyable_organisation_has_an_empty_range_and_no_inserts() {
        for org in [-1, KEYABLE_ORGS.end, i64::MAX] {
            let (first, end) = range(org);
            assert_eq!(first, end);
            assert!(range_for_insert(org).is_err());
        }
    }
}
