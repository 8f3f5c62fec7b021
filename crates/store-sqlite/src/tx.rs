//! [`SqliteTx`]: the [`Tx`] operations as SQL, run on a connection that the
//! store has already put inside a transaction.

use crate::conn::{db_error, unique_violation};
use crate::event_changes;
use crate::group_query;
use crate::query::{self, Param};
use crate::seq;
use directory::events::Event;
use directory::keys::ApiKeyRecord;
use directory::store::GroupQuery;
use directory::store::{Page, UniqueField, UserQuery};
use directory::Document;
use directory::{
    DirectoryError, GroupRecord, GroupRef, MemberRef, Org, Role, Tx, UserNames, UserRecord, UserState, UsernamePolicy,
};
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;
use std::sync::LazyLock;

pub struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqliteTx<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        SqliteTx { conn }
    }
}

fn corrupt(what: &str, value: &str) -> DirectoryError {
    DirectoryError::Store(format!("unexpected {what} {value:?} in the database"))
}

fn json_text(v: &impl serde::Serialize) -> Result<String, DirectoryError> {
    serde_json::to_string(v).map_err(|e| DirectoryError::Store(e.to_string()))
}

/// Column `i` of `row` as text, borrowed.
fn text_at<'r>(row: &'r Row<'_>, i: usize) -> Result<&'r str, DirectoryError> {
    row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into)).map_err(db_error)
}

fn json_from(row: &Row<'_>, i: usize) -> Result<Value, DirectoryError> {
    serde_json::from_str(text_at(row, i)?).map_err(|e| DirectoryError::Store(format!("bad JSON in the database: {e}")))
}

/// A stored JSON document, parsed when first looked into.
fn document_from(row: &Row<'_>, i: usize) -> Result<Document, DirectoryError> {
    Document::from_stored(text_at(row, i)?).map_err(|e| DirectoryError::Store(format!("bad JSON in the database: {e}")))
}

const ORG_COLUMNS: &str = "id, name, username_policy, scim_default_state, created";

fn org_from_row(row: &Row<'_>) -> Result<Org, DirectoryError> {
    let policy: String = row.get(2).map_err(db_error)?;
    let state: String = row.get(3).map_err(db_error)?;
    Ok(Org {
        id: row.get(0).map_err(db_error)?,
        name: row.get(1).map_err(db_error)?,
        username_policy: UsernamePolicy::parse(&policy).ok_or_else(|| corrupt("username policy", &policy))?,
        scim_default_state: UserState::parse(&state).ok_or_else(|| corrupt("user state", &state))?,
        created: row.get(4).map_err(db_error)?,
    })
}

const KEY_COLUMNS: &str = "id, org_id, name, role, principal, token_hash, token_hint, created, expires_at, revoked_at";

fn key_from_row(row: &Row<'_>) -> Result<ApiKeyRecord, DirectoryError> {
    let role: String = row.get(3).map_err(db_error)?;
    Ok(ApiKeyRecord {
        id: row.get(0).map_err(db_error)?,
        org_id: row.get(1).map_err(db_error)?,
        name: row.get(2).map_err(db_error)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        principal: row.get(4).map_err(db_error)?,
        token_hash: row.get(5).map_err(db_error)?,
        token_hint: row.get(6).map_err(db_error)?,
        created: row.get(7).map_err(db_error)?,
        expires_at: row.get(8).map_err(db_error)?,
        revoked_at: row.get(9).map_err(db_error)?,
    })
}

/// Reads a row selected with [`query::USER_COLUMNS`].
fn user_from_row(row: &Row<'_>) -> Result<UserRecord, DirectoryError> {
    let state = row.get_ref(8).and_then(|v| v.as_str().map_err(Into::into)).map_err(db_error)?;
    let state = UserState::parse(state).ok_or_else(|| corrupt("user state", state))?;
    Ok(UserRecord {
        id: row.get(0).map_err(db_error)?,
        org_id: row.get(1).map_err(db_error)?,
        user_name: row.get(2).map_err(db_error)?,
        username: row.get(3).map_err(db_error)?,
        email: row.get(4).map_err(db_error)?,
        external_id: row.get(5).map_err(db_error)?,
        employee_identifier: row.get(6).map_err(db_error)?,
        manager_id: row.get(7).map_err(db_error)?,
        state,
        activated: row.get(9).map_err(db_error)?,
        password_expired: row.get(10).map_err(db_error)?,
        scim: document_from(row, 11)?,
        created: row.get(12).map_err(db_error)?,
        last_modified: row.get(13).map_err(db_error)?,
        version: row.get(14).map_err(db_error)?,
    })
}

