//! The SCIM ↔ directory attribute mapping of `spec/product.md` §3.
//!
//! The SCIM attributes are stored as sent; the directory fields (JumpCloud's
//! `systemusers` names) are derived from them by this table: the ones the
//! directory indexes (`username`, `email`, …) on every write, the rest's
//! limits when a user is validated.

use scim::schema::ENTERPRISE_USER_SCHEMA_URN as ENTERPRISE;
use serde_json::Value;

/// One row of the mapping table: a directory field, where it comes from in
/// SCIM, and its length limit.
pub struct FieldMapping {
    pub field: &'static str,
    /// Human-readable SCIM path, used in error details.
    pub scim_path: &'static str,
    pub max_len: usize,
    extract: fn(&Value) -> Option<&str>,
}

fn s(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str)
}

fn ext<'a>(user: &'a Value, attr: &str) -> Option<&'a str> {
    s(user.get(ENTERPRISE).and_then(|e| e.get(attr)))
}

/// The company email: the primary email, else the work email, else the first.
pub fn company_email(user: &Value) -> Option<&str> {
    let emails = user.get("emails")?.as_array()?;
    let pick = emails
        .iter()
        .find(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or_else(|| emails.iter().find(|e| s(e.get("type")).is_some_and(|t| t.eq_ignore_ascii_case("work"))))
        .or_else(|| emails.first())?;
    s(pick.get("value"))
}

/// The mapping table. `username` and `email` have their own rules in
/// [`crate::validate`]; they are listed for their limits and names.
pub static FIELDS: &[FieldMapping] = &[
    FieldMapping { field: "username", scim_path: "userName", max_len: 1024, extract: |u| s(u.get("userName")) },
    FieldMapping {
        field: "firstname",
        scim_path: "name.givenName",
        max_len: 1024,
        extract: |u| s(u.get("name").and_then(|n| n.get("givenName"))),
    },
    FieldMapping {
        field: "middlename",
        scim_path: "name.middleName",
        max_len: 1024,
        extract: |u| s(u.get("name").and_then(|n| n.get("middleName"))),
    },
    FieldMapping {
        field: "lastname",
        scim_path: "name.familyName",
        max_len: 1024,
        extract: |u| s(u.get("name").and_then(|n| n.get("familyName"))),
    },
    FieldMapping { field: "email", scim_path: "emails[type eq \"work\"].value", max_len: 1024, extract: company_email },
    FieldMapping {
        field: "displayname",
        scim_path: "displayName",
        max_len: 1024,
        extract: |u| s(u.get("displayName")),
    },
    FieldMapping { field: "jobTitle", scim_path: "title", max_len: 1024, extract: |u| s(u.get("title")) },
    FieldMapping {
        field: "department",
        scim_path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        max_len: 1024,
        extract: |u| ext(u, "department"),
    },
    FieldMapping { field: "location", scim_path: "locale", max_len: 1024, extract: |u| s(u.get("locale")) },
    FieldMapping {
        field: "costCenter",
        scim_path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
        max_len: 1024,
        extract: |u| ext(u, "costCenter"),
    },
    FieldMapping { field: "employeeType", scim_path: "userType", max_len: 1024, extract: |u| s(u.get("userType")) },
    FieldMapping {
        field: "company",
        scim_path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:organization",
        max_len: 1024,
        extract: |u| ext(u, "organization"),
    },
    FieldMapping {
        field: "employeeIdentifier",
        scim_path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        max_len: 256,
        extract: |u| ext(u, "employeeNumber"),
    },
    FieldMapping {
        field: "manager",
        scim_path: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        max_len: 1024,
        extract: |u| s(u.get(ENTERPRISE).and_then(|e| e.get("manager")).and_then(|m| m.get("value"))),
    },
    FieldMapping { field: "externalId", scim_path: "externalId", max_len: 1024, extract: |u| s(u.get("externalId")) },
];

impl FieldMapping {
    /// This field's SCIM value in `user`, if any.
    pub fn value<'a>(&self, user: &'a Value) -> Option<&'a str> {
        (self.extract)(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    /// Every field of the mapping table for `user`, as a JSON object.
    fn directory_fields(user: &Value) -> Value {
        let mut out = Map::new();
        for f in FIELDS {
            if let Some(v) = f.value(user) {
                let v = if f.field == "email" { v.to_lowercase() } else { v.to_string() };
                out.insert(f.field.to_string(), Value::String(v));
            }
        }
        Value::Object(out)
    }

    #[test]
    fn every_row_of_the_mapping_table_maps() {
        let user = json!({
            "userName": "jdoe", "externalId": "obj-1", "displayName": "Jane Doe", "title": "Engineer",
            "locale": "en-US", "userType": "Employee",
            "name": {"givenName": "Jane", "familyName": "Doe", "middleName": "Q"},
            "emails": [{"value": "other@x.com", "type": "other"}, {"value": "JDoe@Contoso.com", "type": "work", "primary": true}],
            ENTERPRISE: {"department": "R&D", "costCenter": "CC1", "organization": "Contoso",
                         "employeeNumber": "701984", "manager": {"value": "m-1"}}
        });
        assert_eq!(
            directory_fields(&user),
            json!({"username": "jdoe", "firstname": "Jane", "middlename": "Q", "lastname": "Doe",
                   "email": "jdoe@contoso.com", "displayname": "Jane Doe", "jobTitle": "Engineer",
                   "department": "R&D", "location": "en-US", "costCenter": "CC1", "employeeType": "Employee",
                   "company": "Contoso", "employeeIdentifier": "701984", "manager": "m-1", "externalId": "obj-1"})
        );
    }
}
