//! Roster's directory core: organisations, roles, API keys, users and their
//! lifecycle, the SCIM ↔ directory attribute mapping and the validation rules
//! of `spec/product.md` §2–4, and the provisioning log.
//!
//! Storage sits behind [`store::Store`]; this crate holds no SQL. SCIM
//! protocol work (parsing, PATCH, projection) is delegated to the `scim` crate.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod error;
pub mod events;
pub mod keys;
pub mod mapping;
pub mod model;
pub mod store;
#[cfg(feature = "store-suite")]
pub mod store_suite;
pub mod users;
pub mod validate;

pub use error::DirectoryError;
pub use model::{Org, Role, UserRecord, UserState, UsernamePolicy};
pub use store::{Store, Tx};
pub use users::{Actor, Directory};

/// Now, as an RFC 3339 string with millisecond precision (UTC).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(now.millisecond() as u32 * 1_000_000).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
