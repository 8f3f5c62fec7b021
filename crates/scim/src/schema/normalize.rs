//! Normalisation of a client's resource JSON against the schemas: canonical
//! attribute names, coerced values (Entra's `"False"`), nulls and empty values
//! dropped, read-only attributes dropped, unknown attributes set aside.
//!
//! The normalised form is what Roster stores and compares: two bodies that
//! mean the same thing normalise to equal JSON, which is how a PATCH that
//! changes nothing is recognised.

use super::{AttrPath, AttrType, Attribute, Mutability, ResourceType, Schema};
use crate::ScimError;
use serde_json::{Map, Value};

/// A normalised resource and what was set aside.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    /// Writable attributes only: core attributes and `externalId` at the top
    /// level, extension attributes in an object keyed by the extension URN.
    /// No `schemas`, `id` or `meta`.
    pub resource: Value,
    /// Attributes outside every announced schema, as the client named them.
    pub ignored: Vec<String>,
}

/// Normalises a resource body for `rt`. Errors name the attribute and say
/// what is wrong with its value.
pub fn normalize(rt: &ResourceType, input: &Value) -> Result<Normalized, ScimError> {
    let Some(obj) = input.as_object() else {
        return Err(ScimError::invalid_syntax("The request body must be a JSON object."));
    };
    let mut acc = Accumulator::default();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(schema) = rt.schema_by_urn(key) {
            // The whole extension (or core schema) as a nested object.
            match value {
                Value::Null => {}
                Value::Object(inner) => {
                    for (k, v) in inner {
                        match AttrPath::parse(k) {
                            Some(p) if p.urn.is_none() => acc.put(rt, Some(schema), &p, v, k)?,
                            _ => acc.ignored.push(format!("{key}:{k}")),
                        }
                    }
                }
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "\"{key}\" must be a JSON object holding the extension's attributes."
                    )))
                }
            }
            continue;
        }
        match AttrPath::parse(key) {
            Some(path) => {
                let schema = match &path.urn {
                    Some(urn) => match rt.schema_by_urn(urn) {
                        Some(s) => Some(s),
                        None => {
                            acc.ignored.push(key.clone());
                            continue;
                        }
                    },
                    None => None,
                };
                acc.put(rt, schema, &path, value, key)?;
            }
            None => acc.ignored.push(key.clone()),
        }
    }
    Ok(acc.finish(rt))
}

#[derive(Default)]
struct Accumulator {
    /// (schema URN or "" for core/common, attribute name) → value
    values: Vec<(&'static str, &'static Attribute, Value)>,
    ignored: Vec<String>,
}

/// Whether a stored `(urn, attribute)` is the slot of `attr` under `urn`.
/// The pointer test comes first: it settles almost every comparison without
/// reading the URN strings.
fn is_slot(stored_urn: &str, stored: &Attribute, urn: &str, attr: &Attribute) -> bool {
    std::ptr::eq(stored, attr) && stored_urn == urn
}

impl Accumulator {
    fn put(
        &mut self,
        rt: &ResourceType,
        schema: Option<&'static Schema>,
        path: &AttrPath,
        value: &Value,
        original: &str,
    ) -> Result<(), ScimError> {
        let resolved = match schema {
            Some(s) => rt.resolve(Some(s.id), &path.attr),
            // A bare name at the top level is a core or common attribute; a
            // stray `department` is not the enterprise one.
            None => rt.resolve(None, &path.attr).filter(|r| !r.in_extension),
        };
        let Some(resolved) = resolved else {
            self.ignored.push(original.to_string());
            return Ok(());
        };
        let attr = resolved.attribute;
        if !attr.is_writable() {
            return Ok(());
        }
        // Write-only values (`password`) are never stored: Roster users set
        // their own password through activation. The log shows it was sent.
        if attr.mutability == Mutability::WriteOnly {
            self.ignored.push(original.to_string());
            return Ok(());
        }
        let urn = if resolved.in_extension { resolved.schema.map(|s| s.id).unwrap_or("") } else { "" };
        // `name.givenName` as a key: merge into the complex attribute.
        let value = match &path.sub_attr {
            None => value.clone(),
            Some(sub) => {
                let Some(sub_attr) = attr.sub_attribute(sub) else {
                    self.ignored.push(original.to_string());
                    return Ok(());
                };
                if attr.multi_valued {
                    self.ignored.push(original.to_string());
                    return Ok(());
                }
                let mut merged = self.current(urn, attr).and_then(|v| v.as_object().cloned()).unwrap_or_default();
                merged.insert(sub_attr.name.to_string(), value.clone());
                Value::Object(merged)
            }
        };
        let display = match urn {
            "" => attr.name.to_string(),
            u => format!("{u}:{}", attr.name),
        };
        let coerced = coerce_named(attr, &value, &display, &mut self.ignored)?;
        self.values.retain(|(u, a, _)| !is_slot(u, a, urn, attr));
        if let Some(v) = coerced {
            self.values.push((urn, attr, v));
        }
        Ok(())
    }

