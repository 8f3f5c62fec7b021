//! User provisioning: create, replace, patch, delete, read and list, each
//! write validated, checked for uniqueness and logged in one transaction.

use crate::document::Document;
use crate::events::{diff, Event, Subject};
use crate::model::{GroupRef, Org, UserNames, UserRecord, UserState};
use crate::store::{self, Page, Store, Tx, UniqueField, UserQuery};
use crate::validate::{validate_user, ValidatedUser};
use crate::{now_rfc3339, DirectoryError};
use scim::patch::PatchRequest;
use scim::schema::{normalize, ENTERPRISE_USER_SCHEMA_URN, USER, USER_SCHEMA_URN};
use scim::ScimError;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
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
            let insert_first = tx.survives_unique_violation();
            if !insert_first {
                check_unique(tx, org.id, &validated, &resource, None)?;
            }
            let now = now_rfc3339();
            let user = UserRecord {
                id: crate::new_id(),
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
                scim: resource.clone().into(),
                created: now.clone(),
                last_modified: now,
                version: 1,
            };
            if let Err(e) = tx.insert_user(&user) {
                if insert_first && matches!(e, DirectoryError::Conflict(_)) {
                    // The same answer as looking first: which value, held by whom.
                    check_unique(tx, org.id, &validated, &resource, None)?;
                }
                return Err(e);
            }
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
        if resource == *current.scim && state == current.state {
            return Written::read_links(tx, current, false);
        }
        check_manager(tx, actor.org.id, &resource, Some(&current.id))?;
        check_unique(tx, actor.org.id, validated, &resource, Some(&current.id))?;
        let (before_state, before_active) = (current.state, current.active());
        let mut user = current;
        let before = std::mem::replace(&mut user.scim, Document::from(Value::Null));
        user.user_name = user_name_of(&resource);
        user.username = validated.username.clone();
        user.email = validated.email.clone();
        user.external_id = str_of(&resource, "externalId");
        user.employee_identifier = validated.employee_identifier.clone();
        user.manager_id = manager_of(&resource);
        user.state = state;
        user.scim = resource.into();
        user.last_modified = now_rfc3339();
        user.version += 1;
        tx.update_user(&user)?;
        let mut changes = diff(&doc_with_state(&before, before_active), &scim_with_state(&user));
        push_state_change(&mut changes, Some(before_state), &user);
        let event_type = match (before_state == UserState::Suspended, user.state == UserState::Suspended) {
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
    render_user_with(user, Some(links), base_url)
}

/// Renders a stored user as a SCIM resource, without links.
pub fn render_user(user: &UserRecord, base_url: &str) -> Value {
    render_user_with(user, None, base_url)
}

fn render_user_with(user: &UserRecord, links: Option<&UserLinks>, base_url: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!(user_schemas(user.scim.get(ENTERPRISE_USER_SCHEMA_URN).is_some())));
    out.insert("id".into(), Value::String(user.id.clone()));
    if let Some(obj) = user.scim.as_object() {
        for (k, v) in obj {
            out.insert(k.clone(), v.clone());
        }
    }
    if out.contains_key("active") || !user.active() {
        out.insert("active".into(), Value::Bool(user.active()));
    }
    if let Some(ext) = out.get_mut(ENTERPRISE_USER_SCHEMA_URN) {
        link_manager(ext, links.and_then(|l| l.manager.as_ref()), base_url);
    }
    if let Some(groups) = links.and_then(|l| groups_json(&l.groups, base_url)) {
        out.insert("groups".into(), groups);
    }
    out.insert("meta".into(), user_meta(user, base_url));
    Value::Object(out)
}

/// [`render_user_linked`], serialised: what a GET answers. A user read from
/// the store and unchanged is written from its stored text, which saves
/// parsing it and serialising it again (most of a GET's own work); the
/// result is byte for byte the same (a test compares both).
pub fn render_user_linked_json(user: &UserRecord, links: &UserLinks, base_url: &str) -> Vec<u8> {
    if let Some(bytes) = user.scim.stored_text().and_then(|text| render_stored_user(user, text, links, base_url)) {
        return bytes;
    }
    serde_json::to_vec(&render_user_linked(user, links, base_url)).unwrap_or_default()
}

/// The stored attributes' keys that [`render_user_with`] would overwrite in
/// place; a user holding one is rendered the slow way.
const RENDERED_KEYS: [&str; 4] = ["schemas", "id", "groups", "meta"];

