//! The SCIM 2.0 protocol core of Roster (RFC 7643, RFC 7644).
//!
//! This crate knows SCIM and nothing else: no I/O, no async runtime, no HTTP
//! framework, no database. Inputs are strings and [`serde_json::Value`]s;
//! outputs are typed values, JSON and a typed [`ScimError`].
//!
//! * [`schema`]: the core User, Group and Enterprise User schemas as data, the
//!   discovery documents generated from them, case-insensitive attribute
//!   lookup and value coercion (Entra's `"False"` and friends).
//! * [`filter`]: the RFC 7644 §3.4.2.2 filter grammar, a typed AST, a
//!   printer and an evaluator.
//! * [`path`] and [`patch`]: PATCH paths and operations (§3.5.2), with the
//!   dialects of Entra ID (with and without `aadOptscim062020`), the Microsoft
//!   SCIM Validator and Okta.
//! * [`projection`]: `attributes` / `excludedAttributes`.
//! * [`list`]: query parameters and the ListResponse.
//!
//! ```
//! use scim::{filter::Filter, patch::PatchRequest, schema::USER};
//! use serde_json::json;
//!
//! let filter: Filter = "userName eq \"jdoe\" and active eq true".parse().unwrap();
//! let user = json!({"schemas": [scim::schema::USER_SCHEMA_URN], "id": "1",
//!                   "userName": "JDoe", "active": true});
//! assert!(filter.matches(&user, &USER));
//!
//! let request: PatchRequest = serde_json::from_value(json!({
//!     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!     "Operations": [{"op": "Replace", "path": "active", "value": "False"}]
//! })).unwrap();
//! let outcome = request.apply(&user, &USER).unwrap();
//! assert_eq!(outcome.resource["active"], json!(false));
//! assert!(outcome.changed);
//! ```
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod error;
pub mod filter;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod schema;

pub use error::{ScimError, ScimType};
