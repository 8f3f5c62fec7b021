//! The directory's records: organisations, roles, users.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use crate::document::Document;

/// An organisation (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub id: i64,
    pub name: String,
    pub username_policy: UsernamePolicy,
    /// The state of users created over SCIM: `STAGED` or `ACTIVATED`.
    pub scim_default_state: UserState,
    pub created: String,
}

/// How SCIM `userName` becomes a directory username (`product.md` §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum UsernamePolicy {
    /// A letter first, then letters, digits, `.`, `_`, `-`; never an email address.
    #[default]
    Strict,
    /// An email-shaped `userName` is accepted; the username is its local part.
    EmailLocalPart,
    /// Plain RFC 7643: any 1–1024 characters without control characters; email optional.
    Rfc,
}

impl UsernamePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            UsernamePolicy::Strict => "strict",
            UsernamePolicy::EmailLocalPart => "email-local-part",
            UsernamePolicy::Rfc => "rfc",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "strict" => Some(UsernamePolicy::Strict),
            "email-local-part" => Some(UsernamePolicy::EmailLocalPart),
            "rfc" => Some(UsernamePolicy::Rfc),
            _ => None,
        }
    }
}

/// An admin or service account's role (`jumpcloud-model.md` §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    AdminWithBilling,
    Administrator,
    Manager,
    HelpDesk,
    ReadOnly,
}

impl Role {
    pub const ALL: [Role; 5] =
        [Role::AdminWithBilling, Role::Administrator, Role::Manager, Role::HelpDesk, Role::ReadOnly];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::AdminWithBilling => "admin-with-billing",
            Role::Administrator => "administrator",
            Role::Manager => "manager",
            Role::HelpDesk => "help-desk",
            Role::ReadOnly => "read-only",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
    /// Whether keys of this role may use SCIM provisioning.
    pub fn can_provision(self) -> bool {
        matches!(self, Role::AdminWithBilling | Role::Administrator | Role::Manager)
    }
}

/// The user state axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserState {
    Staged,
    Activated,
    Suspended,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Staged => "STAGED",
            UserState::Activated => "ACTIVATED",
            UserState::Suspended => "SUSPENDED",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "STAGED" => Some(UserState::Staged),
            "ACTIVATED" => Some(UserState::Activated),
            "SUSPENDED" => Some(UserState::Suspended),
            _ => None,
        }
    }
}

/// A user as stored.
///
/// `scim` holds the normalised SCIM attributes exactly as the provider sent
/// them (no `id`, `meta` or `schemas`): that is what a GET returns. Its
/// `active`, when present, is what the client last wrote; the truth is
/// `state` (see [`UserRecord::active`]).
/// The directory fields (`username`, `email`, …) are derived from it by
/// [`crate::mapping`] on every write; they are what uniqueness and the rest of
/// the directory use.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: String,
    pub org_id: i64,
    /// SCIM `userName`, as sent.
    pub user_name: String,
    /// The directory username (after the organisation's username policy).
    pub username: String,
    /// Lower-cased company email, if any.
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub employee_identifier: Option<String>,
    /// Id of the manager (another user of the same organisation).
    pub manager_id: Option<String>,
    pub state: UserState,
    /// Password status: `false` is *Password Pending*.
    pub activated: bool,
    pub password_expired: bool,
    pub scim: Document,
    pub created: String,
    pub last_modified: String,
    /// Incremented on every write; the SCIM `meta.version`.
    pub version: i64,
}

impl UserRecord {
    /// SCIM `active`: not suspended and password not expired.
    pub fn active(&self) -> bool {
        self.state != UserState::Suspended && !self.password_expired
    }

    /// Every email value of the SCIM user, folded, without duplicates (what
    /// the stores index for `emails` filters).
    pub fn email_values(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(items) = self.scim.get("emails").and_then(Value::as_array) {
            for item in items {
                let value = item.get("value").or(if item.is_string() { Some(item) } else { None });
                if let Some(v) = value.and_then(Value::as_str) {
                    let folded = v.to_lowercase();
                    if !out.contains(&folded) {
                        out.push(folded);
                    }
                }
            }
        }
        out
    }

    /// Takes the manager out of the SCIM attributes (dropping the enterprise
    /// extension if nothing else is left in it).
    pub fn remove_manager(&mut self) {
        remove_manager(&mut self.scim);
    }
}

/// [`UserRecord::remove_manager`] on the document alone, for a store that
/// reads only that column.
pub fn remove_manager(scim: &mut Value) {
    if let Some(attrs) = scim.as_object_mut() {
        let ext_key = attrs.keys().find(|k| k.eq_ignore_ascii_case(scim::schema::ENTERPRISE_USER_SCHEMA_URN)).cloned();
        if let Some(key) = ext_key {
            let now_empty = match attrs.get_mut(&key).and_then(Value::as_object_mut) {
                Some(ext) => {
                    ext.retain(|k, _| !k.eq_ignore_ascii_case("manager"));
                    ext.is_empty()
                }
                None => false,
            };
            if now_empty {
                attrs.shift_remove(&key);
            }
        }
    }
}

/// A group as stored. Its members live apart (one row per membership), so
/// that a membership change never reads or rewrites the member list.
///
/// `scim` holds the normalised SCIM attributes other than `members`
/// (`displayName`, `externalId`), as the provider sent them.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub id: String,
    pub org_id: i64,
    /// SCIM `displayName`, as sent; unique in the organisation, case-insensitively.
    pub display_name: String,
    pub external_id: Option<String>,
    pub scim: Value,
    pub created: String,
    pub last_modified: String,
    /// Incremented on every write (membership changes included); the SCIM `meta.version`.
    pub version: i64,
}

/// A member of a group, as rendered: the user's id and display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    /// The member's user id.
    pub id: String,
    /// The user's SCIM `displayName`, if set (rendered as the member's `display`).
    pub display: Option<String>,
}

/// A group a user belongs to, for the user's read-only `groups` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// The user the membership belongs to.
    pub user_id: String,
    pub group_id: String,
    pub display_name: String,
}

/// Names of a user, for references to it (`manager.displayName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserNames {
    pub id: String,
    pub user_name: String,
    /// The user's SCIM `displayName`, if set.
    pub display_name: Option<String>,
}
