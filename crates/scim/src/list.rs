//! Query parameters (RFC 7644 §3.4.2, §3.4.3) and the ListResponse, with
//! both ways to page: by index (`startIndex`, RFC 7644) and by cursor
//! (`cursor`, RFC 9865).
//!
//! A cursor is opaque to clients: base64url of a version byte, the position
//! (the store's insertion sequence number of the last resource returned) and
//! a checksum over the position, the resource type and the filter. It is not
//! a secret and needs none (a client may only ever page through what it may
//! list anyway); the checksum catches a cursor that was altered, truncated or
//! reused with another filter or resource type, which is answered with 400
//! `invalidCursor`. Cursors never expire: a position stays meaningful when
//! rows are deleted or inserted.

use crate::filter::Filter;
use crate::projection::Projection;
use crate::schema::{AttrPath, ResourceType};
use crate::ScimError;
use serde::Serialize;
use serde_json::Value;

/// URN of the ListResponse message.
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Server-side bounds for list queries.
#[derive(Debug, Clone, Copy)]
pub struct ListLimits {
    /// `count` when the client sends none.
    pub default_count: u64,
    /// The largest `count` honoured; larger values are clamped.
    pub max_count: u64,
}

impl Default for ListLimits {
    fn default() -> Self {
        ListLimits { default_count: 100, max_count: 1000 }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// Where a cursor-paged list (RFC 9865) starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// `cursor=` with an empty value: the first page.
    First,
    /// A `nextCursor` of an earlier page: the resources after this position.
    After(i64),
}

impl Cursor {
    /// The store position to page after (0 is before every resource: positions start at 1).
    pub fn position(self) -> i64 {
        match self {
            Cursor::First => 0,
            Cursor::After(p) => p,
        }
    }
}

/// A parsed list query.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based; values below 1 are read as 1. Unused in cursor mode.
    pub start_index: u64,
    /// `Some` when the client pages by cursor (it sent `cursor`, perhaps empty).
    pub cursor: Option<Cursor>,
    /// Clamped to [`ListLimits::max_count`]; 0 asks for `totalResults` only.
    pub count: u64,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    pub projection: Projection,
}

impl ListQuery {
    /// Reads already-decoded query pairs (the caller turns `+` into a space).
    /// Parameter names match case-insensitively; unknown parameters, such as
    /// Entra's `aadOptscim062020`, are ignored.
    pub fn from_pairs<'a>(
        rt: &ResourceType,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        limits: &ListLimits,
    ) -> Result<ListQuery, ScimError> {
        let mut raw = RawQuery::default();
        for (k, v) in pairs {
            raw.set(k, Value::String(v.to_string()));
        }
        raw.build(rt, limits)
    }

    /// Reads the body of `POST /.search` (RFC 7644 §3.4.3).
    pub fn from_search_body(rt: &ResourceType, body: &Value, limits: &ListLimits) -> Result<ListQuery, ScimError> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax("The search request body must be a JSON object."));
        };
        let mut raw = RawQuery::default();
        for (k, v) in obj {
            raw.set(k, v.clone());
        }
        raw.build(rt, limits)
    }
}

#[derive(Default)]
struct RawQuery {
    filter: Option<Value>,
    start_index: Option<Value>,
    count: Option<Value>,
    sort_by: Option<Value>,
    sort_order: Option<Value>,
    attributes: Option<Value>,
    excluded: Option<Value>,
    cursor: Option<Value>,
}

impl RawQuery {
    fn set(&mut self, key: &str, value: Value) {
        let slot = match key.to_ascii_lowercase().as_str() {
            "filter" => &mut self.filter,
            "startindex" => &mut self.start_index,
            "count" => &mut self.count,
            "sortby" => &mut self.sort_by,
            "sortorder" => &mut self.sort_order,
            "attributes" => &mut self.attributes,
            "excludedattributes" => &mut self.excluded,
            "cursor" => &mut self.cursor,
            _ => return,
        };
        *slot = Some(value);
    }

