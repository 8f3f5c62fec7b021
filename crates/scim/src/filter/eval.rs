//! Evaluation of a filter against a resource (RFC 7644 §3.4.2.2 semantics),
//! driven by the schema for case sensitivity and types.

use super::parse::parse_number;
use super::{CompValue, CompareOp, Filter};
use crate::schema::{AttrPath, AttrType, Attribute, ResourceType};
use serde_json::{Number, Value};
use std::cmp::Ordering;

/// What the filter's paths are relative to.
#[derive(Clone, Copy)]
pub(super) enum Scope<'a> {
    /// A whole resource of this type.
    Resource(&'a ResourceType),
    /// One element of a multi-valued or complex attribute (`None`: unknown to the schema).
    Element(Option<&'a Attribute>),
}

/// Recursion here follows the AST, whose size the parser bounds (`MAX_FILTER_TERMS`).
pub(super) fn eval(filter: &Filter, node: &Value, scope: Scope<'_>) -> bool {
    match filter {
        Filter::And(a, b) => eval(a, node, scope) && eval(b, node, scope),
        Filter::Or(a, b) => eval(a, node, scope) || eval(b, node, scope),
        Filter::Not(a) => !eval(a, node, scope),
        Filter::Present(path) => {
            let (value, attr) = top(node, path, scope);
            match &path.sub_attr {
                None => value.is_some_and(is_present),
                Some(_) => leaves(value, attr, path.sub_attr.as_deref()).0.into_iter().any(is_present),
            }
        }
        Filter::Compare(path, op, cv) => {
            let (value, attr) = top(node, path, scope);
            let (values, leaf) = leaves(value, attr, path.sub_attr.as_deref());
            let values: Vec<&Value> = values.into_iter().filter(|v| !v.is_null()).collect();
            if values.is_empty() {
                // Absent (or null): only `eq null` and `ne <something>` hold.
                return match op {
                    CompareOp::Eq => matches!(cv, CompValue::Null),
                    CompareOp::Ne => !matches!(cv, CompValue::Null),
                    _ => false,
                };
            }
            values.into_iter().any(|v| compare(v, *op, cv, leaf))
        }
        Filter::ValuePath(path, inner) => {
            let (mut value, mut attr) = top(node, path, scope);
            // Hand-built ASTs may name a sub-attribute before the brackets.
            let holder;
            if let Some(sub) = &path.sub_attr {
                let (subs, leaf) = leaves(value, attr, Some(sub));
                holder = Value::Array(subs.into_iter().cloned().collect());
                value = Some(&holder);
                attr = leaf;
            }
            match value {
                None => false,
                Some(v) => elements(v).iter().any(|e| eval(inner, e, Scope::Element(attr))),
            }
        }
    }
}

/// A JSON object member by name: the exact key first, then case-insensitively.
fn get_ci<'v>(node: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = node.as_object()?;
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// The elements of a multi-valued value, or the value itself.
fn elements(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        other => std::slice::from_ref(other),
    }
}

/// The top-level attribute a path names: its JSON value and its schema.
fn top<'v, 'a>(node: &'v Value, path: &AttrPath, scope: Scope<'a>) -> (Option<&'v Value>, Option<&'a Attribute>) {
    match scope {
        Scope::Resource(rt) => match rt.resolve(path.urn.as_deref(), &path.attr) {
            Some(resolved) => {
                let container =
                    if resolved.in_extension { resolved.schema.and_then(|s| get_ci(node, s.id)) } else { Some(node) };
                (container.and_then(|c| get_ci(c, resolved.attribute.name)), Some(resolved.attribute))
            }
            None => {
                // Unknown attribute: a core URN means the top level, any other
                // URN an extension object keyed by it.
                let container = match path.urn.as_deref() {
                    Some(urn) if !rt.schema.id.eq_ignore_ascii_case(urn) => get_ci(node, urn),
                    _ => Some(node),
                };
                (container.and_then(|c| get_ci(c, &path.attr)), None)
            }
        },
        Scope::Element(parent) => {
            let attr = parent.and_then(|p| p.sub_attribute(&path.attr));
            let value = if node.is_object() {
                get_ci(node, &path.attr)
            } else if path.attr.eq_ignore_ascii_case("value") {
                // An element of a multi-valued simple attribute is its own `value`.
                Some(node)
            } else {
                None
            };
            (value, attr)
        }
    }
}

