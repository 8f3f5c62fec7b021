//! PATCH operations (RFC 7644 §3.5.2), in the dialects of Entra ID (with and
//! without `aadOptscim062020`), the Microsoft SCIM Validator, Okta and the
//! SCIMReferenceCode Postman collection.
//!
//! [`PatchRequest::apply`] works on a copy of the stored (normalised)
//! resource: every operation applies or none does. Incoming values are
//! coerced per attribute as they are applied (canonical names, `"False"` →
//! `false`), so later operations in the same request see canonical data, and
//! the result is normalised again at the end so that "nothing changed" is a
//! plain JSON comparison.

use crate::filter::{CompValue, CompareOp, Filter};
use crate::path::{AttrTarget, PatchPath, PathTarget};
use crate::schema::{coerce_value, normalize, AttrType, Attribute, Mutability, ResourceType, Schema};
use crate::ScimError;
use serde_json::{Map, Value};

pub mod members;

/// A PATCH request body (`urn:ietf:params:scim:api:messages:2.0:PatchOp`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PatchRequest {
    /// The message schemas; not checked, since clients vary.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The operations, applied in order.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOperation>,
}

/// One PATCH operation. Unknown fields (the Postman collection's `"name"`)
/// are ignored.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PatchOperation {
    /// `add`, `replace` or `remove`, in any case.
    pub op: String,
    /// The target; absent means the resource itself (add/replace only).
    #[serde(default)]
    pub path: Option<String>,
    /// The value; `null` and absent are the same.
    #[serde(default)]
    pub value: Option<Value>,
}

/// The result of applying a [`PatchRequest`].
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The patched resource, normalised: no `id`, `schemas` or `meta`.
    pub resource: Value,
    /// Whether `resource` differs from the normalised input. `false` lets
    /// the server skip the write and the change log entry.
    pub changed: bool,
    /// Attributes the request named that no schema knows, as the client
    /// wrote them. They were ignored, not rejected.
    pub ignored: Vec<String>,
}

/// A PATCH operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

impl OpKind {
    /// Parses `op` case-insensitively (Entra sends `Add`, `Replace`, `Remove`).
    pub fn parse(op: &str) -> Result<OpKind, ScimError> {
        let t = op.trim();
        if t.eq_ignore_ascii_case("add") {
            Ok(OpKind::Add)
        } else if t.eq_ignore_ascii_case("replace") {
            Ok(OpKind::Replace)
        } else if t.eq_ignore_ascii_case("remove") {
            Ok(OpKind::Remove)
        } else {
            Err(ScimError::invalid_syntax(format!(
                "\"{op}\" is not a PATCH operation; \"op\" must be add, replace or remove."
            )))
        }
    }
}

impl PatchRequest {
    /// Applies all operations to `resource` (the stored resource, possibly
    /// with `id`, `schemas` and `meta`). Any error aborts the whole request.
    pub fn apply(&self, resource: &Value, rt: &ResourceType) -> Result<PatchOutcome, ScimError> {
        let before = normalize(rt, resource)?;
        self.apply_to_normalized(&before.resource, resource.get("id"), rt)
    }

