//! Bulk import (`roster import`): rows given as JumpCloud `systemusers`
//! fields or as SCIM user objects become users through the same
//! normalisation, validation and uniqueness rules as SCIM provisioning.
//! Rows are written in batches, one transaction and one provisioning event
//! per batch; a bad row is skipped and reported with its line number.

use crate::events::Event;
use crate::model::{Org, UserRecord, UserState};
use crate::store::{self, Store, UniqueField};
use crate::validate::{validate_user, ValidatedUser};
use crate::{now_rfc3339, DirectoryError};
use scim::schema::{normalize, ENTERPRISE_USER_SCHEMA_URN, USER, USER_SCHEMA_URN};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Rows per transaction that `roster import` uses by default.
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// One input row: where it was and the user as SCIM or as JumpCloud fields.
#[derive(Debug, Clone)]
pub struct ImportRow {
    /// 1-based line number in the input file.
    pub line: u64,
    pub user: Value,
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub line: u64,
    pub reason: String,
}

/// What one batch did.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    pub imported: u64,
    pub rejected: Vec<Rejected>,
}

/// The JumpCloud `systemusers` field names an import row may use, and where
/// each goes in SCIM (the reverse of [`crate::mapping::FIELDS`]).
pub const FIELD_NAMES: &[&str] = &[
    "username",
    "email",
    "alternateEmail",
    "firstname",
    "middlename",
    "lastname",
    "displayname",
    "jobTitle",
    "department",
    "location",
    "costCenter",
    "employeeType",
    "company",
    "employeeIdentifier",
    "manager",
    "externalId",
];

/// A SCIM user from a row: a SCIM object (it has `schemas` or `userName`)
/// as is, else JumpCloud field names (matched case-insensitively). Unknown
/// fields are returned for the caller to report.
pub fn scim_from_row(row: &Map<String, Value>) -> (Value, Vec<String>) {
    if row.contains_key("schemas") || row.contains_key("userName") {
        return (Value::Object(row.clone()), Vec::new());
    }
    let mut user = json!({"schemas": [USER_SCHEMA_URN]});
    let mut emails = Vec::new();
    let mut name = Map::new();
    let mut ext = Map::new();
    let mut unknown = Vec::new();
    for (key, value) in row {
        let text = match value {
            Value::String(s) => s.trim().to_string(),
            Value::Null => continue,
            other => other.to_string(),
        };
        if text.is_empty() {
            continue;
        }
        let Some(field) = FIELD_NAMES.iter().find(|f| f.eq_ignore_ascii_case(key)) else {
            unknown.push(key.clone());
            continue;
        };
        match *field {
            "username" => user["userName"] = json!(text),
            "email" => emails.insert(0, json!({"value": text, "type": "work", "primary": true})),
            "alternateEmail" => emails.push(json!({"value": text, "type": "other"})),
            "firstname" => drop(name.insert("givenName".into(), json!(text))),
            "middlename" => drop(name.insert("middleName".into(), json!(text))),
            "lastname" => drop(name.insert("familyName".into(), json!(text))),
            "displayname" => user["displayName"] = json!(text),
            "jobTitle" => user["title"] = json!(text),
            "location" => user["locale"] = json!(text),
            "employeeType" => user["userType"] = json!(text),
            "externalId" => user["externalId"] = json!(text),
            "department" => drop(ext.insert("department".into(), json!(text))),
            "costCenter" => drop(ext.insert("costCenter".into(), json!(text))),
            "company" => drop(ext.insert("organization".into(), json!(text))),
            "employeeIdentifier" => drop(ext.insert("employeeNumber".into(), json!(text))),
            "manager" => drop(ext.insert("manager".into(), json!({"value": text}))),
            _ => unknown.push(key.clone()),
        }
    }
    if !emails.is_empty() {
        user["emails"] = Value::Array(emails);
    }
    if !name.is_empty() {
        user["name"] = Value::Object(name);
    }
    if !ext.is_empty() {
        user["schemas"] = json!([USER_SCHEMA_URN, ENTERPRISE_USER_SCHEMA_URN]);
        user[ENTERPRISE_USER_SCHEMA_URN] = Value::Object(ext);
    }
    (user, unknown)
}

