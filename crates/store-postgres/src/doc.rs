//! The filter document of a user (the `users.doc` column): the SCIM resource
//! as `Filter::matches` sees it, shaped so that plain SQL over `jsonb` gives
//! the same answers:
//!
//! * every object key is lower-cased (SCIM attribute names are
//!   case-insensitive; the evaluator looks keys up case-insensitively);
//! * every string whose attribute is not caseExact is folded with Rust's
//!   `to_lowercase()` (the evaluator folds both sides), so SQL compares bytes;
//! * date-time strings are normalised to fixed-width UTC with nanoseconds, so
//!   comparing them as strings compares instants.

use directory::{GroupRecord, UserRecord};
use scim::filter::parse_instant;
use scim::schema::{AttrType, Attribute, ENTERPRISE_USER_SCHEMA_URN, GROUP, GROUP_SCHEMA_URN, USER, USER_SCHEMA_URN};
use serde_json::{Map, Value};

/// The filter document of `user`.
pub fn filter_doc(user: &UserRecord) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![Value::String(USER_SCHEMA_URN.into())];
    if user.scim.get(ENTERPRISE_USER_SCHEMA_URN).is_some() {
        schemas.push(Value::String(ENTERPRISE_USER_SCHEMA_URN.into()));
    }
    let mut put = |key: &str, value: Value, attr: Option<&'static Attribute>| {
        out.insert(key.to_lowercase(), fold(value, attr));
    };
    put("schemas", Value::Array(schemas), USER.resolve(None, "schemas").map(|r| r.attribute));
    put("id", Value::String(user.id.clone()), USER.resolve(None, "id").map(|r| r.attribute));
    if let Some(attrs) = user.scim.as_object() {
        for (k, v) in attrs {
            if let Some(ext) = USER.extension(k) {
                let mut inner = Map::new();
                if let Some(members) = v.as_object() {
                    for (ik, iv) in members {
                        inner.insert(ik.to_lowercase(), fold(iv.clone(), ext.attribute(ik)));
                    }
                }
                put(k, Value::Object(inner), None);
            } else {
                let attr = if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
                    None
                } else {
                    USER.resolve(None, k).map(|r| r.attribute)
                };
                put(k, v.clone(), attr);
            }
        }
    }
    put("active", Value::Bool(user.active()), None);
    let meta = serde_json::json!({
        "resourceType": "User",
        "created": user.created,
        "lastModified": user.last_modified,
        "version": format!("W/\"{}\"", user.version),
    });
    put("meta", meta, USER.resolve(None, "meta").map(|r| r.attribute));
    Value::Object(out)
}

/// The filter document of `group`, without its members (a filter that
/// mentions `members` adds them in SQL).
pub fn group_doc(group: &GroupRecord) -> Value {
    let mut out = Map::new();
    let mut put = |key: &str, value: Value, attr: Option<&'static Attribute>| {
        out.insert(key.to_lowercase(), fold(value, attr));
    };
    put("schemas", Value::Array(vec![Value::String(GROUP_SCHEMA_URN.into())]), None);
    put("id", Value::String(group.id.clone()), GROUP.resolve(None, "id").map(|r| r.attribute));
    if let Some(attrs) = group.scim.as_object() {
        for (k, v) in attrs {
            if k.eq_ignore_ascii_case("members") {
                continue;
            }
            put(k, v.clone(), GROUP.resolve(None, k).map(|r| r.attribute));
        }
    }
    let meta = serde_json::json!({
        "resourceType": "Group",
        "created": group.created,
        "lastModified": group.last_modified,
        "version": format!("W/\"{}\"", group.version),
    });
    put("meta", meta, GROUP.resolve(None, "meta").map(|r| r.attribute));
    Value::Object(out)
}

/// Folds a value whose schema is `attr` (`None`: unknown, case-insensitive).
fn fold(value: Value, attr: Option<&'static Attribute>) -> Value {
    match value {
        Value::String(s) => Value::String(fold_str(&s, attr)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| fold(v, attr)).collect()),
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .map(|(k, v)| {
                    let sub = attr.and_then(|a| a.sub_attribute(&k));
                    (k.to_lowercase(), fold(v, sub))
                })
                .collect(),
        ),
        other => other,
    }
}

/// A string as the filter document holds it.
pub fn fold_str(s: &str, attr: Option<&Attribute>) -> String {
    if attr.is_some_and(|a| a.ty == AttrType::DateTime) {
        if let Some(n) = normalize_instant(s) {
            return n;
        }
    }
    if attr.is_some_and(|a| a.case_exact) {
        s.to_string()
    } else {
        s.to_lowercase()
    }
}

/// An RFC 3339 instant as fixed-width UTC (`2026-01-02T03:04:05.000000000Z`),
/// so that string order is time order; `None` if it is no instant or out of range.
pub fn normalize_instant(s: &str) -> Option<String> {
    let (secs, nanos) = parse_instant(s)?;
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?.replace_nanosecond(nanos).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_normalise_to_sortable_utc() {
        assert_eq!(normalize_instant("2026-01-20T01:00:00+01:00").unwrap(), "2026-01-20T00:00:00.000000000Z");
        assert_eq!(normalize_instant("2026-01-20T00:00:00.5Z").unwrap(), "2026-01-20T00:00:00.500000000Z");
        assert!(normalize_instant("yesterday").is_none());
    }
}
