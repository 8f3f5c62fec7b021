//! PATCH operations (RFC 7644 §3.5.2). (Being implemented: see the module owner.)

use crate::schema::ResourceType;
use crate::ScimError;
use serde_json::Value;

#[derive(Debug, Clone, serde::Deserialize)]
pub struct PatchRequest {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOperation>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct PatchOperation {
    pub op: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub value: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    pub resource: Value,
    pub changed: bool,
}

impl PatchRequest {
    pub fn apply(&self, _resource: &Value, _rt: &ResourceType) -> Result<PatchOutcome, ScimError> {
        Err(ScimError::invalid_syntax("PATCH is not implemented yet"))
    }
}
