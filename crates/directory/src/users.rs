//! User provisioning: create, replace, patch, delete, read and list, each
//! write validated, checked for uniqueness and logged in one transaction.

use crate::events::{diff, Event, Subject};
use crate::mapping::directory_fields;
use crate::model::{GroupRef, Org, UserNames, UserRecord, UserState};
use crate::store::{self, Page, Store, Tx, UniqueField, UserQuery};
use crate::validate::{validate_user, ValidatedUser};
use crate::{now_rfc3339, DirectoryError};
use scim::patch::PatchRequest;
use scim::schema::{normalize, ENTERPRISE_USER_SCHEMA_URN, USER, USER_SCHEMA_URN};
use scim::ScimError;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Who is making a request: the organisation and the key that authenticated it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub org: Org,
    pub key_id: String,
    pub key_name: String,
    /// Where the request came from, e.g. "scim".
    pub source: String,
}

impl Actor {
    pub(crate) fn label(&self) -> String {
        format!("key:{} ({})", self.key_id, self.key_name)
    }
}

/// The directory service over a store.
#[derive(Clone)]
pub struct Directory {
    pub store: Arc<dyn Store>,
    /// Authentications read before, checked against the database's
    /// generation on every request (see [`crate::admin::AuthCache`]).
    pub auth_cache: Arc<crate::admin::AuthCache>,
}

/// The outcome of a write, for the caller to answer with.
#[derive(Debug, Clone)]
pub struct Written {
    pub user: UserRecord,
    /// What rendering the user needs from other records, read in the
    /// write's own transaction (no second transaction for the response).
    pub links: UserLinks,
    /// `false` when the request changed nothing and nothing was written.
    pub changed: bool,
}

impl Written {
    fn read_links(tx: &mut dyn Tx, user: UserRecord, changed: bool) -> Result<Written, DirectoryError> {
        let links = user_links(tx, user.org_id, std::slice::from_ref(&user), true)?.pop().unwrap_or_default();
        Ok(Written { user, links, changed })
    }
}

