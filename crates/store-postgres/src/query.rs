//! `query_users` as SQL: the filter runs inside PostgreSQL.
//!
//! Equality terms of the filter's top-level `and` that an index can answer
//! (`id`, `userName`, `externalId`, email values, and `meta.created` /
//! `meta.lastModified` ranges) are pushed down as indexed predicates, as on
//! SQLite. The whole filter is then also translated to SQL over the `doc`
//! column (see [`crate::doc`]) as the residual predicate, mirroring
//! `scim::filter` evaluation rule by rule, so the result is what
//! `Filter::matches` says. Every value, key and pattern is a bind parameter;
//! no LIKE pattern is built (`co`/`sw`/`ew` use `strpos`/`starts_with`/`right`),
//! so user text never becomes SQL or a pattern.

use crate::doc::normalize_instant;
use directory::pushdown::{user_key, user_lookups, UserKey, UserLookup};
use postgres::types::ToSql;
use scim::filter::{CompValue, CompareOp, Filter};
use scim::list::SortOrder;
use scim::schema::{AttrPath, AttrType, Attribute, ResourceType, GROUP, USER};

/// The user columns every user query selects, in the order `tx::user_from_row` reads them.
pub const USER_COLUMNS: &str = "u.id, u.org_id, u.user_name, u.username, u.email, u.external_id, \
     u.employee_identifier, u.manager_id, u.state, u.activated, u.password_expired, u.scim, \
     u.created, u.last_modified, u.version";

/// The position of `u.seq` when a query selects it after [`USER_COLUMNS`].
pub const SEQ_AFTER_USER_COLUMNS: usize = 15;

/// `pr` (RFC 7644): a value that is not null, "", [] or an object of only such.
const PRESENT_PATH: &str =
    r#"'strict $.** ? (@.type() == "boolean" || @.type() == "number" || (@.type() == "string" && @ != ""))'"#;

/// A JSON number as the filter grammar accepts it (exponent bounded so the cast cannot overflow).
const NUMBER_RE: &str = r"'^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]{1,3})?$'";

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Text(String),
}

/// SQL text being built and its parameters, numbered in order.
pub struct Builder {
    pub params: Vec<Param>,
    aliases: usize,
    /// The resource type whose schema drives the translation.
    rt: &'static ResourceType,
    /// The SQL expression of the filter document (`u.doc` for users).
    doc: String,
}

impl Default for Builder {
    fn default() -> Self {
        Builder { params: Vec::new(), aliases: 0, rt: &USER, doc: "u.doc".into() }
    }
}

impl Builder {
    /// A builder for group queries over `g.doc` (members added when the filter needs them).
    pub fn for_groups() -> Self {
        Builder { params: Vec::new(), aliases: 0, rt: &GROUP, doc: "g.doc".into() }
    }

    pub fn text(&mut self, s: impl Into<String>) -> String {
        self.params.push(Param::Text(s.into()));
        format!("${}::text", self.params.len())
    }
    pub fn int(&mut self, i: i64) -> String {
        self.params.push(Param::Int(i));
        format!("${}::bigint", self.params.len())
    }
    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("j{}", self.aliases)
    }

    /// The parameters as the client wants them.
    pub fn bind(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
        params
            .iter()
            .map(|p| match p {
                Param::Int(i) => i as &(dyn ToSql + Sync),
                Param::Text(s) => s as &(dyn ToSql + Sync),
            })
            .collect()
    }
}

fn symbol(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => "=",
        CompareOp::Ne => "<>",
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        CompareOp::Le => "<=",
        // Substring operators never reach an ordering comparison.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => "=",
    }
}

fn is_substring(op: CompareOp) -> bool {
    matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
}

fn truth(b: bool) -> &'static str {
    if b {
        "TRUE"
    } else {
        "FALSE"
    }
}

