//! Group provisioning (`spec/product.md` §5): create, replace, patch, delete,
//! read and list, each write validated, checked for uniqueness and logged in
//! one transaction, like [`crate::users`].
//!
//! Members are kept apart from the group's attributes, one row per
//! membership. A PATCH is split by [`scim::patch::members::split_members`]
//! into a member delta, applied with the store's batch member operations
//! (time proportional to the request), and the other operations, applied by
//! the PATCH engine to the group without its members. Only exotic member
//! paths (`members[type eq "User"]`, a filtered add or replace) load the
//! member list and go through the engine whole; `display` is derived from the
//! user and read-only, so a PATCH filter on it matches nothing.

use crate::events::{diff, Event, Subject};
use crate::model::{GroupRecord, MemberRef};
use crate::store::{self, GroupQuery, Page, Tx};
use crate::users::{Actor, Directory};
use crate::{now_rfc3339, DirectoryError};
use scim::patch::members::{split_members, MemberDelta};
use scim::patch::PatchRequest;
use scim::schema::{normalize, GROUP, GROUP_SCHEMA_URN};
use scim::ScimError;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Longest accepted group displayName, in characters.
pub const MAX_DISPLAY_NAME: usize = 1024;
/// At most this many unknown member ids are named in an error detail.
const NAMED_IN_ERROR: usize = 10;

/// A group with its members, when they were asked for.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub group: GroupRecord,
    /// `None` when the caller did not ask for members (they were not read).
    pub members: Option<Vec<MemberRef>>,
}

/// The outcome of a group write.
#[derive(Debug, Clone)]
pub struct GroupWritten {
    pub group: GroupRecord,
    /// `false` when the request changed nothing and nothing was written.
    pub changed: bool,
}

/// What a write did to the members, for the log.
#[derive(Default)]
struct MemberChange {
    added: Vec<String>,
    removed: Vec<String>,
}

impl Directory {
    /// `POST /Groups`, with or without members.
    pub fn create_group(&self, actor: &Actor, body: &Value) -> Result<GroupRecord, DirectoryError> {
        let result = self.try_create_group(actor, body);
        if let Err(e) = &result {
            self.log_failure(
                actor,
                "group_create",
                group_subject(None, body.get("displayName").and_then(Value::as_str)),
                e,
            );
        }
        result
    }

    fn try_create_group(&self, actor: &Actor, body: &Value) -> Result<GroupRecord, DirectoryError> {
        let normalized = normalize(&GROUP, body)?;
        let (attrs, member_ids) = split_resource(normalized.resource);
        let display_name = check_attrs(&attrs)?;
        let org_id = actor.org.id;
        store::write(self.store.as_ref(), |tx| {
            check_name_free(tx, org_id, &display_name, None)?;
            check_members(tx, org_id, &member_ids)?;
            let now = now_rfc3339();
            let group = GroupRecord {
                id: crate::new_id(),
                org_id,
                display_name: display_name.clone(),
                external_id: str_of(&attrs, "externalId"),
                scim: attrs.clone(),
                created: now.clone(),
                last_modified: now,
                version: 1,
            };
            tx.insert_group(&group)?;
            let added = tx.add_members(org_id, &group.id, &member_ids)?;
            let mut changes = diff(&json!({}), &attrs);
            push_members(&mut changes, &MemberChange { added, removed: vec![] });
            tx.append_event(&group_event(actor, "group_create", &group, changes, &normalized.ignored, 201))?;
            Ok(group)
        })
    }

    /// `PUT /Groups/{id}`: the body replaces every writable attribute,
    /// `members` included (absent members means none, RFC 7644 §3.5.1).
    pub fn replace_group(&self, actor: &Actor, id: &str, body: &Value) -> Result<GroupWritten, DirectoryError> {
        let result = self.try_replace_group(actor, id, body);
        if let Err(e) = &result {
            let name = body.get("displayName").and_then(Value::as_str);
            self.log_failure(actor, "group_update", group_subject(Some(id), name), e);
        }
        result
    }

    fn try_replace_group(&self, actor: &Actor, id: &str, body: &Value) -> Result<GroupWritten, DirectoryError> {
        let normalized = normalize(&GROUP, body)?;
        let (attrs, member_ids) = split_resource(normalized.resource);
        check_attrs(&attrs)?;
        let delta = MemberDelta { replace: Some(member_ids), add: vec![], remove: vec![] };
        store::write(self.store.as_ref(), |tx| {
            let current = load_group(tx, actor.org.id, id)?;
            self.commit_group(tx, actor, current, attrs.clone(), &delta, &normalized.ignored)
        })
    }

