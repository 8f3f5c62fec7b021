//! The storage interface. SQLite and PostgreSQL implement it in their own
//! crates; nothing here knows SQL.
//!
//! All work happens inside a transaction: [`Store::write`] runs a closure in
//! one serialisable write transaction (so read-modify-write never loses an
//! update and a provisioning event commits with its write), [`Store::read`] in
//! a read snapshot.

use crate::events::Event;
use crate::keys::ApiKeyRecord;
use crate::model::{Org, UserRecord};
use crate::DirectoryError;
use scim::filter::Filter;
use scim::list::SortOrder;
use scim::schema::AttrPath;

/// A user query: filter, sort and page, always scoped to one organisation.
#[derive(Debug, Clone)]
pub struct UserQuery<'a> {
    pub filter: Option<&'a Filter>,
    pub sort_by: Option<&'a AttrPath>,
    pub sort_order: SortOrder,
    /// 1-based.
    pub start_index: u64,
    /// 0 means: count only.
    pub count: u64,
}

/// Which uniqueness rule a value would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Username,
    Email,
    EmployeeIdentifier,
}

/// The operations available inside a transaction.
pub trait Tx {
    // Organisations.
    fn insert_org(&mut self, org: &Org) -> Result<i64, DirectoryError>;
    fn org_by_name(&mut self, name: &str) -> Result<Option<Org>, DirectoryError>;
    fn org_by_id(&mut self, id: i64) -> Result<Option<Org>, DirectoryError>;
    fn list_orgs(&mut self) -> Result<Vec<Org>, DirectoryError>;
    fn update_org(&mut self, org: &Org) -> Result<(), DirectoryError>;

    // API keys.
    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), DirectoryError>;
    /// The key whose SHA-256 token hash (hex) is `token_hash`.
    fn api_key_by_hash(&mut self, token_hash: &str) -> Result<Option<ApiKeyRecord>, DirectoryError>;
    fn list_api_keys(&mut self, org_id: i64) -> Result<Vec<ApiKeyRecord>, DirectoryError>;
    /// Marks the key revoked; `false` if no such unrevoked key.
    fn revoke_api_key(&mut self, org_id: i64, key_id: &str, at: &str) -> Result<bool, DirectoryError>;

    // Users.
    fn user_by_id(&mut self, org_id: i64, id: &str) -> Result<Option<UserRecord>, DirectoryError>;
    /// Users matching the query, in order, and the total number of matches.
    fn query_users(&mut self, org_id: i64, query: &UserQuery<'_>) -> Result<(u64, Vec<UserRecord>), DirectoryError>;
    /// The id of another user (not `except_id`) that already holds `value` for `field`.
    /// Usernames compare case-insensitively; emails are stored lower-cased.
    fn unique_holder(
        &mut self,
        org_id: i64,
        field: UniqueField,
        value: &str,
        except_id: Option<&str>,
    ) -> Result<Option<String>, DirectoryError>;
    /// Inserts a user. A unique-index violation is `DirectoryError::Conflict`.
    fn insert_user(&mut self, user: &UserRecord) -> Result<(), DirectoryError>;
    /// Overwrites a user (matched by org and id). A unique-index violation is `Conflict`.
    fn update_user(&mut self, user: &UserRecord) -> Result<(), DirectoryError>;
    /// Deletes a user; `false` if there was none.
    fn delete_user(&mut self, org_id: i64, id: &str) -> Result<bool, DirectoryError>;
    /// Clears `manager_id` (and the SCIM manager) of every user managed by `manager_id`.
    fn clear_manager_references(&mut self, org_id: i64, manager_id: &str) -> Result<(), DirectoryError>;

    // Provisioning log.
    fn append_event(&mut self, event: &Event) -> Result<(), DirectoryError>;
    /// The newest events of an organisation, newest first.
    fn recent_events(&mut self, org_id: i64, limit: u64) -> Result<Vec<Event>, DirectoryError>;
}

/// A transactional store.
pub trait Store: Send + Sync {
    /// Runs `work` in one write transaction: committed if it returns `Ok`,
    /// rolled back otherwise. Concurrent writers are serialised.
    fn write(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError>;
    /// Runs `work` on a consistent read snapshot.
    fn read(&self, work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>) -> Result<(), DirectoryError>;
}

/// Runs `work` in a write transaction and returns its value.
pub fn write<T>(
    store: &dyn Store,
    mut work: impl FnMut(&mut dyn Tx) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    let mut out = None;
    store.write(&mut |tx| {
        out = Some(work(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| DirectoryError::Store("transaction produced no result".into()))
}

/// Runs `work` on a read snapshot and returns its value.
pub fn read<T>(
    store: &dyn Store,
    mut work: impl FnMut(&mut dyn Tx) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    let mut out = None;
    store.read(&mut |tx| {
        out = Some(work(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| DirectoryError::Store("transaction produced no result".into()))
}