    /// [`apply`](Self::apply) for a resource already in the form [`normalize`]
    /// gives (as a store keeps it), which saves normalising it again: half
    /// the work of a small PATCH. `own_id` is the resource's `id` (Okta's
    /// PATCHes may replace `id` with itself).
    pub fn apply_to_normalized(
        &self,
        normalized: &Value,
        own_id: Option<&Value>,
        rt: &ResourceType,
    ) -> Result<PatchOutcome, ScimError> {
        // Were it not normalised, `changed` could report a change for a no-op.
        debug_assert_eq!(normalize(rt, normalized).map(|n| n.resource).as_ref(), Ok(normalized));
        if self.operations.is_empty() {
            return Ok(PatchOutcome { changed: false, resource: normalized.clone(), ignored: Vec::new() });
        }
        let mut doc = match normalized {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        let mut patcher = Patcher { rt, own_id, ignored: Vec::new() };
        for (i, op) in self.operations.iter().enumerate() {
            patcher.operation(op, &mut doc).map_err(|e| in_operation(e, i, op))?;
        }
        let after = normalize(rt, &Value::Object(doc))?;
        check_required(rt, normalized, &after.resource)?;
        let mut ignored = patcher.ignored;
        for name in after.ignored {
            if !ignored.contains(&name) {
                ignored.push(name);
            }
        }
        Ok(PatchOutcome { changed: after.resource != *normalized, resource: after.resource, ignored })
    }
}

/// Prefixes an error with the operation it came from, so an admin reading
/// Entra's provisioning log can find it.
fn in_operation(e: ScimError, index: usize, op: &PatchOperation) -> ScimError {
    let path = op.path.as_deref().map(|p| format!(" \"{p}\"")).unwrap_or_default();
    ScimError { detail: format!("Operation {} ({}{path}): {}", index + 1, op.op, e.detail), ..e }
}

struct Patcher<'a> {
    rt: &'a ResourceType,
    own_id: Option<&'a Value>,
    ignored: Vec<String>,
}

type Obj = Map<String, Value>;

