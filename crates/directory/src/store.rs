//! The storage interface. SQLite and PostgreSQL implement it in their own
//! crates; nothing here knows SQL.
//!
//! All work happens inside a transaction: [`Store::write`] runs a closure in
//! one serialisable write transaction (so read-modify-write never loses an
//! update and a provisioning event commits with its write), [`Store::read`] in
//! a read snapshot.

use crate::events::Event;
use crate::keys::ApiKeyRecord;
use crate::model::{GroupRecord, GroupRef, MemberRef, Org, UserNames, UserRecord};
use crate::DirectoryError;
use scim::filter::Filter;
use scim::list::SortOrder;
use scim::schema::AttrPath;

/// A user query: filter, sort and page, always scoped to one organisation.
///
/// Two ways to page: by index (`start_index`, RFC 7644: `OFFSET`, so a deep
/// page walks the rows before it) or, when `after` is set, by cursor (RFC
/// 9865: keyset paging on the insertion sequence number, so every page costs
/// the same and rows inserted meanwhile land after the cursor).
#[derive(Debug, Clone, Default)]
pub struct UserQuery<'a> {
    pub filter: Option<&'a Filter>,
    /// Ignored in cursor mode (insertion order).
    pub sort_by: Option<&'a AttrPath>,
    pub sort_order: SortOrder,
    /// 1-based; ignored in cursor mode.
    pub start_index: u64,
    /// 0 means: count only.
    pub count: u64,
    /// Cursor mode: the rows inserted after the row at this position (its
    /// sequence number; 0 is before the first row), in insertion order.
    pub after: Option<i64>,
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The number of matches (`totalResults`).
    pub total: u64,
    pub items: Vec<T>,
    /// Cursor mode: the position of the last item when more matches follow
    /// (the next page's `after`); `None` on the last page and in index mode.
    pub next: Option<i64>,
}

impl<T> Page<T> {
    /// An index-mode page.
    pub fn indexed(total: u64, items: Vec<T>) -> Self {
        Page { total, items, next: None }
    }

    /// A cursor page from up to `count + 1` rows with their positions: the
    /// extra row only says that another page follows.
    pub fn keyset(total: u64, mut rows: Vec<(T, i64)>, count: u64) -> Self {
        let more = rows.len() as u64 > count;
        rows.truncate(usize::try_from(count).unwrap_or(usize::MAX));
        let next = if more { rows.last().map(|(_, seq)| *seq) } else { None };
        Page { total, items: rows.into_iter().map(|(item, _)| item).collect(), next }
    }
}

/// The total an index page implies by itself, if it does: a page shorter
/// than `count` that starts inside the matches ends them, so a store needs
/// no count query (the common case of a lookup).
pub fn total_of_short_page(offset: u64, count: u64, found: usize) -> Option<u64> {
    let found = found as u64;
    (found < count && (found > 0 || offset == 0)).then_some(offset + found)
}