    /// `PATCH /Groups/{id}`.
    pub fn patch_group(&self, actor: &Actor, id: &str, patch: &PatchRequest) -> Result<GroupWritten, DirectoryError> {
        let result = self.try_patch_group(actor, id, patch);
        if let Err(e) = &result {
            self.log_failure(actor, "group_update", group_subject(Some(id), None), e);
        }
        result
    }

    fn try_patch_group(&self, actor: &Actor, id: &str, patch: &PatchRequest) -> Result<GroupWritten, DirectoryError> {
        let split = split_members(patch)?;
        let org_id = actor.org.id;
        store::write(self.store.as_ref(), |tx| {
            let current = load_group(tx, org_id, id)?;
            let own_id = Value::String(current.id.clone());
            match &split {
                Some(split) => {
                    // The stored document is normalised; a members-only PATCH
                    // leaves no other operation to apply.
                    let outcome = split.other.apply_to_normalized(&current.scim, Some(&own_id), &GROUP)?;
                    let attrs = if outcome.changed { outcome.resource } else { current.scim.clone() };
                    self.commit_group(tx, actor, current, attrs, &split.members, &outcome.ignored)
                }
                None => {
                    // Exotic member paths: the whole group through the engine.
                    let mut ids = Vec::new();
                    tx.for_each_member(org_id, id, &mut |m| {
                        ids.push(m.id);
                        Ok(())
                    })?;
                    let mut before = current.scim.clone();
                    if let Some(o) = before.as_object_mut() {
                        o.insert("id".into(), own_id.clone());
                        let members = ids.iter().map(|m| json!({"value": m, "type": "User"})).collect();
                        o.insert("members".into(), Value::Array(members));
                    }
                    let outcome = patch.apply(&before, &GROUP)?;
                    let (attrs, member_ids) = split_resource(outcome.resource);
                    let delta = MemberDelta { replace: Some(member_ids), add: vec![], remove: vec![] };
                    self.commit_group(tx, actor, current, attrs, &delta, &outcome.ignored)
                }
            }
        })
    }

    /// Writes new attributes and a member delta, if they change anything, with their events.
    fn commit_group(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        current: GroupRecord,
        attrs: Value,
        delta: &MemberDelta,
        ignored: &[String],
    ) -> Result<GroupWritten, DirectoryError> {
        let org_id = actor.org.id;
        let display_name = check_attrs(&attrs)?;
        let attrs_changed = attrs != current.scim;
        if attrs_changed && display_name.to_lowercase() != current.display_name.to_lowercase() {
            check_name_free(tx, org_id, &display_name, Some(&current.id))?;
        }
        check_members(tx, org_id, delta.incoming())?;
        let members = apply_delta(tx, org_id, &current.id, delta)?;
        if !attrs_changed && members.added.is_empty() && members.removed.is_empty() {
            return Ok(GroupWritten { group: current, changed: false });
        }
        let mut group = current.clone();
        group.display_name = display_name;
        group.external_id = str_of(&attrs, "externalId");
        group.scim = attrs;
        group.last_modified = now_rfc3339();
        group.version = current.version + 1;
        tx.update_group(&group)?;
        if attrs_changed {
            let changes = diff(&current.scim, &group.scim);
            tx.append_event(&group_event(actor, "group_update", &group, changes, ignored, 200))?;
        }
        if !members.added.is_empty() {
            let changes = json!([{"field": "members", "from": null, "to": members.added}]);
            let ignored = if attrs_changed { &[][..] } else { ignored };
            tx.append_event(&group_event(actor, "group_member_add", &group, changes, ignored, 200))?;
        }
        if !members.removed.is_empty() {
            let changes = json!([{"field": "members", "from": members.removed, "to": null}]);
            tx.append_event(&group_event(actor, "group_member_remove", &group, changes, &[], 200))?;
        }
        Ok(GroupWritten { group, changed: true })
    }