impl Directory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Directory { store, auth_cache: Arc::default() }
    }

    /// `POST /Users`.
    pub fn create_user(&self, actor: &Actor, body: &Value) -> Result<UserRecord, DirectoryError> {
        let result = self.try_create(actor, body);
        if let Err(e) = &result {
            self.log_failure(actor, "user_create", user_subject(None, body.get("userName").and_then(Value::as_str)), e);
        }
        result
    }

    fn try_create(&self, actor: &Actor, body: &Value) -> Result<UserRecord, DirectoryError> {
        let normalized = normalize(&USER, body)?;
        let resource = normalized.resource;
        let active = active_of(&resource).unwrap_or(true);
        let validated = validate_user(actor.org.username_policy, &resource)?;
        let org = &actor.org;
        store::write(self.store.as_ref(), |tx| {
            check_manager(tx, org.id, &resource, None)?;
            check_unique(tx, org.id, &validated, &resource, None)?;
            let now = now_rfc3339();
            let user = UserRecord {
                id: uuid::Uuid::new_v4().to_string(),
                org_id: org.id,
                user_name: user_name_of(&resource),
                username: validated.username.clone(),
                email: validated.email.clone(),
                external_id: str_of(&resource, "externalId"),
                employee_identifier: validated.employee_identifier.clone(),
                manager_id: manager_of(&resource),
                state: if active { org.scim_default_state } else { UserState::Suspended },
                activated: false,
                password_expired: false,
                fields: directory_fields(&resource),
                scim: resource.clone(),
                created: now.clone(),
                last_modified: now,
                version: 1,
            };
            tx.insert_user(&user)?;
            let mut changes = diff(&json!({}), &resource);
            push_state_change(&mut changes, None, &user);
            let event = Event::write(
                actor,
                "user_create",
                user_subject(Some(&user.id), Some(&user.user_name)),
                changes,
                &normalized.ignored,
                201,
            );
            tx.append_event(&event)?;
            Ok(user)
        })
    }

    /// `PUT /Users/{id}`: the body replaces every writable attribute.
    pub fn replace_user(&self, actor: &Actor, id: &str, body: &Value) -> Result<Written, DirectoryError> {
        let result = self.try_replace(actor, id, body);
        if let Err(e) = &result {
            self.log_failure(
                actor,
                "user_update",
                user_subject(Some(id), body.get("userName").and_then(Value::as_str)),
                e,
            );
        }
        result
    }

    fn try_replace(&self, actor: &Actor, id: &str, body: &Value) -> Result<Written, DirectoryError> {
        let normalized = normalize(&USER, body)?;
        let resource = normalized.resource;
        let active = active_of(&resource);
        let validated = validate_user(actor.org.username_policy, &resource)?;
        let ignored = normalized.ignored;
        store::write(self.store.as_ref(), |tx| {
            let current = load(tx, actor.org.id, id)?;
            self.commit_update(tx, actor, current, resource.clone(), active, &validated, &ignored)
        })
    }

    /// `PATCH /Users/{id}`.
    pub fn patch_user(&self, actor: &Actor, id: &str, patch: &PatchRequest) -> Result<Written, DirectoryError> {
        let result = self.try_patch(actor, id, patch);
        if let Err(e) = &result {
            self.log_failure(actor, "user_update", user_subject(Some(id), None), e);
        }
        result
    }

    fn try_patch(&self, actor: &Actor, id: &str, patch: &PatchRequest) -> Result<Written, DirectoryError> {
        store::write(self.store.as_ref(), |tx| {
            let current = load(tx, actor.org.id, id)?;
            // Stored documents are normalised, and `active` is a boolean.
            let before = scim_with_state(&current);
            let own_id = Value::String(current.id.clone());
            let outcome = patch.apply_to_normalized(&before, Some(&own_id), &USER)?;
            if !outcome.changed {
                return Written::read_links(tx, current, false);
            }
            let resource = outcome.resource;
            let active = active_of(&resource);
            let validated = validate_user(actor.org.username_policy, &resource)?;
            self.commit_update(tx, actor, current, resource, active, &validated, &outcome.ignored)
        })
    }

    /// Writes an update (if anything changed) and its event.
    #[allow(clippy::too_many_arguments)]
    fn commit_update(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        current: UserRecord,
        resource: Value,
        active: Option<bool>,
        validated: &ValidatedUser,
        ignored: &[String],
    ) -> Result<Written, DirectoryError> {
        // Removing `active` takes back the client's "false": a user can only
        // read as having no `active` when not suspended.
        let removed = active.is_none() && current.scim.get("active").is_some();
        let state = match active {
            Some(false) => UserState::Suspended,
            Some(true) if current.state == UserState::Suspended => UserState::Activated,
            None if removed && current.state == UserState::Suspended => UserState::Activated,
            _ => current.state,
        };
        if resource == current.scim && state == current.state {
            return Written::read_links(tx, current, false);
        }
        check_manager(tx, actor.org.id, &resource, Some(&current.id))?;
        check_unique(tx, actor.org.id, validated, &resource, Some(&current.id))?;
        let mut user = current.clone();
        user.user_name = user_name_of(&resource);
        user.username = validated.username.clone();
        user.email = validated.email.clone();
        user.external_id = str_of(&resource, "externalId");
        user.employee_identifier = validated.employee_identifier.clone();
        user.manager_id = manager_of(&resource);
        user.state = state;
        user.fields = directory_fields(&resource);
        user.scim = resource;
        user.last_modified = now_rfc3339();
        user.version = current.version + 1;
        tx.update_user(&user)?;
        let mut changes = diff(&scim_with_state(&current), &scim_with_state(&user));
        push_state_change(&mut changes, Some(&current), &user);
        let event_type = match (current.state == UserState::Suspended, user.state == UserState::Suspended) {
            (false, true) => "user_suspended",
            (true, false) => "user_unsuspended",
            _ => "user_update",
        };
        let event =
            Event::write(actor, event_type, user_subject(Some(&user.id), Some(&user.user_name)), changes, ignored, 200);
        tx.append_event(&event)?;
        Written::read_links(tx, user, true)
    }

    /// `DELETE /Users/{id}`: permanent. Users it managed lose their manager.
    pub fn delete_user(&self, actor: &Actor, id: &str) -> Result<(), DirectoryError> {
        let result = store::write(self.store.as_ref(), |tx| {
            let user = load(tx, actor.org.id, id)?;
            // References first: PostgreSQL holds them with a foreign key.
            tx.clear_manager_references(actor.org.id, id)?;
            tx.delete_user(actor.org.id, id)?;
            let event = Event::write(
                actor,
                "user_delete",
                user_subject(Some(&user.id), Some(&user.user_name)),
                diff(&scim_with_state(&user), &json!({})),
                &[],
                204,
            );
            tx.append_event(&event)?;
            Ok(())
        });
        if let Err(e) = &result {
            self.log_failure(actor, "user_delete", user_subject(Some(id), None), e);
        }
        result
    }

    /// A user of `org` by id.
    pub fn get_user(&self, org_id: i64, id: &str) -> Result<UserRecord, DirectoryError> {
        store::read(self.store.as_ref(), |tx| load(tx, org_id, id))
    }

    /// A page of users of `org` and the total number of matches.
    pub fn list_users(&self, org_id: i64, query: &UserQuery<'_>) -> Result<Page<UserRecord>, DirectoryError> {
        store::read(self.store.as_ref(), |tx| tx.query_users(org_id, query))
    }

    /// A user with what its rendering needs from other records (see [`UserLinks`]).
    pub fn get_user_linked(
        &self,
        org_id: i64,
        id: &str,
        with_groups: bool,
    ) -> Result<(UserRecord, UserLinks), DirectoryError> {
        store::read(self.store.as_ref(), |tx| read_user_linked(tx, org_id, id, with_groups))
    }

    /// A page of users with their links, looked up in two queries for the whole page.
    pub fn list_users_linked(
        &self,
        org_id: i64,
        query: &UserQuery<'_>,
        with_groups: bool,
    ) -> Result<Page<(UserRecord, UserLinks)>, DirectoryError> {
        store::read(self.store.as_ref(), |tx| read_users_linked(tx, org_id, query, with_groups))
    }

    /// The links of one user just written (for the response to a write).
    pub fn links_of(&self, user: &UserRecord, with_groups: bool) -> Result<UserLinks, DirectoryError> {
        // Nothing to look up (a new user without a manager): no read transaction.
        if user.manager_id.is_none() && !with_groups {
            return Ok(UserLinks::default());
        }
        store::read(self.store.as_ref(), |tx| {
            Ok(user_links(tx, user.org_id, std::slice::from_ref(user), with_groups)?.pop().unwrap_or_default())
        })
    }

    /// Records a failed request in its own transaction (the failed one was
    /// rolled back). Logging a failure must not turn it into another failure.
    pub(crate) fn log_failure(&self, actor: &Actor, event_type: &str, subject: Subject<'_>, err: &DirectoryError) {
        let event = Event::failure(actor, event_type, subject, &err.to_scim());
        let _ = store::write(self.store.as_ref(), |tx| tx.append_event(&event));
    }
}