impl Patcher<'_> {
    fn operation(&mut self, op: &PatchOperation, doc: &mut Obj) -> Result<(), ScimError> {
        let kind = OpKind::parse(&op.op)?;
        let path = op.path.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let value = op.value.as_ref();
        match path {
            None if kind == OpKind::Remove => {
                Err(ScimError::no_target("A remove operation needs a \"path\" naming what to remove."))
            }
            None => self.no_path(kind, value, doc),
            Some(text) => match PatchPath::parse(text)?.resolve(self.rt)? {
                PathTarget::Schema(schema) => self.schema_object(kind, schema, value, doc),
                PathTarget::Attr(target) => self.target(kind, &target, value, doc),
                PathTarget::Unknown(text) => {
                    self.ignored.push(text);
                    Ok(())
                }
            },
        }
    }

    /// No path: the value is an object whose keys are attribute paths.
    fn no_path(&mut self, kind: OpKind, value: Option<&Value>, doc: &mut Obj) -> Result<(), ScimError> {
        let Some(Value::Object(obj)) = value else {
            return Err(ScimError::invalid_value(
                "Without a \"path\", \"value\" must be a JSON object whose keys are attribute names.",
            ));
        };
        for (key, v) in obj {
            if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
                continue;
            }
            if key.eq_ignore_ascii_case("id") {
                // Okta's group rename repeats the resource's own id.
                if self.own_id == Some(v) {
                    continue;
                }
                return Err(ScimError::mutability(format!(
                    "\"id\" is read-only and cannot be changed (the request sent {v})."
                )));
            }
            if let Some(schema) = self.rt.schema_by_urn(key) {
                self.schema_object(kind, schema, Some(v), doc)?;
                continue;
            }
            self.keyed(kind, None, key, v, doc)?;
        }
        Ok(())
    }

    /// A path that is exactly a schema URN, or a URN key in a no-path value:
    /// each attribute of the object is replaced (or added) on its own, so
    /// attributes not mentioned stay (RFC 7644 §3.5.2.3 for complex values).
    fn schema_object(
        &mut self,
        kind: OpKind,
        schema: &'static Schema,
        value: Option<&Value>,
        doc: &mut Obj,
    ) -> Result<(), ScimError> {
        let is_core = std::ptr::eq(schema, self.rt.schema);
        match (kind, value) {
            (OpKind::Remove, _) if is_core => Err(ScimError::invalid_path(format!(
                "The core schema \"{}\" cannot be removed; remove its attributes instead.",
                schema.id
            ))),
            (OpKind::Remove, _) | (OpKind::Replace, None | Some(Value::Null)) => {
                if is_core {
                    return Ok(());
                }
                doc.retain(|k, _| !k.eq_ignore_ascii_case(schema.id));
                Ok(())
            }
            (_, None | Some(Value::Null)) => Ok(()),
            (_, Some(Value::Object(obj))) => {
                for (k, v) in obj {
                    self.keyed(kind, Some(schema), k, v, doc)?;
                }
                Ok(())
            }
            (_, Some(_)) => Err(ScimError::invalid_value(format!(
                "\"{}\" must be a JSON object holding the schema's attributes.",
                schema.id
            ))),
        }
    }

    /// One key of a no-path value (`userName`, `name.givenName`,
    /// `urn:…:User:department`), or of a schema object when `scope` is set.
    /// Unknown keys are set aside; read-only ones are skipped, as on POST.
    fn keyed(
        &mut self,
        kind: OpKind,
        scope: Option<&'static Schema>,
        key: &str,
        value: &Value,
        doc: &mut Obj,
    ) -> Result<(), ScimError> {
        let label = match scope {
            Some(s) => format!("{}:{key}", s.id),
            None => key.to_string(),
        };
        let resolved = crate::path::attr_path(key).and_then(|p| {
            let r = match (scope, &p.urn) {
                (Some(s), None) => self.rt.resolve(Some(s.id), &p.attr),
                (Some(_), Some(_)) => None,
                (None, urn) => self.rt.resolve(urn.as_deref(), &p.attr),
            }?;
            let sub = match &p.sub_attr {
                None => None,
                Some(s) => Some(r.attribute.sub_attribute(s)?),
            };
            Some((r, sub))
        });
        let Some((r, sub)) = resolved else {
            self.ignored.push(label);
            return Ok(());
        };
        if !r.attribute.is_writable() || sub.is_some_and(|s| !s.is_writable()) {
            return Ok(());
        }
        let target = AttrTarget {
            extension: if r.in_extension { r.schema.map(|s| s.id) } else { None },
            attribute: r.attribute,
            filter: None,
            sub_attribute: sub,
            text: label,
        };
        self.target(kind, &target, Some(value), doc)
    }

    /// An attribute target, from a path or a no-path key.
    fn target(&mut self, kind: OpKind, t: &AttrTarget, value: Option<&Value>, doc: &mut Obj) -> Result<(), ScimError> {
        let attr = t.attribute;
        if !attr.is_writable() {
            return Err(ScimError::mutability(format!(
                "\"{}\" is read-only; the PATCH path \"{}\" cannot change it.",
                attr.name, t.text
            )));
        }
        if let Some(sub) = t.sub_attribute.filter(|s| !s.is_writable()) {
            return Err(ScimError::mutability(format!(
                "\"{}.{}\" is read-only; the PATCH path \"{}\" cannot change it.",
                attr.name, sub.name, t.text
            )));
        }
        if kind == OpKind::Remove && attr.required && t.filter.is_none() && t.sub_attribute.is_none() {
            return Err(ScimError::mutability(format!("\"{}\" is required and cannot be removed.", attr.name)));
        }
        let null = Value::Null;
        let value = value.unwrap_or(&null);

        // Work on the object that holds the attribute: the resource itself or
        // the extension object.
        let mut cont = match t.extension {
            None => std::mem::take(doc),
            Some(urn) => doc.get(urn).and_then(Value::as_object).cloned().unwrap_or_default(),
        };
        let result = match (&t.filter, t.sub_attribute) {
            (None, None) => self.whole(kind, attr, &mut cont, value, &t.text),
            (None, Some(sub)) => sub_without_filter(kind, attr, sub, &mut cont, value, &t.text),
            (Some(f), sub) => {
                let f = booleanize(f, attr);
                match sub {
                    None => self.filtered(kind, attr, &f, &mut cont, value, &t.text),
                    Some(sub) => filtered_sub(kind, attr, &f, sub, &mut cont, value, &t.text),
                }
            }
        };
        match t.extension {
            None => *doc = cont,
            Some(urn) if cont.is_empty() => {
                doc.remove(urn);
            }
            Some(urn) => {
                doc.insert(urn.to_string(), Value::Object(cont));
            }
        }
        result
    }

    /// The whole attribute (no filter, no sub-attribute).
    fn whole(
        &mut self,
        kind: OpKind,
        attr: &Attribute,
        cont: &mut Obj,
        value: &Value,
        label: &str,
    ) -> Result<(), ScimError> {
        let key = attr.name;
        if kind == OpKind::Remove {
            if attr.multi_valued && !value.is_null() {
                // Entra's `{"op":"Remove","path":"members","value":[{"value":id}]}`:
                // remove only the listed values. A list that names nothing
                // removes nothing, rather than the whole group.
                if let Some(Value::Array(listed)) = coerce_value(attr, &prepare(attr, value))? {
                    let mut items = list(cont, key);
                    items.retain(|e| !listed.iter().any(|l| contains(e, l)));
                    put_list(cont, key, items);
                }
                return Ok(());
            }
            cont.remove(key);
            return Ok(());
        }
        let value = prepare(attr, value);
        self.note_unknown(attr, &value, label);
        if attr.multi_valued {
            match (kind, coerce_value(attr, &value)?) {
                (OpKind::Add, Some(Value::Array(new))) => {
                    let mut items = list(cont, key);
                    let mut touched = Vec::new();
                    for n in new {
                        if !items.iter().any(|e| same_element(attr, e, &n)) {
                            touched.push(items.len());
                            items.push(n);
                        }
                    }
                    fix_primary(&mut items, &touched);
                    put_list(cont, key, items);
                }
                (OpKind::Add, _) => {}
                (_, Some(v)) => {
                    cont.insert(key.to_string(), v);
                }
                (_, None) => {
                    cont.remove(key);
                }
            }
            return Ok(());
        }
        if attr.ty == AttrType::Complex && !is_manager(attr) {
            // RFC 7644 §3.5.2.3: sub-attributes in the value replace, others stay.
            return match &value {
                Value::Null => {
                    cont.remove(key);
                    Ok(())
                }
                Value::Object(raw) => {
                    let mut obj = object(cont, key);
                    merge_complex(attr, &mut obj, raw)?;
                    put_object(cont, key, obj);
                    Ok(())
                }
                other => {
                    coerce_value(attr, other)?;
                    Err(ScimError::invalid_value(format!("\"{label}\" must be a JSON object.")))
                }
            };
        }
        // Simple attributes, and `manager`, which is replaced as a whole.
        match coerce_value(attr, &value)? {
            Some(v) => {
                check_immutable(attr, cont.get(key), &v, label)?;
                cont.insert(key.to_string(), v);
            }
            None => {
                cont.remove(key);
            }
        }
        Ok(())
    }

    /// `attr[filter]` without a sub-attribute.
    fn filtered(
        &mut self,
        kind: OpKind,
        attr: &Attribute,
        filter: &Filter,
        cont: &mut Obj,
        value: &Value,
        label: &str,
    ) -> Result<(), ScimError> {
        let key = attr.name;
        let mut items = list(cont, key);
        let hits = matching(&items, filter, attr);
        match kind {
            OpKind::Remove => {
                items = without(items, &hits);
            }
            OpKind::Replace => {
                let value = single_value(&prepare(attr, value));
                self.note_unknown(attr, &value, label);
                let new = match coerce_value(attr, &value)? {
                    Some(Value::Array(mut v)) if v.len() <= 1 => v.pop(),
                    Some(_) => {
                        return Err(ScimError::invalid_value(format!(
                            "\"{label}\" selects values to replace; send one value, not a list."
                        )))
                    }
                    None => None,
                };
                let Some((&first, rest)) = hits.split_first() else {
                    return Err(no_match(label));
                };
                items = without(items, rest);
                match new {
                    Some(new) => {
                        if let Some(slot) = items.get_mut(first) {
                            *slot = new;
                        }
                        fix_primary(&mut items, &[first]);
                    }
                    None => items = without(items, &[first]),
                }
            }
            OpKind::Add => {
                let value = single_value(&prepare(attr, value));
                self.note_unknown(attr, &value, label);
                let Value::Object(raw) = &value else {
                    coerce_value(attr, &value)?;
                    return Err(ScimError::invalid_value(format!("\"{label}\" needs a JSON object as its value.")));
                };
                let touched = if hits.is_empty() {
                    let Some(mut el) = element_from_filter(filter, attr)? else {
                        return Err(no_match(label));
                    };
                    merge_complex(attr, &mut el, raw)?;
                    items.push(Value::Object(el));
                    vec![items.len() - 1]
                } else {
                    for &i in &hits {
                        if let Some(Value::Object(el)) = items.get_mut(i) {
                            merge_complex(attr, el, raw)?;
                        }
                    }
                    hits
                };
                fix_primary(&mut items, &touched);
            }
        }
        put_list(cont, key, items);
        Ok(())
    }

    /// Records keys of a complex value that the attribute does not have.
    fn note_unknown(&mut self, attr: &Attribute, value: &Value, label: &str) {
        if attr.ty != AttrType::Complex {
            return;
        }
        let objects: Vec<&Obj> = match value {
            Value::Object(o) => vec![o],
            Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
            _ => Vec::new(),
        };
        for o in objects {
            for k in o.keys() {
                let name = format!("{label}.{k}");
                if attr.sub_attribute(k).is_none() && !self.ignored.contains(&name) {
                    self.ignored.push(name);
                }
            }
        }
    }
}