/// What a filter's paths are relative to.
#[derive(Clone)]
enum Scope {
    /// The user's filter document, `u.doc`.
    Resource,
    /// One element (a SQL `jsonb` expression) of a value path, and its schema.
    Element(String, Option<&'static Attribute>),
}

/// `jsonb_array_elements` of a value, or of `[value]` when it is no array.
fn elems(x: &str) -> String {
    format!("jsonb_array_elements(CASE WHEN jsonb_typeof({x}) = 'array' THEN {x} ELSE jsonb_build_array({x}) END)")
}

impl Builder {
    /// The `WHERE` clause of a user query (its parameters are pushed onto `self`).
    pub fn predicate(&mut self, org_id: i64, filter: Option<&Filter>) -> String {
        let mut sql = format!("u.org_id = {}", self.int(org_id));
        let Some(filter) = filter else { return sql };
        for lookup in user_lookups(filter) {
            let term = match lookup {
                UserLookup::Id(v) => format!("u.id = {}", self.text(v)),
                UserLookup::UserName(v) => format!("u.user_name_folded = {}", self.text(v.to_lowercase())),
                UserLookup::ExternalId(v) => format!("u.external_id = {}", self.text(v)),
                UserLookup::Email(v) => {
                    let org = self.int(org_id);
                    let value = self.text(v.to_lowercase());
                    format!("u.id IN (SELECT user_id FROM user_emails WHERE org_id = {org} AND value_folded = {value})")
                }
                UserLookup::Time { created, op, value } => {
                    // timestamptz keeps microseconds: push down only values it holds exactly.
                    let Some(instant) = normalize_instant(value).filter(|n| n.ends_with("000Z")) else { continue };
                    let column = if created { "u.created_at" } else { "u.last_modified_at" };
                    format!("{column} {} {}::timestamptz", symbol(op), self.text(instant))
                }
            };
            sql.push_str(" AND ");
            sql.push_str(&term);
        }
        sql.push_str(" AND ");
        let residual = self.filter(filter, &Scope::Resource);
        sql.push_str(&residual);
        sql
    }

    /// A filter as a boolean SQL expression that is never NULL.
    pub fn filter_sql(&mut self, f: &Filter) -> String {
        self.filter(f, &Scope::Resource)
    }

    /// Uses `doc` as the filter document from now on.
    pub fn set_doc(&mut self, doc: String) {
        self.doc = doc;
    }

    /// A filter as a boolean SQL expression that is never NULL.
    fn filter(&mut self, f: &Filter, scope: &Scope) -> String {
        match f {
            Filter::And(a, b) => format!("({} AND {})", self.filter(a, scope), self.filter(b, scope)),
            Filter::Or(a, b) => format!("({} OR {})", self.filter(a, scope), self.filter(b, scope)),
            Filter::Not(a) => format!("(NOT {})", self.filter(a, scope)),
            Filter::Present(path) => {
                let (top, attr) = self.top(path, scope);
                match &path.sub_attr {
                    None => format!("COALESCE(jsonb_path_exists({top}, {PRESENT_PATH}), FALSE)"),
                    Some(sub) => {
                        let (from, var, _) = self.leaves(&top, attr, Some(sub));
                        format!("EXISTS (SELECT 1 FROM {from} WHERE jsonb_path_exists({var}, {PRESENT_PATH}))")
                    }
                }
            }
            Filter::Compare(path, op, cv) => {
                let (top, attr) = self.top(path, scope);
                let (from, var, leaf) = self.leaves(&top, attr, path.sub_attr.as_deref());
                let cmp = self.compare(&var, *op, cv, leaf);
                let any = format!("EXISTS (SELECT 1 FROM {from} WHERE jsonb_typeof({var}) <> 'null' AND {cmp})");
                // Absent (or null): only `eq null` and `ne <something>` hold.
                let when_absent = match op {
                    CompareOp::Eq => matches!(cv, CompValue::Null),
                    CompareOp::Ne => !matches!(cv, CompValue::Null),
                    _ => false,
                };
                if when_absent {
                    format!("(NOT EXISTS (SELECT 1 FROM {from} WHERE jsonb_typeof({var}) <> 'null') OR {any})")
                } else {
                    any
                }
            }
            Filter::ValuePath(path, inner) => {
                let (top, attr) = self.top(path, scope);
                let (from, var, attr) = match &path.sub_attr {
                    Some(sub) => self.leaves(&top, attr, Some(sub)),
                    None => {
                        let a = self.alias();
                        (format!("{} AS {a}(v)", elems(&top)), format!("{a}.v"), attr)
                    }
                };
                let inner = self.filter(inner, &Scope::Element(var.clone(), attr));
                format!("({top} IS NOT NULL AND EXISTS (SELECT 1 FROM {from} WHERE {inner}))")
            }
        }
    }

