//! `query_users` as SQL: the filter runs inside the database.
//!
//! Equality terms of the filter's top-level `and` that an index can answer
//! (`id`, `userName`, `externalId`, email values) are pushed down as indexed
//! predicates; the whole filter is then also applied as a residual predicate
//! by the `scim_user_match` SQL function, so the result is exactly what
//! `Filter::matches` says. The pushed-down terms only narrow the rows that
//! function has to look at, never widen them.

use crate::conn::db_error;
use directory::pushdown::{is_exact_user_lookup, user_key, user_lookups, UserKey, UserLookup};
use directory::DirectoryError;
use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, ToSql};
use scim::filter::Filter;
use scim::list::SortOrder;
use scim::schema::AttrPath;
use std::borrow::Cow;

/// The user columns every user query selects, in the order `tx::user_from_row` reads them.
pub const USER_COLUMNS: &str = "u.id, u.org_id, u.user_name, u.username, u.email, u.external_id, \
     u.employee_identifier, u.manager_id, u.state, u.activated, u.password_expired, u.scim, \
     u.created, u.last_modified, u.version";

/// The position of `u.seq` when a query selects it after [`USER_COLUMNS`].
pub const SEQ_AFTER_USER_COLUMNS: usize = 15;

const MATCH_CALL: &str =
    "scim_user_match(?, u.id, u.scim, u.state, u.password_expired, u.created, u.last_modified, u.version)";

const EMAIL_LOOKUP: &str = "u.id IN (SELECT user_id FROM user_emails WHERE org_id = ? AND value_folded = ?)";

/// A bound parameter: borrowed from the query where possible.
#[derive(Debug, Clone)]
pub enum Param<'a> {
    Int(i64),
    Text(Cow<'a, str>),
}

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Param::Int(i) => ToSqlOutput::from(*i),
            Param::Text(s) => ToSqlOutput::from(s.as_ref()),
        })
    }
}

/// The `WHERE` clause of a user query and its parameters.
pub struct Predicate<'a> {
    pub sql: String,
    pub params: Vec<Param<'a>>,
}

/// How a user query walks the organisation's users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// In an order of the query's own (a sort), or only counting them.
    Any,
    /// In insertion order, from the first.
    InsertionOrder,
    /// In insertion order after a position: [`keyset_sql`] adds that lower bound.
    AfterPosition,
}

/// The `WHERE` clause for `filter` in an organisation.
pub fn predicate<'a>(org_id: i64, filter: Option<&'a Filter>, walk: Walk) -> Predicate<'a> {
    let lookups = filter.map(user_lookups).unwrap_or_default();
    let by_index = lookups.iter().any(|l| !matches!(l, UserLookup::Time { .. }));
    // Without statistics SQLite would rather walk every user of the org
    // through an (org_id, …) index than drive the query from the email
    // subquery's id list, or walk the org's seq range (`crate::seq`) in
    // insertion order; `+` takes org_id out of index selection then.
    let by_email_only = lookups.iter().any(|l| matches!(l, UserLookup::Email(_)))
        && !lookups.iter().any(|l| matches!(l, UserLookup::UserName(_) | UserLookup::ExternalId(_)));
    let mut params = vec![Param::Int(org_id)];
    let (first, end) = crate::seq::range(org_id);
    let mut sql = if by_index || walk == Walk::Any {
        String::from(if by_email_only { "+u.org_id = ?" } else { "u.org_id = ?" })
    } else if walk == Walk::InsertionOrder {
        params.extend([Param::Int(first), Param::Int(end)]);
        String::from("+u.org_id = ? AND u.seq >= ? AND u.seq < ?")
    } else {
        // One lower bound, the position's, for SQLite to seek to.
        params.push(Param::Int(end));
        String::from("+u.org_id = ? AND u.seq < ?")
    };
    if let Some(filter) = filter {
        for lookup in lookups {
            match lookup {
                UserLookup::Id(v) => {
                    sql.push_str(" AND u.id = ?");
                    params.push(Param::Text(Cow::Borrowed(v)));
                }
                UserLookup::UserName(v) => {
                    sql.push_str(" AND u.user_name_folded = ?");
                    params.push(Param::Text(Cow::Owned(v.to_lowercase())));
                }
                UserLookup::ExternalId(v) => {
                    sql.push_str(" AND u.external_id = ?");
                    params.push(Param::Text(Cow::Borrowed(v)));
                }
                UserLookup::Email(v) => {
                    sql.push_str(" AND ");
                    sql.push_str(EMAIL_LOOKUP);
                    params.push(Param::Int(org_id));
                    params.push(Param::Text(Cow::Owned(v.to_lowercase())));
                }
                // SQLite keeps times as RFC 3339 text; the residual compares them as instants.
                UserLookup::Time { .. } => {}
            }
        }
        // A filter that is exactly one pushed-down equality is answered by
        // the index alone (same folding as the evaluator): no residual.
        if !is_exact_user_lookup(filter) {
            sql.push_str(" AND ");
            sql.push_str(MATCH_CALL);
            params.push(Param::Text(Cow::Owned(filter.to_string())));
        }
    }
    Predicate { sql, params }
}