/// `complex.sub` or `multi.sub` (every element) without a filter.
fn sub_without_filter(
    kind: OpKind,
    attr: &Attribute,
    sub: &'static Attribute,
    cont: &mut Obj,
    value: &Value,
    label: &str,
) -> Result<(), ScimError> {
    let key = attr.name;
    let new = if kind == OpKind::Remove { None } else { coerce_value(sub, value)? };
    if attr.multi_valued {
        let mut items = list(cont, key);
        if items.is_empty() && new.is_some() {
            return Err(ScimError::no_target(format!("\"{label}\": \"{key}\" has no values to change.")));
        }
        for item in items.iter_mut() {
            if let Value::Object(el) = item {
                set_sub(el, sub, new.clone(), label)?;
            }
        }
        let touched: Vec<usize> = (0..items.len()).collect();
        fix_primary(&mut items, &touched);
        put_list(cont, key, items);
    } else {
        let mut obj = object(cont, key);
        set_sub(&mut obj, sub, new, label)?;
        put_object(cont, key, obj);
    }
    Ok(())
}

/// `attr[filter].sub`: set or remove the sub-attribute of matching elements.
/// If none matches, add/replace creates one from the filter's `eq` terms
/// (Entra's `emails[type eq "work"].value` on a user without a work email).
fn filtered_sub(
    kind: OpKind,
    attr: &Attribute,
    filter: &Filter,
    sub: &'static Attribute,
    cont: &mut Obj,
    value: &Value,
    label: &str,
) -> Result<(), ScimError> {
    let key = attr.name;
    let mut items = list(cont, key);
    let hits = matching(&items, filter, attr);
    let new = if kind == OpKind::Remove { None } else { coerce_value(sub, value)? };
    let touched = if hits.is_empty() {
        let Some(new) = new else {
            // Nothing to clear.
            return Ok(());
        };
        let Some(mut el) = element_from_filter(filter, attr)? else {
            return Err(no_match(label));
        };
        el.insert(sub.name.to_string(), new);
        items.push(Value::Object(el));
        vec![items.len() - 1]
    } else {
        for &i in &hits {
            if let Some(Value::Object(el)) = items.get_mut(i) {
                set_sub(el, sub, new.clone(), label)?;
            }
        }
        hits
    };
    fix_primary(&mut items, &touched);
    put_list(cont, key, items);
    Ok(())
}

