//! [`PgTx`]: the [`Tx`] operations as SQL, run on a connection that the
//! store has already put inside a transaction.

use crate::conn::{db_error, is_retryable, unique_violation, Conn};
use crate::doc::group_doc;
use crate::doc::{filter_doc, normalize_instant};
use crate::group_query;
use crate::query::{self, Builder};
use directory::Document;
use directory::events::Event;
use directory::keys::ApiKeyRecord;
use directory::store::{GroupQuery, Page, UniqueField, UserQuery};
use directory::{
    DirectoryError, GroupRecord, GroupRef, MemberRef, Org, Role, Tx, UserNames, UserRecord, UserState, UsernamePolicy,
};
use postgres::types::ToSql;
use postgres::Row;
use serde_json::Value;

pub struct PgTx<'c> {
    conn: &'c mut Conn,
    /// Set when a statement failed because of a concurrent transaction: the
    /// store then rolls back and runs the work again.
    pub retry: bool,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl<'c> PgTx<'c> {
    pub fn new(conn: &'c mut Conn) -> Self {
        PgTx { conn, retry: false }
    }

    /// Maps an error, remembering whether it calls for a retry.
    fn err(&mut self, e: postgres::Error) -> DirectoryError {
        if is_retryable(&e) {
            self.retry = true;
        }
        db_error(e)
    }

    fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let stmt = self.conn.prepare(sql)?;
        self.conn.client.execute(&stmt, params)
    }

    fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DirectoryError> {
        let result = self.conn.prepare(sql).and_then(|stmt| self.conn.client.query(&stmt, params));
        result.map_err(|e| self.err(e))
    }

    fn query_one<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        read: impl FnOnce(&Row) -> Result<T, DirectoryError>,
    ) -> Result<Option<T>, DirectoryError> {
        let rows = self.query(sql, params)?;
        rows.first().map(read).transpose()
    }

    fn query_all<T>(
        &mut self,
        sql: &str,
        params: Params<'_>,
        read: impl Fn(&Row) -> Result<T, DirectoryError>,
    ) -> Result<Vec<T>, DirectoryError> {
        self.query(sql, params)?.iter().map(read).collect()
    }

    /// Rewrites the `user_emails` rows of a user.
    fn sync_emails(&mut self, user: &UserRecord) -> Result<(), DirectoryError> {
        self.execute("DELETE FROM user_emails WHERE user_id = $1", &[&user.id]).map_err(|e| self.err(e))?;
        let values = user.email_values();
        if values.is_empty() {
            return Ok(());
        }
        self.execute(
            "INSERT INTO user_emails (org_id, user_id, value_folded) SELECT $1, $2, unnest($3::text[])",
            &[&user.org_id, &user.id, &values],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A user write's error: a UNIQUE violation becomes a `Conflict` naming the attribute.
    fn user_write_error(&mut self, e: postgres::Error, user: &UserRecord) -> DirectoryError {
        let Some(constraint) = unique_violation(&e) else { return self.err(e) };
        let detail = match constraint {
            "users_org_username" => {
                format!("userName \"{}\" is already taken in this organisation.", user.user_name)
            }
            "users_org_email" => format!(
                "email \"{}\" already belongs to another user of this organisation.",
                user.email.as_deref().unwrap_or("")
            ),
            "users_org_employee" => format!(
                "employeeNumber \"{}\" already belongs to another user of this organisation.",
                user.employee_identifier.as_deref().unwrap_or("")
            ),
            "users_id_key" => format!("A user with id \"{}\" already exists.", user.id),
            other => format!("A unique value is already taken ({other})."),
        };
        DirectoryError::Conflict(detail)
    }

    /// The bind values of a user row, in [`USER_WRITE_COLUMNS`] order.
    fn write_user(&mut self, sql: &str, user: &UserRecord) -> Result<u64, DirectoryError> {
        let user_name_folded = user.user_name.to_lowercase();
        let username_folded = user.username.to_lowercase();
        let email = user.email.as_deref().map(str::to_lowercase);
        let scim = json_text(&user.scim)?;
        let doc = json_text(&filter_doc(user))?;
        let created_at = normalize_instant(&user.created);
        let last_modified_at = normalize_instant(&user.last_modified);
        let activated = user.activated;
        let password_expired = user.password_expired;
        let result = self.execute(
            sql,
            &[
                &user.id,
                &user.org_id,
                &user.user_name,
                &user_name_folded,
                &user.username,
                &username_folded,
                &email,
                &user.external_id,
                &user.employee_identifier,
                &user.manager_id,
                &user.state.as_str(),
                &activated,
                &password_expired,
                &scim,
                &doc,
                &user.created,
                &user.last_modified,
                &created_at,
                &last_modified_at,
                &user.version,
            ],
        );
        result.map_err(|e| self.user_write_error(e, user))
    }
}

impl PgTx<'_> {
    /// Runs an insert or update of a group with its bind values in order.
    fn write_group(&mut self, sql: &str, group: &GroupRecord) -> Result<u64, DirectoryError> {
        let folded = group.display_name.to_lowercase();
        let scim = json_text(&group.scim)?;
        let doc = json_text(&group_doc(group))?;
        let result = self.execute(
            sql,
            &[
                &group.id,
                &group.org_id,
                &group.display_name,
                &folded,
                &group.external_id,
                &scim,
                &doc,
                &group.created,
                &group.last_modified,
                &group.version,
            ],
        );
        result.map_err(|e| match unique_violation(&e) {
            Some("groups_org_display_name") => DirectoryError::Conflict(format!(
                "A group named \"{}\" already exists in this organisation.",
                group.display_name
            )),
            Some(_) => DirectoryError::Conflict(format!("A group with id \"{}\" already exists.", group.id)),
            None => self.err(e),
        })
    }
}