/// Reads a row selected with [`group_query::GROUP_COLUMNS`].
fn group_from_row(row: &Row<'_>) -> Result<GroupRecord, DirectoryError> {
    Ok(GroupRecord {
        id: row.get(0).map_err(db_error)?,
        org_id: row.get(1).map_err(db_error)?,
        display_name: row.get(2).map_err(db_error)?,
        external_id: row.get(3).map_err(db_error)?,
        scim: json_from(row, 4)?,
        created: row.get(5).map_err(db_error)?,
        last_modified: row.get(6).map_err(db_error)?,
        version: row.get(7).map_err(db_error)?,
    })
}

/// A group write's error: the displayName index becomes a `Conflict`.
fn group_write_error(e: rusqlite::Error, group: &GroupRecord) -> DirectoryError {
    match unique_violation(&e) {
        Some(columns) if columns.contains("display_name_folded") => DirectoryError::Conflict(format!(
            "A group named \"{}\" already exists in this organisation.",
            group.display_name
        )),
        Some(_) => DirectoryError::Conflict(format!("A group with id \"{}\" already exists.", group.id)),
        None => db_error(e),
    }
}

// Lookups by a list of ids. `CROSS JOIN` fixes the join order: SQLite
// otherwise drives them from the org's users (an `org_id` index) and reads
// every user of the organisation per request (found by the entra-sim
// benchmark: the manager pass of a 100k-user cycle took 1 s per PATCH).
pub(crate) const EXISTING_USER_IDS_SQL: &str =
    "SELECT u.id FROM json_each(?) j CROSS JOIN users u ON u.id = j.value WHERE u.org_id = ?";
pub(crate) const USER_NAMES_SQL: &str = "SELECT u.id, u.user_name, json_extract(u.scim, '$.displayName') \
     FROM json_each(?) j CROSS JOIN users u ON u.id = j.value WHERE u.org_id = ?";
pub(crate) const GROUPS_OF_USERS_SQL: &str = "SELECT m.member_id, g.id, g.display_name \
     FROM json_each(?) j CROSS JOIN group_members m ON m.member_id = j.value JOIN groups g ON g.id = m.group_id \
     WHERE m.org_id = ? ORDER BY m.member_id, g.display_name_folded";

// The same for one id (a GET, a write's response): no JSON list to build and
// no `json_each` to run. `CROSS JOIN` keeps the seek by member.
pub(crate) const USER_NAMES_OF_ONE_SQL: &str =
    "SELECT u.id, u.user_name, json_extract(u.scim, '$.displayName') FROM users u WHERE u.id = ? AND u.org_id = ?";
pub(crate) const GROUPS_OF_ONE_USER_SQL: &str = "SELECT m.member_id, g.id, g.display_name \
     FROM group_members m CROSS JOIN groups g ON g.id = m.group_id \
     WHERE m.member_id = ? AND m.org_id = ? ORDER BY g.display_name_folded";

/// A list of ids as one JSON text parameter, for `json_each(?)`: one
/// statement whatever the number of ids.
fn id_list(ids: &[String]) -> Result<String, DirectoryError> {
    json_text(&ids)
}

const EVENT_COLUMNS: &str =
    "id, at, org_id, actor, source, event_type, resource_type, resource_id, resource_name, changes, ignored, status, error";

/// Appends an event at the end of its organisation's seq range (`?1..?2`).
const APPEND_EVENT_SQL: &str = concat!(
    "INSERT INTO events (seq, id, at, org_id, actor, source, event_type, resource_type, resource_id, \
     resource_name, changes, ignored, status, error) VALUES (",
    crate::seq::next_seq_sql!("events"),
    ", ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
);

fn event_from_row(row: &Row<'_>) -> Result<Event, DirectoryError> {
    let ignored = json_from(row, 10)?;
    Ok(Event {
        id: row.get(0).map_err(db_error)?,
        at: row.get(1).map_err(db_error)?,
        org_id: row.get(2).map_err(db_error)?,
        actor: row.get(3).map_err(db_error)?,
        source: row.get(4).map_err(db_error)?,
        event_type: row.get(5).map_err(db_error)?,
        resource_type: row.get(6).map_err(db_error)?,
        resource_id: row.get(7).map_err(db_error)?,
        resource_name: row.get(8).map_err(db_error)?,
        changes: event_changes::from_stored(text_at(row, 9)?)?,
        ignored: serde_json::from_value(ignored).map_err(|e| DirectoryError::Store(e.to_string()))?,
        status: row.get(11).map_err(db_error)?,
        error: row.get(12).map_err(db_error)?,
    })
}

/// The user columns an insert and an update both write, in the order of
/// [`user_values`].
const USER_WRITE_COLUMNS: [&str; 16] = [
    "user_name",
    "user_name_folded",
    "username",
    "username_folded",
    "email",
    "external_id",
    "employee_identifier",
    "manager_id",
    "state",
    "activated",
    "password_expired",
    "scim",
    "created",
    "last_modified",
    "version",
    "emails_folded",
];

