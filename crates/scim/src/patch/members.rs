//! Group PATCH without the member list: [`split_members`] separates the
//! operations on `members` from the rest of a request, so that a store can
//! apply a membership change in time proportional to the request, not to the
//! size of the group.
//!
//! Every member form of the wire reference is recognised: Entra's `Add` and
//! its legacy `Remove` with a value array (only the listed members go),
//! `members[value eq "id"]` (with or without `or`), `replace` of `members`
//! (the Microsoft SCIM Validator, Okta), a no-path value holding `members`,
//! and `remove` of `members` without a value (clear). Anything else on
//! `members` (`members[display co "x"]`, `members[value eq "x"].display`,
//! an add or replace through a filter) is *exotic*: [`split_members`] answers
//! `None` and the caller falls back to [`PatchRequest::apply`] on the whole
//! group, member list included.

use super::{OpKind, PatchOperation, PatchRequest};
use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::{PatchPath, PathTarget};
use crate::schema::{ResourceType, GROUP};
use crate::ScimError;
use serde_json::{Map, Value};

/// The net effect of a request's member operations, applied in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberDelta {
    /// `Some(ids)`: the request replaced (or cleared) the whole list; after
    /// it, the members are exactly `ids`. `add` and `remove` are then empty.
    pub replace: Option<Vec<String>>,
    /// Ids to add (not already members are added; the rest is a no-op).
    pub add: Vec<String>,
    /// Ids to remove (members only; the rest is a no-op).
    pub remove: Vec<String>,
}

impl MemberDelta {
    /// Whether the request touched no member.
    pub fn is_empty(&self) -> bool {
        self.replace.is_none() && self.add.is_empty() && self.remove.is_empty()
    }

    /// Every id the delta would make a member: those must exist.
    pub fn incoming(&self) -> &[String] {
        match &self.replace {
            Some(ids) => ids,
            None => &self.add,
        }
    }

    /// Records that `id` ends up a member (`true`) or not (`false`); the
    /// last operation on an id wins, so add-then-remove is a removal.
    fn set(&mut self, id: String, member: bool) {
        if let Some(ids) = &mut self.replace {
            ids.retain(|x| *x != id);
            if member {
                ids.push(id);
            }
            return;
        }
        self.add.retain(|x| *x != id);
        self.remove.retain(|x| *x != id);
        if member {
            self.add.push(id);
        } else {
            self.remove.push(id);
        }
    }

    fn reset(&mut self, ids: Vec<String>) {
        self.add.clear();
        self.remove.clear();
        self.replace = Some(Vec::new());
        for id in ids {
            self.set(id, true);
        }
    }
}

/// A group PATCH split in two.
#[derive(Debug, Clone)]
pub struct GroupPatch {
    /// The operations on every other attribute, in order: apply them with
    /// [`PatchRequest::apply`] to the group without its members.
    pub other: PatchRequest,
    /// The member operations, reduced to their net effect.
    pub members: MemberDelta,
}