/// The `ORDER BY` clause (ties broken by insertion order) and its parameter, if any.
pub fn order_by<'a>(sort_by: Option<&'a AttrPath>, order: SortOrder) -> (String, Option<Param<'a>>) {
    let Some(path) = sort_by else { return ("u.seq".into(), None) };
    let dir = match order {
        SortOrder::Ascending => "ASC",
        SortOrder::Descending => "DESC",
    };
    // NOT NULL columns need no "nulls last" term, which keeps an index usable for the order.
    let (expr, nullable, param) = match user_key(path) {
        UserKey::Id => ("u.id", false, None),
        UserKey::ExternalId => ("u.external_id", true, None),
        UserKey::UserName => ("u.user_name_folded", false, None),
        UserKey::EmailValue => ("u.email", true, None),
        UserKey::Created => ("u.created", false, None),
        UserKey::LastModified => ("u.last_modified", false, None),
        UserKey::Other => ("scim_sort_key(?, u.scim)", true, Some(Param::Text(Cow::Owned(path.to_string())))),
    };
    // Unassigned values sort last in both directions.
    let sql = if nullable { format!("{expr} {dir} NULLS LAST, u.seq") } else { format!("{expr} {dir}, u.seq") };
    (sql, param)
}

/// The SQL of the page query for a predicate and order.
pub fn page_sql(predicate: &str, order: &str) -> String {
    format!("SELECT {USER_COLUMNS} FROM users u WHERE {predicate} ORDER BY {order} LIMIT ? OFFSET ?")
}

/// The SQL of a cursor page (keyset paging): the rows after a position, in
/// insertion order. Parameters: the predicate's ([`Walk::AfterPosition`]),
/// the position ([`keyset_position`]), the limit.
pub fn keyset_sql(predicate: &str) -> String {
    format!("SELECT {USER_COLUMNS}, u.seq FROM users u WHERE {predicate} AND u.seq > ? ORDER BY u.seq LIMIT ?")
}

/// The lower bound of a cursor page of an organisation: `after`, or the
/// start of the organisation's seq range if that lies further on (a cursor
/// of 0, or one from before migration 8).
pub fn keyset_position(org_id: i64, after: i64) -> i64 {
    after.max(crate::seq::range(org_id).0.saturating_sub(1))
}

/// The SQL of the count query for a predicate.
pub fn count_sql(predicate: &str) -> String {
    format!("SELECT count(*) FROM users u WHERE {predicate}")
}

/// One lookup's SQL and its `EXPLAIN QUERY PLAN`.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    /// The filter whose pushdown is explained, e.g. `userName eq "jdoe"`.
    pub filter: String,
    pub sql: String,
    /// The plan's detail lines, one per line.
    pub plan: String,
}

/// Explains the page queries of the four indexed lookups.
pub fn explain_lookup_plans(conn: &Connection) -> Result<Vec<LookupPlan>, DirectoryError> {
    let filters = [
        r#"userName eq "jdoe""#,
        r#"externalId eq "ext-1""#,
        r#"id eq "2819c223-7f76-453a-919d-413861904646""#,
        r#"emails[type eq "work" and value eq "jdoe@example.com"]"#,
    ];
    let mut out = Vec::with_capacity(filters.len());
    for text in filters {
        let filter: Filter = text.parse().map_err(|e: scim::ScimError| DirectoryError::Store(e.detail))?;
        let pred = predicate(1, Some(&filter), Walk::InsertionOrder);
        let (order, _) = order_by(None, SortOrder::Ascending);
        let sql = page_sql(&pred.sql, &order);
        let mut params = pred.params;
        params.push(Param::Int(100));
        params.push(Param::Int(0));
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).map_err(db_error)?;
        let lines: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), |r| r.get::<_, String>(3))
            .map_err(db_error)?
            .collect::<Result<_, _>>()
            .map_err(db_error)?;
        out.push(LookupPlan { filter: text.to_string(), sql, plan: lines.join("\n") });
    }
    Ok(out)
}