/// The position of `emails_folded` in [`USER_WRITE_COLUMNS`] (checked when building).
const EMAILS_COLUMN: usize = 15;
const _: () = assert!(matches!(USER_WRITE_COLUMNS[EMAILS_COLUMN].as_bytes(), b"emails_folded"));

/// A new user at the end of its organisation's seq range (`?1..?2`); then
/// id, org_id and [`USER_WRITE_COLUMNS`].
static INSERT_USER_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO users (seq, id, org_id, {}) VALUES ({}, ?, ?, {})",
        USER_WRITE_COLUMNS.join(", "),
        crate::seq::next_seq_sql!("users"),
        vec!["?"; USER_WRITE_COLUMNS.len()].join(", ")
    )
});

static CURRENT_USER_VALUES_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM users WHERE org_id = ? AND id = ?", USER_WRITE_COLUMNS.join(", ")));

/// An UPDATE that sets only the columns named in `changed` (a bit per
/// [`USER_WRITE_COLUMNS`] entry). SQLite rewrites the entries of every index
/// over an assigned column, changed or not, and each page it touches is one
/// more WAL frame at COMMIT; a PATCH of a title changes no indexed column.
fn update_user_sql(changed: u32) -> String {
    let set: Vec<String> = USER_WRITE_COLUMNS
        .iter()
        .enumerate()
        .filter(|(i, _)| changed & (1 << i) != 0)
        .map(|(_, c)| format!("{c} = ?"))
        .collect();
    format!("UPDATE users SET {} WHERE org_id = ? AND id = ?", set.join(", "))
}

/// The values of [`USER_WRITE_COLUMNS`] for `user` (folded columns computed here).
fn user_values(user: &UserRecord, emails: &[String]) -> Result<Vec<SqlValue>, DirectoryError> {
    let text = |s: &str| SqlValue::Text(s.to_string());
    let opt = |s: &Option<String>| s.as_deref().map_or(SqlValue::Null, text);
    Ok(vec![
        text(&user.user_name),
        SqlValue::Text(user.user_name.to_lowercase()),
        text(&user.username),
        SqlValue::Text(user.username.to_lowercase()),
        user.email.as_deref().map_or(SqlValue::Null, |e| SqlValue::Text(e.to_lowercase())),
        opt(&user.external_id),
        opt(&user.employee_identifier),
        opt(&user.manager_id),
        text(user.state.as_str()),
        SqlValue::Integer(i64::from(user.activated)),
        SqlValue::Integer(i64::from(user.password_expired)),
        SqlValue::Text(json_text(&*user.scim)?),
        text(&user.created),
        text(&user.last_modified),
        SqlValue::Integer(user.version),
        SqlValue::Text(json_text(&emails)?),
    ])
}

/// The folded email values of a user (sorted, no duplicates), as kept in
/// `users.emails_folded`: the `user_emails` keys its row stands for.
fn email_keys(user: &UserRecord) -> Vec<String> {
    let mut values = user.email_values();
    values.sort_unstable();
    values
}

/// The keys in a stored `users.emails_folded`.
fn emails_from_text(value: &SqlValue) -> Result<Vec<String>, DirectoryError> {
    match value {
        SqlValue::Text(text) => serde_json::from_str(text)
            .map_err(|e| DirectoryError::Store(format!("users.emails_folded is not a list of emails: {e}"))),
        _ => Ok(Vec::new()),
    }
}

/// A user write's error: a UNIQUE violation becomes a `Conflict` naming the attribute.
fn user_write_error(e: rusqlite::Error, user: &UserRecord) -> DirectoryError {
    let Some(columns) = unique_violation(&e) else { return db_error(e) };
    let detail = if columns.contains("users.username_folded") {
        format!("userName \"{}\" is already taken in this organisation.", user.user_name)
    } else if columns.contains("users.email") {
        format!(
            "email \"{}\" is already used by another user in this organisation.",
            user.email.as_deref().unwrap_or("")
        )
    } else if columns.contains("users.employee_identifier") {
        format!(
            "employeeNumber \"{}\" is already used by another user in this organisation.",
            user.employee_identifier.as_deref().unwrap_or("")
        )
    } else if columns.contains("users.id") {
        format!("A user with id \"{}\" already exists.", user.id)
    } else {
        format!("A unique value is already taken ({columns}).")
    };
    DirectoryError::Conflict(detail)
}