    /// The top-level value a path names (a `jsonb` expression, NULL if absent) and its schema.
    fn top(&mut self, path: &AttrPath, scope: &Scope) -> (String, Option<&'static Attribute>) {
        match scope {
            Scope::Resource => match self.rt.resolve(path.urn.as_deref(), &path.attr) {
                Some(resolved) => {
                    let doc = self.doc.clone();
                    let container = match resolved.schema {
                        Some(schema) if resolved.in_extension => {
                            format!("({doc} -> {})", self.text(schema.id.to_lowercase()))
                        }
                        _ => doc,
                    };
                    let key = self.text(resolved.attribute.name.to_lowercase());
                    (format!("({container} -> {key})"), Some(resolved.attribute))
                }
                None => {
                    // Unknown attribute: a core URN means the top level, any
                    // other URN an extension object keyed by it.
                    let doc = self.doc.clone();
                    let container = match path.urn.as_deref() {
                        Some(urn) if !self.rt.schema.id.eq_ignore_ascii_case(urn) => {
                            format!("({doc} -> {})", self.text(urn.to_lowercase()))
                        }
                        _ => doc,
                    };
                    let key = self.text(path.attr.to_lowercase());
                    (format!("({container} -> {key})"), None)
                }
            },
            Scope::Element(node, parent) => {
                let attr = parent.and_then(|p| p.sub_attribute(&path.attr));
                if path.attr.eq_ignore_ascii_case("value") {
                    // An element of a multi-valued simple attribute is its own `value`.
                    (
                        format!("(CASE WHEN jsonb_typeof({node}) = 'object' THEN {node} -> 'value' ELSE {node} END)"),
                        attr,
                    )
                } else {
                    (format!("({node} -> {})", self.text(path.attr.to_lowercase())), attr)
                }
            }
        }
    }

    /// The values a comparison looks at, as a `FROM` list, the `jsonb`
    /// expression of one value, and the values' schema: the named
    /// sub-attribute of each element, or for a complex attribute without one,
    /// each element's `value` (RFC 7644 §3.4.2.2).
    fn leaves(
        &mut self,
        top: &str,
        attr: Option<&'static Attribute>,
        sub: Option<&str>,
    ) -> (String, String, Option<&'static Attribute>) {
        let (key, leaf) = match sub {
            Some(sub) => (Some(sub.to_lowercase()), attr.and_then(|a| a.sub_attribute(sub))),
            None => match attr {
                Some(a) if a.ty == AttrType::Complex => (Some("value".to_string()), a.sub_attribute("value")),
                Some(a) => (None, Some(a)),
                None => (None, None),
            },
        };
        let a = self.alias();
        match key {
            Some(key) => {
                let b = self.alias();
                let key = self.text(key);
                let picked = format!("({a}.v -> {key})");
                (
                    format!("{} AS {a}(v) CROSS JOIN LATERAL {} AS {b}(v)", elems(top), elems(&picked)),
                    format!("{b}.v"),
                    leaf,
                )
            }
            None if attr.is_none() => {
                // Unknown attribute holding objects: compare their `value`.
                let b = self.alias();
                let picked = format!("(CASE WHEN jsonb_typeof({a}.v) = 'object' THEN {a}.v -> 'value' ELSE {a}.v END)");
                (
                    format!("{} AS {a}(v) CROSS JOIN LATERAL {} AS {b}(v)", elems(top), elems(&picked)),
                    format!("{b}.v"),
                    leaf,
                )
            }
            None => (format!("{} AS {a}(v)", elems(top)), format!("{a}.v"), leaf),
        }
    }

