//! Attribute mapping (Entra source → SCIM target path), the desired state of a
//! user, reading a value back out of a SCIM resource, and the request bodies
//! Entra sends: the POST body (wire spec §2.4) and PATCH operations in both
//! dialects (§2.5, §3, §4.1).
//!
//! Mapping file (`--mapping FILE`, JSON or TOML): an object from Entra source
//! attribute to SCIM target path; entries override the recommended mapping, and
//! `null` / `""` removes one. Example (JSON):
//! `{"userPrincipalName": "userName", "mailNickname": null, "objectId": "externalId"}`.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ADSCIM_GROUP_URN: &str = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group";
pub const ENT_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const MANAGER_PATH: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

/// The Entra source attributes a mapping may name (`active` is the expression
/// `Switch([IsSoftDeleted], …)` combined with accountEnabled).
pub const SOURCES: &[&str] = &[
    "objectId",
    "userPrincipalName",
    "mailNickname",
    "givenName",
    "surname",
    "displayName",
    "jobTitle",
    "department",
    "employeeId",
    "manager",
    "active",
];

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("reading mapping file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("mapping file {0}: {1}")]
    Parse(String, String),
    #[error("unknown Entra source attribute {0:?} (known: {list})", list = SOURCES.join(", "))]
    UnknownSource(String),
    #[error("unsupported SCIM target path {0:?}")]
    BadTarget(String),
    #[error("no source attribute is mapped to the matching attribute {0}")]
    NoMatchingSource(String),
}