/// The columns of a multi-row user insert, one array each.
struct InsertColumns {
    id: Vec<String>,
    org_id: Vec<i64>,
    user_name: Vec<String>,
    user_name_folded: Vec<String>,
    username: Vec<String>,
    username_folded: Vec<String>,
    email: Vec<Option<String>>,
    external_id: Vec<Option<String>>,
    employee_identifier: Vec<Option<String>>,
    manager_id: Vec<Option<String>>,
    state: Vec<String>,
    activated: Vec<bool>,
    password_expired: Vec<bool>,
    scim: Vec<String>,
    doc: Vec<String>,
    created: Vec<String>,
    last_modified: Vec<String>,
    created_at: Vec<Option<String>>,
    last_modified_at: Vec<Option<String>>,
    version: Vec<i64>,
}

impl InsertColumns {
    fn with_capacity(n: usize) -> Self {
        InsertColumns {
            id: Vec::with_capacity(n),
            org_id: Vec::with_capacity(n),
            user_name: Vec::with_capacity(n),
            user_name_folded: Vec::with_capacity(n),
            username: Vec::with_capacity(n),
            username_folded: Vec::with_capacity(n),
            email: Vec::with_capacity(n),
            external_id: Vec::with_capacity(n),
            employee_identifier: Vec::with_capacity(n),
            manager_id: Vec::with_capacity(n),
            state: Vec::with_capacity(n),
            activated: Vec::with_capacity(n),
            password_expired: Vec::with_capacity(n),
            scim: Vec::with_capacity(n),
            doc: Vec::with_capacity(n),
            created: Vec::with_capacity(n),
            last_modified: Vec::with_capacity(n),
            created_at: Vec::with_capacity(n),
            last_modified_at: Vec::with_capacity(n),
            version: Vec::with_capacity(n),
        }
    }
}

fn corrupt(what: &str, value: &str) -> DirectoryError {
    DirectoryError::Store(format!("unexpected {what} {value:?} in the database"))
}

fn json_text(v: &Value) -> Result<String, DirectoryError> {
    serde_json::to_string(v).map_err(|e| DirectoryError::Store(e.to_string()))
}

fn get<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, i: usize) -> Result<T, DirectoryError> {
    row.try_get(i).map_err(db_error)
}

fn json_from(row: &Row, i: usize) -> Result<Value, DirectoryError> {
    let text: &str = get(row, i)?;
    serde_json::from_str(text).map_err(|e| DirectoryError::Store(format!("bad JSON in the database: {e}")))
}

/// A stored JSON document, parsed when first looked into.
fn document_from(row: &Row, i: usize) -> Result<Document, DirectoryError> {
    let text: &str = get(row, i)?;
    Document::from_stored(text).map_err(|e| DirectoryError::Store(format!("bad JSON in the database: {e}")))
}

const ORG_COLUMNS: &str = "id, name, username_policy, scim_default_state, created";

fn org_from_row(row: &Row) -> Result<Org, DirectoryError> {
    let policy: String = get(row, 2)?;
    let state: String = get(row, 3)?;
    Ok(Org {
        id: get(row, 0)?,
        name: get(row, 1)?,
        username_policy: UsernamePolicy::parse(&policy).ok_or_else(|| corrupt("username policy", &policy))?,
        scim_default_state: UserState::parse(&state).ok_or_else(|| corrupt("user state", &state))?,
        created: get(row, 4)?,
    })
}

const KEY_COLUMNS: &str = "id, org_id, name, role, principal, token_hash, token_hint, created, expires_at, revoked_at";