impl SqliteTx<'_> {
    /// The maintained number of users or groups (`column`) of an organisation
    /// (see migrations 3, 5 and 8); `None` if the organisation has no counter row.
    fn org_count(&self, org_id: i64, column: &str) -> Result<Option<u64>, DirectoryError> {
        let sql = match column {
            "groups" => "SELECT groups FROM org_counts WHERE org_id = ?1",
            // Users are counted by block (migrations 5 and 8).
            _ => "SELECT (SELECT coalesce(sum(n), 0) FROM user_blocks WHERE org_id = ?1) FROM org_counts WHERE org_id = ?1",
        };
        let n: Option<i64> = self
            .conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([org_id], |r| r.get(0)).optional())
            .map_err(db_error)?;
        Ok(n.map(|n| u64::try_from(n).unwrap_or(0)))
    }

    /// Adds a user's `user_emails` keys (migration 8).
    fn insert_email_keys(&self, org_id: i64, user_id: &str, values: &[String]) -> Result<(), DirectoryError> {
        let mut insert = self
            .conn
            .prepare_cached("INSERT INTO user_emails (org_id, value_folded, user_id) VALUES (?, ?, ?)")
            .map_err(db_error)?;
        for value in values {
            insert.execute(params![org_id, value, user_id]).map_err(db_error)?;
        }
        Ok(())
    }

    /// Removes a user's `user_emails` keys, as its row listed them.
    fn delete_email_keys(&self, org_id: i64, user_id: &str, values: &[String]) -> Result<(), DirectoryError> {
        let mut delete = self
            .conn
            .prepare_cached("DELETE FROM user_emails WHERE org_id = ? AND value_folded = ? AND user_id = ?")
            .map_err(db_error)?;
        for value in values {
            delete.execute(params![org_id, value, user_id]).map_err(db_error)?;
        }
        Ok(())
    }

    /// The `seq` of the organisation's user at 0-based position `offset` in
    /// insertion order, through the block counts of migration 5: whole
    /// blocks are skipped by their count, and only the entries inside the
    /// last block are counted.
    fn seq_at_offset(&self, org_id: i64, offset: u64) -> Result<Option<i64>, DirectoryError> {
        let mut remaining = i64::try_from(offset).unwrap_or(i64::MAX);
        let mut found = None;
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT block, n FROM user_blocks WHERE org_id = ? ORDER BY block")
                .map_err(db_error)?;
            let mut rows = stmt.query([org_id]).map_err(db_error)?;
            while let Some(row) = rows.next().map_err(db_error)? {
                let (block, n): (i64, i64) = (row.get(0).map_err(db_error)?, row.get(1).map_err(db_error)?);
                if remaining < n {
                    found = Some(block);
                    break;
                }
                remaining -= n;
            }
        }
        let Some(block) = found else { return Ok(None) };
        // The block lies inside the organisation's seq range, which holds
        // only its users: no org_id to read from each row stepped over.
        let (_, end) = seq::range(org_id);
        self.query_one(
            "SELECT seq FROM users WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT 1 OFFSET ?",
            params![block << 10, end, remaining],
            |row| row.get(0).map_err(db_error),
        )
    }

    fn query_one<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl FnOnce(&Row<'_>) -> Result<T, DirectoryError>,
    ) -> Result<Option<T>, DirectoryError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_error)?;
        let mut rows = stmt.query(params).map_err(db_error)?;
        match rows.next().map_err(db_error)? {
            Some(row) => read(row).map(Some),
            None => Ok(None),
        }
    }

    fn query_all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        read: impl Fn(&Row<'_>) -> Result<T, DirectoryError>,
    ) -> Result<Vec<T>, DirectoryError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(db_error)?;
        let mut rows = stmt.query(params).map_err(db_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db_error)? {
            out.push(read(row)?);
        }
        Ok(out)
    }
}