/// A SCIM target path of the forms Entra writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `userName`, `active`, `title`, …
    Simple(String),
    /// `name.givenName`
    Sub(String, String),
    /// `emails[type eq "work"].value`
    Typed { attr: String, type_value: String, sub: String },
    /// `urn:…:enterprise:2.0:User:department`
    Ext { urn: String, attr: String },
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, MappingError> {
        let bad = || MappingError::BadTarget(s.to_string());
        let s = s.trim();
        if s.to_ascii_lowercase().starts_with("urn:") {
            let (urn, attr) = s.rsplit_once(':').ok_or_else(bad)?;
            if attr.is_empty() || attr.contains('.') || attr.contains('[') {
                return Err(bad());
            }
            return Ok(Target::Ext { urn: urn.to_string(), attr: attr.to_string() });
        }
        if let Some((attr, rest)) = s.split_once('[') {
            // attr[type eq "x"].sub
            let (filter, sub) = rest.split_once("].").ok_or_else(bad)?;
            let mut parts = filter.splitn(3, ' ');
            let (k, op, v) = (parts.next(), parts.next(), parts.next());
            match (k, op, v) {
                (Some(k), Some(op), Some(v)) if k.eq_ignore_ascii_case("type") && op.eq_ignore_ascii_case("eq") => {
                    let v = v.trim().trim_matches('"');
                    if attr.is_empty() || sub.is_empty() || v.is_empty() {
                        return Err(bad());
                    }
                    Ok(Target::Typed { attr: attr.into(), type_value: v.into(), sub: sub.into() })
                }
                _ => Err(bad()),
            }
        } else if let Some((a, b)) = s.split_once('.') {
            if a.is_empty() || b.is_empty() || b.contains('.') {
                return Err(bad());
            }
            Ok(Target::Sub(a.into(), b.into()))
        } else if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            Err(bad())
        } else {
            Ok(Target::Simple(s.into()))
        }
    }

    /// The PATCH path, as Entra writes it.
    pub fn path(&self) -> String {
        match self {
            Target::Simple(a) => a.clone(),
            Target::Sub(a, b) => format!("{a}.{b}"),
            Target::Typed { attr, type_value, sub } => format!("{attr}[type eq \"{type_value}\"].{sub}"),
            Target::Ext { urn, attr } => format!("{urn}:{attr}"),
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self, Target::Simple(a) if a.eq_ignore_ascii_case("active"))
    }
    pub fn is_manager(&self) -> bool {
        matches!(self, Target::Ext { attr, .. } if attr.eq_ignore_ascii_case("manager"))
    }

    /// Reads this attribute out of a SCIM resource (attribute names compared
    /// case-insensitively; `manager` as `{"value": id}` or a bare id).
    pub fn read(&self, resource: &Value) -> Option<Value> {
        let v = match self {
            Target::Simple(a) => get_ci(resource, a).cloned(),
            Target::Sub(a, b) => get_ci(resource, a).and_then(|o| get_ci(o, b)).cloned(),
            Target::Typed { attr, type_value, sub } => get_ci(resource, attr)
                .and_then(Value::as_array)
                .and_then(|items| {
                    items.iter().find(|i| {
                        get_ci(i, "type").and_then(Value::as_str).is_some_and(|t| t.eq_ignore_ascii_case(type_value))
                    })
                })
                .and_then(|i| get_ci(i, sub))
                .cloned(),
            Target::Ext { urn, attr } => get_ci(resource, urn).and_then(|o| get_ci(o, attr)).cloned(),
        }?;
        if self.is_manager() {
            let id = match &v {
                Value::String(s) => s.clone(),
                Value::Object(_) => get_ci(&v, "value").and_then(Value::as_str).unwrap_or_default().to_string(),
                _ => String::new(),
            };
            return if id.is_empty() { None } else { Some(Value::String(id)) };
        }
        match v {
            Value::Null => None,
            other => Some(other),
        }
    }

    /// Writes this attribute into a resource being built (POST body).
    fn write(&self, body: &mut Map<String, Value>, value: Value) {
        match self {
            Target::Simple(a) => {
                body.insert(a.clone(), value);
            }
            Target::Sub(a, b) => {
                if let Some(o) = body.entry(a.clone()).or_insert_with(|| json!({})).as_object_mut() {
                    o.insert(b.clone(), value);
                }
            }
            Target::Typed { attr, type_value, sub } => {
                if let Some(items) = body.entry(attr.clone()).or_insert_with(|| json!([])).as_array_mut() {
                    let pos = items.iter().position(|i| i["type"] == json!(type_value));
                    let idx = match pos {
                        Some(p) => p,
                        None => {
                            // Entra marks the first value of a multi-valued attribute primary.
                            let primary = items.is_empty();
                            items.push(json!({"primary": primary, "type": type_value}));
                            items.len() - 1
                        }
                    };
                    if let Some(o) = items[idx].as_object_mut() {
                        o.insert(sub.clone(), value);
                    }
                }
            }
            Target::Ext { urn, attr } => {
                let value = if self.is_manager() { json!({ "value": value }) } else { value };
                if let Some(o) = body.entry(urn.clone()).or_insert_with(|| json!({})).as_object_mut() {
                    o.insert(attr.clone(), value);
                }
            }
        }
    }
}

/// A key of a JSON object, compared case-insensitively (exact match first).
pub fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(key).or_else(|| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Source attribute → target path.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub entries: Vec<(String, Target)>,
    /// The target used for lookups (`userName` or `externalId`).
    pub matching: Target,
}