fn key_from_row(row: &Row) -> Result<ApiKeyRecord, DirectoryError> {
    let role: String = get(row, 3)?;
    Ok(ApiKeyRecord {
        id: get(row, 0)?,
        org_id: get(row, 1)?,
        name: get(row, 2)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        principal: get(row, 4)?,
        token_hash: get(row, 5)?,
        token_hint: get(row, 6)?,
        created: get(row, 7)?,
        expires_at: get(row, 8)?,
        revoked_at: get(row, 9)?,
    })
}

/// Reads a row selected with [`query::USER_COLUMNS`].
fn user_from_row(row: &Row) -> Result<UserRecord, DirectoryError> {
    let state: &str = get(row, 8)?;
    let state = UserState::parse(state).ok_or_else(|| corrupt("user state", state))?;
    Ok(UserRecord {
        id: get(row, 0)?,
        org_id: get(row, 1)?,
        user_name: get(row, 2)?,
        username: get(row, 3)?,
        email: get(row, 4)?,
        external_id: get(row, 5)?,
        employee_identifier: get(row, 6)?,
        manager_id: get(row, 7)?,
        state,
        activated: get(row, 9)?,
        password_expired: get(row, 10)?,
        scim: document_from(row, 11)?,
        created: get(row, 12)?,
        last_modified: get(row, 13)?,
        version: get(row, 14)?,
    })
}

/// Reads a row selected with [`group_query::GROUP_COLUMNS`].
fn group_from_row(row: &Row) -> Result<GroupRecord, DirectoryError> {
    Ok(GroupRecord {
        id: get(row, 0)?,
        org_id: get(row, 1)?,
        display_name: get(row, 2)?,
        external_id: get(row, 3)?,
        scim: json_from(row, 4)?,
        created: get(row, 5)?,
        last_modified: get(row, 6)?,
        version: get(row, 7)?,
    })
}

const EVENT_COLUMNS: &str =
    "id, at, org_id, actor, source, event_type, resource_type, resource_id, resource_name, changes, ignored, status, error";

fn event_from_row(row: &Row) -> Result<Event, DirectoryError> {
    let ignored = json_from(row, 10)?;
    let status: i32 = get(row, 11)?;
    Ok(Event {
        id: get(row, 0)?,
        at: get(row, 1)?,
        org_id: get(row, 2)?,
        actor: get(row, 3)?,
        source: get(row, 4)?,
        event_type: get(row, 5)?,
        resource_type: get(row, 6)?,
        resource_id: get(row, 7)?,
        resource_name: get(row, 8)?,
        changes: json_from(row, 9)?,
        ignored: serde_json::from_value(ignored).map_err(|e| DirectoryError::Store(e.to_string()))?,
        status: u16::try_from(status).map_err(|_| corrupt("status", &status.to_string()))?,
        error: get(row, 12)?,
    })
}

const INSERT_USER: &str = "INSERT INTO users (id, org_id, user_name, user_name_folded, username, username_folded, \
     email, external_id, employee_identifier, manager_id, state, activated, password_expired, scim, doc, \
     created, last_modified, created_at, last_modified_at, version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::text::jsonb, $16, $17, \
     $18::text::timestamptz, $19::text::timestamptz, $20)";

const UPDATE_USER: &str = "UPDATE users SET user_name = $3, user_name_folded = $4, username = $5, \
     username_folded = $6, email = $7, external_id = $8, employee_identifier = $9, manager_id = $10, state = $11, \
     activated = $12, password_expired = $13, scim = $14, doc = $15::text::jsonb, created = $16, \
     last_modified = $17, created_at = $18::text::timestamptz, last_modified_at = $19::text::timestamptz, \
     version = $20 WHERE id = $1 AND org_id = $2";

/// The ids of `hit` in the order of `given`, once each. Sets, not
/// `Vec::contains`: a PATCH may add 100 000 members at once.
fn in_given_order(given: &[String], hit: Vec<String>) -> Vec<String> {
    let mut hit: std::collections::HashSet<String> = hit.into_iter().collect();
    given.iter().filter(|id| hit.remove(*id)).cloned().collect()
}

