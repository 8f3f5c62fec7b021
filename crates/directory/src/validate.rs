//! The directory rules of `spec/product.md` §3. Every error says what to
//! change in the identity provider.

use crate::mapping::{self, FIELDS};
use crate::model::UsernamePolicy;
use scim::ScimError;
use serde_json::Value;

/// The directory username for a SCIM `userName` under `policy`.
pub fn directory_username(policy: UsernamePolicy, user_name: &str) -> Result<String, ScimError> {
    if user_name.is_empty() {
        return Err(ScimError::invalid_value("userName is required and may not be empty."));
    }
    if user_name.chars().count() > 1024 {
        return Err(ScimError::invalid_value("userName is longer than 1024 characters; shorten it in the source."));
    }
    match policy {
        UsernamePolicy::Rfc => {
            if user_name.chars().any(char::is_control) {
                return Err(ScimError::invalid_value("userName may not contain control characters."));
            }
            Ok(user_name.to_string())
        }
        UsernamePolicy::Strict => {
            if user_name.contains('@') {
                return Err(ScimError::invalid_value(format!(
                    "userName \"{user_name}\" is an email address, and a Roster username may not be one: it becomes \
                     the account name on devices. In Entra ID, edit the provisioning attribute mapping and map \
                     mailNickname (not userPrincipalName) to userName; or set this organisation's username policy \
                     to email-local-part."
                )));
            }
            strict_rules(user_name, user_name)
        }
        UsernamePolicy::EmailLocalPart => {
            let local = user_name.split_once('@').map(|(l, _)| l).unwrap_or(user_name);
            strict_rules(local, user_name)
        }
    }
}

fn strict_rules(username: &str, sent: &str) -> Result<String, ScimError> {
    let mut chars = username.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok {
        return Err(ScimError::invalid_value(format!(
            "userName \"{sent}\" must start with a letter (A–Z). Change the value mapped to userName in the \
             identity provider (Entra ID: mailNickname is recommended)."
        )));
    }
    if let Some(bad) = username.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(ScimError::invalid_value(format!(
            "userName \"{sent}\" contains {bad:?}; a Roster username may hold only letters, digits, '.', '_' and \
             '-' (no spaces). Change the value mapped to userName in the identity provider (Entra ID: mailNickname \
             is recommended)."
        )));
    }
    Ok(username.to_string())
}