    /// One (non-null) value `v` against the filter's value, as `scim::filter` compares them.
    fn compare(&mut self, v: &str, op: CompareOp, cv: &CompValue, leaf: Option<&Attribute>) -> String {
        let case_exact = leaf.is_some_and(|a| a.case_exact);
        let mismatch = truth(op == CompareOp::Ne);
        let text = format!("({v} #>> '{{}}')");
        match cv {
            CompValue::Null => mismatch.to_string(),
            CompValue::Bool(b) => {
                // Entra writes booleans as "True"/"False" strings.
                let actual = format!(
                    "(CASE WHEN jsonb_typeof({v}) = 'boolean' THEN {v} = 'true'::jsonb \
                     WHEN jsonb_typeof({v}) = 'string' AND lower({text}) IN ('true', 'false') THEN lower({text}) = 'true' END)"
                );
                match op {
                    CompareOp::Eq => format!("COALESCE({actual} = {}, FALSE)", truth(*b)),
                    CompareOp::Ne => format!("COALESCE({actual} <> {}, TRUE)", truth(*b)),
                    _ => mismatch.to_string(),
                }
            }
            CompValue::Number(n) => {
                let n = n.to_string();
                let number = if is_substring(op) {
                    let p = self.text(n.clone());
                    strings(&format!("({v})::text"), op, &p)
                } else {
                    format!("({v})::numeric {} {}::numeric", symbol(op), self.text(n.clone()))
                };
                let folded = if case_exact { n.clone() } else { n.to_lowercase() };
                let p = self.text(folded);
                let as_text = strings(&text, op, &p);
                let string = if is_substring(op) {
                    as_text
                } else {
                    // `externalId eq 12345`: an unquoted number against a string attribute.
                    let p = self.text(n);
                    format!(
                        "(CASE WHEN {text} ~ {NUMBER_RE} THEN {text}::numeric {} {p}::numeric ELSE {as_text} END)",
                        symbol(op)
                    )
                };
                format!("(CASE jsonb_typeof({v}) WHEN 'number' THEN {number} WHEN 'string' THEN {string} ELSE {mismatch} END)")
            }
            CompValue::Str(s) => {
                let string = match normalize_instant(s) {
                    Some(instant) if leaf.is_some_and(|a| a.ty == AttrType::DateTime) && !is_substring(op) => {
                        let p = self.text(instant);
                        strings(&text, op, &p)
                    }
                    _ => {
                        let p = self.text(if case_exact { s.clone() } else { s.to_lowercase() });
                        strings(&text, op, &p)
                    }
                };
                let boolean = match (op, scim::filter::parse_bool(s)) {
                    (CompareOp::Eq, Some(b)) => format!("{v} = '{b}'::jsonb"),
                    (CompareOp::Ne, Some(b)) => format!("{v} <> '{b}'::jsonb"),
                    _ => mismatch.to_string(),
                };
                let number = if is_substring(op) {
                    let p = self.text(s.clone());
                    strings(&format!("({v})::text"), op, &p)
                } else {
                    match parse_number(s) {
                        Some(n) => format!("({v})::numeric {} {}::numeric", symbol(op), self.text(n)),
                        None => mismatch.to_string(),
                    }
                };
                format!(
                    "(CASE jsonb_typeof({v}) WHEN 'string' THEN {string} WHEN 'boolean' THEN {boolean} \
                     WHEN 'number' THEN {number} ELSE {mismatch} END)"
                )
            }
        }
    }

    /// The `ORDER BY` clause (ties broken by insertion order) and the `FROM`
    /// addition it needs, if any.
    pub fn order_by(&mut self, sort_by: Option<&AttrPath>, order: SortOrder) -> (String, String) {
        let Some(path) = sort_by else { return ("u.seq".into(), String::new()) };
        let dir = match order {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        };
        // Unassigned values sort last in both directions.
        let column = |c: &str, nullable: bool| {
            if nullable {
                format!("{c} {dir} NULLS LAST, u.seq")
            } else {
                format!("{c} {dir}, u.seq")
            }
        };
        match user_key(path) {
            UserKey::Id => (column("u.id", false), String::new()),
            UserKey::ExternalId => (column("u.external_id", true), String::new()),
            UserKey::UserName => (column("u.user_name_folded", false), String::new()),
            UserKey::EmailValue => (column("u.email", true), String::new()),
            UserKey::Created => (column("u.created", false), String::new()),
            UserKey::LastModified => (column("u.last_modified", false), String::new()),
            UserKey::Other => {
                // The value of the primary (else the first) element; for a
                // complex value without a sub-attribute, its `value`.
                let (top, _) = self.top(&AttrPath { sub_attr: None, ..path.clone() }, &Scope::Resource);
                let x = format!(
                    "(CASE WHEN jsonb_typeof({top}) = 'array' THEN COALESCE((SELECT e FROM jsonb_array_elements({top}) e \
                     WHERE e -> 'primary' = 'true'::jsonb LIMIT 1), {top} -> 0) ELSE {top} END)"
                );
                let y = match &path.sub_attr {
                    Some(sub) => format!("({x} -> {})", self.text(sub.to_lowercase())),
                    None => format!("(CASE WHEN jsonb_typeof({x}) = 'object' THEN {x} -> 'value' ELSE {x} END)"),
                };
                let order = format!(
                    "COALESCE(jsonb_typeof(sk.k), 'null') NOT IN ('string', 'number', 'boolean'), \
                     CASE WHEN jsonb_typeof(sk.k) = 'number' THEN (sk.k)::numeric \
                     WHEN jsonb_typeof(sk.k) = 'boolean' THEN CASE WHEN sk.k = 'true'::jsonb THEN 1 ELSE 0 END END {dir}, \
                     CASE WHEN jsonb_typeof(sk.k) = 'string' THEN sk.k #>> '{{}}' END COLLATE \"C\" {dir}, u.seq"
                );
                (order, format!(" CROSS JOIN LATERAL (SELECT {y} AS k) sk"))
            }
        }
    }