    fn build(self, rt: &ResourceType, limits: &ListLimits) -> Result<ListQuery, ScimError> {
        let filter = match &self.filter {
            None => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.parse::<Filter>()?),
            Some(_) => return Err(ScimError::invalid_filter("\"filter\" must be a string.")),
        };
        let start_index = integer(&self.start_index, "startIndex")?.unwrap_or(1).max(1) as u64;
        let count = match integer(&self.count, "count")? {
            None => limits.default_count,
            Some(c) => (c.max(0) as u64).min(limits.max_count),
        }
        .min(limits.max_count);
        let sort_by = match text(&self.sort_by, "sortBy")? {
            None => None,
            Some(s) if s.trim().is_empty() => None,
            Some(s) => Some(
                AttrPath::parse(s.trim())
                    .ok_or_else(|| ScimError::invalid_value(format!("sortBy \"{s}\" is not an attribute name.")))?,
            ),
        };
        let sort_order = match text(&self.sort_order, "sortOrder")? {
            None => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("ascending") || s.is_empty() => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(s) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder \"{s}\" is not valid; use \"ascending\" or \"descending\"."
                )))
            }
        };
        let cursor = match &self.cursor {
            None => None,
            Some(Value::String(c)) if c.trim().is_empty() => Some(Cursor::First),
            Some(Value::String(c)) => Some(Cursor::After(decode_cursor(rt, filter.as_ref(), c.trim())?)),
            Some(_) => return Err(ScimError::invalid_cursor("\"cursor\" must be a string.")),
        };
        if cursor.is_some() {
            if integer(&self.start_index, "startIndex")?.is_some() {
                return Err(ScimError::invalid_value(
                    "Send either startIndex (index paging) or cursor (cursor paging), not both.",
                ));
            }
            if sort_by.is_some() {
                return Err(ScimError::invalid_value(
                    "sortBy is not supported with cursor paging: cursor pages come in creation order. \
                     Use startIndex paging to sort.",
                ));
            }
        }
        let attributes = list_text(&self.attributes, "attributes")?;
        let excluded = list_text(&self.excluded, "excludedAttributes")?;
        Ok(ListQuery {
            filter,
            start_index,
            cursor,
            count,
            sort_by,
            sort_order,
            projection: Projection::parse(rt, attributes.as_deref(), excluded.as_deref()),
        })
    }
}

fn integer(v: &Option<Value>, name: &str) -> Result<Option<i64>, ScimError> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.clamp(i64::MIN as f64, i64::MAX as f64) as i64))
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer."))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).or_else(|_| {
            // Out of range but numeric: clamp rather than fail.
            if s.trim().trim_start_matches('-').chars().all(|c| c.is_ascii_digit()) {
                Ok(Some(if s.trim().starts_with('-') { i64::MIN } else { i64::MAX }))
            } else {
                Err(ScimError::invalid_value(format!("{name} must be an integer, not \"{s}\".")))
            }
        }),
        Some(_) => Err(ScimError::invalid_value(format!("{name} must be an integer."))),
    }
}

fn text<'a>(v: &'a Option<Value>, name: &str) -> Result<Option<&'a str>, ScimError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string."))),
    }
}

/// `attributes` in a query string is comma-separated; in a search body it is a list.
fn list_text(v: &Option<Value>, name: &str) -> Result<Option<String>, ScimError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(|v| Some(v.join(",")))
            .ok_or_else(|| ScimError::invalid_value(format!("{name} must be a list of attribute names."))),
        Some(_) => Err(ScimError::invalid_value(format!("{name} must be a list of attribute names."))),
    }
}

/// The checksum of a cursor: FNV-1a (64 bit) over the position, the resource
/// type and the filter, so that a cursor works only for the query it came from.
fn cursor_check(rt: &ResourceType, filter: Option<&Filter>, position: i64) -> [u8; CHECK_LEN] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let filter_text = filter.map(|f| f.to_string()).unwrap_or_default();
    let parts: [&[u8]; 5] =
        [b"roster-cursor", rt.name.as_bytes(), b"\0", filter_text.as_bytes(), &position.to_be_bytes()];
    for part in parts {
        for b in part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let bytes = h.to_be_bytes();
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&bytes[..CHECK_LEN]);
    out
}

const CURSOR_VERSION: u8 = 1;
const CHECK_LEN: usize = 6;
const CURSOR_LEN: usize = 1 + 8 + CHECK_LEN;