/// Checks a normalised SCIM user: the username policy, a valid company email
/// (required unless the policy is `rfc`), and the length limits.
pub fn validate_user(policy: UsernamePolicy, user: &Value) -> Result<ValidatedUser, ScimError> {
    let Some(user_name) = user.get("userName").and_then(Value::as_str) else {
        return Err(ScimError::invalid_value(
            "userName is required. In Entra ID, map mailNickname to userName in the provisioning attribute mapping.",
        ));
    };
    let username = directory_username(policy, user_name)?;
    let email = match mapping::company_email(user) {
        // Plain RFC 7643 semantics: emails are free strings and carry no
        // directory uniqueness (RFC 7643 makes only userName unique).
        Some(_) if policy == UsernamePolicy::Rfc => None,
        Some(e) => {
            if !is_email(e) {
                return Err(ScimError::invalid_value(format!(
                    "emails value \"{e}\" is not a valid email address. In Entra ID, map userPrincipalName (or mail) \
                     to emails[type eq \"work\"].value."
                )));
            }
            Some(e.to_lowercase())
        }
        None if policy == UsernamePolicy::Rfc => None,
        None => {
            return Err(ScimError::invalid_value(
                "A work email is required: Roster users sign in with their company email. In Entra ID, map \
                 userPrincipalName (or mail) to emails[type eq \"work\"].value.",
            ))
        }
    };
    if policy != UsernamePolicy::Rfc {
        for attr in MAPPED_BY_TYPE {
            one_value_per_type(user, attr)?;
        }
    }
    for f in FIELDS {
        if let Some(v) = f.value(user) {
            if v.chars().count() > f.max_len {
                return Err(ScimError::invalid_value(format!(
                    "{} is longer than {} characters (directory field {}); shorten it in the source.",
                    f.scim_path, f.max_len, f.field
                )));
            }
        }
    }
    let employee_identifier = match policy {
        UsernamePolicy::Rfc => None,
        _ => user
            .get(scim::schema::ENTERPRISE_USER_SCHEMA_URN)
            .and_then(|e| e.get("employeeNumber"))
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    Ok(ValidatedUser { username, email, employee_identifier })
}

/// The multi-valued attributes that Entra maps one element per `type`
/// (`emails[type eq "work"].value`, `phoneNumbers[type eq "mobile"].value`,
/// `addresses[type eq "work"].postalCode`).
const MAPPED_BY_TYPE: [&str; 3] = ["emails", "phoneNumbers", "addresses"];

/// Microsoft's guidance for SCIM apps: "there can't be two different email
/// addresses with the 'work' subtype". A second work email would be one that
/// Entra's mapping can neither write nor read back. A directory rule, so not
/// under `rfc`: RFC 7643 allows several values of one type, and `roles`
/// (many of type `WindowsAzureActiveDirectoryRole`) is never restricted.
fn one_value_per_type(user: &Value, attr: &str) -> Result<(), ScimError> {
    let Some(items) = user.get(attr).and_then(Value::as_array) else { return Ok(()) };
    let typed: Vec<(&str, &Value)> =
        items.iter().filter_map(|item| Some((item.get("type")?.as_str()?, item))).collect();
    for (i, (t, item)) in typed.iter().enumerate() {
        let clash = typed[..i].iter().any(|(u, earlier)| t.eq_ignore_ascii_case(u) && !same_element(item, earlier));
        if clash {
            let t = t.to_lowercase();
            return Err(ScimError::invalid_value(format!(
                "\"{attr}\" has two different values of type \"{t}\"; send at most one per type (Entra ID maps \
                 one per type, e.g. {attr}[type eq \"{t}\"]). Organisations with the rfc username policy accept several."
            )));
        }
    }
    Ok(())
}

/// Whether two elements of one type say the same: the same `value`, or, for
/// an address (which has none), the same sub-attributes but `type` and `primary`.
fn same_element(a: &Value, b: &Value) -> bool {
    if a.get("value").is_some() || b.get("value").is_some() {
        return a.get("value") == b.get("value");
    }
    fn content(v: &Value) -> Vec<(&String, &Value)> {
        v.as_object().into_iter().flatten().filter(|(k, _)| *k != "type" && *k != "primary").collect()
    }
    content(a) == content(b)
}

/// What validation derived: the values the directory keeps unique.
///
/// Under the `rfc` policy only the username is unique (RFC 7643 makes only
/// `userName` unique); emails and employee numbers are stored as sent but are
/// not directory identifiers, so both are `None` here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedUser {
    pub username: String,
    /// The lower-cased company email, unique in the organisation.
    pub email: Option<String>,
    /// The employee identifier, unique in the organisation.
    pub employee_identifier: Option<String>,
}