    /// `DELETE /Groups/{id}`. The users stay; their memberships go.
    pub fn delete_group(&self, actor: &Actor, id: &str) -> Result<(), DirectoryError> {
        let result = store::write(self.store.as_ref(), |tx| {
            let group = load_group(tx, actor.org.id, id)?;
            tx.delete_group(actor.org.id, id)?;
            let changes = diff(&group.scim, &json!({}));
            tx.append_event(&group_event(actor, "group_delete", &group, changes, &[], 204))?;
            Ok(())
        });
        if let Err(e) = &result {
            self.log_failure(actor, "group_delete", group_subject(Some(id), None), e);
        }
        result
    }

    /// A group of `org` by id; its members only if `with_members`.
    pub fn get_group(&self, org_id: i64, id: &str, with_members: bool) -> Result<GroupView, DirectoryError> {
        store::read(self.store.as_ref(), |tx| read_group(tx, org_id, id, with_members))
    }

    /// A page of groups and the total number of matches; members only if `with_members`.
    pub fn list_groups(
        &self,
        org_id: i64,
        query: &GroupQuery<'_>,
        with_members: bool,
    ) -> Result<Page<GroupView>, DirectoryError> {
        store::read(self.store.as_ref(), |tx| read_groups(tx, org_id, query, with_members))
    }
}

