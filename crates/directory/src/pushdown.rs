//! Which parts of a SCIM filter a store can answer from its indexes.
//!
//! Both stores index the same attributes (user `id`, `userName`,
//! `externalId`, email values, `meta` times; group `id`, `displayName`,
//! `externalId` and membership), so the analysis of a filter is shared here
//! and each store only turns the terms into its own SQL. No SQL in here.

use scim::filter::{CompValue, CompareOp, Filter};
use scim::schema::{AttrPath, GROUP, USER, USER_SCHEMA_URN};

/// What a user attribute path names, for pushdown and sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserKey {
    Id,
    ExternalId,
    UserName,
    /// `emails` or `emails.value`.
    EmailValue,
    Created,
    LastModified,
    Other,
}

/// Resolves a user attribute path (case-insensitively, URN-qualified or not).
pub fn user_key(path: &AttrPath) -> UserKey {
    let Some((top, sub)) = USER.resolve_path(path) else { return UserKey::Other };
    if top.in_extension {
        return UserKey::Other;
    }
    match (top.schema.map(|s| s.id), top.attribute.name, sub.map(|s| s.name)) {
        (None, "id", None) => UserKey::Id,
        (None, "externalId", None) => UserKey::ExternalId,
        (None, "meta", Some("created")) => UserKey::Created,
        (None, "meta", Some("lastModified")) => UserKey::LastModified,
        (Some(USER_SCHEMA_URN), "userName", None) => UserKey::UserName,
        (Some(USER_SCHEMA_URN), "emails", None | Some("value")) => UserKey::EmailValue,
        _ => UserKey::Other,
    }
}