/// `EXPLAIN QUERY PLAN` of the list pages without a filter: users and groups,
/// by index (first page) and by cursor, as `(name, plan)`.
pub fn explain_list_plans(conn: &Connection) -> Result<Vec<(String, String)>, DirectoryError> {
    let (order, _) = order_by(None, SortOrder::Ascending);
    let group_order = crate::group_query::order_by(None, SortOrder::Ascending);
    let cases = [
        ("users by index", page_sql(&predicate(1, None, Walk::InsertionOrder).sql, &order), 5),
        ("users by cursor", keyset_sql(&predicate(1, None, Walk::AfterPosition).sql), 4),
        ("groups by index", crate::group_query::page_sql("g.org_id = ?", &group_order), 3),
        ("groups by cursor", crate::group_query::keyset_sql("g.org_id = ?"), 3),
    ];
    let mut out = Vec::with_capacity(cases.len());
    for (name, sql, n) in cases {
        let params: Vec<Param<'_>> = (0..n).map(|i| Param::Int(i + 1)).collect();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).map_err(db_error)?;
        let lines: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(params.iter()), |r| r.get::<_, String>(3))
            .map_err(db_error)?
            .collect::<Result<_, _>>()
            .map_err(db_error)?;
        out.push((name.to_string(), lines.join("\n")));
    }
    Ok(out)
}

/// `EXPLAIN QUERY PLAN` of the lookups by a list of ids (`existing_user_ids`,
/// `user_names`, `groups_of_users`) and by one id, as `(name, plan)`.
pub fn explain_id_list_plans(conn: &Connection) -> Result<Vec<(String, String)>, DirectoryError> {
    let cases = [
        ("existing_user_ids", crate::tx::EXISTING_USER_IDS_SQL),
        ("user_names", crate::tx::USER_NAMES_SQL),
        ("groups_of_users", crate::tx::GROUPS_OF_USERS_SQL),
        ("user_names_of_one", crate::tx::USER_NAMES_OF_ONE_SQL),
        ("groups_of_one_user", crate::tx::GROUPS_OF_ONE_USER_SQL),
    ];
    let mut out = Vec::with_capacity(cases.len());
    for (name, sql) in cases {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).map_err(db_error)?;
        let lines: Vec<String> = stmt
            .query_map(rusqlite::params!["[\"a\",\"b\"]", 1], |r| r.get::<_, String>(3))
            .map_err(db_error)?
            .collect::<Result<_, _>>()
            .map_err(db_error)?;
        out.push((name.to_string(), lines.join("\n")));
    }
    Ok(out)
}

/// Binds `params` in order.
pub fn bind<'p>(params: &'p [Param<'_>]) -> impl rusqlite::Params + 'p {
    rusqlite::params_from_iter(params.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Filter {
        s.parse().unwrap()
    }

    #[test]
    fn pushes_down_indexable_equalities() {
        let x =
            f(r#"USERNAME eq "JDoe" and externalId eq "E" and id eq "i" and emails[type eq "work"].value eq "A@B""#);
        let p = predicate(7, Some(&x), Walk::InsertionOrder);
        assert!(p.sql.starts_with("u.org_id = ? AND u.user_name_folded = ?"), "{}", p.sql);
        assert!(p.sql.ends_with(MATCH_CALL));
    }

    #[test]
    fn a_single_exact_equality_needs_no_residual() {
        for exact in [r#"userName eq "JDoe""#, r#"externalId eq "E""#, r#"id eq "i""#] {
            let filter = f(exact);
            assert!(!predicate(1, Some(&filter), Walk::InsertionOrder).sql.contains("scim_user_match"), "{exact}");
        }
        for residual in [
            r#"userName eq "a" and active eq true"#,
            r#"emails[type eq "work"].value eq "a@b""#,
            r#"userName co "a""#,
            r#"emails.value eq "a@b""#,
        ] {
            let filter = f(residual);
            assert!(predicate(1, Some(&filter), Walk::InsertionOrder).sql.contains("scim_user_match"), "{residual}");
        }
    }
}