impl Mapping {
    /// product.md §3, the recommended mapping for Roster.
    pub fn recommended() -> Mapping {
        let pairs = [
            ("mailNickname", "userName"),
            ("active", "active"),
            ("userPrincipalName", "emails[type eq \"work\"].value"),
            ("givenName", "name.givenName"),
            ("surname", "name.familyName"),
            ("displayName", "displayName"),
            ("jobTitle", "title"),
            ("department", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
            ("employeeId", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber"),
            ("objectId", "externalId"),
            ("manager", MANAGER_PATH),
        ];
        let entries = pairs.iter().filter_map(|(s, t)| Target::parse(t).ok().map(|t| (s.to_string(), t))).collect();
        Mapping { entries, matching: Target::Simple("userName".into()) }
    }

    /// The recommended mapping with a file's overrides and the matching attribute.
    pub fn load(file: Option<&Path>, matching: &str) -> Result<Mapping, MappingError> {
        let mut m = Mapping::recommended();
        if let Some(path) = file {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| MappingError::Io(name.clone(), e))?;
            let overrides: BTreeMap<String, Option<String>> = if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
            {
                let table: toml::Table =
                    toml::from_str(&text).map_err(|e| MappingError::Parse(name.clone(), e.to_string()))?;
                let mut out = BTreeMap::new();
                for (k, v) in table {
                    let v = match v {
                        toml::Value::String(s) => Some(s),
                        other => return Err(MappingError::Parse(name, format!("{k}: expected a string, got {other}"))),
                    };
                    out.insert(k, v);
                }
                out
            } else {
                serde_json::from_str(&text).map_err(|e| MappingError::Parse(name.clone(), e.to_string()))?
            };
            m.apply(overrides)?;
        }
        m.matching = Target::parse(matching)?;
        if m.matching_source().is_none() {
            return Err(MappingError::NoMatchingSource(matching.to_string()));
        }
        Ok(m)
    }

    fn apply(&mut self, overrides: BTreeMap<String, Option<String>>) -> Result<(), MappingError> {
        for (source, target) in overrides {
            let canon = SOURCES
                .iter()
                .find(|s| s.eq_ignore_ascii_case(&source))
                .ok_or_else(|| MappingError::UnknownSource(source.clone()))?
                .to_string();
            self.entries.retain(|(s, _)| *s != canon);
            if let Some(t) = target.filter(|t| !t.trim().is_empty()) {
                let t = Target::parse(&t)?;
                // One source per target: the override wins.
                self.entries.retain(|(_, existing)| existing.path() != t.path());
                self.entries.push((canon, t));
            }
        }
        Ok(())
    }

    /// The source attribute mapped to the matching target.
    pub fn matching_source(&self) -> Option<&str> {
        self.entries.iter().find(|(_, t)| t.path().eq_ignore_ascii_case(&self.matching.path())).map(|(s, _)| s.as_str())
    }

    /// The matching value of a user (what the lookup filter compares).
    pub fn matching_value(&self, u: &crate::entra_sim::tenant::User) -> Option<String> {
        let s = self.matching_source()?;
        if s == "active" {
            return None;
        }
        u.source(s)
    }

    pub fn manager_target(&self) -> Option<&Target> {
        self.entries.iter().find(|(s, _)| s == "manager").map(|(_, t)| t)
    }

    /// The desired target state of a user, without the manager (a reference,
    /// written in the second pass) and without nulls (Entra skips them).
    pub fn desired(&self, u: &crate::entra_sim::tenant::User) -> Vec<(Target, Value)> {
        let mut out = vec![];
        for (source, target) in &self.entries {
            if source == "manager" {
                continue;
            }
            let value =
                if source == "active" { Some(Value::Bool(u.active())) } else { u.source(source).map(Value::String) };
            if let Some(v) = value {
                out.push((target.clone(), v));
            }
        }
        out
    }
}

/// Entra's POST /Users body (wire spec §2.4) for a desired state.
pub fn user_post_body(desired: &[(Target, Value)]) -> Value {
    let mut body = Map::new();
    let uses_ent =
        desired.iter().any(|(t, _)| matches!(t, Target::Ext { urn, .. } if urn.eq_ignore_ascii_case(ENT_URN)));
    let schemas = if uses_ent { json!([USER_URN, ENT_URN]) } else { json!([USER_URN]) };
    body.insert("schemas".into(), schemas);
    for (t, v) in desired {
        t.write(&mut body, v.clone());
    }
    body.insert("meta".into(), json!({"resourceType": "User"}));
    body.insert("roles".into(), json!([]));
    Value::Object(body)
}

/// Entra's POST /Groups body: no members, the ADSCIM schema URN (wire spec §3).
pub fn group_post_body(object_id: &str, display_name: &str) -> Value {
    json!({
        "schemas": [GROUP_URN, ADSCIM_GROUP_URN],
        "externalId": object_id,
        "displayName": display_name,
        "meta": {"resourceType": "Group"}
    })
}

/// The PATCH dialect: Entra's default, or the `aadOptscim062020` flag's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchStyle {
    Legacy,
    Flag,
}