/// The values a comparison looks at, and their schema: the named
/// sub-attribute of each element, or for a complex attribute without one,
/// each element's `value` (RFC 7644 §3.4.2.2).
fn leaves<'v, 'a>(
    value: Option<&'v Value>,
    attr: Option<&'a Attribute>,
    sub: Option<&str>,
) -> (Vec<&'v Value>, Option<&'a Attribute>) {
    let (key, leaf) = match sub {
        Some(sub) => (Some(sub), attr.and_then(|a| a.sub_attribute(sub))),
        None => match attr {
            Some(a) if a.ty == AttrType::Complex => (Some("value"), a.sub_attribute("value")),
            Some(a) => (None, Some(a)),
            None => (None, None),
        },
    };
    let mut out = Vec::new();
    let Some(value) = value else {
        return (out, leaf);
    };
    for element in elements(value) {
        let picked = match (key, element) {
            (Some(key), _) => get_ci(element, key),
            // Unknown attribute holding objects: compare their `value`.
            (None, Value::Object(_)) => get_ci(element, "value"),
            (None, _) => Some(element),
        };
        if let Some(picked) = picked {
            out.extend(elements(picked));
        }
    }
    (out, leaf)
}

/// `pr`: present, not null, not "", not [] (and not an object of such).
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(members) => members.values().any(is_present),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// A boolean as the filter reads a string compared with one (`"True"`, `"false"`).
pub fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Maps an ordering to the result of an ordering-style operator.
fn ordered(op: CompareOp, ord: Option<Ordering>) -> bool {
    match op {
        CompareOp::Eq => ord == Some(Ordering::Equal),
        CompareOp::Ne => ord != Some(Ordering::Equal),
        CompareOp::Gt => ord == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Lt => ord == Some(Ordering::Less),
        CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn is_substring_op(op: CompareOp) -> bool {
    matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
}

/// Exact for integers (as i128), else as f64.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// String comparison, case-folded unless the attribute is caseExact.
fn compare_strings(a: &str, op: CompareOp, b: &str, case_exact: bool) -> bool {
    let (a, b) = if case_exact { (a.to_string(), b.to_string()) } else { (a.to_lowercase(), b.to_lowercase()) };
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => ordered(op, Some(a.cmp(&b))),
    }
}

/// One (non-null) attribute value against the filter's value.
fn compare(value: &Value, op: CompareOp, cv: &CompValue, attr: Option<&Attribute>) -> bool {
    let case_exact = attr.is_some_and(|a| a.case_exact);
    let mismatch = op == CompareOp::Ne;
    match cv {
        CompValue::Null => mismatch,
        CompValue::Bool(b) => {
            // Entra writes booleans as "True"/"False" strings.
            let actual = match value {
                Value::Bool(x) => Some(*x),
                Value::String(s) => parse_bool(s),
                _ => None,
            };
            match (op, actual) {
                (CompareOp::Eq, Some(x)) => x == *b,
                (CompareOp::Ne, Some(x)) => x != *b,
                _ => mismatch,
            }
        }
        CompValue::Number(n) => match value {
            Value::Number(m) if !is_substring_op(op) => ordered(op, compare_numbers(m, n)),
            Value::Number(m) => compare_strings(&m.to_string(), op, &n.to_string(), true),
            // `externalId eq 12345`: an unquoted number against a string attribute.
            Value::String(s) => match parse_number(s) {
                Some(m) if !is_substring_op(op) => ordered(op, compare_numbers(&m, n)),
                _ => compare_strings(s, op, &n.to_string(), case_exact),
            },
            _ => mismatch,
        },
        CompValue::Str(s) => match value {
            Value::String(x) => {
                if attr.is_some_and(|a| a.ty == AttrType::DateTime) && !is_substring_op(op) {
                    if let (Some(a), Some(b)) = (parse_instant(x), parse_instant(s)) {
                        return ordered(op, Some(a.cmp(&b)));
                    }
                }
                compare_strings(x, op, s, case_exact)
            }
            Value::Bool(x) => match (op, parse_bool(s)) {
                (CompareOp::Eq, Some(b)) => *x == b,
                (CompareOp::Ne, Some(b)) => *x != b,
                _ => mismatch,
            },
            Value::Number(m) => {
                if is_substring_op(op) {
                    compare_strings(&m.to_string(), op, s, true)
                } else {
                    match parse_number(s) {
                        Some(n) => ordered(op, compare_numbers(m, &n)),
                        None => mismatch,
                    }
                }
            }
            _ => mismatch,
        },
    }
}

/// Parses an RFC 3339 / xsd:dateTime instant, e.g. `2011-05-13T04:42:34.123+02:00`,
/// into (seconds since the Unix epoch, nanoseconds). A missing offset means UTC.
pub fn parse_instant(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0i64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000_000u32;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            nanos += u32::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second - offset, nanos))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