fn render_stored_user(user: &UserRecord, text: &str, links: &UserLinks, base_url: &str) -> Option<Vec<u8>> {
    let TopLevel(attrs) = serde_json::from_str(text).ok()?;
    if attrs.iter().any(|(k, _)| RENDERED_KEYS.contains(k)) {
        return None;
    }
    let has_enterprise = attrs.iter().any(|(k, _)| *k == ENTERPRISE_USER_SCHEMA_URN);
    let mut out = Vec::with_capacity(text.len() + 256);
    out.extend_from_slice(b"{\"schemas\":");
    serde_json::to_writer(&mut out, &user_schemas(has_enterprise)).ok()?;
    out.extend_from_slice(b",\"id\":");
    serde_json::to_writer(&mut out, &user.id).ok()?;
    let mut wrote_active = false;
    for (key, raw) in &attrs {
        out.push(b',');
        serde_json::to_writer(&mut out, key).ok()?;
        out.push(b':');
        if *key == "active" {
            out.extend_from_slice(if user.active() { b"true" } else { b"false" });
            wrote_active = true;
        } else if *key == ENTERPRISE_USER_SCHEMA_URN {
            let mut ext: Value = serde_json::from_str(raw.get()).ok()?;
            link_manager(&mut ext, links.manager.as_ref(), base_url);
            serde_json::to_writer(&mut out, &ext).ok()?;
        } else {
            out.extend_from_slice(raw.get().as_bytes());
        }
    }
    if !wrote_active && !user.active() {
        out.extend_from_slice(b",\"active\":false");
    }
    if let Some(groups) = groups_json(&links.groups, base_url) {
        out.extend_from_slice(b",\"groups\":");
        serde_json::to_writer(&mut out, &groups).ok()?;
    }
    out.extend_from_slice(b",\"meta\":");
    serde_json::to_writer(&mut out, &user_meta(user, base_url)).ok()?;
    out.push(b'}');
    Some(out)
}

/// A JSON object's members in their order, each value left as text. A
/// member name with an escape cannot be borrowed, which fails the parse: such
/// a user is rendered the slow way.
struct TopLevel<'a>(Vec<(&'a str, &'a serde_json::value::RawValue)>);

impl<'de> serde::Deserialize<'de> for TopLevel<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(TopLevel(out))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

fn user_schemas(has_enterprise: bool) -> Vec<&'static str> {
    if has_enterprise {
        vec![USER_SCHEMA_URN, ENTERPRISE_USER_SCHEMA_URN]
    } else {
        vec![USER_SCHEMA_URN]
    }
}

/// The manager inside the enterprise extension as a reference: `$ref`, and
/// the manager's `displayName` when it is known and has one.
fn link_manager(ext: &mut Value, names: Option<&UserNames>, base_url: &str) {
    let Some(manager) = ext.get_mut("manager").and_then(Value::as_object_mut) else { return };
    let Some(id) = manager.get("value").and_then(Value::as_str).map(str::to_string) else { return };
    manager.insert("$ref".into(), Value::String(format!("{base_url}/Users/{id}")));
    if let Some(names) = names.filter(|n| n.id == id) {
        if let Some(d) = &names.display_name {
            manager.insert("displayName".into(), Value::String(d.clone()));
        }
    }
}

/// The read-only `groups` attribute; `None` when the user is in no group.
fn groups_json(groups: &[GroupRef], base_url: &str) -> Option<Value> {
    if groups.is_empty() {
        return None;
    }
    let items = groups
        .iter()
        .map(|g| {
            json!({"value": g.group_id, "$ref": format!("{base_url}/Groups/{}", g.group_id),
                   "display": g.display_name, "type": "direct"})
        })
        .collect();
    Some(Value::Array(items))
}

fn user_meta(user: &UserRecord, base_url: &str) -> Value {
    resource_meta("User", &format!("{base_url}/Users/{}", user.id), &user.created, &user.last_modified, user.version)
}

/// A resource's `meta`; `version` is its weak ETag.
pub(crate) fn resource_meta(resource_type: &str, location: &str, created: &str, last_modified: &str, version: i64) -> Value {
    json!({
        "resourceType": resource_type,
        "created": created,
        "lastModified": last_modified,
        "location": location,
        "version": format!("W/\"{version}\""),
    })
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
fn scim_with_state(user: &UserRecord) -> Cow<'_, Value> {
    doc_with_state(&user.scim, user.active())
}

/// [`scim_with_state`] of a document and an `active`; borrowed when the
/// document already shows it (the usual case), so nothing is copied.
fn doc_with_state(doc: &Value, active: bool) -> Cow<'_, Value> {
    let shown = match doc.get("active") {
        Some(v) => v.as_bool() == Some(active),
        None => active,
    };
    if shown {
        return Cow::Borrowed(doc);
    }
    let mut v = doc.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("active".into(), Value::Bool(active));
    }
    Cow::Owned(v)
}