/// [`Directory::get_user_linked`] inside a transaction the caller holds.
pub fn read_user_linked(
    tx: &mut dyn Tx,
    org_id: i64,
    id: &str,
    with_groups: bool,
) -> Result<(UserRecord, UserLinks), DirectoryError> {
    let user = load(tx, org_id, id)?;
    let mut links = user_links(tx, org_id, std::slice::from_ref(&user), with_groups)?;
    Ok((user, links.pop().unwrap_or_default()))
}

/// [`Directory::list_users_linked`] inside a transaction the caller holds.
pub fn read_users_linked(
    tx: &mut dyn Tx,
    org_id: i64,
    query: &UserQuery<'_>,
    with_groups: bool,
) -> Result<Page<(UserRecord, UserLinks)>, DirectoryError> {
    let page = tx.query_users(org_id, query)?;
    let links = user_links(tx, org_id, &page.items, with_groups)?;
    Ok(Page { total: page.total, items: page.items.into_iter().zip(links).collect(), next: page.next })
}

/// What rendering a user needs from other records: its groups (the
/// read-only `groups` attribute) and its manager's names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserLinks {
    pub groups: Vec<GroupRef>,
    pub manager: Option<UserNames>,
}

/// The links of each of `users` (same order), in one query per kind.
fn user_links(
    tx: &mut dyn Tx,
    org_id: i64,
    users: &[UserRecord],
    with_groups: bool,
) -> Result<Vec<UserLinks>, DirectoryError> {
    let mut out = vec![UserLinks::default(); users.len()];
    if users.is_empty() {
        return Ok(out);
    }
    let mut manager_ids: Vec<String> = users.iter().filter_map(|u| u.manager_id.clone()).collect();
    manager_ids.sort();
    manager_ids.dedup();
    if !manager_ids.is_empty() {
        let names = tx.user_names(org_id, &manager_ids)?;
        for (user, links) in users.iter().zip(out.iter_mut()) {
            links.manager = user.manager_id.as_ref().and_then(|m| names.iter().find(|n| &n.id == m).cloned());
        }
    }
    if with_groups {
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        for g in tx.groups_of_users(org_id, &ids)? {
            if let Some(i) = users.iter().position(|u| u.id == g.user_id) {
                out[i].groups.push(g);
            }
        }
    }
    Ok(out)
}

