//! `query_groups` as SQL, like [`crate::query`] for users.
//!
//! Equality terms of the filter's top-level `and` on `id`, `displayName`
//! (folded) and `externalId` are pushed down to indexes. Membership terms
//! (`members eq "U"`, `members.value eq "U"`, `members[value eq "U"]`:
//! Entra's membership check) become an `EXISTS` on the `group_members`
//! primary key and leave the residual. The rest is translated to SQL over
//! `g.doc`; only when it still mentions `members` is the group's member list
//! aggregated into the document, for that group alone.

use crate::query::Builder;
use directory::pushdown::{and_terms, group_key, member_term, mentions_members, GroupKey};
use scim::filter::{CompValue, CompareOp, Filter};
use scim::list::SortOrder;
use scim::schema::AttrPath;

/// The group columns every group query selects, in the order `tx::group_from_row` reads them.
pub const GROUP_COLUMNS: &str =
    "g.id, g.org_id, g.display_name, g.external_id, g.scim, g.created, g.last_modified, g.version";

/// The document with the members, as `{"value": id, "type": "user"}` (type folded: not caseExact).
const DOC_WITH_MEMBERS: &str = "(g.doc || jsonb_build_object('members', (SELECT COALESCE(jsonb_agg(\
     jsonb_build_object('value', m.member_id, 'type', 'user') ORDER BY m.member_id), '[]'::jsonb) \
     FROM group_members m WHERE m.group_id = g.id)))";

/// The `WHERE` clause of a group query (parameters pushed onto `b`).
pub fn predicate(b: &mut Builder, org_id: i64, filter: Option<&Filter>) -> String {
    let mut sql = format!("g.org_id = {}", b.int(org_id));
    let Some(filter) = filter else { return sql };
    let mut residual: Vec<&Filter> = Vec::new();
    for term in and_terms(filter) {
        if let Some(member) = member_term(term) {
            let p = b.text(member);
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.member_id = {p})"
            ));
            continue;
        }
        if let Filter::Compare(path, CompareOp::Eq, CompValue::Str(v)) = term {
            match group_key(path) {
                GroupKey::Id => sql.push_str(&format!(" AND g.id = {}", b.text(v.as_str()))),
                GroupKey::DisplayName => {
                    sql.push_str(&format!(" AND g.display_name_folded = {}", b.text(v.to_lowercase())))
                }
                GroupKey::ExternalId => sql.push_str(&format!(" AND g.external_id = {}", b.text(v.as_str()))),
                _ => {}
            }
        }
        residual.push(term);
    }
    let rest = residual.into_iter().cloned().reduce(|a, b| Filter::And(Box::new(a), Box::new(b)));
    if let Some(rest) = rest {
        if mentions_members(&rest) {
            b.set_doc(DOC_WITH_MEMBERS.to_string());
        }
        let residual = b.filter_sql(&rest);
        sql.push_str(" AND ");
        sql.push_str(&residual);
    }
    sql
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

pub fn page_sql(b: &mut Builder, predicate: &str, order: &str, count: u64, offset: u64) -> String {
    let limit = b.int(i64::try_from(count).unwrap_or(i64::MAX));
    let offset = b.int(i64::try_from(offset).unwrap_or(i64::MAX));
    format!("SELECT {GROUP_COLUMNS} FROM groups g WHERE {predicate} ORDER BY {order} LIMIT {limit} OFFSET {offset}")
}

/// A cursor page of groups, like [`Builder::keyset_sql`] for users; `g.seq` is selected last.
pub fn keyset_sql(b: &mut Builder, predicate: &str, after: i64, limit: u64) -> String {
    let after = b.int(after);
    let limit = b.int(i64::try_from(limit).unwrap_or(i64::MAX));
    format!("SELECT {GROUP_COLUMNS}, g.seq FROM groups g WHERE {predicate} AND g.seq > {after} ORDER BY g.seq LIMIT {limit}")
}

pub fn count_sql(predicate: &str) -> String {
    format!("SELECT count(*) FROM groups g WHERE {predicate}")
}
