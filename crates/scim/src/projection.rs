//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5), honouring each
//! attribute's `returned` characteristic. `schemas` and `id` are never dropped.

use crate::schema::{AttrPath, Attribute, ResourceType, Returned};
use serde_json::{Map, Value};

/// One named attribute, resolved to its canonical place.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    /// Extension URN for extension attributes, `None` for core/common.
    urn: Option<&'static str>,
    attr: &'static str,
    sub: Option<&'static str>,
}

/// A parsed `attributes` / `excludedAttributes` pair for one resource type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    attributes: Vec<Target>,
    whole_extensions: Vec<&'static str>,
    excluded: Vec<Target>,
    excluded_extensions: Vec<&'static str>,
}

impl Projection {
    /// Parses the comma-separated lists. Names that match no attribute are
    /// skipped (RFC 7644 leaves them undefined; failing a read over them
    /// helps nobody). A value filter in a name (`emails[type eq "work"]`) is
    /// read as the attribute it filters.
    pub fn parse(rt: &ResourceType, attributes: Option<&str>, excluded: Option<&str>) -> Projection {
        let mut p = Projection::default();
        for name in split(attributes) {
            match resolve(rt, name) {
                Some(Resolved::Attr(t)) => p.attributes.push(t),
                Some(Resolved::Extension(urn)) => p.whole_extensions.push(urn),
                None => {}
            }
        }
        for name in split(excluded) {
            match resolve(rt, name) {
                Some(Resolved::Attr(t)) => p.excluded.push(t),
                Some(Resolved::Extension(urn)) => p.excluded_extensions.push(urn),
                None => {}
            }
        }
        p
    }

    /// Whether the client asked for nothing in particular.
    pub fn is_default(&self) -> bool {
        self == &Projection::default()
    }

    /// Whether the top-level attribute `name` (core or common) will be left
    /// out, so that the caller need not load it (`excludedAttributes=members`).
    pub fn omits(&self, rt: &ResourceType, name: &str) -> bool {
        let Some(r) = rt.resolve(None, name).filter(|r| !r.in_extension) else { return true };
        !self.keeps(None, r.attribute)
    }

    /// Whether the attribute was explicitly asked for in `attributes`.
    pub fn requests(&self, name: &str) -> bool {
        self.attributes.iter().any(|t| t.urn.is_none() && t.attr.eq_ignore_ascii_case(name))
    }

    fn keeps(&self, urn: Option<&'static str>, attr: &Attribute) -> bool {
        if attr.returned == Returned::Never {
            return false;
        }
        if attr.returned == Returned::Always {
            return true;
        }
        let named = |list: &[Target]| list.iter().any(|t| t.urn == urn && t.attr == attr.name);
        if !self.attributes.is_empty() || !self.whole_extensions.is_empty() {
            let in_ext = urn.is_some_and(|u| self.whole_extensions.contains(&u));
            return named(&self.attributes) || in_ext;
        }
        if attr.returned == Returned::Request {
            return false;
        }
        if urn.is_some_and(|u| self.excluded_extensions.contains(&u)) {
            return false;
        }
        !self.excluded.iter().any(|t| t.urn == urn && t.attr == attr.name && t.sub.is_none())
    }