impl PgTx<'_> {
    /// `totalResults` of a user query: the organisation's counter without a
    /// filter, else a count of the matches (documented: it scans them).
    fn users_total(
        &mut self,
        org_id: i64,
        filtered: bool,
        pred: &str,
        params: &[query::Param],
    ) -> Result<u64, DirectoryError> {
        if !filtered {
            if let Some(n) = self.org_count(org_id, "users")? {
                return Ok(n);
            }
        }
        let rows = self.query(&query::count_sql(pred), &Builder::bind(params))?;
        let total: i64 = match rows.first() {
            Some(row) => get(row, 0)?,
            None => 0,
        };
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// The maintained number of users or groups (`column`) of an organisation
    /// (see migration 3); `None` if the organisation has no counter row.
    fn org_count(&mut self, org_id: i64, column: &str) -> Result<Option<u64>, DirectoryError> {
        // The counter plus the deltas not yet folded into it (migration 4).
        let sql = match column {
            "groups" => {
                "SELECT c.groups + COALESCE((SELECT sum(d.groups) FROM org_count_deltas d WHERE d.org_id = $1), 0)::bigint \
                 FROM org_counts c WHERE c.org_id = $1"
            }
            _ => {
                "SELECT c.users + COALESCE((SELECT sum(d.users) FROM org_count_deltas d WHERE d.org_id = $1), 0)::bigint \
                 FROM org_counts c WHERE c.org_id = $1"
            }
        };
        let n: Option<i64> = self.query_one(sql, &[&org_id], |row| get(row, 0))?;
        Ok(n.map(|n| u64::try_from(n).unwrap_or(0)))
    }
}