/// Splits a group PATCH into its member delta and the other operations, or
/// `None` if some member operation needs the member list (see the module
/// documentation). Malformed operations are errors, as in [`PatchRequest::apply`].
pub fn split_members(req: &PatchRequest) -> Result<Option<GroupPatch>, ScimError> {
    let rt: &ResourceType = &GROUP;
    let mut other = Vec::new();
    let mut members = MemberDelta::default();
    for (i, op) in req.operations.iter().enumerate() {
        let located = |e: ScimError| super::in_operation(e, i, op);
        let kind = OpKind::parse(&op.op).map_err(located)?;
        let path = op.path.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let value = op.value.as_ref().filter(|v| !v.is_null());
        let Some(text) = path else {
            // No path: the value's `members` key, if any, is a member op.
            match value {
                Some(Value::Object(obj)) if kind != OpKind::Remove => {
                    let (rest, found) = take_members(obj);
                    if let Some(v) = found {
                        if !member_values(kind, Some(v), &mut members).map_err(located)? {
                            return Ok(None);
                        }
                    }
                    other.push(PatchOperation { value: Some(Value::Object(rest)), ..op.clone() });
                }
                _ => other.push(op.clone()),
            }
            continue;
        };
        let parsed = PatchPath::parse(text).map_err(located)?;
        match parsed.resolve(rt).map_err(located)? {
            PathTarget::Schema(schema) if std::ptr::eq(schema, rt.schema) && kind != OpKind::Remove => match value {
                Some(Value::Object(obj)) => {
                    let (rest, found) = take_members(obj);
                    if let Some(v) = found {
                        if !member_values(kind, Some(v), &mut members).map_err(located)? {
                            return Ok(None);
                        }
                    }
                    other.push(PatchOperation { value: Some(Value::Object(rest)), ..op.clone() });
                }
                _ => other.push(op.clone()),
            },
            PathTarget::Attr(t) if t.attribute.name == "members" => {
                if t.sub_attribute.is_some() {
                    return Ok(None);
                }
                match (&t.filter, kind) {
                    (None, _) => {
                        if !member_values(kind, value, &mut members).map_err(located)? {
                            return Ok(None);
                        }
                    }
                    (Some(f), OpKind::Remove) => match value_ids(f) {
                        Some(ids) => ids.into_iter().for_each(|id| members.set(id, false)),
                        None => return Ok(None),
                    },
                    (Some(_), _) => return Ok(None),
                }
            }
            _ => other.push(op.clone()),
        }
    }
    Ok(Some(GroupPatch { other: PatchRequest { schemas: req.schemas.clone(), operations: other }, members }))
}

/// Splits the `members` key (any case) off a no-path value object.
fn take_members(obj: &Map<String, Value>) -> (Map<String, Value>, Option<&Value>) {
    let mut rest = Map::new();
    let mut found = None;
    for (k, v) in obj {
        if k.eq_ignore_ascii_case("members") {
            found = Some(v);
        } else {
            rest.insert(k.clone(), v.clone());
        }
    }
    (rest, found)
}

/// Applies an unfiltered member operation to the delta; `false` if the
/// value names members by something other than their id.
fn member_values(kind: OpKind, value: Option<&Value>, delta: &mut MemberDelta) -> Result<bool, ScimError> {
    let value = value.filter(|v| !v.is_null());
    match (kind, value) {
        // `remove` of `members` with no value clears the group.
        (OpKind::Remove, None) => {
            delta.reset(Vec::new());
            Ok(true)
        }
        (OpKind::Add, None) => Ok(true),
        (OpKind::Replace, None) => {
            delta.reset(Vec::new());
            Ok(true)
        }
        (_, Some(v)) => {
            let Some(ids) = ids_of(v)? else { return Ok(false) };
            match kind {
                OpKind::Add => ids.into_iter().for_each(|id| delta.set(id, true)),
                // Entra's legacy removal: only the listed members go.
                OpKind::Remove => ids.into_iter().for_each(|id| delta.set(id, false)),
                OpKind::Replace => delta.reset(ids),
            }
            Ok(true)
        }
    }
}

/// The member ids of a value: `[{"value": id, …}]`, one such object, a bare
/// id string or a list of them. `None` if an element has no `value` but
/// other sub-attributes (it names members some other way). Elements with an
/// empty value are skipped, as normalisation would drop them.
fn ids_of(value: &Value) -> Result<Option<Vec<String>>, ScimError> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::Null => continue,
            Value::String(s) => s.as_str(),
            Value::Object(obj) => match obj.iter().rfind(|(k, _)| k.eq_ignore_ascii_case("value")) {
                Some((_, Value::String(s))) => s.as_str(),
                Some((_, Value::Null)) | None if obj.is_empty() => continue,
                Some((_, Value::Null)) | None => return Ok(None),
                Some((_, other)) => {
                    return Err(ScimError::invalid_value(format!(
                        "\"members.value\" must be a string (a user id), but the request sent {other}."
                    )))
                }
            },
            other => {
                return Err(ScimError::invalid_value(format!(
                    "\"members\" must hold objects such as {{\"value\": \"<user id>\"}}, but the request sent {other}."
                )))
            }
        };
        if id.is_empty() {
            continue;
        }
        if !ids.iter().any(|x| x == id) {
            ids.push(id.to_string());
        }
    }
    Ok(Some(ids))
}