    /// The sub-attributes to keep of a kept complex attribute: `None` = all.
    fn sub_filter(&self, urn: Option<&'static str>, attr: &Attribute) -> SubFilter {
        let asked: Vec<&'static str> =
            self.attributes.iter().filter(|t| t.urn == urn && t.attr == attr.name).filter_map(|t| t.sub).collect();
        let whole = self.attributes.iter().any(|t| t.urn == urn && t.attr == attr.name && t.sub.is_none())
            || urn.is_some_and(|u| self.whole_extensions.contains(&u));
        let excluded: Vec<&'static str> =
            self.excluded.iter().filter(|t| t.urn == urn && t.attr == attr.name).filter_map(|t| t.sub).collect();
        SubFilter { only: if whole || asked.is_empty() { None } else { Some(asked) }, excluded }
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(&self, rt: &ResourceType, resource: &Value) -> Value {
        let Some(obj) = resource.as_object() else { return resource.clone() };
        let mut out = Map::new();
        for (key, value) in obj {
            if key == "schemas" {
                out.insert(key.clone(), value.clone());
                continue;
            }
            if let Some(ext) = rt.extension(key) {
                let Some(inner) = value.as_object() else { continue };
                let mut kept = Map::new();
                for (k, v) in inner {
                    let Some(attr) = ext.attribute(k) else { continue };
                    if self.keeps(Some(ext.id), attr) {
                        kept.insert(k.clone(), self.sub_filter(Some(ext.id), attr).apply(v));
                    }
                }
                if !kept.is_empty() {
                    out.insert(key.clone(), Value::Object(kept));
                }
                continue;
            }
            match rt.resolve(None, key).filter(|r| !r.in_extension) {
                Some(r) if self.keeps(None, r.attribute) => {
                    out.insert(key.clone(), self.sub_filter(None, r.attribute).apply(value));
                }
                Some(_) => {}
                // Not in any schema: only present if the server put it there.
                None => {
                    if self.attributes.is_empty() {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        Value::Object(out)
    }
}

struct SubFilter {
    only: Option<Vec<&'static str>>,
    excluded: Vec<&'static str>,
}

impl SubFilter {
    fn apply(&self, value: &Value) -> Value {
        if self.only.is_none() && self.excluded.is_empty() {
            return value.clone();
        }
        match value {
            Value::Array(items) => Value::Array(items.iter().map(|v| self.apply(v)).collect()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| self.only.as_ref().is_none_or(|only| only.iter().any(|o| o == k)))
                    .filter(|(k, _)| !self.excluded.iter().any(|e| e == k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

enum Resolved {
    Attr(Target),
    Extension(&'static str),
}

fn split(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn resolve(rt: &ResourceType, name: &str) -> Option<Resolved> {
    if let Some(schema) = rt.schema_by_urn(name) {
        return Some(Resolved::Extension(schema.id));
    }
    // `emails[type eq "work"].value` → `emails.value`
    let cleaned: String = match (name.find('['), name.rfind(']')) {
        (Some(open), Some(close)) if close > open => format!("{}{}", &name[..open], &name[close + 1..]),
        _ => name.to_string(),
    };
    let path = AttrPath::parse(&cleaned)?;
    let (top, sub) = rt.resolve_path(&path)?;
    let urn = if top.in_extension { top.schema.map(|s| s.id) } else { None };
    Some(Resolved::Attr(Target { urn, attr: top.attribute.name, sub: sub.map(|s| s.name) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENTERPRISE_USER_SCHEMA_URN as ENT, GROUP, USER, USER_SCHEMA_URN};
    use proptest::prelude::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [USER_SCHEMA_URN, ENT], "id": "u1", "externalId": "e1", "userName": "jdoe",
            "name": {"givenName": "Jane", "familyName": "Doe"},
            "emails": [{"value": "j@x.com", "type": "work", "primary": true}],
            "active": true,
            ENT: {"department": "R&D", "manager": {"value": "m1"}},
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn attributes_keep_only_named_plus_always() {
        let p = Projection::parse(&USER, Some("userName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None);
        assert_eq!(
            p.apply(&USER, &user()),
            json!({"schemas": [USER_SCHEMA_URN, ENT], "id": "u1", "userName": "jdoe",
                   "emails": [{"value": "j@x.com"}], ENT: {"department": "R&D"}})
        );
    }

    #[test]
    fn excluded_attributes_drop_named() {
        let p = Projection::parse(&USER, None, Some("emails,name.familyName,id,DEPARTMENT"));
        let out = p.apply(&USER, &user());
        assert!(out.get("emails").is_none());
        assert_eq!(out["id"], "u1");
        assert_eq!(out["name"], json!({"givenName": "Jane"}));
        assert_eq!(out[ENT], json!({"manager": {"value": "m1"}}));
        let g = Projection::parse(&GROUP, None, Some("members"));
        assert!(g.omits(&GROUP, "members"));
        assert!(!g.omits(&GROUP, "displayName"));
    }

    proptest! {
        #[test]
        fn projection_never_drops_id_or_schemas(
            attrs in proptest::collection::vec("[a-zA-Z.:\\[\\] ]{0,20}|userName|id|schemas|emails.value|meta", 0..4),
            excl in proptest::collection::vec("[a-zA-Z.:]{0,20}|id|schemas|userName|emails", 0..4),
        ) {
            let a = attrs.join(",");
            let e = excl.join(",");
            for p in [Projection::parse(&USER, Some(&a), None), Projection::parse(&USER, None, Some(&e)),
                      Projection::parse(&USER, Some(&a), Some(&e))] {
                let out = p.apply(&USER, &user());
                prop_assert_eq!(&out["id"], &json!("u1"));
                prop_assert_eq!(&out["schemas"], &json!([USER_SCHEMA_URN, ENT]));
            }
        }
    }
}