    fn current(&self, urn: &str, attr: &Attribute) -> Option<&Value> {
        self.values.iter().find(|(u, a, _)| is_slot(u, a, urn, attr)).map(|(_, _, v)| v)
    }

    /// Moves a value out, emptying its slot.
    fn take(&mut self, urn: &str, attr: &Attribute) -> Option<Value> {
        let at = self.values.iter().position(|(u, a, _)| is_slot(u, a, urn, attr))?;
        Some(self.values.swap_remove(at).2)
    }

    /// Builds the output in schema order, so equal content gives equal JSON.
    fn finish(mut self, rt: &ResourceType) -> Normalized {
        let mut out = Map::new();
        for common in super::COMMON_ATTRIBUTES {
            if let Some(v) = self.take("", common) {
                out.insert(common.name.to_string(), v);
            }
        }
        for attr in rt.schema.attributes {
            if let Some(v) = self.take("", attr) {
                out.insert(attr.name.to_string(), v);
            }
        }
        for ext in rt.extensions {
            let mut inner = Map::new();
            for attr in ext.schema.attributes {
                if let Some(v) = self.take(ext.schema.id, attr) {
                    inner.insert(attr.name.to_string(), v);
                }
            }
            if !inner.is_empty() {
                out.insert(ext.schema.id.to_string(), Value::Object(inner));
            }
        }
        Normalized { resource: Value::Object(out), ignored: self.ignored }
    }
}

/// Coerces one attribute's value. `Ok(None)` means "no value": `null`, `""`,
/// `[]`, `{}`, or a manager reference with an empty `value` (Entra's way to
/// clear it).
pub fn coerce_value(attr: &Attribute, value: &Value) -> Result<Option<Value>, ScimError> {
    let mut ignored = Vec::new();
    coerce_named(attr, value, attr.name, &mut ignored)
}

fn coerce_named(
    attr: &Attribute,
    value: &Value,
    name: &str,
    ignored: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    if is_manager(attr) {
        return coerce_manager(attr, value, name, ignored);
    }
    if attr.multi_valued {
        let items: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            single => vec![single],
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            if let Some(v) = coerce_single(attr, item, name, ignored)? {
                out.push(v);
            }
        }
        if out.is_empty() {
            return Ok(None);
        }
        check_multi_valued(&out, name)?;
        return Ok(Some(Value::Array(out)));
    }
    if value.is_array() {
        return Err(ScimError::invalid_value(format!(
            "\"{name}\" is single-valued; send one value, not a list."
        )));
    }
    coerce_single(attr, value, name, ignored)
}

fn is_manager(attr: &Attribute) -> bool {
    attr.name == "manager" && attr.ty == AttrType::Complex && !attr.multi_valued
}

/// `manager` arrives as a bare id, `{"value": id}` or `[{"$ref": null, "value": id}]`;
/// `{"value": ""}` and `""` clear it. It is stored as `{"value": id}`.
fn coerce_manager(
    attr: &Attribute,
    value: &Value,
    name: &str,
    ignored: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    let single = match value {
        Value::Array(items) if items.len() > 1 => {
            return Err(ScimError::invalid_value(format!("\"{name}\" takes one manager, not {}.", items.len())))
        }
        Value::Array(items) => match items.first() {
            Some(v) => v,
            None => return Ok(None),
        },
        other => other,
    };
    let id = match single {
        Value::Null => return Ok(None),
        Value::String(s) => Value::String(s.clone()),
        Value::Object(_) => match coerce_single(attr, single, name, ignored)? {
            Some(Value::Object(m)) => match m.get("value") {
                Some(v) => v.clone(),
                None => return Ok(None),
            },
            _ => return Ok(None),
        },
        _ => {
            return Err(ScimError::invalid_value(format!(
                "\"{name}\" must be the manager's user id, or an object {{\"value\": id}}."
            )))
        }
    };
    match id {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(serde_json::json!({ "value": s }))),
        _ => Ok(None),
    }
}