impl Tx for SqliteTx<'_> {
    /// Inserts an organisation; its `id` is assigned by the database (the given one is ignored).
    fn insert_org(&mut self, org: &Org) -> Result<i64, DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO orgs (name, username_policy, scim_default_state, created) VALUES (?, ?, ?, ?)")
            .map_err(db_error)?;
        stmt.execute(params![org.name, org.username_policy.as_str(), org.scim_default_state.as_str(), org.created])
            .map_err(|e| match unique_violation(&e) {
                Some(_) => DirectoryError::Conflict(format!("An organisation named \"{}\" already exists.", org.name)),
                None => db_error(e),
            })?;
        Ok(self.conn.last_insert_rowid())
    }

    fn org_by_name(&mut self, name: &str) -> Result<Option<Org>, DirectoryError> {
        self.query_one(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE name = ?"), [name], org_from_row)
    }

    fn org_by_id(&mut self, id: i64) -> Result<Option<Org>, DirectoryError> {
        self.query_one(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = ?"), [id], org_from_row)
    }

    fn list_orgs(&mut self) -> Result<Vec<Org>, DirectoryError> {
        self.query_all(&format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY id"), [], org_from_row)
    }

    fn update_org(&mut self, org: &Org) -> Result<(), DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached("UPDATE orgs SET name = ?, username_policy = ?, scim_default_state = ? WHERE id = ?")
            .map_err(db_error)?;
        let n = stmt
            .execute(params![org.name, org.username_policy.as_str(), org.scim_default_state.as_str(), org.id])
            .map_err(|e| match unique_violation(&e) {
                Some(_) => DirectoryError::Conflict(format!("An organisation named \"{}\" already exists.", org.name)),
                None => db_error(e),
            })?;
        if n == 0 {
            return Err(DirectoryError::NotFound(format!("Organisation {} not found.", org.id)));
        }
        Ok(())
    }

    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .map_err(db_error)?;
        stmt.execute(params![
            key.id,
            key.org_id,
            key.name,
            key.role.as_str(),
            key.principal,
            key.token_hash,
            key.token_hint,
            key.created,
            key.expires_at,
            key.revoked_at
        ])
        .map_err(|e| match unique_violation(&e) {
            Some(_) => {
                DirectoryError::Conflict(format!("An API key with id \"{}\" or the same token already exists.", key.id))
            }
            None => db_error(e),
        })?;
        Ok(())
    }

    fn api_key_by_hash(&mut self, token_hash: &str) -> Result<Option<ApiKeyRecord>, DirectoryError> {
        self.query_one(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE token_hash = ?"), [token_hash], key_from_row)
    }

    fn list_api_keys(&mut self, org_id: i64) -> Result<Vec<ApiKeyRecord>, DirectoryError> {
        self.query_all(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ? ORDER BY created, id"),
            [org_id],
            key_from_row,
        )
    }

    fn revoke_api_key(&mut self, org_id: i64, key_id: &str, at: &str) -> Result<bool, DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached("UPDATE api_keys SET revoked_at = ? WHERE org_id = ? AND id = ? AND revoked_at IS NULL")
            .map_err(db_error)?;
        Ok(stmt.execute(params![at, org_id, key_id]).map_err(db_error)? > 0)
    }

    fn auth_generation(&mut self) -> Result<i64, DirectoryError> {
        let n: Option<i64> =
            self.query_one("SELECT n FROM auth_generation WHERE id = 1", [], |row| row.get(0).map_err(db_error))?;
        n.ok_or_else(|| DirectoryError::Store("the auth_generation row is missing".into()))
    }

    fn user_by_id(&mut self, org_id: i64, id: &str) -> Result<Option<UserRecord>, DirectoryError> {
        self.query_one(
            &format!("SELECT {} FROM users u WHERE u.id = ? AND u.org_id = ?", query::USER_COLUMNS),
            params![id, org_id],
            user_from_row,
        )
    }

    fn query_users(&mut self, org_id: i64, q: &UserQuery<'_>) -> Result<Page<UserRecord>, DirectoryError> {
        let count_all = |this: &mut Self| -> Result<u64, DirectoryError> {
            if q.filter.is_none() {
                if let Some(n) = this.org_count(org_id, "users")? {
                    return Ok(n);
                }
            }
            let pred = query::predicate(org_id, q.filter, query::Walk::Any);
            // A filter's total counts its matches (a scan of the matches, or
            // of the org for a term without an index).
            let total: i64 = this
                .conn
                .prepare_cached(&query::count_sql(&pred.sql))
                .and_then(|mut s| s.query_row(query::bind(&pred.params), |r| r.get(0)))
                .map_err(db_error)?;
            Ok(u64::try_from(total).unwrap_or(0))
        };
        if let Some(after) = q.after {
            let total = count_all(self)?;
            if q.count == 0 {
                return Ok(Page { total, items: Vec::new(), next: None });
            }
            let keyset = query::predicate(org_id, q.filter, query::Walk::AfterPosition);
            let mut params = keyset.params;
            params.push(Param::Int(query::keyset_position(org_id, after)));
            // One row more than the page tells whether another page follows.
            params.push(Param::Int(i64::try_from(q.count.saturating_add(1)).unwrap_or(i64::MAX)));
            let rows = self.query_all(&query::keyset_sql(&keyset.sql), query::bind(&params), |row| {
                Ok((user_from_row(row)?, row.get::<_, i64>(query::SEQ_AFTER_USER_COLUMNS).map_err(db_error)?))
            })?;
            return Ok(Page::keyset(total, rows, q.count));
        }
        if q.count == 0 {
            return Ok(Page::indexed(count_all(self)?, Vec::new()));
        }
        let offset = q.start_index.saturating_sub(1);
        let limit = i64::try_from(q.count).unwrap_or(i64::MAX);
        let users = if q.filter.is_none() && q.sort_by.is_none() && offset > 0 {
            match self.seq_at_offset(org_id, offset)? {
                // The page is the cursor page after the user before it.
                Some(first) => {
                    let keyset = query::predicate(org_id, None, query::Walk::AfterPosition);
                    let mut params = keyset.params;
                    params.extend([Param::Int(first - 1), Param::Int(limit)]);
                    self.query_all(&query::keyset_sql(&keyset.sql), query::bind(&params), user_from_row)?
                }
                None => Vec::new(),
            }
        } else {
            let (order, order_param) = query::order_by(q.sort_by, q.sort_order);
            let walk = if q.sort_by.is_none() { query::Walk::InsertionOrder } else { query::Walk::Any };
            let page = query::predicate(org_id, q.filter, walk);
            let mut params = page.params;
            params.extend(order_param);
            params.push(Param::Int(limit));
            params.push(Param::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
            self.query_all(&query::page_sql(&page.sql, &order), query::bind(&params), user_from_row)?
        };
        let total = match directory::store::total_of_short_page(offset, q.count, users.len()) {
            Some(total) => total,
            None => count_all(self)?,
        };
        Ok(Page::indexed(total, users))
    }

    fn unique_holder(
        &mut self,
        org_id: i64,
        field: UniqueField,
        value: &str,
        except_id: Option<&str>,
    ) -> Result<Option<String>, DirectoryError> {
        let (sql, value) = match field {
            UniqueField::Username => (
                "SELECT id FROM users WHERE org_id = ? AND username_folded = ? AND id IS NOT ? LIMIT 1",
                value.to_lowercase(),
            ),
            UniqueField::Email => {
                ("SELECT id FROM users WHERE org_id = ? AND email = ? AND id IS NOT ? LIMIT 1", value.to_lowercase())
            }
            UniqueField::EmployeeIdentifier => (
                "SELECT id FROM users WHERE org_id = ? AND employee_identifier = ? AND id IS NOT ? LIMIT 1",
                value.to_string(),
            ),
        };
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(params![org_id, value, except_id], |r| r.get(0)).optional())
            .map_err(db_error)
    }

    /// A failed INSERT or UPDATE (ON CONFLICT ABORT) undoes only itself.
    fn survives_unique_violation(&self) -> bool {
        true
    }

    fn insert_user(&mut self, user: &UserRecord) -> Result<(), DirectoryError> {
        let (first, end) = seq::range_for_insert(user.org_id)?;
        let mut values = vec![
            SqlValue::Integer(first),
            SqlValue::Integer(end),
            SqlValue::Text(user.id.clone()),
            SqlValue::Integer(user.org_id),
        ];
        let emails = email_keys(user);
        values.extend(user_values(user, &emails)?);
        let mut stmt = self.conn.prepare_cached(&INSERT_USER_SQL).map_err(db_error)?;
        stmt.execute(rusqlite::params_from_iter(values)).map_err(|e| user_write_error(e, user))?;
        self.insert_email_keys(user.org_id, &user.id, &emails)
    }

    fn update_user(&mut self, user: &UserRecord) -> Result<(), DirectoryError> {
        let emails = email_keys(user);
        let values = user_values(user, &emails)?;
        let current: Option<Vec<SqlValue>> =
            self.query_one(&CURRENT_USER_VALUES_SQL, params![user.org_id, user.id], |row| {
                (0..USER_WRITE_COLUMNS.len()).map(|i| row.get::<_, SqlValue>(i).map_err(db_error)).collect()
            })?;
        let Some(current) = current else {
            return Err(DirectoryError::NotFound(format!("User {} not found.", user.id)));
        };
        let mut changed = 0u32;
        let mut assigned: Vec<SqlValue> = Vec::with_capacity(values.len() + 2);
        // The email keys the row stood for, when its emails changed (most
        // updates leave them, and so no key pages to rewrite).
        let mut old_emails = None;
        for (i, (new, old)) in values.into_iter().zip(current).enumerate() {
            if new != old {
                changed |= 1 << i;
                if i == EMAILS_COLUMN {
                    old_emails = Some(emails_from_text(&old)?);
                }
                assigned.push(new);
            }
        }
        if changed != 0 {
            assigned.extend([SqlValue::Integer(user.org_id), SqlValue::Text(user.id.clone())]);
            let mut stmt = self.conn.prepare_cached(&update_user_sql(changed)).map_err(db_error)?;
            stmt.execute(rusqlite::params_from_iter(assigned)).map_err(|e| user_write_error(e, user))?;
        }
        if let Some(old) = old_emails {
            self.delete_email_keys(user.org_id, &user.id, &old)?;
            self.insert_email_keys(user.org_id, &user.id, &emails)?;
        }
        Ok(())
    }

    fn delete_user(&mut self, org_id: i64, id: &str) -> Result<bool, DirectoryError> {
        let emails = self.query_one(
            "DELETE FROM users WHERE org_id = ? AND id = ? RETURNING emails_folded",
            params![org_id, id],
            |row| emails_from_text(&row.get::<_, SqlValue>(0).map_err(db_error)?),
        )?;
        match emails {
            Some(emails) => self.delete_email_keys(org_id, id, &emails).map(|()| true),
            None => Ok(false),
        }
    }

    fn clear_manager_references(&mut self, org_id: i64, manager_id: &str) -> Result<(), DirectoryError> {
        let managed = self.query_all(
            "SELECT seq, scim FROM users WHERE org_id = ? AND manager_id = ?",
            params![org_id, manager_id],
            |row| Ok((row.get::<_, i64>(0).map_err(db_error)?, json_from(row, 1)?)),
        )?;
        if managed.is_empty() {
            return Ok(());
        }
        let now = directory::now_rfc3339();
        let mut update = self
            .conn
            .prepare_cached(
                "UPDATE users SET scim = ?, manager_id = NULL, version = version + 1, last_modified = ? WHERE seq = ?",
            )
            .map_err(db_error)?;
        for (seq, mut scim) in managed {
            directory::model::remove_manager(&mut scim);
            update.execute(params![json_text(&scim)?, now, seq]).map_err(db_error)?;
        }
        Ok(())
    }

    fn existing_user_ids(&mut self, org_id: i64, ids: &[String]) -> Result<Vec<String>, DirectoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.query_all(EXISTING_USER_IDS_SQL, params![id_list(ids)?, org_id], |row| row.get(0).map_err(db_error))
    }

    fn user_names(&mut self, org_id: i64, ids: &[String]) -> Result<Vec<UserNames>, DirectoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let names_from = |row: &Row<'_>| {
            Ok(UserNames {
                id: row.get(0).map_err(db_error)?,
                user_name: row.get(1).map_err(db_error)?,
                display_name: row.get(2).map_err(db_error)?,
            })
        };
        match ids {
            [one] => self.query_all(USER_NAMES_OF_ONE_SQL, params![one, org_id], names_from),
            _ => self.query_all(USER_NAMES_SQL, params![id_list(ids)?, org_id], names_from),
        }
    }

    fn group_by_id(&mut self, org_id: i64, id: &str) -> Result<Option<GroupRecord>, DirectoryError> {
        self.query_one(
            &format!("SELECT {} FROM groups g WHERE g.id = ? AND g.org_id = ?", group_query::GROUP_COLUMNS),
            params![id, org_id],
            group_from_row,
        )
    }

    fn query_groups(&mut self, org_id: i64, q: &GroupQuery<'_>) -> Result<Page<GroupRecord>, DirectoryError> {
        let pred = group_query::predicate(org_id, q.filter);
        let counted = if q.filter.is_none() { self.org_count(org_id, "groups")? } else { None };
        let total = match counted {
            Some(n) => n,
            None => {
                let total: i64 = self
                    .conn
                    .prepare_cached(&group_query::count_sql(&pred.sql))
                    .and_then(|mut s| s.query_row(query::bind(&pred.params), |r| r.get(0)))
                    .map_err(db_error)?;
                u64::try_from(total).unwrap_or(0)
            }
        };
        if let Some(after) = q.after {
            if q.count == 0 {
                return Ok(Page { total, items: Vec::new(), next: None });
            }
            let mut params = pred.params;
            params.push(Param::Int(after));
            params.push(Param::Int(i64::try_from(q.count.saturating_add(1)).unwrap_or(i64::MAX)));
            let rows = self.query_all(&group_query::keyset_sql(&pred.sql), query::bind(&params), |row| {
                Ok((group_from_row(row)?, row.get::<_, i64>(8).map_err(db_error)?))
            })?;
            return Ok(Page::keyset(total, rows, q.count));
        }
        let offset = q.start_index.saturating_sub(1);
        if q.count == 0 || offset >= total {
            return Ok(Page::indexed(total, Vec::new()));
        }
        let order = group_query::order_by(q.sort_by, q.sort_order);
        let mut params = pred.params;
        params.push(Param::Int(i64::try_from(q.count).unwrap_or(i64::MAX)));
        params.push(Param::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        let groups = self.query_all(&group_query::page_sql(&pred.sql, &order), query::bind(&params), group_from_row)?;
        Ok(Page::indexed(total, groups))
    }

    fn group_name_holder(
        &mut self,
        org_id: i64,
        display_name: &str,
        except_id: Option<&str>,
    ) -> Result<Option<String>, DirectoryError> {
        self.conn
            .prepare_cached(
                "SELECT id FROM groups WHERE org_id = ? AND display_name_folded = ? AND id IS NOT ? LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![org_id, display_name.to_lowercase(), except_id], |r| r.get(0)).optional()
            })
            .map_err(db_error)
    }

    fn insert_group(&mut self, group: &GroupRecord) -> Result<(), DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "INSERT INTO groups (id, org_id, display_name, display_name_folded, external_id, scim, created, \
                 last_modified, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .map_err(db_error)?;
        stmt.execute(params![
            group.id,
            group.org_id,
            group.display_name,
            group.display_name.to_lowercase(),
            group.external_id,
            json_text(&group.scim)?,
            group.created,
            group.last_modified,
            group.version,
        ])
        .map_err(|e| group_write_error(e, group))?;
        Ok(())
    }

    fn update_group(&mut self, group: &GroupRecord) -> Result<(), DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "UPDATE groups SET display_name = ?, display_name_folded = ?, external_id = ?, scim = ?, \
                 created = ?, last_modified = ?, version = ? WHERE org_id = ? AND id = ?",
            )
            .map_err(db_error)?;
        let n = stmt
            .execute(params![
                group.display_name,
                group.display_name.to_lowercase(),
                group.external_id,
                json_text(&group.scim)?,
                group.created,
                group.last_modified,
                group.version,
                group.org_id,
                group.id,
            ])
            .map_err(|e| group_write_error(e, group))?;
        if n == 0 {
            return Err(DirectoryError::NotFound(format!("Group {} not found.", group.id)));
        }
        Ok(())
    }

    fn delete_group(&mut self, org_id: i64, id: &str) -> Result<bool, DirectoryError> {
        // group_members rows go with the group (ON DELETE CASCADE).
        let mut stmt = self.conn.prepare_cached("DELETE FROM groups WHERE org_id = ? AND id = ?").map_err(db_error)?;
        Ok(stmt.execute(params![org_id, id]).map_err(db_error)? > 0)
    }

    fn add_members(
        &mut self,
        org_id: i64,
        group_id: &str,
        member_ids: &[String],
    ) -> Result<Vec<String>, DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO group_members (org_id, group_id, member_id) VALUES (?, ?, ?)")
            .map_err(db_error)?;
        let mut added = Vec::new();
        for id in member_ids {
            if stmt.execute(params![org_id, group_id, id]).map_err(db_error)? > 0 {
                added.push(id.clone());
            }
        }
        Ok(added)
    }

    fn remove_members(
        &mut self,
        org_id: i64,
        group_id: &str,
        member_ids: &[String],
    ) -> Result<Vec<String>, DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM group_members WHERE group_id = ? AND member_id = ? AND org_id = ?")
            .map_err(db_error)?;
        let mut removed = Vec::new();
        for id in member_ids {
            if stmt.execute(params![group_id, id, org_id]).map_err(db_error)? > 0 {
                removed.push(id.clone());
            }
        }
        Ok(removed)
    }

    fn clear_members(&mut self, org_id: i64, group_id: &str) -> Result<Vec<String>, DirectoryError> {
        self.query_all(
            "DELETE FROM group_members WHERE group_id = ? AND org_id = ? RETURNING member_id",
            params![group_id, org_id],
            |row| row.get(0).map_err(db_error),
        )
    }

    fn for_each_member(
        &mut self,
        org_id: i64,
        group_id: &str,
        each: &mut dyn FnMut(MemberRef) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT m.member_id, json_extract(u.scim, '$.displayName') \
                 FROM group_members m JOIN users u ON u.id = m.member_id \
                 WHERE m.group_id = ? AND m.org_id = ? ORDER BY m.member_id",
            )
            .map_err(db_error)?;
        let mut rows = stmt.query(params![group_id, org_id]).map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            each(MemberRef { id: row.get(0).map_err(db_error)?, display: row.get(1).map_err(db_error)? })?;
        }
        Ok(())
    }

    fn groups_of_users(&mut self, org_id: i64, user_ids: &[String]) -> Result<Vec<GroupRef>, DirectoryError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let group_from = |row: &Row<'_>| {
            Ok(GroupRef {
                user_id: row.get(0).map_err(db_error)?,
                group_id: row.get(1).map_err(db_error)?,
                display_name: row.get(2).map_err(db_error)?,
            })
        };
        match user_ids {
            [one] => self.query_all(GROUPS_OF_ONE_USER_SQL, params![one, org_id], group_from),
            _ => self.query_all(GROUPS_OF_USERS_SQL, params![id_list(user_ids)?, org_id], group_from),
        }
    }

    fn append_event(&mut self, event: &Event) -> Result<(), DirectoryError> {
        let mut stmt = self.conn.prepare_cached(APPEND_EVENT_SQL).map_err(db_error)?;
        let ignored = json_text(&event.ignored)?;
        let (first, end) = seq::range_for_insert(event.org_id)?;
        stmt.execute(params![
            first,
            end,
            event.id,
            event.at,
            event.org_id,
            event.actor,
            event.source,
            event.event_type,
            event.resource_type,
            event.resource_id,
            event.resource_name,
            event_changes::to_stored(&event.changes)?,
            ignored,
            event.status,
            event.error,
        ])
        .map_err(db_error)?;
        Ok(())
    }

    fn recent_events(&mut self, org_id: i64, limit: u64) -> Result<Vec<Event>, DirectoryError> {
        let (first, end) = seq::range(org_id);
        self.query_all(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE seq >= ? AND seq < ? ORDER BY seq DESC LIMIT ?"),
            params![first, end, i64::try_from(limit).unwrap_or(i64::MAX)],
            event_from_row,
        )
    }
}