/// Renders a stored user with its links: the manager as `{"value", "$ref",
/// "displayName"}` (displayName when the manager has one) and `groups`.
pub fn render_user_linked(user: &UserRecord, links: &UserLinks, base_url: &str) -> Value {
    let mut out = render_user(user, base_url);
    if let Some(names) = &links.manager {
        if let Some(manager) =
            out.get_mut(ENTERPRISE_USER_SCHEMA_URN).and_then(|e| e.get_mut("manager")).and_then(Value::as_object_mut)
        {
            if manager.get("value").and_then(Value::as_str) == Some(names.id.as_str()) {
                if let Some(d) = &names.display_name {
                    manager.insert("displayName".into(), Value::String(d.clone()));
                }
            }
        }
    }
    if !links.groups.is_empty() {
        let groups: Vec<Value> = links
            .groups
            .iter()
            .map(|g| {
                json!({"value": g.group_id, "$ref": format!("{base_url}/Groups/{}", g.group_id),
                       "display": g.display_name, "type": "direct"})
            })
            .collect();
        if let Some(o) = out.as_object_mut() {
            // Before `meta`, after the user's own attributes.
            let meta = o.shift_remove("meta");
            o.insert("groups".into(), Value::Array(groups));
            if let Some(m) = meta {
                o.insert("meta".into(), m);
            }
        }
    }
    out
}

/// Renders a stored user as a SCIM resource, without links.
pub fn render_user(user: &UserRecord, base_url: &str) -> Value {
    let mut out = Map::new();
    let mut schemas = vec![Value::String(USER_SCHEMA_URN.into())];
    if user.scim.get(ENTERPRISE_USER_SCHEMA_URN).is_some() {
        schemas.push(Value::String(ENTERPRISE_USER_SCHEMA_URN.into()));
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out.insert("id".into(), Value::String(user.id.clone()));
    if let Some(obj) = user.scim.as_object() {
        for (k, v) in obj {
            out.insert(k.clone(), v.clone());
        }
    }
    if out.contains_key("active") || !user.active() {
        out.insert("active".into(), Value::Bool(user.active()));
    }
    // The manager as a reference: `{"value": id, "$ref": location}`.
    if let Some(manager) =
        out.get_mut(ENTERPRISE_USER_SCHEMA_URN).and_then(|e| e.get_mut("manager")).and_then(Value::as_object_mut)
    {
        if let Some(id) = manager.get("value").and_then(Value::as_str).map(str::to_string) {
            manager.insert("$ref".into(), Value::String(format!("{base_url}/Users/{id}")));
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": user.created,
            "lastModified": user.last_modified,
            "location": format!("{base_url}/Users/{}", user.id),
            "version": format!("W/\"{}\"", user.version),
        }),
    );
    Value::Object(out)
}