/// The `nextCursor` for the page that ends at `position` of a query on `rt` with `filter`.
pub fn encode_cursor(rt: &ResourceType, filter: Option<&Filter>, position: i64) -> String {
    let mut bytes = Vec::with_capacity(CURSOR_LEN);
    bytes.push(CURSOR_VERSION);
    bytes.extend_from_slice(&position.to_be_bytes());
    bytes.extend_from_slice(&cursor_check(rt, filter, position));
    base64url_encode(&bytes)
}

/// The position in a cursor, if this server issued it for the same resource type and filter.
pub fn decode_cursor(rt: &ResourceType, filter: Option<&Filter>, cursor: &str) -> Result<i64, ScimError> {
    let invalid = || {
        ScimError::invalid_cursor(format!(
            "The cursor \"{cursor}\" was not issued for this query (a nextCursor from the previous page of the same \
             filter and resource type is expected). Send cursor= (empty) to start again."
        ))
    };
    let bytes = base64url_decode(cursor).ok_or_else(invalid)?;
    if bytes.len() != CURSOR_LEN || bytes[0] != CURSOR_VERSION {
        return Err(invalid());
    }
    let mut pos = [0u8; 8];
    pos.copy_from_slice(&bytes[1..9]);
    let position = i64::from_be_bytes(pos);
    if position < 0 || bytes[9..] != cursor_check(rt, filter, position) {
        return Err(invalid());
    }
    Ok(position)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (RFC 4648 §5).
fn base64url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 0x3f) as usize]));
        }
    }
    out
}

/// Decodes base64url without padding; `None` for any other character or a bad length.
fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = B64.iter().position(|b| b == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    // Reject non-canonical encodings (stray low bits in the last character).
    (base64url_encode(&out) == text).then_some(out)
}