/// Renders a group as a SCIM resource. `members` is rendered when given
/// (an empty group as `"members": []`), and left out otherwise. A member's
/// `display` is the user's `displayName`, when the user has one.
pub fn render_group(group: &GroupRecord, members: Option<&[MemberRef]>, base_url: &str) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([GROUP_SCHEMA_URN]));
    out.insert("id".into(), Value::String(group.id.clone()));
    if let Some(obj) = group.scim.as_object() {
        for (k, v) in obj {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(members) = members {
        let list = members
            .iter()
            .map(|m| {
                let mut v = Map::new();
                v.insert("value".into(), Value::String(m.id.clone()));
                v.insert("$ref".into(), Value::String(format!("{base_url}/Users/{}", m.id)));
                if let Some(d) = &m.display {
                    v.insert("display".into(), Value::String(d.clone()));
                }
                v.insert("type".into(), Value::String("User".into()));
                Value::Object(v)
            })
            .collect();
        out.insert("members".into(), Value::Array(list));
    }
    let location = format!("{base_url}/Groups/{}", group.id);
    out.insert(
        "meta".into(),
        crate::users::resource_meta("Group", &location, &group.created, &group.last_modified, group.version),
    );
    Value::Object(out)
}

/// [`Directory::get_group`] inside a transaction the caller holds.
pub fn read_group(tx: &mut dyn Tx, org_id: i64, id: &str, with_members: bool) -> Result<GroupView, DirectoryError> {
    let group = load_group(tx, org_id, id)?;
    let members = if with_members { Some(members_of(tx, org_id, id)?) } else { None };
    Ok(GroupView { group, members })
}

/// [`Directory::list_groups`] inside a transaction the caller holds.
pub fn read_groups(
    tx: &mut dyn Tx,
    org_id: i64,
    query: &GroupQuery<'_>,
    with_members: bool,
) -> Result<Page<GroupView>, DirectoryError> {
    let page = tx.query_groups(org_id, query)?;
    let mut out = Vec::with_capacity(page.items.len());
    for group in page.items {
        let members = if with_members { Some(members_of(tx, org_id, &group.id)?) } else { None };
        out.push(GroupView { group, members });
    }
    Ok(Page { total: page.total, items: out, next: page.next })
}

fn load_group(tx: &mut dyn Tx, org_id: i64, id: &str) -> Result<GroupRecord, DirectoryError> {
    tx.group_by_id(org_id, id)?.ok_or_else(|| DirectoryError::NotFound(format!("Group {id} not found.")))
}

fn members_of(tx: &mut dyn Tx, org_id: i64, id: &str) -> Result<Vec<MemberRef>, DirectoryError> {
    let mut out = Vec::new();
    tx.for_each_member(org_id, id, &mut |m| {
        out.push(m);
        Ok(())
    })?;
    Ok(out)
}

/// The normalised group without `members`, and the member ids (deduplicated).
fn split_resource(mut resource: Value) -> (Value, Vec<String>) {
    let members = resource.as_object_mut().and_then(|o| o.shift_remove("members"));
    let mut ids: Vec<String> = Vec::new();
    if let Some(Value::Array(items)) = members {
        for item in items {
            if let Some(id) = item.get("value").and_then(Value::as_str) {
                if !ids.iter().any(|x| x == id) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    (resource, ids)
}

/// The displayName of a normalised group, which is required.
fn check_attrs(attrs: &Value) -> Result<String, DirectoryError> {
    let Some(name) = attrs.get("displayName").and_then(Value::as_str) else {
        return Err(ScimError::invalid_value("displayName is required for a group.").into());
    };
    if name.chars().count() > MAX_DISPLAY_NAME {
        return Err(ScimError::invalid_value(format!(
            "displayName is longer than {MAX_DISPLAY_NAME} characters; shorten the group name in the source."
        ))
        .into());
    }
    Ok(name.to_string())
}

fn check_name_free(tx: &mut dyn Tx, org_id: i64, name: &str, except: Option<&str>) -> Result<(), DirectoryError> {
    if let Some(holder) = tx.group_name_holder(org_id, name, except)? {
        return Err(DirectoryError::Conflict(format!(
            "A group named \"{name}\" already exists in this organisation (group {holder}). Group displayNames are \
             unique and compared case-insensitively."
        )));
    }
    Ok(())
}

/// Every id must be a user of the organisation; otherwise nothing is applied.
fn check_members(tx: &mut dyn Tx, org_id: i64, ids: &[String]) -> Result<(), DirectoryError> {
    if ids.is_empty() {
        return Ok(());
    }
    let known: HashSet<String> = tx.existing_user_ids(org_id, ids)?.into_iter().collect();
    let missing: Vec<&String> = ids.iter().filter(|id| !known.contains(*id)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = missing.iter().take(NAMED_IN_ERROR).map(|id| format!("\"{id}\"")).collect();
    let more = if missing.len() > NAMED_IN_ERROR {
        format!(" and {} more", missing.len() - NAMED_IN_ERROR)
    } else {
        String::new()
    };
    Err(ScimError::invalid_value(format!(
        "members: {}{more} {} not a user of this organisation; nothing was changed. A group holds users of its own \
         organisation (nested groups are not supported): provision the users first.",
        named.join(", "),
        if missing.len() == 1 { "is" } else { "are" }
    ))
    .into())
}

/// Applies a member delta with the store's batch operations.
fn apply_delta(
    tx: &mut dyn Tx,
    org_id: i64,
    group_id: &str,
    delta: &MemberDelta,
) -> Result<MemberChange, DirectoryError> {
    match &delta.replace {
        Some(ids) if ids.is_empty() => Ok(MemberChange { added: vec![], removed: tx.clear_members(org_id, group_id)? }),
        Some(ids) => {
            // A full replace names every member, so reading the current ones is in proportion.
            let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
            let mut current = HashSet::new();
            let mut gone = Vec::new();
            tx.for_each_member(org_id, group_id, &mut |m| {
                if !wanted.contains(m.id.as_str()) {
                    gone.push(m.id.clone());
                }
                current.insert(m.id);
                Ok(())
            })?;
            let new: Vec<String> = ids.iter().filter(|id| !current.contains(*id)).cloned().collect();
            let removed = tx.remove_members(org_id, group_id, &gone)?;
            let added = tx.add_members(org_id, group_id, &new)?;
            Ok(MemberChange { added, removed })
        }
        None => {
            let added = tx.add_members(org_id, group_id, &delta.add)?;
            let removed = tx.remove_members(org_id, group_id, &delta.remove)?;
            Ok(MemberChange { added, removed })
        }
    }
}

fn push_members(changes: &mut Value, members: &MemberChange) {
    if let (Some(list), false) = (changes.as_array_mut(), members.added.is_empty()) {
        list.push(json!({"field": "members", "from": null, "to": members.added}));
    }
}

fn group_event(
    actor: &Actor,
    event_type: &str,
    group: &GroupRecord,
    changes: Value,
    ignored: &[String],
    status: u16,
) -> Event {
    Event::write(actor, event_type, group_subject(Some(&group.id), Some(&group.display_name)), changes, ignored, status)
}

fn group_subject<'a>(id: Option<&'a str>, name: Option<&'a str>) -> Subject<'a> {
    Subject { resource_type: "Group", id, name }
}

fn str_of(resource: &Value, key: &str) -> Option<String> {
    resource.get(key).and_then(Value::as_str).map(str::to_string)
}