/// A plain address check: one `@`, a non-empty local part, a dotted or
/// single-label domain, no spaces or control characters.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    !local.is_empty()
        && !domain.is_empty()
        && !local.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && s.chars().count() <= 1024
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_policy_names_the_entra_fix() {
        let e = directory_username(UsernamePolicy::Strict, "jdoe@contoso.com").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("mailNickname"), "{}", e.detail);
        assert!(e.detail.contains("email address"));
        assert!(directory_username(UsernamePolicy::Strict, "1abc").unwrap_err().detail.contains("start with a letter"));
        assert!(directory_username(UsernamePolicy::Strict, "j doe").is_err());
        assert_eq!(directory_username(UsernamePolicy::Strict, "j.doe_2-x").unwrap(), "j.doe_2-x");
    }

    #[test]
    fn other_policies() {
        assert_eq!(directory_username(UsernamePolicy::EmailLocalPart, "jdoe@contoso.com").unwrap(), "jdoe");
        assert!(directory_username(UsernamePolicy::EmailLocalPart, "j doe@contoso.com").is_err());
        assert_eq!(directory_username(UsernamePolicy::Rfc, "5f0c-uuid @ anything").unwrap(), "5f0c-uuid @ anything");
        assert!(directory_username(UsernamePolicy::Rfc, "a\u{7}b").is_err());
    }

    #[test]
    fn email_required_unless_rfc() {
        let u = json!({"userName": "jdoe"});
        assert!(validate_user(UsernamePolicy::Strict, &u).unwrap_err().detail.contains("work email"));
        assert_eq!(validate_user(UsernamePolicy::Rfc, &u).unwrap().email, None);
        let odd = json!({"userName": "x", "emails": [{"value": "emailName357", "type": "work"}],
                         "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1"}});
        let v = validate_user(UsernamePolicy::Rfc, &odd).unwrap();
        assert_eq!((v.email, v.employee_identifier), (None, None));
        assert_eq!(
            validate_user(
                UsernamePolicy::Strict,
                &json!({"userName": "x", "emails": [{"value": "a@b.c"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1"}})
            )
            .unwrap()
            .employee_identifier
            .as_deref(),
            Some("1")
        );
        let u = json!({"userName": "jdoe", "emails": [{"value": "not-an-email", "type": "work"}]});
        assert!(validate_user(UsernamePolicy::Strict, &u).is_err());
        let u = json!({"userName": "jdoe", "emails": [{"value": "JDoe@X.com", "type": "work"}],
                       "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "9".repeat(257)}});
        assert!(validate_user(UsernamePolicy::Strict, &u).unwrap_err().detail.contains("256"));
    }

    #[test]
    fn one_value_per_type_unless_rfc() {
        let two_work = json!({"userName": "jdoe", "emails": [
            {"value": "a@x.com", "type": "work", "primary": true}, {"value": "b@x.com", "type": "Work"}]});
        let e = validate_user(UsernamePolicy::Strict, &two_work).unwrap_err();
        assert!(e.detail.contains("\"emails\" has two different values of type \"work\""), "{}", e.detail);
        assert!(validate_user(UsernamePolicy::EmailLocalPart, &two_work).is_err());
        assert!(validate_user(UsernamePolicy::Rfc, &two_work).is_ok());
        let phones = json!({"userName": "jdoe", "emails": [{"value": "a@x.com", "type": "work"}],
                            "phoneNumbers": [{"value": "1", "type": "mobile"}, {"value": "2", "type": "mobile"}]});
        assert!(validate_user(UsernamePolicy::Strict, &phones).unwrap_err().detail.contains("phoneNumbers"));
        let addresses = json!({"userName": "jdoe", "emails": [{"value": "a@x.com", "type": "work"}],
            "addresses": [{"type": "work", "locality": "Oslo"}, {"type": "work", "locality": "Bergen", "primary": true}]});
        assert!(validate_user(UsernamePolicy::Strict, &addresses).unwrap_err().detail.contains("addresses"));
        let same_address = json!({"userName": "jdoe", "emails": [{"value": "a@x.com", "type": "work"}],
            "addresses": [{"type": "work", "locality": "Oslo"}, {"type": "work", "locality": "Oslo", "primary": true}]});
        assert!(validate_user(UsernamePolicy::Strict, &same_address).is_ok());
        // The same value twice, and roles of one type, are fine everywhere.
        let fine = json!({"userName": "jdoe",
            "emails": [{"value": "a@x.com", "type": "work"}, {"value": "a@x.com", "type": "work", "display": "A"}],
            "roles": [{"value": "Admin", "type": "WindowsAzureActiveDirectoryRole"},
                      {"value": "Reader", "type": "WindowsAzureActiveDirectoryRole"}]});
        assert!(validate_user(UsernamePolicy::Strict, &fine).is_ok());
    }
}
