//! `query_groups` as SQL, like [`crate::query`] for users.
//!
//! Equality terms of the filter's top-level `and` on `id`, `displayName`
//! (folded) and `externalId` are pushed down to indexes. Membership terms
//! (`members eq "U"`, `members.value eq "U"`, `members[value eq "U"]`: Entra's
//! membership check) become an `EXISTS` on the `group_members` primary key and
//! are taken out of the residual filter. The rest of the filter runs in the
//! `scim_group_match` SQL function; only when it still mentions `members` (an
//! `or`, `members pr`, …) does that function get the group's member ids,
//! aggregated for that group alone.

use crate::query::Param;
use directory::pushdown::{and_terms, group_key, member_term, mentions_members, GroupKey};
use scim::filter::{CompValue, CompareOp, Filter};
use scim::list::SortOrder;
use scim::schema::AttrPath;
use std::borrow::Cow;

/// The group columns every group query selects, in the order `tx::group_from_row` reads them.
pub const GROUP_COLUMNS: &str =
    "g.id, g.org_id, g.display_name, g.external_id, g.scim, g.created, g.last_modified, g.version";

const MEMBER_EXISTS: &str = "EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.member_id = ?)";
const MEMBER_IDS: &str = "(SELECT json_group_array(m.member_id) FROM group_members m WHERE m.group_id = g.id)";

/// The `WHERE` clause of a group query and its parameters.
pub struct Predicate<'a> {
    pub sql: String,
    pub params: Vec<Param<'a>>,
}

pub fn predicate<'a>(org_id: i64, filter: Option<&'a Filter>) -> Predicate<'a> {
    let mut sql = String::from("g.org_id = ?");
    let mut params = vec![Param::Int(org_id)];
    let Some(filter) = filter else { return Predicate { sql, params } };
    let mut residual: Vec<&Filter> = Vec::new();
    for term in and_terms(filter) {
        if let Some(member) = member_term(term) {
            sql.push_str(" AND ");
            sql.push_str(MEMBER_EXISTS);
            params.push(Param::Text(Cow::Borrowed(member)));
            continue;
        }
        if let Filter::Compare(path, CompareOp::Eq, CompValue::Str(v)) = term {
            match group_key(path) {
                GroupKey::Id => {
                    sql.push_str(" AND g.id = ?");
                    params.push(Param::Text(Cow::Borrowed(v)));
                }
                GroupKey::DisplayName => {
                    sql.push_str(" AND g.display_name_folded = ?");
                    params.push(Param::Text(Cow::Owned(v.to_lowercase())));
                }
                GroupKey::ExternalId => {
                    sql.push_str(" AND g.external_id = ?");
                    params.push(Param::Text(Cow::Borrowed(v)));
                }
                _ => {}
            }
        }
        residual.push(term);
    }
    let rest = residual.into_iter().cloned().reduce(|a, b| Filter::And(Box::new(a), Box::new(b)));
    if let Some(rest) = rest {
        let members = if mentions_members(&rest) { MEMBER_IDS } else { "NULL" };
        sql.push_str(&format!(
            " AND scim_group_match(?, g.id, g.scim, g.created, g.last_modified, g.version, {members})"
        ));
        params.push(Param::Text(Cow::Owned(rest.to_string())));
    }
    Predicate { sql, params }
}

/// The `ORDER BY` clause; attributes without a column sort by insertion order.
pub fn order_by(sort_by: Option<&AttrPath>, order: SortOrder) -> String {
    let dir = match order {
        SortOrder::Ascending => "ASC",
        SortOrder::Descending => "DESC",
    };
    match sort_by.map(group_key) {
        Some(GroupKey::Id) => format!("g.id {dir}"),
        Some(GroupKey::DisplayName) => format!("g.display_name_folded {dir}, g.seq"),
        Some(GroupKey::ExternalId) => format!("g.external_id {dir} NULLS LAST, g.seq"),
        Some(GroupKey::Created) => format!("g.created {dir}, g.seq"),
        Some(GroupKey::LastModified) => format!("g.last_modified {dir}, g.seq"),
        _ => "g.seq".into(),
    }
}

pub fn page_sql(predicate: &str, order: &str) -> String {
    format!("SELECT {GROUP_COLUMNS} FROM groups g WHERE {predicate} ORDER BY {order} LIMIT ? OFFSET ?")
}

/// A cursor page of groups, like [`crate::query::keyset_sql`] for users.
pub fn keyset_sql(predicate: &str) -> String {
    format!("SELECT {GROUP_COLUMNS}, g.seq FROM groups g WHERE {predicate} AND g.seq > ? ORDER BY g.seq LIMIT ?")
}

pub fn count_sql(predicate: &str) -> String {
    format!("SELECT count(*) FROM groups g WHERE {predicate}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Filter {
        s.parse().unwrap()
    }

    #[test]
    fn membership_terms_become_exists_and_leave_the_residual() {
        let x = f(r#"id eq "G" and members eq "U""#);
        let p = predicate(1, Some(&x));
        assert_eq!(p.sql.matches("EXISTS").count(), 1, "{}", p.sql);
        assert!(p.sql.contains("g.id = ?"));
        assert!(p.sql.ends_with("NULL)"), "{}", p.sql);
        let x = f(r#"members[value eq "U"]"#);
        let p = predicate(1, Some(&x));
        assert!(p.sql.contains("EXISTS") && !p.sql.contains("scim_group_match"), "{}", p.sql);
        let x = f(r#"members.value eq "U" and displayName eq "Sales""#);
        let p = predicate(1, Some(&x));
        assert!(p.sql.contains("EXISTS") && p.sql.contains("display_name_folded"), "{}", p.sql);
        let x = f(r#"members eq "U" or displayName eq "x""#);
        let p = predicate(1, Some(&x));
        assert!(!p.sql.contains("EXISTS") && p.sql.contains("json_group_array"), "{}", p.sql);
    }
}