impl PatchStyle {
    pub fn parse(s: &str) -> Option<PatchStyle> {
        match s.to_ascii_lowercase().as_str() {
            "legacy" | "default" => Some(PatchStyle::Legacy),
            "aadoptscim062020" | "flag" => Some(PatchStyle::Flag),
            _ => None,
        }
    }
    fn op(self, name: &str) -> String {
        match self {
            PatchStyle::Legacy => name.to_string(),
            PatchStyle::Flag => name.to_ascii_lowercase(),
        }
    }
}

/// One attribute to change: `add` when the target had no value, else `replace`.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub target: Target,
    pub value: Value,
    pub add: bool,
}

/// The attributes whose target value differs from the desired one.
pub fn user_changes(desired: &[(Target, Value)], actual: &Value) -> Vec<Change> {
    let mut out = vec![];
    for (t, want) in desired {
        let have = t.read(actual);
        if !same_value(t, want, have.as_ref()) {
            out.push(Change { target: t.clone(), value: want.clone(), add: have.is_none() });
        }
    }
    out
}

/// Entra compares strings exactly; `active` may come back as "True"/"False".
pub fn same_value(t: &Target, want: &Value, have: Option<&Value>) -> bool {
    let Some(have) = have else { return false };
    if t.is_active() {
        return as_bool(want).is_some() && as_bool(want) == as_bool(have);
    }
    want == have
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn patch_body(ops: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_URN], "Operations": ops})
}

fn wire_value(style: PatchStyle, t: &Target, v: &Value) -> Value {
    match (style, t.is_active(), v) {
        // Without the flag Entra sends booleans as the strings "True"/"False".
        (PatchStyle::Legacy, true, Value::Bool(b)) => Value::String(if *b { "True" } else { "False" }.into()),
        _ => v.clone(),
    }
}

/// The PATCH body for user attribute changes.
///
/// Legacy: one PascalCase op per attribute, each with a path. Flag: filtered
/// multi-valued paths keep their own op; two or more other attributes with the
/// same op are merged into one no-path op whose value keys are paths; a single
/// one keeps its path (wire spec §4.1).
pub fn user_patch(style: PatchStyle, changes: &[Change]) -> Value {
    let name = |c: &Change| if c.add { "Add" } else { "Replace" };
    let one = |c: &Change| json!({"op": style.op(name(c)), "path": c.target.path(), "value": wire_value(style, &c.target, &c.value)});
    if style == PatchStyle::Legacy {
        return patch_body(changes.iter().map(one).collect());
    }
    let mut ops = vec![];
    for add in [false, true] {
        let group: Vec<&Change> =
            changes.iter().filter(|c| c.add == add && !matches!(c.target, Target::Typed { .. })).collect();
        match group.len() {
            0 => {}
            1 => ops.push(one(group[0])),
            _ => {
                let mut value = Map::new();
                for c in group {
                    value.insert(c.target.path(), wire_value(style, &c.target, &c.value));
                }
                ops.push(json!({"op": style.op(if add { "Add" } else { "Replace" }), "value": value}));
            }
        }
    }
    ops.extend(changes.iter().filter(|c| matches!(c.target, Target::Typed { .. })).map(one));
    patch_body(ops)
}

/// The manager PATCH: `Add`/`Replace` with the bare id, or removal as `{"value":""}`.
pub fn manager_patch(style: PatchStyle, target: &Target, manager_id: Option<&str>, had: bool) -> Value {
    let op = style.op(if had || manager_id.is_none() { "Replace" } else { "Add" });
    let value = match manager_id {
        Some(id) => json!(id),
        None => json!({"value": ""}),
    };
    patch_body(vec![json!({"op": op, "path": target.path(), "value": value})])
}

/// Group member additions (one op carrying many members).
pub fn members_add(style: PatchStyle, ids: &[String]) -> Value {
    let value: Vec<Value> = ids.iter().map(|id| json!({"$ref": null, "value": id})).collect();
    patch_body(vec![json!({"op": style.op("Add"), "path": "members", "value": value})])
}