/// A group query: the same shape as a user query. The filter is evaluated
/// against the group with its members, so `members eq "id"` and
/// `members[value eq "id"]` work (and should be answered from the
/// membership index, not by loading member lists).
pub type GroupQuery<'a> = UserQuery<'a>;

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
    /// A number that changes whenever any API key or organisation changes
    /// (kept by the database itself, so every process sees every change).
    fn auth_generation(&mut self) -> Result<i64, DirectoryError>;

    // Users.
    fn user_by_id(&mut self, org_id: i64, id: &str) -> Result<Option<UserRecord>, DirectoryError>;
    /// Users matching the query, in order, and the total number of matches.
    /// Without a filter the total comes from a per-organisation counter kept
    /// in the same transactions as inserts and deletes; with one it is counted.
    fn query_users(&mut self, org_id: i64, query: &UserQuery<'_>) -> Result<Page<UserRecord>, DirectoryError>;
    /// The id of another user (not `except_id`) that already holds `value` for `field`.
    /// Usernames compare case-insensitively; emails are stored lower-cased.
    fn unique_holder(
        &mut self,
        org_id: i64,
        field: UniqueField,
        value: &str,
        except_id: Option<&str>,
    ) -> Result<Option<String>, DirectoryError>;
    /// For bulk import: which of `values` (already folded as `unique_holder`
    /// folds them) some user holds for `field`, as `(value, user id)` pairs.
    /// The default asks [`Tx::unique_holder`] once per value; a store may
    /// answer in one query.
    fn unique_holders(
        &mut self,
        org_id: i64,
        field: UniqueField,
        values: &[String],
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        let mut out = Vec::new();
        for v in values {
            if let Some(id) = self.unique_holder(org_id, field, v, None)? {
                out.push((v.clone(), id));
            }
        }
        Ok(out)
    }
    /// For bulk import: inserts users like [`Tx::insert_user`]; a store may do it in one statement.
    fn insert_users(&mut self, users: &[UserRecord]) -> Result<(), DirectoryError> {
        for u in users {
            self.insert_user(u)?;
        }
        Ok(())
    }
    /// Inserts a user. A unique-index violation is `DirectoryError::Conflict`.
    fn insert_user(&mut self, user: &UserRecord) -> Result<(), DirectoryError>;
    /// Whether a write that fails on a unique index leaves the transaction
    /// usable, undoing only that statement (SQLite). Then a create inserts
    /// first and looks for the holder of a taken value only on `Conflict`,
    /// instead of looking before every insert. PostgreSQL aborts the whole
    /// transaction on any failed statement, so it looks first.
    fn survives_unique_violation(&self) -> bool {
        false
    }
    /// Overwrites a user (matched by org and id). A unique-index violation is `Conflict`.
    fn update_user(&mut self, user: &UserRecord) -> Result<(), DirectoryError>;
    /// Deletes a user; `false` if there was none.
    fn delete_user(&mut self, org_id: i64, id: &str) -> Result<bool, DirectoryError>;
    /// Clears `manager_id` (and the SCIM manager) of every user managed by `manager_id`.
    fn clear_manager_references(&mut self, org_id: i64, manager_id: &str) -> Result<(), DirectoryError>;

    /// The ids among `ids` that are users of `org_id` (in any order). Used to
    /// check member ids in batches; ids of other organisations are not returned.
    fn existing_user_ids(&mut self, org_id: i64, ids: &[String]) -> Result<Vec<String>, DirectoryError>;
    /// The names of the users among `ids` of `org_id` (missing ids are skipped).
    fn user_names(&mut self, org_id: i64, ids: &[String]) -> Result<Vec<UserNames>, DirectoryError>;

    // Groups. Members are users of the same organisation; a membership goes
    // when its user or its group is deleted.
    fn group_by_id(&mut self, org_id: i64, id: &str) -> Result<Option<GroupRecord>, DirectoryError>;
    /// Groups matching the query, in order, and the total number of matches
    /// (from a counter without a filter, as for users).
    fn query_groups(&mut self, org_id: i64, query: &GroupQuery<'_>) -> Result<Page<GroupRecord>, DirectoryError>;
    /// The id of another group (not `except_id`) whose displayName equals
    /// `display_name` case-insensitively (`str::to_lowercase`).
    fn group_name_holder(
        &mut self,
        org_id: i64,
        display_name: &str,
        except_id: Option<&str>,
    ) -> Result<Option<String>, DirectoryError>;
    /// Inserts a group (without members). A unique violation is `Conflict`.
    fn insert_group(&mut self, group: &GroupRecord) -> Result<(), DirectoryError>;
    /// Overwrites a group's attributes (matched by org and id); members are untouched.
    fn update_group(&mut self, group: &GroupRecord) -> Result<(), DirectoryError>;
    /// Deletes a group and its memberships; `false` if there was none.
    fn delete_group(&mut self, org_id: i64, id: &str) -> Result<bool, DirectoryError>;
    /// Adds users (already checked to be users of `org_id`) to a group and
    /// returns those that were not members before, in the order given.
    /// Costs time proportional to `member_ids`, not to the group's size.
    fn add_members(
        &mut self,
        org_id: i64,
        group_id: &str,
        member_ids: &[String],
    ) -> Result<Vec<String>, DirectoryError>;
    /// Removes users from a group and returns those that were members, in the order given.
    fn remove_members(
        &mut self,
        org_id: i64,
        group_id: &str,
        member_ids: &[String],
    ) -> Result<Vec<String>, DirectoryError>;
    /// Removes every member of a group and returns their ids.
    fn clear_members(&mut self, org_id: i64, group_id: &str) -> Result<Vec<String>, DirectoryError>;
    /// Calls `each` for every member of a group, ordered by member id, without
    /// collecting them first (a group may have 100 000 members).
    fn for_each_member(
        &mut self,
        org_id: i64,
        group_id: &str,
        each: &mut dyn FnMut(MemberRef) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError>;
    /// The groups of each user among `user_ids` (one query for a page of users),
    /// ordered by user, then group displayName.
    fn groups_of_users(&mut self, org_id: i64, user_ids: &[String]) -> Result<Vec<GroupRef>, DirectoryError>;

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

    /// Runs `work`, whose reads need no common snapshot, on the latest
    /// committed data: each statement may see its own. A store may then skip
    /// the transaction (PostgreSQL: two round trips fewer). For reads like
    /// authentication, where the statements cannot disagree in a way that
    /// matters.
    fn read_latest(
        &self,
        work: &mut dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        self.read(work)
    }

    /// Whether a small indexed read is local and quick (an embedded database,
    /// no network round trip), so that a server may run it on its async
    /// worker instead of handing it to a blocking thread.
    fn point_reads_are_local(&self) -> bool {
        false
    }

    /// Whether writes gain from being run one after another on one thread in
    /// [`Store::write_batch`]es (an embedded database with a single writer),
    /// rather than from many threads at once (a database server).
    fn batches_writes(&self) -> bool {
        false
    }

    /// Runs `jobs`, on this thread, as one batch: every [`Store::write`] they
    /// make returns once its work is applied (or rolled back on `Err`) but
    /// before it is durable, and every read they make (outside a write's own
    /// work, which reads through its `tx`) sees the batch's writes.
    /// The batch is committed when `jobs` returns; `Err` means that COMMIT
    /// failed and none of the batch's writes happened. `Ok` may come before
    /// the commit is on disk: a caller must not report a write as done before
    /// [`Store::sync`] of the returned point has returned `Ok` too. Between
    /// the two, the next batch may run.
    ///
    /// The default commits each write on its own, as [`Store::write`] does.
    fn write_batch(&self, jobs: &mut dyn FnMut()) -> Result<SyncPoint, DirectoryError> {
        jobs();
        Ok(SyncPoint::default())
    }

    /// Returns once every batch up to `upto` ([`Store::write_batch`]) is
    /// durable. `Err`: the disk refused, and those writes may be lost.
    fn sync(&self, upto: SyncPoint) -> Result<(), DirectoryError> {
        let _ = upto;
        Ok(())
    }

    /// A marker of everything committed so far, by any process, read without
    /// a transaction: equal markers mean nothing was committed in between, so
    /// an answer computed from a read that began after one marker may be
    /// served again while the store still reports that marker. `None` when
    /// the store has no such cheap signal (then nothing may be reused).
    fn change_stamp(&self) -> Option<ChangeStamp> {
        None
    }

    /// The auth generation ([`Tx::auth_generation`]) of the state that
    /// `stamp` ([`Store::change_stamp`]) marks, when the store knows it
    /// without a read: from its own latest commit, say. `None`: read it.
    fn auth_generation_at(&self, stamp: &ChangeStamp) -> Option<i64> {
        let _ = stamp;
        None
    }
}

/// A place in a store's order of commits ([`Store::write_batch`],
/// [`Store::sync`]); later commits have larger points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncPoint(pub u64);

/// See [`Store::change_stamp`]: opaque bytes, compared for equality only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeStamp(pub [u8; 48]);

/// Runs `work` in a write transaction and returns its value.
pub fn write<T>(
    store: &dyn Store,
    work: impl FnMut(&mut dyn Tx) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    returning(work, |w| store.write(w))
}

/// Runs `work` with [`Store::read_latest`] and returns its value.
pub fn read_latest<T>(
    store: &dyn Store,
    work: impl FnMut(&mut dyn Tx) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    returning(work, |w| store.read_latest(w))
}

/// Runs `work` on a read snapshot and returns its value.
pub fn read<T>(
    store: &dyn Store,
    work: impl FnMut(&mut dyn Tx) -> Result<T, DirectoryError>,
) -> Result<T, DirectoryError> {
    returning(work, |w| store.read(w))
}

type Work<'a> = dyn FnMut(&mut dyn Tx) -> Result<(), DirectoryError> + 'a;

/// Adapts `work` to the object-safe [`Store`] methods, which return `()`.
fn returning<T>(
    mut work: impl FnMut(&mut dyn Tx) -> Result<T, DirectoryError>,
    run: impl FnOnce(&mut Work<'_>) -> Result<(), DirectoryError>,
) -> Result<T, DirectoryError> {
    let mut out = None;
    run(&mut |tx| {
        out = Some(work(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| DirectoryError::Store("transaction produced no result".into()))
}