fn user_subject<'a>(id: Option<&'a str>, name: Option<&'a str>) -> Subject<'a> {
    Subject { resource_type: "User", id, name }
}

fn load(tx: &mut dyn Tx, org_id: i64, id: &str) -> Result<UserRecord, DirectoryError> {
    tx.user_by_id(org_id, id)?.ok_or_else(|| DirectoryError::NotFound(format!("User {id} not found.")))
}

/// `active` as the client last wrote it, if it did.
fn active_of(resource: &Value) -> Option<bool> {
    resource.get("active").and_then(Value::as_bool)
}

/// The stored SCIM attributes with `active` showing the user's real state
/// (the state may have changed outside SCIM, e.g. an expired password).
/// `active` appears when the client wrote it or when the user is not active.
fn scim_with_state(user: &UserRecord) -> Value {
    let mut v = user.scim.clone();
    if let Some(o) = v.as_object_mut() {
        if o.contains_key("active") || !user.active() {
            o.insert("active".into(), Value::Bool(user.active()));
        }
    }
    v
}

/// Adds the lifecycle state to an event's changes when it moved.
fn push_state_change(changes: &mut Value, before: Option<&UserRecord>, after: &UserRecord) {
    let from = before.map(|b| b.state.as_str());
    if from == Some(after.state.as_str()) {
        return;
    }
    if let Some(list) = changes.as_array_mut() {
        list.push(json!({"field": "state", "from": from, "to": after.state.as_str()}));
    }
}

fn str_of(resource: &Value, key: &str) -> Option<String> {
    resource.get(key).and_then(Value::as_str).map(str::to_string)
}

fn user_name_of(resource: &Value) -> String {
    str_of(resource, "userName").unwrap_or_default()
}

fn manager_of(resource: &Value) -> Option<String> {
    resource
        .get(ENTERPRISE_USER_SCHEMA_URN)
        .and_then(|e| e.get("manager"))
        .and_then(|m| m.get("value"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// A manager must be another user of the same organisation.
fn check_manager(tx: &mut dyn Tx, org_id: i64, resource: &Value, self_id: Option<&str>) -> Result<(), DirectoryError> {
    let Some(manager) = manager_of(resource) else { return Ok(()) };
    if Some(manager.as_str()) == self_id {
        return Err(ScimError::invalid_value("A user cannot be their own manager.").into());
    }
    if tx.user_by_id(org_id, &manager)?.is_none() {
        return Err(ScimError::invalid_value(format!(
            "manager \"{manager}\" is not a user of this organisation. Provision the manager first; Entra ID \
             sends the manager in a second pass once both users exist."
        ))
        .into());
    }
    Ok(())
}

fn check_unique(
    tx: &mut dyn Tx,
    org_id: i64,
    validated: &ValidatedUser,
    resource: &Value,
    except: Option<&str>,
) -> Result<(), DirectoryError> {
    if let Some(holder) = tx.unique_holder(org_id, UniqueField::Username, &validated.username, except)? {
        return Err(DirectoryError::Conflict(format!(
            "userName \"{}\" is already taken in this organisation (by user {holder}). Usernames are unique and \
             compared case-insensitively.",
            user_name_of(resource)
        )));
    }
    if let Some(email) = &validated.email {
        if let Some(holder) = tx.unique_holder(org_id, UniqueField::Email, email, except)? {
            return Err(DirectoryError::Conflict(format!(
                "email \"{email}\" already belongs to another user of this organisation (user {holder}). Emails \
                 are unique."
            )));
        }
    }
    if let Some(emp) = &validated.employee_identifier {
        if let Some(holder) = tx.unique_holder(org_id, UniqueField::EmployeeIdentifier, emp, except)? {
            return Err(DirectoryError::Conflict(format!(
                "employeeNumber \"{emp}\" already belongs to another user of this organisation (user {holder}). \
                 The employee identifier is unique."
            )));
        }
    }
    Ok(())
}
