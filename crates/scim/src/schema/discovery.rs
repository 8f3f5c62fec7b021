//! The discovery documents (RFC 7644 §4), generated from the schema data.

use super::{AttrType, Attribute, Mutability, ResourceType, Returned, Schema, Uniqueness};
use serde_json::{json, Map, Value};

const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// What `/ServiceProviderConfig` announces that is configuration, not schema.
#[derive(Debug, Clone)]
pub struct ServiceProviderOptions {
    /// The largest `count` a list answers with.
    pub max_results: u64,
    /// The `count` of a list that sends none.
    pub default_page_size: u64,
    /// The largest request body, in bytes.
    pub max_payload_size: u64,
    /// Base URL for `meta.location`, e.g. `https://roster.example.com/scim/v2`.
    pub base_url: String,
}

fn type_name(t: AttrType) -> &'static str {
    match t {
        AttrType::String => "string",
        AttrType::Boolean => "boolean",
        AttrType::Decimal => "decimal",
        AttrType::Integer => "integer",
        AttrType::DateTime => "dateTime",
        AttrType::Binary => "binary",
        AttrType::Reference => "reference",
        AttrType::Complex => "complex",
    }
}

fn attribute_json(a: &Attribute) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    m.insert("type".into(), json!(type_name(a.ty)));
    m.insert("multiValued".into(), json!(a.multi_valued));
    m.insert("description".into(), json!(a.description));
    m.insert("required".into(), json!(a.required));
    if a.ty != AttrType::Complex && a.ty != AttrType::Boolean {
        m.insert("caseExact".into(), json!(a.case_exact));
    }
    m.insert(
        "mutability".into(),
        json!(match a.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }),
    );
    m.insert(
        "returned".into(),
        json!(match a.returned {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }),
    );
    m.insert(
        "uniqueness".into(),
        json!(match a.uniqueness {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }),
    );
    if !a.canonical_values.is_empty() {
        m.insert("canonicalValues".into(), json!(a.canonical_values));
    }
    if !a.reference_types.is_empty() {
        m.insert("referenceTypes".into(), json!(a.reference_types));
    }
    if !a.sub_attributes.is_empty() {
        m.insert("subAttributes".into(), Value::Array(a.sub_attributes.iter().map(attribute_json).collect()));
    }
    Value::Object(m)
}

fn schema_json(s: &Schema, base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attribute_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base_url}/Schemas/{}", s.id)},
    })
}

fn resource_type_json(rt: &ResourceType, base_url: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": rt.id,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": rt.extensions.iter()
            .map(|e| json!({"schema": e.schema.id, "required": e.required}))
            .collect::<Vec<_>>(),
        "meta": {"resourceType": "ResourceType", "location": format!("{base_url}/ResourceTypes/{}", rt.id)},
    })
}

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": resources.len(),
        "itemsPerPage": resources.len(),
        "startIndex": 1,
        "Resources": resources,
    })
}

/// Every schema of the served resource types, deduplicated, in a
/// ListResponse. With `id`, just that schema (or `None` if unknown).
pub fn schemas_document(base_url: &str, served: &[&ResourceType], id: Option<&str>) -> Option<Value> {
    let mut all: Vec<&Schema> = Vec::new();
    for rt in served {
        for s in rt.schemas() {
            if !all.iter().any(|x| std::ptr::eq(*x, s)) {
                all.push(s);
            }
        }
    }
    match id {
        Some(id) => all.into_iter().find(|s| s.id.eq_ignore_ascii_case(id)).map(|s| schema_json(s, base_url)),
        None => Some(list(all.into_iter().map(|s| schema_json(s, base_url)).collect())),
    }
}

/// The served resource types in a ListResponse, or one by id.
pub fn resource_types_document(base_url: &str, served: &[&ResourceType], id: Option<&str>) -> Option<Value> {
    match id {
        Some(id) => served.iter().find(|rt| rt.id.eq_ignore_ascii_case(id)).map(|rt| resource_type_json(rt, base_url)),
        None => Some(list(served.iter().map(|rt| resource_type_json(rt, base_url)).collect())),
    }
}

/// `/ServiceProviderConfig`.
pub fn service_provider_config(opts: &ServiceProviderOptions) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://github.com/roster-dir/roster#readme",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": opts.max_results},
        // RFC 9865 §4: both ways to page; index stays the default for clients that send neither.
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": opts.default_page_size,
            "maxPageSize": opts.max_results,
        },
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a Roster API key sent as `Authorization: Bearer <key>`.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{}/ServiceProviderConfig", opts.base_url)},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::RESOURCE_TYPES;

    #[test]
    fn schemas_document_lists_user_enterprise_and_group() {
        let doc = schemas_document("http://x/scim/v2", RESOURCE_TYPES, None).unwrap();
        let ids: Vec<&str> = doc["Resources"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            vec![
                super::super::USER_SCHEMA_URN,
                super::super::ENTERPRISE_USER_SCHEMA_URN,
                super::super::GROUP_SCHEMA_URN
            ]
        );
        assert_eq!(doc["totalResults"], 3);
        let user =
            schemas_document("http://x", RESOURCE_TYPES, Some("urn:ietf:params:scim:schemas:core:2.0:User")).unwrap();
        let user_name = &user["attributes"][0];
        assert_eq!(user_name["name"], "userName");
        assert_eq!(user_name["uniqueness"], "server");
        assert_eq!(user_name["required"], true);
        // No nulls anywhere (Entra's schema discovery is strict about that).
        assert!(!doc.to_string().contains("null"));
    }

    #[test]
    fn resource_types_have_extensions() {
        let doc = resource_types_document("http://x", RESOURCE_TYPES, Some("user")).unwrap();
        assert_eq!(doc["endpoint"], "/Users");
        assert_eq!(doc["schemaExtensions"][0]["schema"], super::super::ENTERPRISE_USER_SCHEMA_URN);
    }
}