fn coerce_single(
    attr: &Attribute,
    value: &Value,
    name: &str,
    ignored: &mut Vec<String>,
) -> Result<Option<Value>, ScimError> {
    let type_error = |expected: &str| {
        ScimError::invalid_value(format!("\"{name}\" must be {expected}, but the request sent {}.", describe(value)))
    };
    match attr.ty {
        AttrType::Complex => {
            let Value::Object(obj) = value else {
                if attr.multi_valued && attr.sub_attribute("value").is_some() {
                    return Err(type_error("a list of JSON objects such as [{\"value\": \"…\"}]"));
                }
                return Err(type_error("a JSON object"));
            };
            let mut out = Map::new();
            for sub in attr.sub_attributes {
                // Last key wins when a client sends both `value` and `Value`.
                let found = obj.iter().rfind(|(k, _)| k.eq_ignore_ascii_case(sub.name));
                if let Some((_, v)) = found {
                    if !sub.is_writable() {
                        continue;
                    }
                    let sub_name = format!("{name}.{}", sub.name);
                    if let Some(c) = coerce_named(sub, v, &sub_name, ignored)? {
                        out.insert(sub.name.to_string(), c);
                    }
                }
            }
            for k in obj.keys() {
                if attr.sub_attribute(k).is_none() {
                    ignored.push(format!("{name}.{k}"));
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        AttrType::Boolean => match value {
            Value::Bool(b) => Ok(Some(Value::Bool(*b))),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            Value::String(s) if s.is_empty() => Ok(None),
            _ => Err(type_error("a boolean (true or false)")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(value.clone())),
            _ => Err(type_error("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(Some(value.clone())),
            _ => Err(type_error("a number")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) if looks_like_datetime(s) => Ok(Some(value.clone())),
            _ => Err(type_error("a date-time such as \"2026-01-31T12:00:00Z\"")),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(_) => Ok(Some(value.clone())),
            _ => Err(type_error("a string")),
        },
    }
}

/// At most one `primary: true` (RFC 7643 §2.4). Several values of one
/// `type` are allowed, as in RFC 7643: Entra sends several `roles` of one
/// type, and Microsoft's reference suite two work emails. Where the
/// directory wants one per type, it says so (`directory::validate`).
fn check_multi_valued(items: &[Value], name: &str) -> Result<(), ScimError> {
    let primaries = items.iter().filter(|v| v.get("primary") == Some(&Value::Bool(true))).count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "\"{name}\" has {primaries} values marked primary; at most one may be."
        )));
    }
    Ok(())
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `YYYY-MM-DDTHH:MM:SS` followed by optional fraction and zone: the shape of
/// an xsd:dateTime. Good enough to refuse garbage; the value is kept as sent.
fn looks_like_datetime(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
}



#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA_URN as ENTERPRISE, GROUP, USER};
    use serde_json::json;

    #[test]
    fn entra_create_body_normalises() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "externalId": "jdoe", "userName": "jdoe", "active": "True",
            "meta": {"resourceType": "User"}, "roles": [], "title": null,
            "department": "stray", "id": "client-id", "password": "hunter2",
            "emails": [{"Primary": "true", "type": "work", "Value": "jdoe@contoso.com"}],
            "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"Department": "R&D", "employeeNumber": "701984"},
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"x": 1}
        });
        let n = normalize(&USER, &body).unwrap();
        assert_eq!(
            n.resource,
            json!({
                "externalId": "jdoe", "userName": "jdoe",
                "name": {"formatted": "Jane Doe", "familyName": "Doe", "givenName": "Jane"},
                "active": true,
                "emails": [{"value": "jdoe@contoso.com", "type": "work", "primary": true}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984", "department": "R&D"}
            })
        );
        assert_eq!(
            n.ignored,
            vec![
                "department".to_string(),
                "password".into(),
                "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User".into()
            ]
        );
    }

    #[test]
    fn manager_forms() {
        let ent = |m: Value| json!({"userName": "a", ENTERPRISE: {"manager": m}});
        let expect = json!({"userName": "a", ENTERPRISE: {"manager": {"value": "m1"}}});
        for form in [json!("m1"), json!({"value": "m1"}), json!([{"$ref": null, "value": "m1"}]), json!({"Value": "m1", "displayName": "x"})] {
            assert_eq!(normalize(&USER, &ent(form)).unwrap().resource, expect);
        }
        for clear in [json!({"value": ""}), json!(""), json!(null), json!([])] {
            assert_eq!(normalize(&USER, &ent(clear)).unwrap().resource, json!({"userName": "a"}));
        }
    }

    #[test]
    fn type_errors_name_the_attribute() {
        let e = normalize(&USER, &json!({"userName": 5})).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("\"userName\" must be a string"), "{}", e.detail);
        let e = normalize(&USER, &json!({"active": "maybe"})).unwrap_err();
        assert!(e.detail.contains("boolean"));
        let e = normalize(&USER, &json!({"emails": "a@x"})).unwrap_err();
        assert!(e.detail.contains("\"emails\" must be a list of JSON objects"), "{}", e.detail);
        let e = normalize(&USER, &json!("x")).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidSyntax));
        let two_primaries = json!({"emails": [{"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}]});
        let e = normalize(&USER, &two_primaries).unwrap_err();
        assert!(e.detail.contains("2 values marked primary"), "{}", e.detail);
    }

    #[test]
    fn several_values_of_one_type_are_kept() {
        let emails = json!([{"type": "work", "value": "a@x", "primary": true}, {"type": "Work", "value": "b@x"}]);
        let n = normalize(&USER, &json!({"userName": "a", "emails": emails.clone()})).unwrap();
        assert_eq!(n.resource["emails"], emails);
    }

    #[test]
    fn group_members_keep_value_and_drop_display() {
        let n = normalize(&GROUP, &json!({"displayName": "G", "members": [{"value": "u1", "display": "x"}]})).unwrap();
        assert_eq!(n.resource, json!({"displayName": "G", "members": [{"value": "u1"}]}));
    }

    #[test]
    fn dotted_and_urn_keys_merge() {
        let n = normalize(
            &USER,
            &json!({"userName": "a", "name.givenName": "G", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "D"}),
        )
        .unwrap();
        assert_eq!(n.resource, json!({"userName": "a", "name": {"givenName": "G"}, ENTERPRISE: {"department": "D"}}));
    }
}