/// Adds the lifecycle state to an event's changes when it moved.
fn push_state_change(changes: &mut Value, before: Option<UserState>, after: &UserRecord) {
    let from = before.map(UserState::as_str);
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

#[cfg(test)]
mod render_tests {
    use super::*;
    use crate::Document;
    use proptest::prelude::*;

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            (-1e12f64..1e12).prop_map(|f| json!(f)),
            "[a-zA-Z0-9 éü\"\\\\/\u{1}\u{7f}\u{2028}😀-]{0,12}".prop_map(Value::String),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z\"é]{1,6}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// Keys a stored user can hold, the awkward ones included.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("userName".to_string()),
            Just("active".to_string()),
            Just("name".to_string()),
            Just("emails".to_string()),
            Just(ENTERPRISE_USER_SCHEMA_URN.to_string()),
            Just("id".to_string()),
            Just("meta".to_string()),
            Just("groups".to_string()),
            Just("schemas".to_string()),
            "[a-zA-Z\"\\\\é\u{1}]{1,8}",
        ]
    }

    fn enterprise() -> impl Strategy<Value = Value> {
        (proptest::option::of("[a-c]"), json_value()).prop_map(|(manager, other)| {
            let mut ext = Map::new();
            ext.insert("department".into(), other);
            if let Some(m) = manager {
                ext.insert("manager".into(), json!({"value": m}));
            }
            Value::Object(ext)
        })
    }

    fn scim_document() -> impl Strategy<Value = Value> {
        (prop::collection::vec((key(), json_value()), 0..8), proptest::option::of(enterprise())).prop_map(
            |(members, ext)| {
                let mut doc = Map::new();
                for (k, v) in members {
                    let v = if k == ENTERPRISE_USER_SCHEMA_URN { ext.clone().unwrap_or(v) } else { v };
                    doc.insert(k, v);
                }
                Value::Object(doc)
            },
        )
    }

    fn links() -> impl Strategy<Value = UserLinks> {
        (
            proptest::option::of(("[a-c]", proptest::option::of("[a-zé\"]{0,5}"))),
            prop::collection::vec(("[a-z0-9]{1,4}", "[a-zé\"]{0,5}"), 0..3),
        )
            .prop_map(|(manager, groups)| UserLinks {
                manager: manager.map(|(id, display_name)| UserNames { id, user_name: "m".into(), display_name }),
                groups: groups
                    .into_iter()
                    .map(|(group_id, display_name)| GroupRef { user_id: "u1".into(), group_id, display_name })
                    .collect(),
            })
    }

    fn stored_user(scim: &Value, state: UserState, password_expired: bool) -> UserRecord {
        UserRecord {
            id: "u1\"é".into(),
            org_id: 1,
            user_name: "ana".into(),
            username: "ana".into(),
            email: None,
            external_id: None,
            employee_identifier: None,
            manager_id: None,
            state,
            activated: true,
            password_expired,
            scim: Document::from_stored(&serde_json::to_string(scim).unwrap()).unwrap(),
            created: "2026-11-28T00:00:00Z".into(),
            last_modified: "2026-11-28T00:00:01Z".into(),
            version: 3,
        }
    }

    proptest! {
        /// The stored-text rendering is byte for byte the value rendering.
        #[test]
        fn stored_rendering_matches_value_rendering(
            scim in scim_document(),
            suspended in any::<bool>(),
            password_expired in any::<bool>(),
            links in links(),
        ) {
            let state = if suspended { UserState::Suspended } else { UserState::Activated };
            let user = stored_user(&scim, state, password_expired);
            let fast = render_user_linked_json(&user, &links, "https://r.example/scim/v2");
            let slow = serde_json::to_vec(&render_user_linked(&user, &links, "https://r.example/scim/v2")).unwrap();
            prop_assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(slow).unwrap());
            prop_assert!(user.scim.stored_text().is_some(), "rendering does not change the document");
        }
    }

    #[test]
    fn a_typical_user_takes_the_stored_path() {
        let scim = json!({"userName": "ana", "active": true, "name": {"givenName": "Ána"},
            ENTERPRISE_USER_SCHEMA_URN: {"department": "R&D", "manager": {"value": "b"}}});
        let user = stored_user(&scim, UserState::Activated, false);
        let text = user.scim.stored_text().unwrap();
        let links = UserLinks {
            manager: Some(UserNames { id: "b".into(), user_name: "bo".into(), display_name: Some("Bo".into()) }),
            groups: vec![],
        };
        let rendered = render_stored_user(&user, text, &links, "https://r").expect("no reason to fall back");
        let v: Value = serde_json::from_slice(&rendered).unwrap();
        assert_eq!(v[ENTERPRISE_USER_SCHEMA_URN]["manager"], json!({"value": "b", "$ref": "https://r/Users/b", "displayName": "Bo"}));
        assert_eq!(v["schemas"].as_array().unwrap().len(), 2);
        assert_eq!(v["meta"]["location"], json!("https://r/Users/u1\"é"));
    }
}