fn no_match(label: &str) -> ScimError {
    ScimError::no_target(format!("No value matches the filter in \"{label}\"."))
}

fn set_sub(el: &mut Obj, sub: &Attribute, new: Option<Value>, label: &str) -> Result<(), ScimError> {
    match new {
        Some(v) => {
            check_immutable(sub, el.get(sub.name), &v, label)?;
            el.insert(sub.name.to_string(), v);
        }
        None => {
            el.remove(sub.name);
        }
    }
    Ok(())
}

/// Sets each known, writable sub-attribute of `raw` on `obj`; an empty
/// value clears it.
fn merge_complex(attr: &Attribute, obj: &mut Obj, raw: &Obj) -> Result<(), ScimError> {
    for (k, v) in raw {
        let Some(sub) = attr.sub_attribute(k) else { continue };
        if !sub.is_writable() {
            continue;
        }
        match coerce_value(sub, v)? {
            Some(c) => {
                obj.insert(sub.name.to_string(), c);
            }
            None => {
                obj.remove(sub.name);
            }
        }
    }
    Ok(())
}

/// RFC 7643 §7: an immutable attribute may be set once, never changed.
fn check_immutable(attr: &Attribute, old: Option<&Value>, new: &Value, label: &str) -> Result<(), ScimError> {
    match old {
        Some(old) if attr.mutability == Mutability::Immutable && !old.is_null() && old != new => {
            Err(ScimError::mutability(format!("\"{label}\" is immutable; its value {old} cannot be changed.")))
        }
        _ => Ok(()),
    }
}