    /// The page query: `LIMIT`/`OFFSET` parameters are pushed last.
    pub fn page_sql(&mut self, predicate: &str, order: &str, from_extra: &str, count: u64, offset: u64) -> String {
        let limit = self.int(i64::try_from(count).unwrap_or(i64::MAX));
        let offset = self.int(i64::try_from(offset).unwrap_or(i64::MAX));
        format!(
            "SELECT {USER_COLUMNS} FROM users u{from_extra} WHERE {predicate} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        )
    }
}

impl Builder {
    /// The block (of 1024 `seq` values, migration 6) holding the
    /// organisation's user at 0-based position `offset`, and the position
    /// inside it: the block counts plus their unfolded deltas, added up in
    /// order. No row when `offset` is past the last user.
    pub fn block_at_offset_sql(&mut self, org_id: i64, offset: u64) -> String {
        let org = self.int(org_id);
        let offset = self.int(i64::try_from(offset).unwrap_or(i64::MAX));
        format!(
            "WITH b AS (SELECT block, sum(n)::bigint AS n FROM \
               (SELECT block, n FROM user_blocks WHERE org_id = {org} \
                UNION ALL SELECT block, n FROM user_block_deltas WHERE org_id = {org}) x GROUP BY block), \
             r AS (SELECT block, n, (sum(n) OVER (ORDER BY block) - n)::bigint AS before FROM b) \
             SELECT block, {offset} - before FROM r WHERE n > 0 AND before <= {offset} AND {offset} < before + n \
             ORDER BY block LIMIT 1"
        )
    }

    /// An unfiltered page in insertion order that starts `inside` users into
    /// `block`: only the index entries inside that block are counted.
    pub fn block_page_sql(&mut self, org_id: i64, block: i64, inside: i64, count: u64) -> String {
        let org = self.int(org_id);
        let from = self.int(block.saturating_mul(1024));
        let inside = self.int(inside);
        let limit = self.int(i64::try_from(count).unwrap_or(i64::MAX));
        format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.org_id = {org} AND u.seq >= \
             (SELECT s.seq FROM users s WHERE s.org_id = {org} AND s.seq >= {from} ORDER BY s.seq \
              LIMIT 1 OFFSET {inside}) \
             ORDER BY u.seq LIMIT {limit}"
        )
    }

    /// A cursor page (keyset paging): the matching users after position
    /// `after`, in insertion order, at most `limit`; `u.seq` is selected last.
    pub fn keyset_sql(&mut self, predicate: &str, after: i64, limit: u64) -> String {
        let after = self.int(after);
        let limit = self.int(i64::try_from(limit).unwrap_or(i64::MAX));
        format!(
            "SELECT {USER_COLUMNS}, u.seq FROM users u WHERE {predicate} AND u.seq > {after} ORDER BY u.seq LIMIT {limit}"
        )
    }
}

/// The count query for a predicate.
pub fn count_sql(predicate: &str) -> String {
    format!("SELECT count(*) FROM users u WHERE {predicate}")
}

/// A string comparison of two `text` expressions, byte-wise.
fn strings(x: &str, op: CompareOp, p: &str) -> String {
    match op {
        CompareOp::Co => format!("strpos({x}, {p}) > 0"),
        CompareOp::Sw => format!("starts_with({x}, {p})"),
        CompareOp::Ew => format!("right({x}, length({p})) = {p}"),
        CompareOp::Eq | CompareOp::Ne => format!("{x} {} {p}", symbol(op)),
        _ => format!("{x} COLLATE \"C\" {} {p}", symbol(op)),
    }
}

/// A string that the filter grammar would read as a number, as numeric text
/// (the grammar's own reading, so SQL and the evaluator agree).
fn parse_number(s: &str) -> Option<String> {
    scim::filter::parse_number(s).map(|n| n.to_string())
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
        let mut b = Builder::default();
        let p = b.predicate(7, Some(&x));
        assert!(p.starts_with("u.org_id = $1::bigint AND u.user_name_folded = $2::text"), "{p}");
        assert_eq!(b.params[1], Param::Text("jdoe".into()));
    }

    #[test]
    fn user_text_is_only_ever_a_parameter() {
        let hostile = r#"userName co "a'b\"c%_\\d" or title sw "'; DROP TABLE users; --""#;
        let mut b = Builder::default();
        let sql = b.predicate(1, Some(&f(hostile)));
        assert!(!sql.contains("DROP"), "{sql}");
        assert!(!sql.contains("a'b"), "{sql}");
        assert!(b.params.contains(&Param::Text("'; drop table users; --".into())));
    }
}
