//! SQL functions registered on every connection, so that SCIM semantics run
//! inside the query instead of after loading users into memory:
//!
//! * `scim_user_match(filter, id, scim, state, password_expired, created, last_modified, version)`:
//!   1 if the user's SCIM resource matches the filter text (parsed once per statement).
//! * `scim_group_match(filter, id, scim, created, last_modified, version, member_ids)`:
//!   the same for a group; `member_ids` is a JSON array of member ids, or NULL
//!   when the filter does not mention `members` (then none are loaded).
//! * `scim_sort_key(path, scim)`: the value of an attribute to sort by, folded
//!   unless the attribute is caseExact.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, Error};
use scim::filter::Filter;
use scim::schema::{AttrPath, ENTERPRISE_USER_SCHEMA_URN, GROUP, GROUP_SCHEMA_URN, USER, USER_SCHEMA_URN};
use serde_json::{Map, Value};

pub fn register(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("scim_user_match", 8, flags, user_match)?;
    conn.create_scalar_function("scim_group_match", 7, flags, group_match)?;
    conn.create_scalar_function("scim_sort_key", 2, flags, sort_key)?;
    Ok(())
}

fn user_error(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::UserFunctionError(Box::new(e))
}

fn text<'a>(ctx: &'a Context<'_>, i: usize) -> rusqlite::Result<&'a str> {
    ctx.get_raw(i).as_str().map_err(user_error)
}

fn user_match(ctx: &Context<'_>) -> rusqlite::Result<bool> {
    // The filter is the same for every row of a statement: parse it once.
    let filter = ctx.get_or_create_aux(0, |v: ValueRef<'_>| -> Result<Filter, Error> {
        let text = v.as_str().map_err(user_error)?;
        Filter::parse_printed(text).map_err(|e| Error::UserFunctionError(e.detail.into()))
    })?;
    let resource = user_resource(ctx)?;
    Ok(filter.matches(&resource, &USER))
}

fn group_match(ctx: &Context<'_>) -> rusqlite::Result<bool> {
    let filter = ctx.get_or_create_aux(0, |v: ValueRef<'_>| -> Result<Filter, Error> {
        let text = v.as_str().map_err(user_error)?;
        Filter::parse_printed(text).map_err(|e| Error::UserFunctionError(e.detail.into()))
    })?;
    let mut out = Map::new();
    out.insert("schemas".into(), Value::Array(vec![Value::String(GROUP_SCHEMA_URN.into())]));
    out.insert("id".into(), Value::String(text(ctx, 1)?.into()));
    let mut attrs: Map<String, Value> = serde_json::from_str(text(ctx, 2)?).map_err(user_error)?;
    out.append(&mut attrs);
    if let ValueRef::Text(ids) = ctx.get_raw(6) {
        let ids: Vec<String> = serde_json::from_slice(ids).map_err(user_error)?;
        let members = ids.into_iter().map(|id| serde_json::json!({"value": id, "type": "User"})).collect();
        out.insert("members".into(), Value::Array(members));
    }
    let version: i64 = ctx.get(5)?;
    let mut meta = Map::with_capacity(4);
    meta.insert("resourceType".into(), Value::String("Group".into()));
    meta.insert("created".into(), Value::String(text(ctx, 3)?.into()));
    meta.insert("lastModified".into(), Value::String(text(ctx, 4)?.into()));
    meta.insert("version".into(), Value::String(format!("W/\"{version}\"")));
    out.insert("meta".into(), Value::Object(meta));
    Ok(filter.matches(&Value::Object(out), &GROUP))
}

/// The SCIM resource of a row, as `directory::users::render_user` builds it
/// (without `meta.location`, which depends on the request's base URL).
fn user_resource(ctx: &Context<'_>) -> rusqlite::Result<Value> {
    let id = text(ctx, 1)?;
    let mut attrs: Map<String, Value> = serde_json::from_str(text(ctx, 2)?).map_err(user_error)?;
    let state = text(ctx, 3)?;
    let password_expired: bool = ctx.get(4)?;
    let created = text(ctx, 5)?;
    let last_modified = text(ctx, 6)?;
    let version: i64 = ctx.get(7)?;

    let mut out = Map::with_capacity(attrs.len() + 4);
    let mut schemas = vec![Value::String(USER_SCHEMA_URN.into())];
    if attrs.contains_key(ENTERPRISE_USER_SCHEMA_URN) {
        schemas.push(Value::String(ENTERPRISE_USER_SCHEMA_URN.into()));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(id.into()));
    out.append(&mut attrs);
    out.insert("active".into(), Value::Bool(state != "SUSPENDED" && !password_expired));
    let mut meta = Map::with_capacity(4);
    meta.insert("resourceType".into(), Value::String("User".into()));
    meta.insert("created".into(), Value::String(created.into()));
    meta.insert("lastModified".into(), Value::String(last_modified.into()));
    meta.insert("version".into(), Value::String(format!("W/\"{version}\"")));
    out.insert("meta".into(), Value::Object(meta));
    Ok(Value::Object(out))
}

fn sort_key(ctx: &Context<'_>) -> rusqlite::Result<SqlValue> {
    let path = ctx.get_or_create_aux(0, |v: ValueRef<'_>| -> Result<AttrPath, Error> {
        let text = v.as_str().map_err(user_error)?;
        AttrPath::parse(text).ok_or_else(|| Error::UserFunctionError(format!("bad sort path {text:?}").into()))
    })?;
    let scim: Value = serde_json::from_str(text(ctx, 1)?).map_err(user_error)?;
    Ok(sort_value(&scim, &path))
}

/// The value to sort by: for a multi-valued attribute, that of the primary
/// (else the first) element; for a complex one without a sub-attribute, its `value`.
pub fn sort_value(scim: &Value, path: &AttrPath) -> SqlValue {
    let resolved = USER.resolve_path(path);
    let (container, name, case_exact) = match &resolved {
        Some((top, sub)) => {
            let container = if top.in_extension { top.schema.and_then(|s| get_ci(scim, s.id)) } else { Some(scim) };
            let case_exact = sub.map_or(top.attribute.case_exact, |s| s.case_exact);
            (container, top.attribute.name, case_exact)
        }
        None => (Some(scim), path.attr.as_str(), false),
    };
    let Some(mut value) = container.and_then(|c| get_ci(c, name)) else {
        return SqlValue::Null;
    };
    if let Value::Array(items) = value {
        let primary = items.iter().find(|e| e.get("primary").and_then(Value::as_bool) == Some(true));
        match primary.or_else(|| items.first()) {
            Some(v) => value = v,
            None => return SqlValue::Null,
        }
    }
    let sub = path.sub_attr.as_deref().or(if value.is_object() { Some("value") } else { None });
    if let Some(sub) = sub {
        match get_ci(value, sub) {
            Some(v) => value = v,
            None => return SqlValue::Null,
        }
    }
    match value {
        Value::String(s) if case_exact => SqlValue::Text(s.clone()),
        Value::String(s) => SqlValue::Text(s.to_lowercase()),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => {
            n.as_i64().map_or_else(|| n.as_f64().map_or(SqlValue::Null, SqlValue::Real), SqlValue::Integer)
        }
        _ => SqlValue::Null,
    }
}

/// A JSON member by name: the exact key first, then case-insensitively.
fn get_ci<'v>(node: &'v Value, key: &str) -> Option<&'v Value> {
    let obj = node.as_object()?;
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}