/// Group member removals: legacy sends a value array, the flag a filter per member.
pub fn members_remove(style: PatchStyle, ids: &[String]) -> Value {
    match style {
        PatchStyle::Legacy => {
            let value: Vec<Value> = ids.iter().map(|id| json!({"$ref": null, "value": id})).collect();
            patch_body(vec![json!({"op": "Remove", "path": "members", "value": value})])
        }
        PatchStyle::Flag => patch_body(
            ids.iter().map(|id| json!({"op": "remove", "path": format!("members[value eq \"{id}\"]")})).collect(),
        ),
    }
}

/// A group attribute replacement (`displayName`, `externalId`).
pub fn group_replace(style: PatchStyle, path: &str, value: &str) -> Value {
    patch_body(vec![json!({"op": style.op("Replace"), "path": path, "value": value})])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra_sim::tenant::User;

    fn zoe() -> User {
        User {
            object_id: "oid-1".into(),
            user_principal_name: Some("zoe.muller@contoso.example".into()),
            mail_nickname: Some("zoe.muller".into()),
            given_name: Some("Zoë".into()),
            surname: Some("Müller".into()),
            display_name: Some("Zoë Müller".into()),
            job_title: None,
            department: Some("Sales".into()),
            employee_id: Some("E100001".into()),
            manager: Some("oid-0".into()),
            account_enabled: true,
            is_soft_deleted: false,
        }
    }

    #[test]
    fn target_paths_parse_and_print() {
        for p in [
            "userName",
            "name.givenName",
            "emails[type eq \"work\"].value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        ] {
            assert_eq!(Target::parse(p).unwrap().path(), p);
        }
        for bad in ["", "a.b.c", "emails[value eq \"x\"].value", "emails[type eq \"x\"]", "urn:x:", "a b"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recommended_post_body_is_entras_shape() {
        let m = Mapping::load(None, "userName").unwrap();
        let body = user_post_body(&m.desired(&zoe()));
        assert_eq!(
            body,
            json!({
                "schemas": [USER_URN, ENT_URN],
                "userName": "zoe.muller",
                "active": true,
                "emails": [{"primary": true, "type": "work", "value": "zoe.muller@contoso.example"}],
                "name": {"givenName": "Zoë", "familyName": "Müller"},
                "displayName": "Zoë Müller",
                ENT_URN: {"department": "Sales", "employeeNumber": "E100001"},
                "externalId": "oid-1",
                "meta": {"resourceType": "User"},
                "roles": []
            })
        );
        assert_eq!(m.matching_value(&zoe()).as_deref(), Some("zoe.muller"));
    }

    #[test]
    fn mapping_file_overrides_json_and_toml() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("m.json");
        std::fs::write(&j, r#"{"userPrincipalName": "userName", "mailNickname": null, "jobTitle": "nickName"}"#)
            .unwrap();
        let m = Mapping::load(Some(&j), "userName").unwrap();
        assert_eq!(m.matching_value(&zoe()).as_deref(), Some("zoe.muller@contoso.example"));
        let paths: Vec<String> = m.entries.iter().map(|(_, t)| t.path()).collect();
        assert!(!paths.contains(&"emails[type eq \"work\"].value".to_string()), "{paths:?}");
        assert!(paths.contains(&"nickName".to_string()));
        let t = dir.path().join("m.toml");
        std::fs::write(&t, "objectId = \"externalId\"\nmailNickname = \"\"\n").unwrap();
        let m = Mapping::load(Some(&t), "externalId").unwrap();
        assert_eq!(m.matching_value(&zoe()).as_deref(), Some("oid-1"));
        assert!(matches!(Mapping::load(Some(&t), "userName"), Err(MappingError::NoMatchingSource(_))));
        std::fs::write(&j, r#"{"shoeSize": "x"}"#).unwrap();
        assert!(matches!(Mapping::load(Some(&j), "userName"), Err(MappingError::UnknownSource(_))));
    }

    #[test]
    fn changes_compare_against_the_returned_resource() {
        let m = Mapping::recommended();
        let mut u = zoe();
        u.account_enabled = false;
        let actual = json!({
            "id": "1", "userName": "zoe.muller", "active": "True", "displayName": "Zoe Muller",
            "Emails": [{"type": "Work", "value": "zoe.muller@contoso.example"}],
            "name": {"givenName": "Zoë"},
            ENT_URN: {"department": "Sales", "employeeNumber": "E100001", "manager": {"value": "m1"}},
            "externalId": "oid-1"
        });
        let c = user_changes(&m.desired(&u), &actual);
        let paths: Vec<(String, bool)> = c.iter().map(|c| (c.target.path(), c.add)).collect();
        assert_eq!(
            paths,
            vec![("active".into(), false), ("name.familyName".into(), true), ("displayName".into(), false)]
        );
        assert_eq!(m.manager_target().unwrap().read(&actual), Some(json!("m1")));
    }

    fn sample_changes() -> Vec<Change> {
        let t = |p: &str| Target::parse(p).unwrap();
        vec![
            Change { target: t("active"), value: json!(false), add: false },
            Change { target: t("displayName"), value: json!("Zoë M"), add: false },
            Change { target: t("emails[type eq \"work\"].value"), value: json!("z@x.example"), add: false },
            Change {
                target: t("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
                value: json!("R&D"),
                add: true,
            },
        ]
    }

    #[test]
    fn legacy_patch_is_one_pascal_case_op_per_attribute() {
        assert_eq!(
            user_patch(PatchStyle::Legacy, &sample_changes()),
            json!({"schemas": [PATCH_URN], "Operations": [
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Replace", "path": "displayName", "value": "Zoë M"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "z@x.example"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"}
            ]})
        );
    }

    #[test]
    fn flag_patch_merges_into_a_no_path_op() {
        assert_eq!(
            user_patch(PatchStyle::Flag, &sample_changes()),
            json!({"schemas": [PATCH_URN], "Operations": [
                {"op": "replace", "value": {"active": false, "displayName": "Zoë M"}},
                {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "R&D"},
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "z@x.example"}
            ]})
        );
        let disable = [Change { target: Target::parse("active").unwrap(), value: json!(false), add: false }];
        assert_eq!(
            user_patch(PatchStyle::Flag, &disable),
            json!({"schemas": [PATCH_URN], "Operations": [{"op": "replace", "path": "active", "value": false}]})
        );
    }

    #[test]
    fn manager_and_member_patches() {
        let t = Target::parse(MANAGER_PATH).unwrap();
        assert_eq!(
            manager_patch(PatchStyle::Legacy, &t, Some("m1"), false),
            json!({"schemas": [PATCH_URN], "Operations": [{"op": "Add", "path": MANAGER_PATH, "value": "m1"}]})
        );
        assert_eq!(
            manager_patch(PatchStyle::Flag, &t, None, true),
            json!({"schemas": [PATCH_URN], "Operations": [{"op": "replace", "path": MANAGER_PATH, "value": {"value": ""}}]})
        );
        let ids = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            members_add(PatchStyle::Legacy, &ids),
            json!({"schemas": [PATCH_URN], "Operations": [{"op": "Add", "path": "members",
                "value": [{"$ref": null, "value": "a"}, {"$ref": null, "value": "b"}]}]})
        );
        assert_eq!(
            members_remove(PatchStyle::Legacy, &ids),
            json!({"schemas": [PATCH_URN], "Operations": [{"op": "Remove", "path": "members",
                "value": [{"$ref": null, "value": "a"}, {"$ref": null, "value": "b"}]}]})
        );
        assert_eq!(
            members_remove(PatchStyle::Flag, &ids),
            json!({"schemas": [PATCH_URN], "Operations": [
                {"op": "remove", "path": "members[value eq \"a\"]"}, {"op": "remove", "path": "members[value eq \"b\"]"}]})
        );
        assert_eq!(
            group_post_body("g1", "All staff"),
            json!({"schemas": [GROUP_URN, ADSCIM_GROUP_URN], "externalId": "g1", "displayName": "All staff",
                   "meta": {"resourceType": "Group"}})
        );
    }
}
