//! Provisioning log entries (`spec/product.md` §6).

use crate::now_rfc3339;
use crate::users::Actor;
use scim::ScimError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One recorded write or failed write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub at: String,
    pub org_id: i64,
    /// Who: the API key id (and its label) or "cli".
    pub actor: String,
    /// The source, e.g. "scim".
    pub source: String,
    /// `user_create`, `user_update`, `user_suspended`, `user_unsuspended`, `user_delete`, …
    pub event_type: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub resource_name: Option<String>,
    /// `[{"field": …, "from": …, "to": …}]`
    pub changes: Value,
    /// Attributes that were outside every announced schema and were ignored.
    pub ignored: Vec<String>,
    /// The HTTP status the request got.
    pub status: u16,
    /// The error detail, for failed requests.
    pub error: Option<String>,
}

/// The resource an event is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `User` or `Group`.
    pub resource_type: &'a str,
    pub id: Option<&'a str>,
    /// The userName or displayName.
    pub name: Option<&'a str>,
}

impl Event {
    /// A write by `actor` that succeeded with `status`.
    pub fn write(
        actor: &Actor,
        event_type: &str,
        subject: Subject<'_>,
        changes: Value,
        ignored: &[String],
        status: u16,
    ) -> Event {
        Event::new(actor, event_type, subject, changes, ignored.to_vec(), status, None)
    }

    /// A request that failed, with the error its client got.
    pub fn failure(actor: &Actor, event_type: &str, subject: Subject<'_>, error: &ScimError) -> Event {
        Event::new(actor, event_type, subject, Value::Array(vec![]), vec![], error.status, Some(error.detail.clone()))
    }

    fn new(
        actor: &Actor,
        event_type: &str,
        subject: Subject<'_>,
        changes: Value,
        ignored: Vec<String>,
        status: u16,
        error: Option<String>,
    ) -> Event {
        Event {
            id: crate::new_id(),
            at: now_rfc3339(),
            org_id: actor.org.id,
            actor: actor.label(),
            source: actor.source.clone(),
            event_type: event_type.to_string(),
            resource_type: subject.resource_type.to_string(),
            resource_id: subject.id.map(str::to_string),
            resource_name: subject.name.map(str::to_string),
            changes,
            ignored,
            status,
            error,
        }
    }
}

/// Flattened differences between two SCIM attribute objects: one entry per
/// top-level attribute (extension attributes as `urn:…:attr`, sub-attributes
/// of single-valued complex attributes as `name.givenName`).
pub fn diff(before: &Value, after: &Value) -> Value {
    let mut flat_before = Vec::new();
    let mut flat_after = Vec::new();
    flatten("", before, &mut flat_before);
    flatten("", after, &mut flat_after);
    let mut changes = Vec::new();
    for (k, from) in &flat_before {
        let to = flat_after.iter().find(|(k2, _)| k2 == k).map_or(&Value::Null, |(_, v)| *v);
        if to != *from {
            changes.push(change(k.clone(), (*from).clone(), to.clone()));
        }
    }
    for (k, to) in &flat_after {
        if !flat_before.iter().any(|(k2, _)| k2 == k) {
            changes.push(change(k.clone(), Value::Null, (*to).clone()));
        }
    }
    Value::Array(changes)
}

/// One entry of a `changes` list: `{"field": …, "from": …, "to": …}`, in that key order.
pub fn change(field: String, from: Value, to: Value) -> Value {
    let mut entry = serde_json::Map::with_capacity(3);
    entry.insert("field".into(), Value::String(field));
    entry.insert("from".into(), from);
    entry.insert("to".into(), to);
    Value::Object(entry)
}

/// The leaves of `v` by flattened name, borrowed: only the changed ones are copied.
fn flatten<'a>(prefix: &str, v: &'a Value, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else if prefix.starts_with("urn:") && !prefix.ends_with(':') {
                    // Only a top-level extension key recurses with a `urn:` prefix
                    // (its URN may hold dots, as in `…:enterprise:2.0:User`).
                    format!("{prefix}:{k}")
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_object() && (k.starts_with("urn:") || prefix.is_empty()) {
                    flatten(&key, v, out);
                } else {
                    out.push((key, v));
                }
            }
        }
        other => out.push((prefix.to_string(), other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_lists_changed_fields() {
        let d = diff(
            &json!({"displayName": "A", "name": {"givenName": "G"}, "urn:x:User": {"department": "D"}}),
            &json!({"displayName": "B", "name": {"givenName": "G"}, "urn:x:User": {"department": "E"}, "title": "T"}),
        );
        assert_eq!(
            d,
            json!([
                {"field": "displayName", "from": "A", "to": "B"},
                {"field": "urn:x:User:department", "from": "D", "to": "E"},
                {"field": "title", "from": null, "to": "T"}
            ])
        );
    }

    #[test]
    fn enterprise_manager_change_is_named_by_its_urn() {
        let urn = scim::schema::ENTERPRISE_USER_SCHEMA_URN;
        let d = diff(&json!({}), &json!({urn: {"manager": {"value": "m"}}}));
        assert_eq!(d, json!([{"field": format!("{urn}:manager"), "from": null, "to": {"value": "m"}}]));
    }
}
