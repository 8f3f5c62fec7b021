//! Roster's directory core: organisations, roles, API keys, users and their
//! lifecycle, the SCIM ↔ directory attribute mapping and the validation rules
//! of `spec/product.md` §2–4, and the provisioning log.
//!
//! Storage sits behind [`store::Store`]; this crate holds no SQL. SCIM
//! protocol work (parsing, PATCH, projection) is delegated to the `scim` crate.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod document;
pub mod error;
pub mod events;
pub mod groups;
pub mod import;
pub mod keys;
pub mod mapping;
pub mod pushdown;
pub mod model;
pub mod store;
#[cfg(feature = "store-suite")]
pub mod store_suite;
pub mod users;
pub mod validate;

pub use document::Document;
pub use error::DirectoryError;
pub use model::{GroupRecord, GroupRef, MemberRef, Org, Role, UserNames, UserRecord, UserState, UsernamePolicy};
pub use store::{ChangeStamp, Store, SyncPoint, Tx};
pub use users::{Actor, Directory};

/// A new id for a user, group or event: a UUIDv7 (RFC 9562). Its leading
/// timestamp makes new ids sort after older ones, so a new row lands at the
/// end of each index over ids instead of on a random page, which a COMMIT
/// would then have to write out.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Now, as an RFC 3339 UTC string with exactly three fractional digits, so
/// that timestamps compare correctly as strings (`…:44.000Z` < `…:44.283Z`).
pub fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

/// Formats an instant like [`now_rfc3339`].
pub fn format_rfc3339(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn new_ids_are_uuids_that_sort_in_creation_order() {
        let ids: Vec<String> = (0..1000).map(|_| super::new_id()).collect();
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 7, "{id}");
            assert_eq!(parsed.to_string(), *id, "lower-case hyphenated form");
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids must increase");
    }

    #[test]
    fn timestamps_have_fixed_width_and_sort_as_strings() {
        let whole = time::macros::datetime!(2026-11-28 17:17:44 UTC);
        let later = whole + time::Duration::milliseconds(283);
        assert_eq!(super::format_rfc3339(whole), "2026-11-28T17:17:44.000Z");
        assert_eq!(super::format_rfc3339(later), "2026-11-28T17:17:44.283Z");
        assert!(super::format_rfc3339(whole) < super::format_rfc3339(later));
    }
}