/// An indexable term of a user filter's top-level `and`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserLookup<'a> {
    Id(&'a str),
    /// Compared folded (`to_lowercase`), as the evaluator does.
    UserName(&'a str),
    ExternalId(&'a str),
    /// Any email value, compared folded.
    Email(&'a str),
    /// `meta.created` (`created: true`) or `meta.lastModified` compared with
    /// a date-time string, as written in the filter.
    Time {
        created: bool,
        op: CompareOp,
        value: &'a str,
    },
}

/// The indexable terms of the top-level `and` of a user filter, left to
/// right. They only narrow the candidates; the whole filter still decides.
pub fn user_lookups(filter: &Filter) -> Vec<UserLookup<'_>> {
    let mut out = Vec::new();
    for term in and_terms(filter) {
        match term {
            Filter::Compare(path, op, CompValue::Str(v)) => match (user_key(path), op) {
                (UserKey::Id, CompareOp::Eq) => out.push(UserLookup::Id(v)),
                (UserKey::UserName, CompareOp::Eq) => out.push(UserLookup::UserName(v)),
                (UserKey::ExternalId, CompareOp::Eq) => out.push(UserLookup::ExternalId(v)),
                (UserKey::EmailValue, CompareOp::Eq) => out.push(UserLookup::Email(v)),
                (
                    k @ (UserKey::Created | UserKey::LastModified),
                    CompareOp::Eq | CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le,
                ) => out.push(UserLookup::Time { created: k == UserKey::Created, op: *op, value: v }),
                _ => {}
            },
            // `emails[value eq "x"]`, `emails[type eq "work" and value eq "x"]`.
            Filter::ValuePath(path, inner) if path.sub_attr.is_none() && user_key(path) == UserKey::EmailValue => {
                for t in and_terms(inner) {
                    if let Filter::Compare(p, CompareOp::Eq, CompValue::Str(v)) = t {
                        if p.urn.is_none() && p.sub_attr.is_none() && p.attr.eq_ignore_ascii_case("value") {
                            out.push(UserLookup::Email(v));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether the whole filter is one equality that the indexed columns answer
/// exactly: `id` and `externalId` (caseExact) or `userName` (folded as the
/// evaluator folds it). Entra's lookups are this shape; they need no residual.
pub fn is_exact_user_lookup(filter: &Filter) -> bool {
    matches!(filter, Filter::Compare(path, CompareOp::Eq, CompValue::Str(_))
        if matches!(user_key(path), UserKey::Id | UserKey::UserName | UserKey::ExternalId))
}

/// What a group attribute path names, for pushdown and sorting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKey {
    Id,
    DisplayName,
    ExternalId,
    /// `members` or `members.value`.
    MemberValue,
    Created,
    LastModified,
    Other,
}

/// Resolves a group attribute path.
pub fn group_key(path: &AttrPath) -> GroupKey {
    let Some((top, sub)) = GROUP.resolve_path(path) else { return GroupKey::Other };
    match (top.schema.is_none(), top.attribute.name, sub.map(|s| s.name)) {
        (true, "id", None) => GroupKey::Id,
        (true, "externalId", None) => GroupKey::ExternalId,
        (true, "meta", Some("created")) => GroupKey::Created,
        (true, "meta", Some("lastModified")) => GroupKey::LastModified,
        (false, "displayName", None) => GroupKey::DisplayName,
        (false, "members", None | Some("value")) => GroupKey::MemberValue,
        _ => GroupKey::Other,
    }
}

/// The member id a term asks about (`members eq "U"`, `members.value eq "U"`,
/// `members[value eq "U"]`: Entra's membership check), if it is one.
pub fn member_term(f: &Filter) -> Option<&str> {
    match f {
        Filter::Compare(p, CompareOp::Eq, CompValue::Str(v)) if group_key(p) == GroupKey::MemberValue => Some(v),
        Filter::ValuePath(p, inner) if p.sub_attr.is_none() && group_key(p) == GroupKey::MemberValue => {
            match inner.as_ref() {
                Filter::Compare(q, CompareOp::Eq, CompValue::Str(v))
                    if q.urn.is_none() && q.sub_attr.is_none() && q.attr.eq_ignore_ascii_case("value") =>
                {
                    Some(v)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether any term of `f` names `members` (then the residual needs them).
pub fn mentions_members(f: &Filter) -> bool {
    let mut stack = vec![f];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            Filter::Not(a) => stack.push(a),
            Filter::Present(p) | Filter::Compare(p, ..) | Filter::ValuePath(p, _) => {
                if p.attr.eq_ignore_ascii_case("members") {
                    return true;
                }
            }
        }
    }
    false
}

/// The terms of the top-level `and`, left to right (iterative: filters are
/// bounded, but a long chain is still no reason to recurse).
pub fn and_terms(filter: &Filter) -> Vec<&Filter> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Filter {
        s.parse().unwrap()
    }

    #[test]
    fn user_lookups_take_indexable_equalities_of_the_top_level_and() {
        let x =
            f(r#"USERNAME eq "JDoe" and externalId eq "E" and id eq "i" and emails[type eq "work"].value eq "A@B""#);
        assert_eq!(
            user_lookups(&x),
            vec![
                UserLookup::UserName("JDoe"),
                UserLookup::ExternalId("E"),
                UserLookup::Id("i"),
                UserLookup::Email("A@B")
            ]
        );
        let urn = f(r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a" and emails eq "b""#);
        assert_eq!(user_lookups(&urn), vec![UserLookup::UserName("a"), UserLookup::Email("b")]);
        assert_eq!(
            user_lookups(&f(r#"meta.lastModified gt "2026-01-01T00:00:00Z""#)),
            vec![UserLookup::Time { created: false, op: CompareOp::Gt, value: "2026-01-01T00:00:00Z" }]
        );
        assert!(user_lookups(&f(r#"userName eq "a" or externalId eq "b""#)).is_empty());
        assert!(user_lookups(&f(r#"not (userName eq "a")"#)).is_empty());
        assert!(user_lookups(&f(r#"userName co "a""#)).is_empty());
        assert!(user_lookups(&f(r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "a""#))
            .is_empty());
    }

    #[test]
    fn exact_lookups() {
        for exact in [r#"userName eq "JDoe""#, r#"externalId eq "E""#, r#"id eq "i""#] {
            assert!(is_exact_user_lookup(&f(exact)), "{exact}");
        }
        for not in [r#"userName eq "a" and active eq true"#, r#"emails.value eq "a@b""#, r#"userName co "a""#] {
            assert!(!is_exact_user_lookup(&f(not)), "{not}");
        }
    }

    #[test]
    fn membership_terms() {
        assert_eq!(member_term(&f(r#"members eq "U""#)), Some("U"));
        assert_eq!(member_term(&f(r#"members.value eq "U""#)), Some("U"));
        assert_eq!(member_term(&f(r#"members[value eq "U"]"#)), Some("U"));
        assert_eq!(member_term(&f(r#"members[type eq "User"]"#)), None);
        let entra = f(r#"id eq "G" and members eq "U""#);
        let terms = and_terms(&entra);
        assert_eq!(terms.len(), 2);
        assert_eq!(member_term(terms[1]), Some("U"));
        assert!(mentions_members(&f(r#"displayName eq "x" or members pr"#)));
        assert!(!mentions_members(&f(r#"displayName eq "x""#)));
        assert_eq!(group_key(&AttrPath::parse("DISPLAYNAME").unwrap()), GroupKey::DisplayName);
    }
}