/// A row that passed validation, waiting for its uniqueness checks.
struct Prepared {
    line: u64,
    resource: Value,
    validated: ValidatedUser,
    active: bool,
}

/// Validates and inserts one batch of rows into `org` in one transaction,
/// with one `user_import` event. Rows that break a rule (including
/// uniqueness against existing users and earlier rows) are skipped.
pub fn import_batch(store: &dyn Store, org: &Org, rows: &[ImportRow]) -> Result<BatchReport, DirectoryError> {
    let mut rejected = Vec::new();
    let mut prepared = Vec::with_capacity(rows.len());
    // Duplicates inside the batch, by folded username / email / employee id.
    let mut seen: HashMap<(u8, String), u64> = HashMap::new();
    for row in rows {
        let reject = |reason: String| Rejected { line: row.line, reason };
        let normalized = match normalize(&USER, &row.user) {
            Ok(n) => n,
            Err(e) => {
                rejected.push(reject(e.detail));
                continue;
            }
        };
        let resource = normalized.resource;
        let validated = match validate_user(org.username_policy, &resource) {
            Ok(v) => v,
            Err(e) => {
                rejected.push(reject(e.detail));
                continue;
            }
        };
        let keys = [
            (0u8, Some(validated.username.to_lowercase()), "userName"),
            (1, validated.email.clone(), "email"),
            (2, validated.employee_identifier.clone(), "employeeNumber"),
        ];
        let duplicate = keys.iter().find_map(|(kind, value, label)| {
            let value = value.as_ref()?;
            seen.get(&(*kind, value.clone())).map(|line| format!("{label} \"{value}\" duplicates line {line}"))
        });
        if let Some(reason) = duplicate {
            rejected.push(reject(reason));
            continue;
        }
        for (kind, value, _) in keys {
            if let Some(v) = value {
                seen.insert((kind, v), row.line);
            }
        }
        let active = resource.get("active").and_then(Value::as_bool).unwrap_or(true);
        prepared.push(Prepared { line: row.line, resource, validated, active });
    }

    let (imported, mut conflicts) = store::write(store, |tx| {
        let mut imported = 0u64;
        let mut conflicts = Vec::new();
        let mut first_last: Option<(u64, u64)> = None;
        // One query per unique field for the whole batch.
        let usernames: Vec<String> = prepared.iter().map(|p| p.validated.username.to_lowercase()).collect();
        let emails: Vec<String> = prepared.iter().filter_map(|p| p.validated.email.clone()).collect();
        let employees: Vec<String> = prepared.iter().filter_map(|p| p.validated.employee_identifier.clone()).collect();
        let held = |pairs: Vec<(String, String)>| pairs.into_iter().collect::<HashMap<String, String>>();
        let taken_usernames = held(tx.unique_holders(org.id, UniqueField::Username, &usernames)?);
        let taken_emails = held(tx.unique_holders(org.id, UniqueField::Email, &emails)?);
        let taken_employees = held(tx.unique_holders(org.id, UniqueField::EmployeeIdentifier, &employees)?);
        let mut users = Vec::with_capacity(prepared.len());
        for p in &prepared {
            let folded = p.validated.username.to_lowercase();
            let taken = if let Some(holder) = taken_usernames.get(&folded) {
                Some(format!("userName \"{}\" is already taken (by user {holder})", p.validated.username))
            } else if let Some((e, holder)) =
                p.validated.email.as_ref().and_then(|e| taken_emails.get(e).map(|h| (e, h)))
            {
                Some(format!("email \"{e}\" is already taken (by user {holder})"))
            } else {
                p.validated
                    .employee_identifier
                    .as_ref()
                    .and_then(|e| taken_employees.get(e).map(|h| (e, h)))
                    .map(|(e, holder)| format!("employeeNumber \"{e}\" is already taken (by user {holder})"))
            };
            if let Some(reason) = taken {
                conflicts.push(Rejected { line: p.line, reason });
                continue;
            }
            let mut resource = p.resource.clone();
            // A manager may be named by id or by username.
            let manager = resource
                .get(ENTERPRISE_USER_SCHEMA_URN)
                .and_then(|e| e.get("manager"))
                .and_then(|m| m.get("value"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let mut manager_id = None;
            if let Some(m) = manager {
                let id = match tx.user_by_id(org.id, &m)? {
                    Some(u) => Some(u.id),
                    None => match users.iter().find(|u: &&UserRecord| u.username.eq_ignore_ascii_case(&m)) {
                        Some(u) => Some(u.id.clone()),
                        None => tx.unique_holder(org.id, UniqueField::Username, &m, None)?,
                    },
                };
                match id {
                    Some(id) => {
                        resource[ENTERPRISE_USER_SCHEMA_URN]["manager"] = json!({"value": id});
                        manager_id = Some(id);
                    }
                    None => {
                        conflicts.push(Rejected {
                            line: p.line,
                            reason: format!(
                                "manager \"{m}\" is not a user of this organisation (import managers first)"
                            ),
                        });
                        continue;
                    }
                }
            }
            let now = now_rfc3339();
            let user = UserRecord {
                id: crate::new_id(),
                org_id: org.id,
                user_name: resource.get("userName").and_then(Value::as_str).unwrap_or_default().to_string(),
                username: p.validated.username.clone(),
                email: p.validated.email.clone(),
                external_id: resource.get("externalId").and_then(Value::as_str).map(str::to_string),
                employee_identifier: p.validated.employee_identifier.clone(),
                manager_id,
                state: if p.active { org.scim_default_state } else { UserState::Suspended },
                activated: false,
                password_expired: false,
                scim: resource.into(),
                created: now.clone(),
                last_modified: now,
                version: 1,
            };
            users.push(user);
            imported += 1;
            first_last = Some((first_last.map_or(p.line, |f| f.0), p.line));
        }
        tx.insert_users(&users)?;
        if let Some((first, last)) = first_last {
            tx.append_event(&Event {
                id: crate::new_id(),
                at: now_rfc3339(),
                org_id: org.id,
                actor: "cli".into(),
                source: "import".into(),
                event_type: "user_import".into(),
                resource_type: "User".into(),
                resource_id: None,
                resource_name: Some(format!("{imported} users")),
                changes: json!([
                    {"field": "users", "from": null, "to": imported},
                    {"field": "lines", "from": first, "to": last}
                ]),
                ignored: Vec::new(),
                status: 201,
                error: None,
            })?;
        }
        Ok((imported, conflicts))
    })?;
    rejected.append(&mut conflicts);
    rejected.sort_by_key(|r| r.line);
    Ok(BatchReport { imported, rejected })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumpcloud_fields_become_scim() {
        let row = json!({"username": "jdoe", "Email": "JDoe@x.com", "firstname": "Jane", "lastname": "Doe",
            "department": "R&D", "employeeIdentifier": "E1", "alternateEmail": "j@home.example", "shoeSize": "9",
            "jobTitle": ""});
        let (user, unknown) = scim_from_row(row.as_object().unwrap());
        assert_eq!(unknown, vec!["shoeSize".to_string()]);
        assert_eq!(user["userName"], "jdoe");
        assert_eq!(user["emails"][0], json!({"value": "JDoe@x.com", "type": "work", "primary": true}));
        assert_eq!(user["emails"][1]["type"], "other");
        assert_eq!(user["name"], json!({"givenName": "Jane", "familyName": "Doe"}));
        assert_eq!(user[ENTERPRISE_USER_SCHEMA_URN], json!({"department": "R&D", "employeeNumber": "E1"}));
        assert!(user.get("title").is_none(), "empty cells are absent");
        let scim = json!({"userName": "x", "title": "T"});
        assert_eq!(scim_from_row(scim.as_object().unwrap()).0, scim);
    }
}