impl Tx for PgTx<'_> {
    /// Inserts an organisation; its `id` is assigned by the database (the given one is ignored).
    fn insert_org(&mut self, org: &Org) -> Result<i64, DirectoryError> {
        let stmt = self.conn.prepare(
            "INSERT INTO orgs (name, username_policy, scim_default_state, created) VALUES ($1, $2, $3, $4) RETURNING id",
        );
        let result = stmt.and_then(|s| {
            self.conn.client.query_one(
                &s,
                &[&org.name, &org.username_policy.as_str(), &org.scim_default_state.as_str(), &org.created],
            )
        });
        match result {
            Ok(row) => get(&row, 0),
            Err(e) if unique_violation(&e).is_some() => {
                Err(DirectoryError::Conflict(format!("An organisation named \"{}\" already exists.", org.name)))
            }
            Err(e) => Err(self.err(e)),
        }
    }

    fn org_by_name(&mut self, name: &str) -> Result<Option<Org>, DirectoryError> {
        self.query_one(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE name = $1"), &[&name], org_from_row)
    }

    fn org_by_id(&mut self, id: i64) -> Result<Option<Org>, DirectoryError> {
        self.query_one(&format!("SELECT {ORG_COLUMNS} FROM orgs WHERE id = $1"), &[&id], org_from_row)
    }

    fn list_orgs(&mut self) -> Result<Vec<Org>, DirectoryError> {
        self.query_all(&format!("SELECT {ORG_COLUMNS} FROM orgs ORDER BY id"), &[], org_from_row)
    }

    fn update_org(&mut self, org: &Org) -> Result<(), DirectoryError> {
        let result = self.execute(
            "UPDATE orgs SET name = $1, username_policy = $2, scim_default_state = $3 WHERE id = $4",
            &[&org.name, &org.username_policy.as_str(), &org.scim_default_state.as_str(), &org.id],
        );
        let n = match result {
            Ok(n) => n,
            Err(e) if unique_violation(&e).is_some() => {
                return Err(DirectoryError::Conflict(format!("An organisation named \"{}\" already exists.", org.name)))
            }
            Err(e) => return Err(self.err(e)),
        };
        if n == 0 {
            return Err(DirectoryError::NotFound(format!("Organisation {} not found.", org.id)));
        }
        Ok(())
    }

    fn insert_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), DirectoryError> {
        let result = self.execute(
            &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
            &[
                &key.id,
                &key.org_id,
                &key.name,
                &key.role.as_str(),
                &key.principal,
                &key.token_hash,
                &key.token_hint,
                &key.created,
                &key.expires_at,
                &key.revoked_at,
            ],
        );
        match result {
            Ok(_) => Ok(()),
            Err(e) if unique_violation(&e).is_some() => Err(DirectoryError::Conflict(format!(
                "An API key with id \"{}\" or the same token already exists.",
                key.id
            ))),
            Err(e) => Err(self.err(e)),
        }
    }

    fn api_key_by_hash(&mut self, token_hash: &str) -> Result<Option<ApiKeyRecord>, DirectoryError> {
        self.query_one(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE token_hash = $1"),
            &[&token_hash],
            key_from_row,
        )
    }

    fn list_api_keys(&mut self, org_id: i64) -> Result<Vec<ApiKeyRecord>, DirectoryError> {
        self.query_all(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created, id"),
            &[&org_id],
            key_from_row,
        )
    }

    fn revoke_api_key(&mut self, org_id: i64, key_id: &str, at: &str) -> Result<bool, DirectoryError> {
        let n = self
            .execute(
                "UPDATE api_keys SET revoked_at = $1 WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL",
                &[&at, &org_id, &key_id],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    fn auth_generation(&mut self) -> Result<i64, DirectoryError> {
        let n: Option<i64> = self.query_one("SELECT n FROM auth_generation WHERE id = 1", &[], |row| get(row, 0))?;
        n.ok_or_else(|| DirectoryError::Store("the auth_generation row is missing".into()))
    }

    fn user_by_id(&mut self, org_id: i64, id: &str) -> Result<Option<UserRecord>, DirectoryError> {
        self.query_one(
            &format!("SELECT {} FROM users u WHERE u.id = $1 AND u.org_id = $2", query::USER_COLUMNS),
            &[&id, &org_id],
            user_from_row,
        )
    }

    fn query_users(&mut self, org_id: i64, q: &UserQuery<'_>) -> Result<Page<UserRecord>, DirectoryError> {
        let mut b = Builder::default();
        let pred = b.predicate(org_id, q.filter);
        let pred_params = b.params.clone();
        if let Some(after) = q.after {
            let total = self.users_total(org_id, q.filter.is_some(), &pred, &pred_params)?;
            if q.count == 0 {
                return Ok(Page { total, items: Vec::new(), next: None });
            }
            // One row more than the page tells whether another page follows.
            let sql = b.keyset_sql(&pred, after, q.count.saturating_add(1));
            let rows =
                self.query_all(&sql, &Builder::bind(&b.params), |row| Ok((user_from_row(row)?, get(row, query::SEQ_AFTER_USER_COLUMNS)?)))?;
            return Ok(Page::keyset(total, rows, q.count));
        }
        if q.count == 0 {
            return Ok(Page::indexed(self.users_total(org_id, q.filter.is_some(), &pred, &pred_params)?, Vec::new()));
        }
        let offset = q.start_index.saturating_sub(1);
        let users = if q.filter.is_none() && q.sort_by.is_none() && offset > 0 {
            let mut find = Builder::default();
            let sql = find.block_at_offset_sql(org_id, offset);
            let found: Option<(i64, i64)> =
                self.query_one(&sql, &Builder::bind(&find.params), |row| Ok((get(row, 0)?, get(row, 1)?)))?;
            match found {
                Some((block, inside)) => {
                    let mut page = Builder::default();
                    let sql = page.block_page_sql(org_id, block, inside, q.count);
                    self.query_all(&sql, &Builder::bind(&page.params), user_from_row)?
                }
                None => Vec::new(),
            }
        } else {
            let (order, from_extra) = b.order_by(q.sort_by, q.sort_order);
            let sql = b.page_sql(&pred, &order, &from_extra, q.count, offset);
            self.query_all(&sql, &Builder::bind(&b.params), user_from_row)?
        };
        let total = match directory::store::total_of_short_page(offset, q.count, users.len()) {
            Some(total) => total,
            None => self.users_total(org_id, q.filter.is_some(), &pred, &pred_params)?,
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
                "SELECT id FROM users WHERE org_id = $1 AND username_folded = $2 AND id IS DISTINCT FROM $3 LIMIT 1",
                value.to_lowercase(),
            ),
            UniqueField::Email => (
                "SELECT id FROM users WHERE org_id = $1 AND email = $2 AND id IS DISTINCT FROM $3 LIMIT 1",
                value.to_lowercase(),
            ),
            UniqueField::EmployeeIdentifier => (
                "SELECT id FROM users WHERE org_id = $1 AND employee_identifier = $2 AND id IS DISTINCT FROM $3 LIMIT 1",
                value.to_string(),
            ),
        };
        self.query_one(sql, &[&org_id, &value, &except_id], |row| get(row, 0))
    }

    fn unique_holders(
        &mut self,
        org_id: i64,
        field: UniqueField,
        values: &[String],
    ) -> Result<Vec<(String, String)>, DirectoryError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let column = match field {
            UniqueField::Username => "username_folded",
            UniqueField::Email => "email",
            UniqueField::EmployeeIdentifier => "employee_identifier",
        };
        self.query_all(
            &format!("SELECT {column}, id FROM users WHERE org_id = $1 AND {column} = ANY($2::text[])"),
            &[&org_id, &values],
            |row| Ok((get(row, 0)?, get(row, 1)?)),
        )
    }

    /// One `INSERT … SELECT FROM unnest(…)` for the users and one for their emails.
    fn insert_users(&mut self, users: &[UserRecord]) -> Result<(), DirectoryError> {
        if users.is_empty() {
            return Ok(());
        }
        let n = users.len();
        let mut c = InsertColumns::with_capacity(n);
        let (mut e_org, mut e_user, mut e_value) = (Vec::new(), Vec::new(), Vec::new());
        for u in users {
            c.id.push(u.id.clone());
            c.org_id.push(u.org_id);
            c.user_name.push(u.user_name.clone());
            c.user_name_folded.push(u.user_name.to_lowercase());
            c.username.push(u.username.clone());
            c.username_folded.push(u.username.to_lowercase());
            c.email.push(u.email.as_deref().map(str::to_lowercase));
            c.external_id.push(u.external_id.clone());
            c.employee_identifier.push(u.employee_identifier.clone());
            c.manager_id.push(u.manager_id.clone());
            c.state.push(u.state.as_str().to_string());
            c.activated.push(u.activated);
            c.password_expired.push(u.password_expired);
            c.scim.push(json_text(&u.scim)?);
            c.doc.push(json_text(&filter_doc(u))?);
            c.created.push(u.created.clone());
            c.last_modified.push(u.last_modified.clone());
            c.created_at.push(normalize_instant(&u.created));
            c.last_modified_at.push(normalize_instant(&u.last_modified));
            c.version.push(u.version);
            for v in u.email_values() {
                e_org.push(u.org_id);
                e_user.push(u.id.clone());
                e_value.push(v);
            }
        }
        let result = self.execute(
            "INSERT INTO users (id, org_id, user_name, user_name_folded, username, username_folded, email, \
             external_id, employee_identifier, manager_id, state, activated, password_expired, scim, doc, \
             created, last_modified, created_at, last_modified_at, version) \
             SELECT id, org_id, user_name, user_name_folded, username, username_folded, email, external_id, \
             employee_identifier, manager_id, state, activated, password_expired, scim, doc::jsonb, \
             created, last_modified, created_at::timestamptz, last_modified_at::timestamptz, version \
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::text[], $9::text[], $10::text[], $11::text[], $12::bool[], $13::bool[], $14::text[], \
             $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::bigint[]) \
             AS t(id, org_id, user_name, user_name_folded, username, username_folded, email, external_id, \
             employee_identifier, manager_id, state, activated, password_expired, scim, doc, created, \
             last_modified, created_at, last_modified_at, version)",
            &[
                &c.id,
                &c.org_id,
                &c.user_name,
                &c.user_name_folded,
                &c.username,
                &c.username_folded,
                &c.email,
                &c.external_id,
                &c.employee_identifier,
                &c.manager_id,
                &c.state,
                &c.activated,
                &c.password_expired,
                &c.scim,
                &c.doc,
                &c.created,
                &c.last_modified,
                &c.created_at,
                &c.last_modified_at,
                &c.version,
            ],
        );
        if let Err(e) = result {
            return Err(match unique_violation(&e) {
                Some(constraint) => DirectoryError::Conflict(format!(
                    "a user of this batch breaks the unique rule {constraint} (written concurrently?)"
                )),
                None => self.err(e),
            });
        }
        if !e_org.is_empty() {
            self.execute(
                "INSERT INTO user_emails (org_id, user_id, value_folded) \
                 SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])",
                &[&e_org, &e_user, &e_value],
            )
            .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn insert_user(&mut self, user: &UserRecord) -> Result<(), DirectoryError> {
        self.write_user(INSERT_USER, user)?;
        self.sync_emails(user)
    }

    fn update_user(&mut self, user: &UserRecord) -> Result<(), DirectoryError> {
        if self.write_user(UPDATE_USER, user)? == 0 {
            return Err(DirectoryError::NotFound(format!("User {} not found.", user.id)));
        }
        self.sync_emails(user)
    }

    fn delete_user(&mut self, org_id: i64, id: &str) -> Result<bool, DirectoryError> {
        // user_emails rows go with the user (ON DELETE CASCADE).
        let n = self.execute("DELETE FROM users WHERE org_id = $1 AND id = $2", &[&org_id, &id]).map_err(|e| {
            // The directory clears manager references before it deletes, so a
            // reference here was committed after this transaction's snapshot
            // (the foreign key checks the latest data): run it again.
            if e.as_db_error().and_then(|d| d.constraint()) == Some("users_manager_fk") {
                self.retry = true;
            }
            self.err(e)
        })?;
        Ok(n > 0)
    }

    fn clear_manager_references(&mut self, org_id: i64, manager_id: &str) -> Result<(), DirectoryError> {
        let managed = self.query_all(
            &format!(
                "SELECT {} FROM users u WHERE u.org_id = $1 AND u.manager_id = $2 ORDER BY u.seq",
                query::USER_COLUMNS
            ),
            &[&org_id, &manager_id],
            user_from_row,
        )?;
        if managed.is_empty() {
            return Ok(());
        }
        let now = directory::now_rfc3339();
        for mut user in managed {
            user.remove_manager();
            user.manager_id = None;
            user.version += 1;
            user.last_modified = now.clone();
            self.write_user(UPDATE_USER, &user)?;
        }
        Ok(())
    }

    fn existing_user_ids(&mut self, org_id: i64, ids: &[String]) -> Result<Vec<String>, DirectoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.query_all(
            "SELECT u.id FROM users u WHERE u.id = ANY($1::text[]) AND u.org_id = $2",
            &[&ids, &org_id],
            |row| get(row, 0),
        )
    }

    fn user_names(&mut self, org_id: i64, ids: &[String]) -> Result<Vec<UserNames>, DirectoryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.query_all(
            "SELECT u.id, u.user_name, u.scim::json ->> 'displayName' FROM users u \
             WHERE u.id = ANY($1::text[]) AND u.org_id = $2",
            &[&ids, &org_id],
            |row| Ok(UserNames { id: get(row, 0)?, user_name: get(row, 1)?, display_name: get(row, 2)? }),
        )
    }

    fn group_by_id(&mut self, org_id: i64, id: &str) -> Result<Option<GroupRecord>, DirectoryError> {
        self.query_one(
            &format!("SELECT {} FROM groups g WHERE g.id = $1 AND g.org_id = $2", group_query::GROUP_COLUMNS),
            &[&id, &org_id],
            group_from_row,
        )
    }

    fn query_groups(&mut self, org_id: i64, q: &GroupQuery<'_>) -> Result<Page<GroupRecord>, DirectoryError> {
        let mut b = Builder::for_groups();
        let pred = group_query::predicate(&mut b, org_id, q.filter);
        let counted = if q.filter.is_none() { self.org_count(org_id, "groups")? } else { None };
        let total = match counted {
            Some(n) => n,
            None => {
                let count_params = b.params.clone();
                let rows = self.query(&group_query::count_sql(&pred), &Builder::bind(&count_params))?;
                let total: i64 = match rows.first() {
                    Some(row) => get(row, 0)?,
                    None => 0,
                };
                u64::try_from(total).unwrap_or(0)
            }
        };
        if let Some(after) = q.after {
            if q.count == 0 {
                return Ok(Page { total, items: Vec::new(), next: None });
            }
            let sql = group_query::keyset_sql(&mut b, &pred, after, q.count.saturating_add(1));
            let rows =
                self.query_all(&sql, &Builder::bind(&b.params), |row| Ok((group_from_row(row)?, get(row, 8)?)))?;
            return Ok(Page::keyset(total, rows, q.count));
        }
        let offset = q.start_index.saturating_sub(1);
        if q.count == 0 || offset >= total {
            return Ok(Page::indexed(total, Vec::new()));
        }
        let order = group_query::order_by(q.sort_by, q.sort_order);
        let sql = group_query::page_sql(&mut b, &pred, &order, q.count, offset);
        let groups = self.query_all(&sql, &Builder::bind(&b.params), group_from_row)?;
        Ok(Page::indexed(total, groups))
    }

    fn group_name_holder(
        &mut self,
        org_id: i64,
        display_name: &str,
        except_id: Option<&str>,
    ) -> Result<Option<String>, DirectoryError> {
        let folded = display_name.to_lowercase();
        self.query_one(
            "SELECT id FROM groups WHERE org_id = $1 AND display_name_folded = $2 AND id IS DISTINCT FROM $3 LIMIT 1",
            &[&org_id, &folded, &except_id],
            |row| get(row, 0),
        )
    }

    fn insert_group(&mut self, group: &GroupRecord) -> Result<(), DirectoryError> {
        self.write_group(
            "INSERT INTO groups (id, org_id, display_name, display_name_folded, external_id, scim, doc, created, \
             last_modified, version) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9, $10)",
            group,
        )
        .map(|_| ())
    }

    fn update_group(&mut self, group: &GroupRecord) -> Result<(), DirectoryError> {
        let n = self.write_group(
            "UPDATE groups SET display_name = $3, display_name_folded = $4, external_id = $5, scim = $6, \
             doc = $7::text::jsonb, created = $8, last_modified = $9, version = $10 WHERE id = $1 AND org_id = $2",
            group,
        )?;
        if n == 0 {
            return Err(DirectoryError::NotFound(format!("Group {} not found.", group.id)));
        }
        Ok(())
    }

    fn delete_group(&mut self, org_id: i64, id: &str) -> Result<bool, DirectoryError> {
        // group_members rows go with the group (ON DELETE CASCADE).
        let n = self
            .execute("DELETE FROM groups WHERE org_id = $1 AND id = $2", &[&org_id, &id])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    fn add_members(
        &mut self,
        org_id: i64,
        group_id: &str,
        member_ids: &[String],
    ) -> Result<Vec<String>, DirectoryError> {
        if member_ids.is_empty() {
            return Ok(Vec::new());
        }
        let added: Vec<String> = self.query_all(
            "INSERT INTO group_members (org_id, group_id, member_id) SELECT $1, $2, x FROM unnest($3::text[]) x \
             ON CONFLICT DO NOTHING RETURNING member_id",
            &[&org_id, &group_id, &member_ids],
            |row| get(row, 0),
        )?;
        Ok(in_given_order(member_ids, added))
    }

    fn remove_members(
        &mut self,
        org_id: i64,
        group_id: &str,
        member_ids: &[String],
    ) -> Result<Vec<String>, DirectoryError> {
        if member_ids.is_empty() {
            return Ok(Vec::new());
        }
        let removed: Vec<String> = self.query_all(
            "DELETE FROM group_members WHERE group_id = $1 AND org_id = $2 AND member_id = ANY($3::text[]) \
             RETURNING member_id",
            &[&group_id, &org_id, &member_ids],
            |row| get(row, 0),
        )?;
        Ok(in_given_order(member_ids, removed))
    }

    fn clear_members(&mut self, org_id: i64, group_id: &str) -> Result<Vec<String>, DirectoryError> {
        self.query_all(
            "DELETE FROM group_members WHERE group_id = $1 AND org_id = $2 RETURNING member_id",
            &[&group_id, &org_id],
            |row| get(row, 0),
        )
    }

    fn for_each_member(
        &mut self,
        org_id: i64,
        group_id: &str,
        each: &mut dyn FnMut(MemberRef) -> Result<(), DirectoryError>,
    ) -> Result<(), DirectoryError> {
        // Streams the rows rather than collecting them (a group may have 100 000 members).
        let sql = "SELECT m.member_id, u.scim::json ->> 'displayName' \
                   FROM group_members m JOIN users u ON u.id = m.member_id \
                   WHERE m.group_id = $1 AND m.org_id = $2 ORDER BY m.member_id";
        let stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let params: [&(dyn ToSql + Sync); 2] = [&group_id, &org_id];
        let (mut pg_error, mut each_error) = (None, None);
        match self.conn.client.query_raw(&stmt, params) {
            Err(e) => pg_error = Some(e),
            Ok(mut rows) => loop {
                match postgres::fallible_iterator::FallibleIterator::next(&mut rows) {
                    Ok(Some(row)) => {
                        let member = get(&row, 0).and_then(|id| Ok(MemberRef { id, display: get(&row, 1)? }));
                        if let Err(e) = member.and_then(&mut *each) {
                            each_error = Some(e);
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        pg_error = Some(e);
                        break;
                    }
                }
            },
        }
        if let Some(e) = pg_error {
            return Err(self.err(e));
        }
        each_error.map_or(Ok(()), Err)
    }

    fn groups_of_users(&mut self, org_id: i64, user_ids: &[String]) -> Result<Vec<GroupRef>, DirectoryError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.query_all(
            "SELECT m.member_id, g.id, g.display_name FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.member_id = ANY($1::text[]) AND m.org_id = $2 ORDER BY m.member_id, g.display_name_folded",
            &[&user_ids, &org_id],
            |row| Ok(GroupRef { user_id: get(row, 0)?, group_id: get(row, 1)?, display_name: get(row, 2)? }),
        )
    }

    fn append_event(&mut self, event: &Event) -> Result<(), DirectoryError> {
        let ignored = serde_json::to_string(&event.ignored).map_err(|e| DirectoryError::Store(e.to_string()))?;
        let changes = json_text(&event.changes)?;
        let status = i32::from(event.status);
        self.execute(
            &format!(
                "INSERT INTO events ({EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            &[
                &event.id,
                &event.at,
                &event.org_id,
                &event.actor,
                &event.source,
                &event.event_type,
                &event.resource_type,
                &event.resource_id,
                &event.resource_name,
                &changes,
                &ignored,
                &status,
                &event.error,
            ],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn recent_events(&mut self, org_id: i64, limit: u64) -> Result<Vec<Event>, DirectoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_all(
            &format!("SELECT {EVENT_COLUMNS} FROM events WHERE org_id = $1 ORDER BY seq DESC LIMIT $2"),
            &[&org_id, &limit],
            event_from_row,
        )
    }
}