/// A ListResponse (RFC 7644 §3.4.2) over any serialisable resources: values,
/// or resources already serialised (`Box<RawValue>`).
#[derive(Debug, Serialize)]
pub struct ListResponse<R> {
    schemas: [&'static str; 1],
    #[serde(rename = "totalResults")]
    total_results: u64,
    #[serde(rename = "startIndex", skip_serializing_if = "Option::is_none")]
    start_index: Option<u64>,
    #[serde(rename = "itemsPerPage")]
    items_per_page: usize,
    #[serde(rename = "Resources")]
    resources: Vec<R>,
    #[serde(rename = "nextCursor", skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

impl<R> ListResponse<R> {
    /// A page asked for by `startIndex`, which it echoes, as Entra's pagination check expects.
    pub fn index_paged(total_results: u64, start_index: u64, resources: Vec<R>) -> Self {
        ListResponse {
            schemas: [LIST_RESPONSE_URN],
            total_results,
            start_index: Some(start_index),
            items_per_page: resources.len(),
            resources,
            next_cursor: None,
        }
    }

    /// A page asked for by cursor (RFC 9865), with the next page's cursor unless it is the last.
    pub fn cursor_paged(total_results: u64, resources: Vec<R>, next_cursor: Option<String>) -> Self {
        ListResponse {
            schemas: [LIST_RESPONSE_URN],
            total_results,
            start_index: None,
            items_per_page: resources.len(),
            resources,
            next_cursor,
        }
    }
}

/// A cursor-paged ListResponse as a value.
pub fn cursor_list_response(total_results: u64, resources: Vec<Value>, next_cursor: Option<String>) -> Value {
    serde_json::to_value(ListResponse::cursor_paged(total_results, resources, next_cursor)).unwrap_or_default()
}

/// An index-paged ListResponse as a value. `startIndex` echoes the request.
pub fn list_response(total_results: u64, start_index: u64, resources: Vec<Value>) -> Value {
    serde_json::to_value(ListResponse::index_paged(total_results, start_index, resources)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use crate::schema::USER;

    #[test]
    fn query_pairs_are_lenient_and_clamped() {
        let q = ListQuery::from_pairs(
            &USER,
            [("startIndex", "0"), ("COUNT", "50000"), ("aadOptscim062020", ""), ("sortOrder", "Descending")],
            &ListLimits::default(),
        )
        .unwrap();
        assert_eq!(q.start_index, 1);
        assert_eq!(q.count, 1000);
        assert_eq!(q.sort_order, SortOrder::Descending);
        assert!(q.filter.is_none());
        let q = ListQuery::from_pairs(&USER, [("count", "-5")], &ListLimits::default()).unwrap();
        assert_eq!(q.count, 0);
        let e = ListQuery::from_pairs(&USER, [("startIndex", "abc")], &ListLimits::default()).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidValue));
    }

    #[test]
    fn cursors_round_trip_and_reject_tampering() {
        use crate::schema::GROUP;
        let f: Filter = r#"userName sw "a""#.parse().unwrap();
        for pos in [0, 1, 255, 1_000_000, i64::MAX] {
            let c = encode_cursor(&USER, Some(&f), pos);
            assert!(c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{c}");
            assert_eq!(decode_cursor(&USER, Some(&f), &c).unwrap(), pos);
        }
        let c = encode_cursor(&USER, None, 42);
        assert_eq!(decode_cursor(&USER, None, &c).unwrap(), 42);
        // Another filter or resource type: not this query's cursor.
        for (rt, filter) in [(&USER, Some(&f)), (&GROUP, None)] {
            let e = decode_cursor(rt, filter, &c).unwrap_err();
            assert_eq!(e.scim_type, Some(crate::ScimType::InvalidCursor));
            assert_eq!(e.status, 400);
        }
        // Every single-character change is caught.
        for i in 0..c.len() {
            let mut t = c.clone().into_bytes();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(t).unwrap();
            assert!(decode_cursor(&USER, None, &t).is_err(), "{t}");
        }
        for bad in ["x", "!!!!", "AAAA", "", &c[..c.len() - 1], &format!("{c}A")] {
            assert!(decode_cursor(&USER, None, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursor_parameter_selects_cursor_paging() {
        let l = ListLimits::default();
        let q = ListQuery::from_pairs(&USER, [("cursor", ""), ("count", "10")], &l).unwrap();
        assert_eq!((q.cursor, q.count), (Some(Cursor::First), 10));
        assert_eq!(Cursor::First.position(), 0);
        let q = ListQuery::from_pairs(&USER, [("count", "10")], &l).unwrap();
        assert_eq!(q.cursor, None);
        let next = encode_cursor(&USER, None, 7);
        let q = ListQuery::from_pairs(&USER, [("Cursor", next.as_str())], &l).unwrap();
        assert_eq!(q.cursor, Some(Cursor::After(7)));
        let body = json!({"cursor": next, "count": 5});
        let q = ListQuery::from_search_body(&USER, &body, &l).unwrap();
        assert_eq!((q.cursor, q.count), (Some(Cursor::After(7)), 5));
        let e = ListQuery::from_pairs(&USER, [("cursor", "bogus")], &l).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidCursor));
        let e = ListQuery::from_search_body(&USER, &json!({"cursor": 3}), &l).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidCursor));
        // The filter is part of the cursor: a cursor from another filter is refused.
        let e =
            ListQuery::from_pairs(&USER, [("cursor", next.as_str()), ("filter", "active eq true")], &l).unwrap_err();
        assert_eq!(e.scim_type, Some(crate::ScimType::InvalidCursor));
        for conflicting in [("startIndex", "1"), ("sortBy", "userName")] {
            let e = ListQuery::from_pairs(&USER, [("cursor", ""), conflicting], &l).unwrap_err();
            assert_eq!(e.scim_type, Some(crate::ScimType::InvalidValue), "{conflicting:?}");
        }
    }

    #[test]
    fn cursor_list_response_has_no_start_index() {
        let last = cursor_list_response(3, vec![json!({"id": "a"})], None);
        assert_eq!(
            last,
            json!({"schemas": [LIST_RESPONSE_URN], "totalResults": 3, "itemsPerPage": 1, "Resources": [{"id": "a"}]})
        );
        let more = cursor_list_response(3, vec![json!({"id": "a"})], Some("abc".into()));
        assert_eq!(more["nextCursor"], "abc");
        assert!(more.get("startIndex").is_none() && more.get("previousCursor").is_none());
    }

    #[test]
    fn empty_list_response_matches_test_connection_shape() {
        assert_eq!(
            list_response(0, 1, vec![]),
            json!({"schemas": [LIST_RESPONSE_URN], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
        );
    }
}