fn is_manager(attr: &Attribute) -> bool {
    attr.name == "manager" && attr.ty == AttrType::Complex && !attr.multi_valued
}

/// A bare string where a member is expected (Postman's member add) means
/// `{"value": s}`. Only for `members`: elsewhere (`"emails": "a@b"`) a bare
/// string is a wrong type, refused as it is in a POST.
fn prepare(attr: &Attribute, value: &Value) -> Value {
    if attr.name != "members" {
        return value.clone();
    }
    let wrap = |v: &Value| match v {
        Value::String(s) => serde_json::json!({ "value": s }),
        other => other.clone(),
    };
    match value {
        Value::Array(items) => Value::Array(items.iter().map(wrap).collect()),
        other => wrap(other),
    }
}

/// A one-element list where one element is expected.
fn single_value(value: &Value) -> Value {
    match value {
        Value::Array(items) if items.len() == 1 => items.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// Whether two elements are the same value: a group member is identified by
/// its `value` alone.
fn same_element(attr: &Attribute, a: &Value, b: &Value) -> bool {
    if attr.name == "members" {
        matches!((a.get("value"), b.get("value")), (Some(x), Some(y)) if x == y)
    } else {
        a == b
    }
}

/// Whether `element` has every sub-attribute of `listed` with an equal value.
fn contains(element: &Value, listed: &Value) -> bool {
    match (element, listed) {
        (Value::Object(e), Value::Object(l)) => !l.is_empty() && l.iter().all(|(k, v)| e.get(k) == Some(v)),
        (e, l) => e == l,
    }
}

/// RFC 7643 §2.4: at most one `primary: true`; the one just written wins.
fn fix_primary(items: &mut [Value], touched: &[usize]) {
    let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
    if !touched.iter().any(|&i| items.get(i).is_some_and(is_primary)) {
        return;
    }
    let mut winner_seen = false;
    for (i, item) in items.iter_mut().enumerate() {
        if !is_primary(item) {
            continue;
        }
        let keep = touched.contains(&i) && !winner_seen;
        if keep {
            winner_seen = true;
        } else if let Value::Object(el) = item {
            el.insert("primary".to_string(), Value::Bool(false));
        }
    }
}

fn matching(items: &[Value], filter: &Filter, attr: &Attribute) -> Vec<usize> {
    items.iter().enumerate().filter(|(_, e)| filter.matches_element(e, attr)).map(|(i, _)| i).collect()
}

fn without(items: Vec<Value>, drop: &[usize]) -> Vec<Value> {
    items.into_iter().enumerate().filter(|(i, _)| !drop.contains(i)).map(|(_, v)| v).collect()
}

/// The element a filter of `eq` terms joined by `and` describes, or `None`
/// if the filter is anything else (then there is nothing to create).
fn element_from_filter(filter: &Filter, attr: &Attribute) -> Result<Option<Obj>, ScimError> {
    fn terms(f: &Filter, attr: &Attribute, out: &mut Obj) -> Result<bool, ScimError> {
        match f {
            Filter::And(a, b) => Ok(terms(a, attr, out)? && terms(b, attr, out)?),
            Filter::Compare(p, CompareOp::Eq, v) if p.urn.is_none() && p.sub_attr.is_none() => {
                let Some(sub) = attr.sub_attribute(&p.attr).filter(|s| s.is_writable()) else {
                    return Ok(false);
                };
                let json = match v {
                    CompValue::Null => return Ok(false),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Number(n) => Value::Number(n.clone()),
                    CompValue::Str(s) => Value::String(s.clone()),
                };
                match coerce_value(sub, &json)? {
                    Some(c) => {
                        out.insert(sub.name.to_string(), c);
                        Ok(true)
                    }
                    None => Ok(false),
                }
            }
            _ => Ok(false),
        }
    }
    let mut out = Map::new();
    Ok(terms(filter, attr, &mut out)?.then_some(out))
}

/// Turns `primary eq "True"` (the validator's spelling) into `primary eq
/// true`, so it matches the stored boolean whatever the evaluator thinks of
/// strings.
fn booleanize(filter: &Filter, attr: &Attribute) -> Filter {
    let b = |f: &Filter| Box::new(booleanize(f, attr));
    match filter {
        Filter::And(x, y) => Filter::And(b(x), b(y)),
        Filter::Or(x, y) => Filter::Or(b(x), b(y)),
        Filter::Not(x) => Filter::Not(b(x)),
        Filter::Compare(p, op, CompValue::Str(s))
            if p.sub_attr.is_none()
                && attr.sub_attribute(&p.attr).is_some_and(|s| s.ty == AttrType::Boolean)
                && (s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false")) =>
        {
            Filter::Compare(p.clone(), *op, CompValue::Bool(s.eq_ignore_ascii_case("true")))
        }
        other => other.clone(),
    }
}

fn list(cont: &Obj, key: &str) -> Vec<Value> {
    match cont.get(key) {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

fn put_list(cont: &mut Obj, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        cont.remove(key);
    } else {
        cont.insert(key.to_string(), Value::Array(items));
    }
}

fn object(cont: &Obj, key: &str) -> Obj {
    cont.get(key).and_then(Value::as_object).cloned().unwrap_or_default()
}

fn put_object(cont: &mut Obj, key: &str, obj: Obj) {
    if obj.is_empty() {
        cont.remove(key);
    } else {
        cont.insert(key.to_string(), Value::Object(obj));
    }
}

/// A required attribute that had a value must still have one
/// (RFC 7644 §3.5.2.2: `mutability`).
fn check_required(rt: &ResourceType, before: &Value, after: &Value) -> Result<(), ScimError> {
    fn holder<'v>(rt: &ResourceType, schema: &Schema, v: &'v Value) -> Option<&'v Value> {
        if std::ptr::eq(schema, rt.schema) {
            Some(v)
        } else {
            v.get(schema.id)
        }
    }
    for schema in rt.schemas() {
        let (Some(b), a) = (holder(rt, schema, before), holder(rt, schema, after)) else { continue };
        for attr in schema.attributes.iter().filter(|a| a.required) {
            let had = b.get(attr.name).is_some();
            let has = a.and_then(|a| a.get(attr.name)).is_some();
            if had && !has {
                return Err(ScimError::mutability(format!(
                    "\"{}\" is required; it cannot be removed or set to an empty value.",
                    attr.name
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
