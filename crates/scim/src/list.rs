//! Query parameters (RFC 7644 §3.4.2, §3.4.3) and the ListResponse.

use crate::filter::Filter;
use crate::projection::Projection;
use crate::schema::{AttrPath, ResourceType};
use crate::ScimError;
use serde_json::{json, Value};

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

/// A parsed list query.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based; values below 1 are read as 1.
    pub start_index: u64,
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
            Some(s) => Some(AttrPath::parse(s.trim()).ok_or_else(|| {
                ScimError::invalid_value(format!("sortBy \"{s}\" is not an attribute name."))
            })?),
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
        let attributes = list_text(&self.attributes, "attributes")?;
        let excluded = list_text(&self.excluded, "excludedAttributes")?;
        Ok(ListQuery {
            filter,
            start_index,
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

/// A ListResponse. `startIndex` echoes the request, as Entra's pagination check expects.
pub fn list_response(total_results: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total_results,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn empty_list_response_matches_test_connection_shape() {
        assert_eq!(
            list_response(0, 1, vec![]),
            json!({"schemas": [LIST_RESPONSE_URN], "totalResults": 0, "startIndex": 1, "itemsPerPage": 0, "Resources": []})
        );
    }
}