/// The ids of `value eq "id"` terms joined by `or`, or `None` for any other filter.
pub fn value_ids(filter: &Filter) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::Or(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            Filter::Compare(p, CompareOp::Eq, CompValue::Str(v))
                if p.urn.is_none() && p.sub_attr.is_none() && p.attr.eq_ignore_ascii_case("value") =>
            {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(ops: Value) -> PatchRequest {
        serde_json::from_value(json!({"schemas": [], "Operations": ops})).unwrap()
    }

    fn split(ops: Value) -> GroupPatch {
        split_members(&req(ops)).unwrap().expect("not exotic")
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entra_add_and_legacy_remove() {
        let g =
            split(json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "a"}, {"value": "b"}]}]));
        assert_eq!(g.members, MemberDelta { replace: None, add: ids(&["a", "b"]), remove: vec![] });
        assert!(g.other.operations.is_empty());
        let g = split(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "a"}]}]));
        assert_eq!(g.members, MemberDelta { replace: None, add: vec![], remove: ids(&["a"]) });
    }

    #[test]
    fn filter_removal_and_clear() {
        let g = split(json!([{"op": "remove", "path": "members[value eq \"7f4b\"]"}]));
        assert_eq!(g.members.remove, ids(&["7f4b"]));
        let g = split(json!([{"op": "remove", "path": "members[value eq \"a\" or VALUE eq \"b\"]"}]));
        assert_eq!(g.members.remove, ids(&["a", "b"]));
        let g = split(json!([{"op": "remove", "path": "members"}]));
        assert_eq!(g.members.replace, Some(vec![]));
        let g = split(json!([{"op": "replace", "path": "members", "value": []}]));
        assert_eq!(g.members.replace, Some(vec![]));
    }

    #[test]
    fn sequential_semantics() {
        // The validator's add then remove of one member: a removal (a no-op for a non-member).
        let g = split(json!([
            {"op": "add", "path": "members", "value": [{"value": "u"}]},
            {"op": "remove", "path": "members[value eq \"u\"]"}
        ]));
        assert_eq!(g.members, MemberDelta { replace: None, add: vec![], remove: ids(&["u"]) });
        let g = split(json!([
            {"op": "replace", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
            {"op": "add", "path": "members", "value": "c"},
            {"op": "remove", "path": "members", "value": [{"value": "a"}]}
        ]));
        assert_eq!(g.members.replace, Some(ids(&["b", "c"])));
        assert!(g.members.add.is_empty() && g.members.remove.is_empty());
    }

    #[test]
    fn okta_rename_and_membership() {
        let g = split(json!([
            {"op": "replace", "value": {"id": "g1", "displayName": "New", "members": [{"value": "x"}]}},
            {"op": "remove", "path": "members[value eq \"89bb\"]"},
            {"op": "add", "path": "members", "value": [{"value": "23a3", "display": "test.user@okta.local"}]}
        ]));
        assert_eq!(g.members.replace, Some(ids(&["x", "23a3"])));
        assert_eq!(g.other.operations.len(), 1);
        assert_eq!(g.other.operations[0].value, Some(json!({"id": "g1", "displayName": "New"})));
        let g = split(json!([{"op": "replace", "path": "displayName", "value": "R"}]));
        assert!(g.members.is_empty());
        assert_eq!(g.other.operations.len(), 1);
    }

    #[test]
    fn exotic_forms_fall_back() {
        for ops in [
            json!([{"op": "remove", "path": "members[display co \"x\"]"}]),
            json!([{"op": "replace", "path": "members[value eq \"x\"]", "value": {"value": "y"}}]),
            json!([{"op": "remove", "path": "members[value eq \"x\"].display"}]),
            json!([{"op": "remove", "path": "members", "value": [{"display": "x"}]}]),
        ] {
            assert!(split_members(&req(ops.clone())).unwrap().is_none(), "{ops}");
        }
    }

    #[test]
    fn errors_name_the_operation() {
        let e = split_members(&req(json!([{"op": "frob", "path": "members"}]))).unwrap_err();
        assert!(e.detail.starts_with("Operation 1"), "{}", e.detail);
        let e = split_members(&req(json!([{"op": "add", "path": "members", "value": [{"value": 5}]}]))).unwrap_err();
        assert_eq!(e.status, 400);
    }
}
